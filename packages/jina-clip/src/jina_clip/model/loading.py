"""Strict safetensors loading: every checkpoint tensor must match a model tensor exactly."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping

import torch
from torch import nn

from ..errors import CheckpointMismatchError, ModelLoadError

__all__ = ["check_state_dict", "load_safetensors"]


def load_safetensors(
    path: pathlib.Path, device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """Read a safetensors file (no pickle involved) onto ``device``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise ModelLoadError(f"{path} not found")
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc


def check_state_dict(
    model: nn.Module, state: Mapping[str, torch.Tensor], *, source: str = ""
) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``state`` has exactly the model's
    persistent keys, each with the model's shape. Works on a meta-device model."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(expected.keys() - got.keys())
    unexpected = sorted(got.keys() - expected.keys())
    mismatched = sorted(
        (k, expected[k], got[k]) for k in expected.keys() & got.keys() if expected[k] != got[k]
    )
    if missing or unexpected or mismatched:
        raise CheckpointMismatchError(
            missing=missing, unexpected=unexpected, mismatched=mismatched, source=source
        )
