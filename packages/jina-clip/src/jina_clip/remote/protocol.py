"""Request bodies and response validation, shared by the sync and async paths.

Bodies are built from the :mod:`jina_clip.wire` models and serialized once, item by item, so
the byte cap is checked against exactly what goes on the wire."""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx
import numpy as np
from pydantic import ValidationError

from ..errors import ResponseValidationError
from ..wire import (
    EmbeddingRequest,
    EmbeddingResponse,
    ImageItem,
    TextItem,
    decode_base64_embedding,
)
from .error_map import response_request_id
from .usage import TokenUsage

__all__ = ["Envelope", "image_item", "parse_embeddings", "text_item"]


def _dumps(obj: object) -> bytes:
    # Same compact form httpx uses for json=; allow_nan=False: the API is strict JSON.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def text_item(text: str) -> bytes:
    return _dumps(TextItem(text=text).model_dump())


def image_item(image: str) -> bytes:
    return _dumps(ImageItem(image=image).model_dump())


class Envelope:
    """Everything in a request but its ``input`` list: serialized once per call."""

    def __init__(
        self,
        model: str,
        *,
        task: str | None,
        dimensions: int | None,
        normalized: bool,
        truncate: bool,
    ) -> None:
        request = EmbeddingRequest(
            model=model,
            input=[],
            task=task,
            dimensions=dimensions,
            normalized=normalized,
            embedding_type="base64",
            truncate=truncate,
        )
        fields = request.model_dump(exclude_none=True, exclude={"input"})
        # normalized / truncate are always sent explicitly, even at their defaults.
        fields["normalized"] = normalized
        fields["truncate"] = truncate
        head = _dumps(fields)
        self.prefix = head[:-1] + b',"input":['
        self.suffix = b"]}"
        self.overhead = len(self.prefix) + len(self.suffix)

    def body(self, items: Sequence[bytes]) -> bytes:
        return self.prefix + b",".join(items) + self.suffix


def _invalid(
    message: str, response: httpx.Response, body: object = None
) -> ResponseValidationError:
    return ResponseValidationError(
        f"invalid response: {message}",
        status_code=response.status_code,
        request_id=response_request_id(response, body),
    )


def parse_embeddings(
    response: httpx.Response, *, count: int, dimension: int | None
) -> tuple[np.ndarray, TokenUsage]:
    """Validate a 2xx response to a request of ``count`` items; return ``(count, D)`` float32
    rows in request order and the usage.

    Checks: valid JSON in the wire schema, exactly ``count`` entries whose indices are
    0..count-1 without duplicates, every embedding decodes, one dimension throughout (equal
    to ``dimension`` when known), all values finite."""
    try:
        raw = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        raise _invalid("body is not JSON", response) from None
    try:
        parsed = EmbeddingResponse.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise _invalid(f"unexpected shape at {where or 'body'}: {first['msg']}", response,
                       raw) from None
    if len(parsed.data) != count:
        raise _invalid(f"sent {count} inputs, got {len(parsed.data)} embeddings", response, raw)
    rows: list[np.ndarray | None] = [None] * count
    for entry in parsed.data:
        if not 0 <= entry.index < count:
            raise _invalid(f"index {entry.index} out of range 0..{count - 1}", response, raw)
        if rows[entry.index] is not None:
            raise _invalid(f"index {entry.index} appears twice", response, raw)
        try:
            if isinstance(entry.embedding, dict):  # we ask for one type; never keyed
                raise ValueError("an object keyed by embedding type, not one embedding")
            if isinstance(entry.embedding, str):
                vector = decode_base64_embedding(entry.embedding)
            else:
                vector = np.asarray(entry.embedding, dtype=np.float32)
        except ValueError as exc:
            raise _invalid(f"embedding {entry.index} does not decode: {exc}", response,
                           raw) from None
        rows[entry.index] = vector
    vectors = [row for row in rows if row is not None]
    dims = {len(v) for v in vectors}
    if len(dims) != 1:
        raise _invalid(f"embeddings of different lengths {sorted(dims)}", response, raw)
    found = dims.pop()
    if found == 0 or (dimension is not None and found != dimension):
        raise _invalid(f"embeddings have {found} dimensions, expected {dimension}", response,
                       raw)
    matrix = np.stack(vectors).astype(np.float32, copy=False)
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise _invalid(f"embedding {int(np.argmax(bad))} has non-finite values", response, raw)
    return matrix, TokenUsage.from_wire(parsed.usage)
