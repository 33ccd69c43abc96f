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

from pydantic import ConfigDict, Field, SecretStr, field_serializer, model_validator
from typing_extensions import Self

from .base import JinaCLIP
from .defaults import DEFAULT_API_MODEL, DEFAULT_BASE_URL, DEFAULT_LOCAL_MODEL
from .options import ApiFields, EncodeDefaults, LocalFields, Options

__all__ = [
    "API_KEY_ENV_VARS",
    "API_MAX_LENGTH_MESSAGE",
    "DEFAULT_API_MODEL",
    "DEFAULT_BASE_URL",
    "DEFAULT_LOCAL_MODEL",
    "JinaCLIPSettings",
    "api_key_from_env",
]

#: Read in this order when no key is passed.
API_KEY_ENV_VARS = ("JINA_API_KEY", "JINAAI_API_KEY")
#: Why ``max_length`` is refused for the API (settings and remote encoder alike).
API_MAX_LENGTH_MESSAGE = (
    "max_length applies to the local model only: the API takes texts up to its own limit "
    "(8192 tokens for jina-clip) and cuts longer texts unless truncate=False"
)


def api_key_from_env() -> SecretStr | None:
    """The API key from the environment (``JINA_API_KEY``, then ``JINAAI_API_KEY``)."""
    for name in API_KEY_ENV_VARS:
        value = os.environ.get(name)
        if value:
            return SecretStr(value)
    return None


class _Backend(Options):
    """Which model, where (first in the settings' field order)."""

    model: str | None = None
    """Hub id or local directory (local backend), or API model name (API backend).
    Default: ``jinaai/jina-clip-v1`` locally, ``jina-clip-v1`` over the API."""

    backend: Literal["auto", "local", "api"] = "auto"
    """``local`` runs the model here; ``api`` calls Jina's API (or ``base_url``); ``auto``
    uses the API only if ``api_key`` or ``base_url`` was passed explicitly."""


# Base order sets the field order (docs tables, schema): model and backend, local fields,
# encode defaults, API fields, then the key and address.
class JinaCLIPSettings(ApiFields, EncodeDefaults, LocalFields, _Backend):
    """Configuration of a jina-clip encoder, local or remote.

    The encode defaults and the per-backend fields are declared once, in
    :mod:`jina_clip.options`, and shared with the encoders' own options."""

    model_config = ConfigDict(validate_assignment=True)

    api_key: SecretStr | None = Field(default_factory=api_key_from_env, exclude=True)
    """Jina API key; read from ``JINA_API_KEY`` / ``JINAAI_API_KEY`` when not given. Never part
    of a dump (``model_dump``, ``model_dump_json``): a reloaded dump reads it from the
    environment again."""

    base_url: str | None = None
    """API endpoint root. Default ``https://api.jina.ai/v1``."""

    @field_serializer("backend")
    def _dump_resolved_backend(self, backend: str) -> str:
        """Dumps record the backend the rule chose: the key is not in a dump, so a reloaded
        ``auto`` could otherwise come back local (or, with a masked key, as the API)."""
        return self.resolved_backend()

    @model_validator(mode="after")
    def _local_only_options(self) -> Self:
        """Refuse at construction what the API cannot honour, instead of at the first call."""
        if self.max_length is not None and self.resolved_backend() == "api":
            raise ValueError(API_MAX_LENGTH_MESSAGE)
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
        """Keyword arguments for :meth:`JinaCLIP.local` or :meth:`JinaCLIP.remote`: the encode
        defaults plus the chosen backend's fields."""
        local = self.resolved_backend() == "local"
        backend = LocalFields if local else ApiFields
        names = [*EncodeDefaults.model_fields, *backend.model_fields]
        kwargs: dict[str, Any] = {name: getattr(self, name) for name in names}
        if not local:
            kwargs.update(api_key=self.api_key, base_url=self.base_url or DEFAULT_BASE_URL)
        return kwargs

    def build(self) -> JinaCLIP:
        """Create the encoder these settings describe (loads the model for ``local``)."""
        if self.resolved_backend() == "local":
            return JinaCLIP.local(self.model or DEFAULT_LOCAL_MODEL, **self.encoder_kwargs())
        return JinaCLIP.remote(self.model or DEFAULT_API_MODEL, **self.encoder_kwargs())
