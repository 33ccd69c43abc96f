"""HTTP errors in Jina's format: ``{"detail": str, "code": str, "request_id": str}``.

Handlers here translate FastAPI validation errors, Starlette HTTP errors, jina_clip input
errors and anything unexpected into that body, with the request id in body and header.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import InputError, UnsafeURLError

__all__ = ["HTTPError", "error_response", "install_error_handlers"]

log = logging.getLogger("jina_clip.server")

_CODES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
          408: "request_timeout",
          413: "payload_too_large", 422: "validation_error", 500: "internal_error",
          503: "service_unavailable"}


class HTTPError(Exception):
    """An error the server answers with on purpose."""

    def __init__(self, status: int, detail: str, *, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or _CODES.get(status, "error")
        self.headers = headers or {}


def error_response(status: int, detail: str, request_id: str, *, code: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    """A Jina-format error response."""
    body = {"detail": detail, "code": code or _CODES.get(status, "error"),
            "request_id": request_id}
    return JSONResponse(body, status_code=status,
                        headers={**(headers or {}), "x-request-id": request_id})


def assigned_request_id(request: Request) -> str:
    """The id the request-context middleware gave this request ("" before it ran)."""
    return getattr(request.state, "request_id", "") or ""


_ITEM_HELP = ('expected a string, {"text": str}, {"image": str}, or the legacy {"url": str} / '
              '{"bytes": str}')


def _validation_detail(exc: RequestValidationError) -> str:
    """FastAPI's error list as one readable line. Errors inside ``input`` collapse to one
    message per input index (pydantic reports every union member separately)."""
    parts: list[str] = []
    for err in exc.errors():
        loc = [p for p in err.get("loc", ()) if p != "body"]
        if loc[:1] == ["input"]:
            index = next((p for p in loc[1:] if isinstance(p, int)), None)
            msg = (f"input {index}: {_ITEM_HELP}" if index is not None
                   else "input: expected a string or a list of inputs")
        else:
            msg = f"{'.'.join(map(str, loc)) or 'body'}: {err.get('msg', 'invalid')}"
        if msg not in parts:
            parts.append(msg)
    return "; ".join(parts[:10]) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that render every error in Jina's format."""

    @app.exception_handler(HTTPError)
    async def _http_error(request: Request, exc: HTTPError) -> JSONResponse:
        return error_response(exc.status, exc.detail, assigned_request_id(request), code=exc.code,
                              headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, _validation_detail(exc), assigned_request_id(request))

    @app.exception_handler(StarletteHTTPException)
    async def _starlette(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), assigned_request_id(request),
                              headers=dict(exc.headers or {}))

    @app.exception_handler(UnsafeURLError)
    async def _unsafe(request: Request, exc: UnsafeURLError) -> JSONResponse:
        return error_response(422, str(exc), assigned_request_id(request), code="unsafe_url")

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> JSONResponse:
        unsafe = isinstance(exc.__cause__, UnsafeURLError)  # the guard refused a fetch hop
        return error_response(422, str(exc), assigned_request_id(request),
                              code="unsafe_url" if unsafe else "invalid_input")
