"""`ServerSettings`: every knob of ``jina-clip serve`` in one validated model.

Defaults are chosen so that an exposed server is safe out of the box: bounded bodies, inputs,
images, queue and text length, and no fetching of private addresses. Each field's docstring is
its description (``use_attribute_docstrings``), so the configuration reference is generated
from here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["ServerSettings"]

MB = 1024 * 1024


class ServerSettings(BaseModel):
    """Configuration of the embeddings server (``jina-clip serve`` flags map onto these fields)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(),
                              use_attribute_docstrings=True)

    # --- model ---------------------------------------------------------------------------------
    model: str = "jinaai/jina-clip-v1"
    """Hub id or local directory of the checkpoint to load."""
    served_model_name: str = "jina-clip-v1"
    """The name clients send as ``model`` and the server reports. The checkpoint's name (the
    ``model`` field) is accepted too; any other name is answered with 400 ``invalid_model``.
    Unset, it is ``jina-clip-v2`` for a ``model`` named ``.../jina-clip-v2``, else
    ``jina-clip-v1``."""
    device: str = "auto"
    """Where the model runs: ``auto`` (CUDA, then MPS, then CPU), ``cpu``, ``cuda``, ``cuda:1``,
    ``mps``."""
    dtype: str = "auto"
    """Weight and compute precision: ``auto`` (bfloat16 on CUDA, float32 elsewhere),
    ``float32``, ``bfloat16``, ``float16``."""

    @model_validator(mode="after")
    def _name_after_model(self) -> ServerSettings:
        """``--model jinaai/jina-clip-v2`` serves as ``jina-clip-v2`` unless named otherwise."""
        if "served_model_name" not in self.model_fields_set:
            base = self.model.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
            if base == "jina-clip-v2":
                self.served_model_name = base
        return self

    # --- network -------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    """Interface to listen on; the default accepts local connections only (``0.0.0.0``: all)."""
    port: int = Field(default=8080, ge=0, le=65535)
    """TCP port to listen on (0: any free port)."""
    api_key: SecretStr | None = None
    """Bearer token clients must send (``Authorization: Bearer <key>``) on every route but
    ``/health``; None turns auth off. An empty or blank key is refused (it would look like
    auth is on while any request got through). Never logged."""
    header_timeout_s: float = Field(default=10.0, gt=0)
    """Seconds a client has to send a request's headers (from the connection's start, or from
    the previous response on a kept-alive one); slower connections are closed, so clients
    trickling bytes cannot hold connections open."""
    body_timeout_s: float = Field(default=30.0, gt=0)
    """Seconds a client has to send a request's whole body once its headers are in; slower is
    408 and the connection is closed."""
    log_level: str = "info"
    """Logging level of the server and uvicorn: ``debug``, ``info``, ``warning``, ``error``."""

    # --- dynamic batching ----------------------------------------------------------------------
    batching: bool = True
    """False: every request runs as its own model call (the benchmark baseline)."""
    max_batch_size: int = Field(default=32, ge=1)
    """Items (texts or images) per model call."""
    max_wait_ms: float = Field(default=5.0, ge=0)
    """Milliseconds the first queued item waits for others to join its batch."""
    max_queue: int = Field(default=4096, ge=1)
    """Items waiting per modality; beyond it requests get 503 + Retry-After (a request with
    more items than this gets 400, since it could never be queued)."""
    max_batch_tokens: int = Field(default=16384, ge=2)
    """Tokens (padded: items x the longest text) per model call, as TEI's
    ``--max-batch-tokens``; one text over it runs alone. With ``max_batch_size`` it bounds a
    batch's work, and requests take turns batch by batch, so a small request never waits
    for more than one batch of a big one."""
    long_text_tokens: int = Field(default=1024, ge=2)
    """Tokens above which a text is embedded in the long-text lane, on a model thread of its
    own, so that long texts (up to ``max_text_tokens``, seconds each on a CPU) never delay
    short texts and images."""
    retry_after_s: int = Field(default=1, ge=0)
    """Seconds sent in the ``Retry-After`` header of every 503 (queue full, shutting down,
    out of memory)."""

    # --- limits --------------------------------------------------------------------------------
    max_inputs: int = Field(default=2048, ge=1)
    """Inputs (texts and images) per request; more is 400 ``too_many_inputs``."""
    max_body_bytes: int = Field(default=32 * MB, ge=1)
    """Bytes of request body, counted while it is read; more is 413."""
    max_image_bytes: int = Field(default=8 * MB, ge=1)
    """Bytes of one image, inline (after base64 decoding) or downloaded; more is 422."""
    max_image_pixels: int = Field(default=50_000_000, ge=1)
    """Pixels (width × height) of one decoded image; more is 422 (decompression bombs)."""
    max_text_tokens: int = Field(default=8192, ge=2)
    """Tokens of the longest text, special tokens included; longer ones get 422 unless the
    request sets ``truncate=true``."""
    fetch_timeout_s: float = Field(default=10.0, gt=0)
    """Seconds one image URL may take to download, redirects included; slower is 422."""
    max_redirects: int = Field(default=5, ge=0)
    """Redirects followed per image URL (each hop checked by the address guard); more is 422."""
    image_workers: int = Field(default=8, ge=1)
    """Threads decoding and downloading images (off the event loop)."""

    # --- safety --------------------------------------------------------------------------------
    allow_private_urls: bool = False
    """Let image URLs point at private/loopback/link-local hosts (only on trusted networks)."""

    @field_validator("api_key")
    @classmethod
    def _key_not_blank(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and not key.get_secret_value().strip():
            raise ValueError("the API key is empty; give a non-empty key, or none to turn auth "
                             "off")
        return key
