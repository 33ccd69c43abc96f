"""`JinaCLIPSettings`: the one configuration model behind every integration.

The LangChain and LlamaIndex classes expose exactly these fields and call :meth:`build`; the
rule that decides local vs API lives here, once:

* ``backend="local"``: run the model here.
* ``backend="api"``: call the Embeddings API at ``base_url``.
* ``backend="auto"`` (default): the API only when the caller asked for it explicitly, by
  passing ``api_key`` or ``base_url``. A ``JINA_API_KEY`` that merely sits in the environment
  never switches a default object to the paid API.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer, model_validator
from typing_extensions import Self

from .base import JinaCLIP

__all__ = [
    "API_KEY_ENV_VARS",
    "DEFAULT_API_MODEL",
    "DEFAULT_BASE_URL",
    "DEFAULT_LOCAL_MODEL",
    "JinaCLIPSettings",
    "api_key_from_env",
]

DEFAULT_LOCAL_MODEL = "jinaai/jina-clip-v1"
DEFAULT_API_MODEL = "jina-clip-v1"
DEFAULT_BASE_URL = "https://api.jina.ai/v1"
#: Read in this order when no key is passed.
API_KEY_ENV_VARS = ("JINA_API_KEY", "JINAAI_API_KEY")


def api_key_from_env() -> SecretStr | None:
    """The API key from the environment (``JINA_API_KEY``, then ``JINAAI_API_KEY``)."""
    for name in API_KEY_ENV_VARS:
        value = os.environ.get(name)
        if value:
            return SecretStr(value)
    return None


class JinaCLIPSettings(BaseModel):
    """Configuration of a jina-clip encoder, local or remote."""

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        protected_namespaces=(),
        # The docstring under each field becomes its description (JSON schema, integrations).
        use_attribute_docstrings=True,
    )

    model: str | None = None
    """Hub id or local directory (local backend), or API model name (API backend).
    Default: ``jinaai/jina-clip-v1`` locally, ``jina-clip-v1`` over the API."""

    backend: Literal["auto", "local", "api"] = "auto"
    """``local`` runs the model here; ``api`` calls Jina's API (or ``base_url``); ``auto``
    uses the API only if ``api_key`` or ``base_url`` was passed explicitly."""

    device: str = "auto"
    """Local: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:1``, ..."""

    dtype: str = "auto"
    """Local: ``auto`` (bf16 on CUDA, fp32 elsewhere), ``float32``, ``bfloat16``, ``float16``."""

    batch_size: int | None = Field(default=None, ge=1)
    """Inputs per model batch (local) or per request (API). None: a sensible default."""

    max_length: int | None = Field(default=None, ge=2)
    """Longest text in tokens (local default 8192, the trained context)."""

    truncate: bool | None = None
    """Texts over ``max_length`` (API: the model's limit, 8192 tokens for jina-clip): None
    (default) cuts them and emits one ``TruncationWarning`` per call naming them (over the API
    an estimate from word counts); True cuts silently; False raises ``TextTooLongError``."""

    normalize: bool = True
    """L2-normalize every vector."""

    dimensions: int | None = Field(default=None, ge=1)
    """Matryoshka truncation of every vector (text and image alike), before normalization."""

    api_key: SecretStr | None = Field(default_factory=api_key_from_env, exclude=True)
    """Jina API key; read from ``JINA_API_KEY`` / ``JINAAI_API_KEY`` when not given. Never part
    of a dump (``model_dump``, ``model_dump_json``): a reloaded dump reads it from the
    environment again."""

    base_url: str | None = None
    """API endpoint root. Default ``https://api.jina.ai/v1``."""

    timeout: float = Field(default=60.0, gt=0)
    """Seconds per API request."""

    max_retries: int = Field(default=5, ge=0)
    """Retries of 429 / 409 / 5xx / timeouts / connection errors."""

    max_concurrency: int = Field(default=5, ge=1)
    """Concurrent API requests (the free tier allows 5)."""

    show_progress: bool = False
    """Show a tqdm progress bar over batches."""

    revision: str | None = None
    """Local: hub revision (branch, tag or commit) to download."""

    cache_dir: str | None = None
    """Local: hub cache directory (default: huggingface_hub's)."""

    local_files_only: bool = False
    """Local: never touch the network; use the cache or a local directory."""

    @field_serializer("backend")
    def _dump_resolved_backend(self, backend: str) -> str:
        """Dumps record the backend the rule chose: the key is not in a dump, so a reloaded
        ``auto`` could otherwise come back local (or, with a masked key, as the API)."""
        return self.resolved_backend()

    @model_validator(mode="after")
    def _local_only_options(self) -> Self:
        """Refuse at construction what the API cannot honour, instead of at the first call."""
        if self.max_length is not None and self.resolved_backend() == "api":
            raise ValueError(
                "max_length applies to the local model only: the API takes texts up to its own "
                "limit (8192 tokens for jina-clip) and cuts longer texts unless truncate=False"
            )
        return self

    def resolved_backend(self) -> Literal["local", "api"]:
        """Apply the backend rule (see module docstring)."""
        if self.backend != "auto":
            return self.backend
        explicit = self.model_fields_set
        if ("api_key" in explicit and self.api_key is not None) or (
            "base_url" in explicit and self.base_url is not None
        ):
            return "api"
        return "local"

    def encoder_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`JinaCLIP.local` or :meth:`JinaCLIP.remote`."""
        common: dict[str, Any] = {
            "batch_size": self.batch_size,
            "normalize": self.normalize,
            "dimensions": self.dimensions,
            "show_progress": self.show_progress,
            "max_length": self.max_length,
            "truncate": self.truncate,
        }
        if self.resolved_backend() == "local":
            return {
                **common,
                "device": self.device,
                "dtype": self.dtype,
                "revision": self.revision,
                "cache_dir": self.cache_dir,
                "local_files_only": self.local_files_only,
            }
        return {
            **common,
            "api_key": self.api_key,
            "base_url": self.base_url or DEFAULT_BASE_URL,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "max_concurrency": self.max_concurrency,
        }

    def build(self) -> JinaCLIP:
        """Create the encoder these settings describe (loads the model for ``local``)."""
        if self.resolved_backend() == "local":
            return JinaCLIP.local(self.model or DEFAULT_LOCAL_MODEL, **self.encoder_kwargs())
        return JinaCLIP.remote(self.model or DEFAULT_API_MODEL, **self.encoder_kwargs())
