"""The encoders' options, declared once.

Each option is declared here (or, for one backend only, in ``local/options.py`` /
``remote/options.py``) with its constraint, and validated by pydantic when an encoder, the
settings or a call is made; no constructor checks them again by hand. The pieces:

* :class:`EncodeDefaults`: what every encode call does unless the call says otherwise
  (``batch_size``, ``max_length``, ``truncate``, ``normalize``, ``dimensions``,
  ``show_progress``); both encoders and :class:`~jina_clip.JinaCLIPSettings` take them.
* :class:`LocalFields` / :class:`ApiFields`: the options of one backend that the settings
  carry too.
* :class:`CallOptions`: the per-call overrides of :meth:`JinaCLIP.encode_text` and friends,
  where ``None`` means "the encoder's default".

This module imports neither torch nor httpx (``import jina_clip`` stays light).
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from typing_extensions import Self

__all__ = [
    "ApiFields",
    "BatchSize",
    "CallOptions",
    "Dimensions",
    "EncodeDefaults",
    "LocalFields",
    "MaxLength",
]

# Constraints shared by the encoders' defaults and the per-call options (None: the default).
#: Inputs per model batch (local) or per request (API).
BatchSize = Annotated[int | None, Field(ge=1)]
#: Longest text in tokens: at least [CLS] and [SEP].
MaxLength = Annotated[int | None, Field(ge=2)]
#: Matryoshka truncation: keep the first ``dimensions`` components, then normalize.
Dimensions = Annotated[int | None, Field(ge=1)]


class Options(BaseModel):
    """Base of every options model: unknown names are refused, each field documented by the
    docstring under it (JSON schema, docs tables, integrations), and no error message repeats
    the input (it may hold the API key)."""

    model_config = ConfigDict(
        extra="forbid",
        hide_input_in_errors=True,
        protected_namespaces=(),
        use_attribute_docstrings=True,
        arbitrary_types_allowed=True,
    )


class EncodeDefaults(Options):
    """The defaults of every encode call, shared by both encoders and the settings."""

    batch_size: BatchSize = None
    """Inputs per model batch (local) or per request (API). None: a sensible default."""

    max_length: MaxLength = None
    """Longest text in tokens (local default 8192, the trained context)."""

    truncate: bool | None = None
    """Texts over ``max_length`` (API: the model's limit, 8192 tokens for jina-clip): None
    (default) cuts them and emits one ``TruncationWarning`` per call naming them (over the API
    an estimate from word counts); True cuts silently; False raises ``TextTooLongError``."""

    normalize: bool = True
    """L2-normalize every vector."""

    dimensions: Dimensions = None
    """Matryoshka truncation of every vector (text and image alike), before normalization."""

    show_progress: bool = False
    """Show a tqdm progress bar over batches."""

    def merged(self, call: CallOptions) -> Self:
        """These defaults overridden by the call's options that are not None (so a per-call
        ``truncate=None`` keeps the encoder's ``truncate``)."""
        update = {
            name: value
            for name, value in call
            if value is not None and name in EncodeDefaults.model_fields
        }
        return self.model_copy(update=update) if update else self


class LocalFields(Options):
    """Options of the local backend that the settings carry."""

    device: str = "auto"
    """Local: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:1``, ..."""

    dtype: str = "auto"
    """Local: ``auto`` (bf16 on CUDA, fp32 elsewhere), ``float32``, ``bfloat16``, ``float16``."""

    revision: str | None = None
    """Local: hub revision (branch, tag or commit) to download."""

    cache_dir: str | None = None
    """Local: hub cache directory (default: huggingface_hub's)."""

    local_files_only: bool = False
    """Local: never touch the network; use the cache or a local directory."""

    @field_validator("device", "dtype", mode="before")
    @classmethod
    def _torch_names(cls, value: Any) -> Any:
        """Accept ``torch.device`` / ``torch.dtype`` objects as their names."""
        if value is None or isinstance(value, str):
            return value
        return str(value).removeprefix("torch.")

    @field_validator("cache_dir", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else value


class ApiFields(Options):
    """Options of the API backend that the settings carry."""

    timeout: float = Field(default=60.0, gt=0)
    """Seconds per API request."""

    max_retries: int = Field(default=5, ge=0)
    """Retries of 408 / 409 / 429 / 5xx / timeouts / connection errors."""

    max_concurrency: int = Field(default=5, ge=1)
    """Concurrent API requests (the free tier allows 5)."""


class CallOptions(Options):
    """The keyword arguments of one encode call; None means "the encoder's default"."""

    model_config = ConfigDict(frozen=True)

    batch_size: BatchSize = None
    max_length: MaxLength = None
    truncate: bool | None = None
    normalize: bool | None = None
    dimensions: Dimensions = None
    show_progress: bool | None = None
    task: str | None = None
