"""Exporting our native jina-clip model for other runtimes (``jina-clip export onnx``).

Needs the ``export`` extra (``onnx``); torch is imported on first use."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .onnx import OnnxExport, export_onnx

__all__ = ["OnnxExport", "export_onnx"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import onnx

        return getattr(onnx, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
