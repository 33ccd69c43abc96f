"""`ServerSettings`: every knob of ``jina-clip serve`` in one validated model.

Defaults are chosen so that an exposed server is safe out of the box: bounded bodies, inputs,
images, queue and text length, and no fetching of private addresses.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["ServerSettings"]

MB = 1024 * 1024


class ServerSettings(BaseModel):
    """Configuration of the embeddings server (the CLI flags map 1:1 onto these fields)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    # --- model ---------------------------------------------------------------------------------
    model: str = "jinaai/jina-clip-v1"
    """Hub id or local directory of the checkpoint to load."""
    served_model_name: str = "jina-clip-v1"
    """The ``model`` value clients send and the server reports."""
    device: str = "auto"
    dtype: str = "auto"

    # --- network -------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    api_key: SecretStr | None = None
    """Bearer token clients must send; None turns auth off. Never logged."""
    log_level: str = "info"

    # --- dynamic batching ----------------------------------------------------------------------
    batching: bool = True
    """False: every request runs as its own model call (the benchmark baseline)."""
    max_batch_size: int = Field(default=32, ge=1)
    """Items (texts or images) per model call."""
    max_wait_ms: float = Field(default=5.0, ge=0)
    """How long the first queued item waits for others to join its batch."""
    max_queue: int = Field(default=4096, ge=1)
    """Items waiting per modality; beyond it requests get 503 + Retry-After."""
    retry_after_s: int = Field(default=1, ge=0)

    # --- limits --------------------------------------------------------------------------------
    max_inputs: int = Field(default=2048, ge=1)
    max_body_bytes: int = Field(default=32 * MB, ge=1)
    max_image_bytes: int = Field(default=8 * MB, ge=1)
    max_image_pixels: int = Field(default=50_000_000, ge=1)
    max_text_tokens: int = Field(default=8192, ge=2)
    """Longest text; longer ones get 422 unless the request sets ``truncate=true``."""
    fetch_timeout_s: float = Field(default=10.0, gt=0)
    max_redirects: int = Field(default=5, ge=0)
    image_workers: int = Field(default=8, ge=1)
    """Threads decoding and downloading images (off the event loop)."""

    # --- safety --------------------------------------------------------------------------------
    allow_private_urls: bool = False
    """Let image URLs point at private/loopback/link-local hosts (only on trusted networks)."""
