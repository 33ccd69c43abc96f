"""Jina Embeddings API wire format, shared by the remote client and the bundled server.

One definition of the JSON both sides speak (see ``shared/reference/jina-embeddings-api.md``):
the client builds :class:`EmbeddingRequest` and parses :class:`EmbeddingResponse`; the server
validates the same request model and declares the same response model in its OpenAPI
document. Every field's docstring is its description there (``use_attribute_docstrings``);
where ``jina-clip serve`` differs from Jina's hosted API, the docstring says so. Embeddings
travel as float lists or as base64 of packed little-endian float32 (``embedding_type="base64"``).
"""

from __future__ import annotations

import base64
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "EmbeddingData",
    "EmbeddingRequest",
    "EmbeddingResponse",
    "ErrorBody",
    "ImageItem",
    "LegacyBytesItem",
    "LegacyUrlItem",
    "TextItem",
    "Usage",
    "decode_base64_embedding",
    "encode_base64_embedding",
]

EmbeddingType = Literal["float", "base64", "binary", "ubinary"]

class TextItem(BaseModel):
    """A text input."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    text: str
    """The text to embed."""


class ImageItem(BaseModel):
    """An image input."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    image: str
    """An http(s) URL, a ``data:`` URI (``data:image/png;base64,...``) or raw base64 of the
    image file's bytes."""


class LegacyUrlItem(BaseModel):
    """2024 format still sent by older LangChain/LlamaIndex clients: an image URL."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    url: str
    """An http(s) URL (or a ``data:`` URI) of the image."""


class LegacyBytesItem(BaseModel):
    """2024 format: base64 image bytes."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    bytes: str
    """Base64 of the image file's bytes (a ``data:`` URI or a URL is accepted too)."""


InputItem = str | TextItem | ImageItem | LegacyUrlItem | LegacyBytesItem


class EmbeddingRequest(BaseModel):
    """A request to ``POST /v1/embeddings``: texts and images in one list, embedded into one
    space; answer row *i* is input *i*. Scalars are strict: ``"dimensions": true`` or
    ``"normalized": "yes"`` is 422, never read as 1 or true."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    model: str = Field(strict=True)
    """Model name, e.g. ``jina-clip-v1``. ``jina-clip serve`` accepts its served model name
    (``--served-model-name``) or its ``--model`` value; anything else is 400."""
    input: str | list[InputItem]
    """One text, or a list whose items are texts (plain strings or ``{"text": ...}``) and
    images (``{"image": ...}``; the legacy ``{"url": ...}`` / ``{"bytes": ...}`` too). At
    most 2048 items (``jina-clip serve``: ``--max-inputs``); an empty list is 422."""
    task: str | None = Field(default=None, strict=True)
    """Retrieval task adapter: ``retrieval.query`` for queries, unset for documents and
    images (jina-clip-v2). jina-clip-v1 has no task instructions: ``jina-clip serve`` accepts
    ``retrieval.query`` / ``retrieval.passage`` without changing the vectors, and answers any
    other value with 422."""
    dimensions: int | None = Field(default=None, ge=1, strict=True)
    """Matryoshka truncation: keep the first ``dimensions`` values (then normalize, if
    ``normalized``). Jina's API offers it for jina-clip-v2; ``jina-clip serve`` applies it to
    any model, and answers 422 when it exceeds the model's dimension."""
    normalized: bool = Field(default=True, strict=True)
    """Scale every vector to unit L2 norm (after any ``dimensions`` truncation)."""
    embedding_type: EmbeddingType | list[EmbeddingType] | None = None
    """Output encoding: ``float`` (a list of numbers, the default), ``base64`` (packed
    little-endian float32), ``binary`` (sign bits packed 8 per byte, as int8 = byte - 128) or
    ``ubinary`` (the same bytes as uint8). A list of several distinct types makes each
    ``embedding`` an object keyed by type; an empty list is 422."""
    encoding_type: EmbeddingType | list[EmbeddingType] | None = None
    """Alias of ``embedding_type``, as LlamaIndex's Jina client and older examples send it;
    giving both with different values is 422."""
    encoding_format: Literal["float", "base64"] | None = None
    """OpenAI-compatible alias of ``embedding_type`` (the ``openai`` client sends it); used
    only when ``embedding_type`` (and ``encoding_type``) is absent."""
    truncate: bool = Field(default=False, strict=True)
    """What to do with texts over the token limit (8192): true cuts them, false (the default)
    answers 422 naming the input."""

    @model_validator(mode="after")
    def _encoding_type_is_an_alias(self) -> EmbeddingRequest:
        if self.encoding_type is None:
            return self
        if self.embedding_type is None:
            self.embedding_type = self.encoding_type
        elif self.embedding_type != self.encoding_type:
            raise ValueError("embedding_type and encoding_type (its alias) differ; send one")
        return self


class EmbeddingData(BaseModel):
    """One vector. With several ``embedding_type`` values requested, ``embedding`` is an
    object keyed by type (``{"float": [...], "base64": "..."}``), as Jina's API answers."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    object: Literal["embedding"] = "embedding"
    """Always ``embedding``."""
    index: int
    """Position of the input this vector belongs to; clients must order by it."""
    embedding: list[float] | str | dict[str, list[float] | str]
    """The vector in the requested ``embedding_type``: numbers for ``float``, a string for
    ``base64``, integers (one per 8 dimensions) for ``binary`` (-128..127) and ``ubinary``
    (0..255); an object keyed by type when several types were requested."""


class Usage(BaseModel):
    """Tokens the request counted (what Jina's API bills)."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)
    total_tokens: int = 0
    """All tokens of the request: texts plus images."""
    prompt_tokens: int = 0
    """Tokens in OpenAI's field name (``jina-clip serve``: equal to ``total_tokens``)."""
    image_tokens: int | None = None
    """Image tokens, when the API reports them apart (``jina-clip serve`` does not: its
    ``total_tokens`` counts each image as ``ceil(w/224) * ceil(h/224) * 1000``)."""


class EmbeddingResponse(BaseModel):
    """The answer to ``POST /v1/embeddings``: one entry per input."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)
    model: str
    """The model that embedded the inputs (``jina-clip serve``: its served model name)."""
    object: Literal["list"] = "list"
    """Always ``list``."""
    usage: Usage = Field(default_factory=Usage)
    """Token counts of the request."""
    data: list[EmbeddingData]
    """One entry per input, each carrying its input's ``index``."""


class ErrorBody(BaseModel):
    """An error as Jina's API sends it. ``jina-clip serve`` always sends all three fields as
    strings; Jina's hosted API may send a 422 ``detail`` as a list (FastAPI style) or add an
    ``errors`` list, so clients must accept both."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)
    detail: str | list[object] | None = None
    """What went wrong, in words; an error about one input names it (``input 3: ...``)."""
    code: str | None = None
    """A stable machine-readable reason, e.g. ``invalid_model``, ``queue_full``."""
    request_id: str | None = None
    """The request's id, also sent in the ``x-request-id`` header (quote it when reporting)."""


def encode_base64_embedding(vector: np.ndarray) -> str:
    """Pack a vector as base64 of little-endian float32."""
    return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_base64_embedding(data: str) -> np.ndarray:
    """Inverse of :func:`encode_base64_embedding`. Raises ``ValueError`` on bad input."""
    raw = base64.b64decode(data, validate=True)
    if len(raw) % 4:
        raise ValueError(f"base64 embedding has {len(raw)} bytes, not a multiple of 4")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)
