"""Parsing the ``/v1/embeddings`` body off the event loop when it is large.

FastAPI parses and validates a declared body model on the event loop. A request near the body
limit (an inline image of ~25 MB) takes ~150 ms of pydantic work, during which no other
request is served. The route therefore reads the raw body and validates it here: inline when
small (a thread hop would cost more than the parsing), in a worker thread when large. Errors
are raised as FastAPI's ``RequestValidationError``, so they get the same 422 as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from ..wire import EmbeddingRequest

__all__ = ["INLINE_PARSE_BYTES", "parse_embedding_request", "request_body_openapi"]

#: Bodies up to this size are validated on the event loop (well under a millisecond).
INLINE_PARSE_BYTES = 256 * 1024


def _validate(body: bytes) -> EmbeddingRequest:
    try:
        return EmbeddingRequest.model_validate_json(body)
    except ValidationError as exc:
        # No input values in the error: only locations and messages reach the client.
        raise RequestValidationError(exc.errors(include_url=False, include_input=False)) from None


async def parse_embedding_request(request: Request) -> EmbeddingRequest:
    """The request's body as an :class:`EmbeddingRequest`, or a ``RequestValidationError``."""
    body = await request.body()
    if len(body) <= INLINE_PARSE_BYTES:
        return _validate(body)
    return await asyncio.to_thread(_validate, body)


def request_body_openapi() -> dict[str, Any]:
    """The ``requestBody`` the route would have had with a declared ``EmbeddingRequest``
    parameter (for ``openapi_extra``); :func:`request_body_schemas` supplies the schemas."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/EmbeddingRequest"}}}}}


def request_body_schemas() -> dict[str, Any]:
    """``EmbeddingRequest`` and the models it uses, as OpenAPI component schemas."""
    schema = EmbeddingRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {**defs, "EmbeddingRequest": schema}
