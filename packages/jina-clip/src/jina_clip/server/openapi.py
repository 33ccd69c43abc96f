"""What the OpenAPI document says beyond the routes' types: the error responses of each route,
the headers every response carries, and the bearer-token auth.

The error statuses are the ones the server really sends (see ``errors.py``, ``middleware.py``,
``app.py``); each route declares them with :class:`~.schemas.ErrorResponse`, which also keeps
FastAPI from advertising its own ``HTTPValidationError`` for 422. The document describes the
server as configured: with an API key, the guarded routes carry an HTTP bearer security
requirement and a 401 response; without one, neither.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from fastapi import FastAPI

from .body import request_body_schemas
from .config import ServerSettings
from .schemas import ErrorResponse

__all__ = ["BEARER_SCHEME", "embeddings_responses", "install_openapi", "read_responses"]

#: The name of the security scheme in ``components.securitySchemes``.
BEARER_SCHEME = "bearerAuth"

_REQUEST_ID = {"description": "The request's id (the client's own, when it sent a sane one); "
                              "the error body's `request_id`.",
               "schema": {"type": "string"}}

Responses = dict[int | str, dict[str, Any]]


def _error(description: str, **headers: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = {"model": ErrorResponse, "description": description}
    if headers:
        response["headers"] = headers
    return response


def _internal_error() -> Responses:
    """The 500 every route can answer."""
    return {500: _error("`internal_error`: an unexpected failure (logged with the request id; "
                        "the body does not echo it).")}


def read_responses(success: str) -> Responses:
    """The responses of a GET route that reads server state: ``success`` describes its 200."""
    return {200: {"description": success}, **_internal_error()}


def metrics_responses() -> Responses:
    """The responses of ``GET /metrics``: Prometheus text, not JSON."""
    return {200: {"description": "The metrics in the Prometheus text exposition format.",
                  "content": {"text/plain": {"schema": {"type": "string"}}}},
            **_internal_error()}


def embeddings_responses(settings: ServerSettings) -> Responses:
    """The responses of ``POST /v1/embeddings`` beyond its body type (401 comes with the
    auth)."""
    retry_after = {"description": "Seconds to wait before retrying "
                                  f"(`retry_after_s`, here {settings.retry_after_s}).",
                   "schema": {"type": "integer", "minimum": 0}}
    return {
        200: {"description": "One entry per input, each with its input's `index`; `embedding` "
                             "is a list of numbers (`float`), a base64 string (`base64`), a "
                             "list of int8 / uint8 (`binary` / `ubinary`), or an object keyed "
                             "by type when several types were requested."},
        400: _error("`invalid_model`: `model` is not the served model name or the checkpoint; "
                    f"`too_many_inputs`: more than {settings.max_inputs} inputs "
                    f"(`max_inputs`), or more texts or images than the queue holds "
                    f"({settings.max_queue}, `max_queue`): split the request."),
        408: _error(f"`request_timeout`: the body did not arrive within "
                    f"{settings.body_timeout_s:g} s (`body_timeout_s`); the connection is "
                    "closed."),
        413: _error(f"`payload_too_large`: the body is over {settings.max_body_bytes} bytes "
                    "(`max_body_bytes`), declared or counted while reading."),
        422: _error("`validation_error`: malformed JSON, a wrong field type or value, an "
                    "empty `input` or `embedding_type` list, an unsupported `task`, "
                    "`dimensions` over the model's; `invalid_input`: an input that cannot be "
                    "used (image undecodable, over `max_image_bytes`/`max_image_pixels`, "
                    "download failed or timed out, text over "
                    f"{settings.max_text_tokens} tokens without `truncate`), named by index; "
                    "`unsafe_url`: an image URL the address guard refuses."),
        **_internal_error(),
        503: _error("`queue_full`: the batch queue is full (`max_queue`); `shutting_down`: "
                    "the server stopped before answering; `out_of_memory`: the model ran out "
                    "of memory on an input even alone. Retry after `Retry-After`.",
                    **{"Retry-After": retry_after}),
    }


def _auth_response() -> dict[str, Any]:
    return {"description": "`unauthorized`: the `Authorization: Bearer <key>` header is "
                           "missing or wrong (checked before the body is read).",
            "headers": {"WWW-Authenticate": {"description": "Always `Bearer`.",
                                             "schema": {"type": "string"}}},
            "content": {"application/json": {"schema": {
                "$ref": f"#/components/schemas/{ErrorResponse.__name__}"}}}}


def _finish(schema: dict[str, Any], *, auth: bool, open_paths: Collection[str]) -> None:
    """Add the request body's schemas, the auth (when on) and the ``x-request-id`` header, in
    place."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, body_schema in request_body_schemas().items():
        components.setdefault(name, body_schema)
    schema["components"]["schemas"] = dict(sorted(components.items()))
    if auth:
        schema.setdefault("components", {}).setdefault("securitySchemes", {})[BEARER_SCHEME] = {
            "type": "http", "scheme": "bearer",
            "description": "The server's API key, set with `--api-key` or "
                           "`JINA_CLIP_SERVER_API_KEY`."}
    for path, item in schema.get("paths", {}).items():
        for op in item.values():
            responses = op.setdefault("responses", {})
            if auth and path not in open_paths:
                op["security"] = [{BEARER_SCHEME: []}]
                responses["401"] = _auth_response()
            for response in responses.values():
                response.setdefault("headers", {})["x-request-id"] = dict(_REQUEST_ID)
            op["responses"] = dict(sorted(responses.items()))


def install_openapi(app: FastAPI, *, auth: bool, open_paths: Collection[str]) -> None:
    """Make ``app.openapi()`` return FastAPI's document finished by :func:`_finish`
    (built once, then cached like FastAPI's own)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()  # FastAPI caches it in app.openapi_schema; finish it once
            _finish(schema, auth=auth, open_paths=open_paths)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
