"""The local backend: jina-clip run with our own PyTorch model.

``LocalJinaCLIP`` is imported lazily so that the torch-free helpers here (batching) can be
imported on their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .encoder import DEFAULT_MAX_LENGTH, LocalJinaCLIP

__all__ = ["DEFAULT_MAX_LENGTH", "LocalJinaCLIP"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import encoder

        return getattr(encoder, name)
    raise AttributeError(name)
