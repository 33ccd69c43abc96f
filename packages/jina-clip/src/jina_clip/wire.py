"""Jina Embeddings API wire format, shared by the remote client and the bundled server.

One definition of the JSON both sides speak (see ``shared/reference/jina-embeddings-api.md``):
the client builds :class:`EmbeddingRequest` and parses :class:`EmbeddingResponse`; the server
validates the same request model and returns the same response model. Embeddings travel as
float lists or as base64 of packed little-endian float32 (``embedding_type="base64"``).
"""

from __future__ import annotations

import base64
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

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
    model_config = ConfigDict(extra="forbid")
    text: str


class ImageItem(BaseModel):
    """``image`` is an http(s) URL, a ``data:`` URI or raw base64."""

    model_config = ConfigDict(extra="forbid")
    image: str


class LegacyUrlItem(BaseModel):
    """2024 format still sent by older LangChain/LlamaIndex clients: an image URL."""

    model_config = ConfigDict(extra="forbid")
    url: str


class LegacyBytesItem(BaseModel):
    """2024 format: base64 image bytes."""

    model_config = ConfigDict(extra="forbid")
    bytes: str


InputItem = str | TextItem | ImageItem | LegacyUrlItem | LegacyBytesItem


class EmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    input: str | list[InputItem]
    task: str | None = None
    dimensions: int | None = Field(default=None, ge=1)
    normalized: bool = True
    embedding_type: EmbeddingType | list[EmbeddingType] | None = None
    #: OpenAI-compatible alias of ``embedding_type`` (the ``openai`` client sends it).
    encoding_format: Literal["float", "base64"] | None = None
    truncate: bool = False


class EmbeddingData(BaseModel):
    """One vector. With several ``embedding_type`` values requested, ``embedding`` is an
    object keyed by type (``{"float": [...], "base64": "..."}``), as Jina's API answers."""

    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str | dict[str, list[float] | str]


class Usage(BaseModel):
    model_config = ConfigDict(extra="allow")
    total_tokens: int = 0
    prompt_tokens: int = 0
    image_tokens: int | None = None


class EmbeddingResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str
    object: Literal["list"] = "list"
    usage: Usage = Field(default_factory=Usage)
    data: list[EmbeddingData]


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    detail: str | list[object] | None = None
    code: str | None = None
    request_id: str | None = None


def encode_base64_embedding(vector: np.ndarray) -> str:
    """Pack a vector as base64 of little-endian float32."""
    return base64.b64encode(np.ascontiguousarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_base64_embedding(data: str) -> np.ndarray:
    """Inverse of :func:`encode_base64_embedding`. Raises ``ValueError`` on bad input."""
    raw = base64.b64decode(data, validate=True)
    if len(raw) % 4:
        raise ValueError(f"base64 embedding has {len(raw)} bytes, not a multiple of 4")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)
