"""`LocalOptions`: everything :class:`~jina_clip.local.LocalJinaCLIP` is built from, validated
once by pydantic (torch-free: importable without the ``local`` extra)."""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import ConfigDict, Field, InstanceOf, field_validator

from ..defaults import DEFAULT_LOCAL_MODEL
from ..images.sources import DEFAULT_LIMITS, ImageLimits
from ..options import EncodeDefaults, LocalFields

__all__ = ["LocalOptions"]


class LocalOptions(EncodeDefaults, LocalFields):
    """The local encoder's options: the encode defaults, the settings' local fields, and the
    knobs only a direct caller (server, benchmarks) turns."""

    model_config = ConfigDict(frozen=True)

    model: str = DEFAULT_LOCAL_MODEL
    """Hugging Face hub id (downloaded and cached on first use) or a local directory in the
    official layout (config.json, model.safetensors, tokenizer.json,
    preprocessor_config.json)."""

    image_workers: int | None = Field(default=None, ge=1)
    """Threads decoding images. Default: every CPU on a GPU machine (where decoding is what
    limits images/s), else the CPU count, at most 8, so decoding leaves the model its cores."""

    image_limits: InstanceOf[ImageLimits] = DEFAULT_LIMITS
    """Byte / pixel / URL limits applied to image inputs."""

    quantize: Literal["int8"] | None = None
    """``"int8"`` runs the text tower with dynamically quantised int8 linear layers (CPU and
    float32 only; faster short queries, vectors differ slightly from fp32). None: exact."""

    @field_validator("model", mode="before")
    @classmethod
    def _model_path(cls, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else value
