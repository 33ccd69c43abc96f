"""The bodies only this server sends: errors as it renders them, ``/v1/models`` and ``/health``.

The embeddings request and response are the shared wire models (:mod:`jina_clip.wire`). These
models are declared on the routes, so the OpenAPI document shows them; the two GET routes
return them, so what they send cannot drift from what the document says.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["ErrorResponse", "Health", "ModelCard", "ModelList", "PerModality"]

_STRICT = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class ErrorResponse(BaseModel):
    """Every error this server sends, whatever the status (the body of
    :func:`jina_clip.server.errors.error_response`): Jina's error body with all three fields
    always present."""

    model_config = _STRICT
    detail: str
    """What went wrong, in one line; an error about one input names it (``input 3: ...``).
    Internal errors (500) say only ``internal server error``: details are logged."""
    code: str
    """The reason as a stable word, such as ``invalid_model``, ``too_many_inputs``,
    ``unauthorized``, ``payload_too_large``, ``validation_error``, ``invalid_input``,
    ``unsafe_url``, ``queue_full``, ``shutting_down``, ``out_of_memory``, ``not_found``,
    ``method_not_allowed``, ``internal_error``."""
    request_id: str
    """The request's id, the same as the ``x-request-id`` response header (the client's own,
    when it sent a sane one); quote it when reporting a problem."""


class ModelCard(BaseModel):
    """The model this server serves, in OpenAI's model-list format."""

    model_config = _STRICT
    id: str
    """The name to send as ``model`` (``--served-model-name``)."""
    object: Literal["model"] = "model"
    """Always ``model``."""
    created: int = 0
    """Always 0 (OpenAI's creation timestamp; unknown here)."""
    owned_by: str = "jina-clip"
    """Always ``jina-clip``."""
    root: str
    """The checkpoint loaded (``--model``: a hub id or a local directory)."""
    dimension: int
    """Length of the vectors the model returns (before any ``dimensions`` truncation)."""


class ModelList(BaseModel):
    """The answer to ``GET /v1/models``."""

    model_config = _STRICT
    object: Literal["list"] = "list"
    """Always ``list``."""
    data: list[ModelCard]
    """The one model this server serves."""


class PerModality(BaseModel):
    """A count for each of the two batchers."""

    model_config = _STRICT
    text: int
    """For texts."""
    image: int
    """For images."""


class Health(BaseModel):
    """The answer to ``GET /health``: liveness and batcher counters."""

    model_config = _STRICT
    status: Literal["ok"] = "ok"
    """Always ``ok`` while the server answers."""
    model: str
    """The served model name."""
    queue_depth: PerModality
    """Items waiting for a model call now (the 503 threshold is ``--max-queue``)."""
    model_calls: PerModality
    """Model calls since the server started."""
    items_embedded: PerModality
    """Items embedded since the server started."""
