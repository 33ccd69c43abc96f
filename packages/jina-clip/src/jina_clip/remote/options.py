"""`RemoteOptions`: everything :class:`~jina_clip.remote.RemoteJinaCLIP` is built from, and
`RemoteCallOptions`, one call's keywords; both validated once, by pydantic."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from pydantic import AfterValidator, ConfigDict, Field, SecretStr, field_validator, model_validator
from typing_extensions import Self

from ..defaults import DEFAULT_API_MODEL, DEFAULT_BASE_URL
from ..options import ApiFields, CallOptions, EncodeDefaults
from ..settings import API_MAX_LENGTH_MESSAGE, api_key_from_env
from .batching import API_MAX_ITEMS
from .models import model_spec

__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "RemoteCallOptions", "RemoteOptions"]

#: Serialized JSON per request; well under the API's limits (8 MB per image).
DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024


def _no_max_length(value: int | None) -> None:
    if value is not None:
        raise ValueError(API_MAX_LENGTH_MESSAGE)


#: Inputs per request: the API refuses more than 2,048.
ApiBatchSize = Annotated[int | None, Field(ge=1, le=API_MAX_ITEMS)]
#: The API has no ``max_length`` (it cuts at the model's limit unless ``truncate=False``).
NoMaxLength = Annotated[int | None, AfterValidator(_no_max_length)]


class RemoteOptions(EncodeDefaults, ApiFields):
    """The remote encoder's options: the encode defaults, the settings' API fields, and what
    only a direct caller sets (HTTP clients, headers, request size, backoff)."""

    model_config = ConfigDict(frozen=True)

    model: str = DEFAULT_API_MODEL
    """API model name."""

    batch_size: ApiBatchSize = None
    """Inputs per request (default 128 texts, 16 images; at most 2,048)."""

    max_length: NoMaxLength = None
    """Refused: the API takes texts up to the model's limit."""

    api_key: SecretStr | None = Field(default_factory=api_key_from_env)
    """Jina API key; an empty or missing one is read from ``JINA_API_KEY`` /
    ``JINAAI_API_KEY``. A self-hosted server may need none."""

    base_url: str = DEFAULT_BASE_URL
    """API endpoint root (``/embeddings`` is appended)."""

    max_request_bytes: int = Field(default=DEFAULT_MAX_REQUEST_BYTES, ge=1024)
    """Serialized JSON per request; an input larger than this alone is refused."""

    http_client: httpx.Client | None = None
    """An ``httpx.Client`` to send with (never closed by the encoder)."""

    async_http_client: httpx.AsyncClient | None = None
    """An ``httpx.AsyncClient`` to send with (never closed by the encoder)."""

    default_headers: dict[str, str] = Field(default_factory=dict)
    """Extra headers on every request."""

    backoff_base: float = Field(default=0.5, ge=0)
    """Seconds: full-jitter backoff draws from [0, base·2^retry]."""

    backoff_max: float = Field(default=30.0, ge=0)
    """Seconds: the longest backoff between retries (without ``Retry-After``)."""

    max_retry_after: float = Field(default=60.0, ge=0)
    """Seconds: the longest ``Retry-After`` honoured; a server asking for a longer wait makes
    the call fail with ``RetryAfterTooLongError`` instead of retrying early."""

    @field_validator("api_key", mode="after")
    @classmethod
    def _key_or_env(cls, key: SecretStr | None) -> SecretStr | None:
        return key if key is not None and key.get_secret_value() else api_key_from_env()

    @field_validator("base_url", mode="after")
    @classmethod
    def _strip_slash(cls, url: str) -> str:
        return url.rstrip("/")

    @field_validator("max_request_bytes", mode="before")
    @classmethod
    def _default_bytes(cls, value: Any) -> Any:
        return DEFAULT_MAX_REQUEST_BYTES if value is None else value

    @model_validator(mode="after")
    def _dimensions_fit_the_model(self) -> Self:
        model_spec(self.model).check_dimensions(self.dimensions, self.model)
        return self


class RemoteCallOptions(CallOptions):
    """One call's keywords, with the API's own limits."""

    batch_size: ApiBatchSize = None
    max_length: NoMaxLength = None
