"""The exception hierarchy of jina_clip.

Every error the package raises on purpose is a :class:`JinaCLIPError`, so callers can catch
one type. Input errors name the offending input by its position in the call (``index``) and
say why it was refused; API errors carry the HTTP status, Jina's error ``code`` and the
request id so that a failure can be reported upstream.

    JinaCLIPError
    ├── InputError (also ValueError)          bad input; .index, .reason
    │   ├── TextInputError
    │   │   └── TextTooLongError              over max_length and truncate=False
    │   └── ImageInputError
    │       ├── ImageNotFoundError
    │       ├── ImageDecodeError
    │       ├── ImageTooLargeError
    │       ├── ImageFetchError               an http(s) image could not be downloaded
    │       └── ImageDownloadTooLargeError    a download went over the byte cap (both of the above)
    ├── ModelLoadError                        checkpoint/config/tokenizer problems
    │   └── CheckpointMismatchError           strict key/shape check failed
    ├── UnsafeURLError (also ValueError)      server-side address guard refused a URL
    └── APIError                              remote failure; .status_code .code .request_id
        ├── AuthenticationError               401
        ├── InsufficientBalanceError          402, 403
        ├── BadRequestError                   400, 413, 422 and other non-retryable 4xx
        ├── ConflictError                     409 (retried first)
        ├── RateLimitError                    429 (retried first); .retry_after
        ├── RetryAfterTooLongError            Retry-After over max_retry_after; .retry_after
        ├── ServerError                       5xx (retried first)
        ├── APIConnectionError                network failure (retried first)
        │   └── APITimeoutError               timeout or 408 (retried first)
        ├── ResponseValidationError           malformed or inconsistent response
        └── InputRejectedError (also InputError)  4xx naming one input; .index in the call

    TruncationWarning (a UserWarning)         texts were cut to max_length (truncate=None)
"""

from __future__ import annotations

from .positions import caller_positions

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CheckpointMismatchError",
    "ConflictError",
    "ImageDecodeError",
    "ImageDownloadTooLargeError",
    "ImageFetchError",
    "ImageInputError",
    "ImageNotFoundError",
    "ImageTooLargeError",
    "InputError",
    "InputRejectedError",
    "InsufficientBalanceError",
    "JinaCLIPError",
    "ModelLoadError",
    "RateLimitError",
    "ResponseValidationError",
    "RetryAfterTooLongError",
    "ServerError",
    "TextInputError",
    "TextTooLongError",
    "TruncationWarning",
    "UnsafeURLError",
    "UnsupportedModelError",
]


class JinaCLIPError(Exception):
    """Base class of every error raised on purpose by jina_clip."""


# --- inputs -----------------------------------------------------------------------------------


class InputError(JinaCLIPError, ValueError):
    """An input could not be embedded. ``index`` is its position in the call (None if the
    whole argument is wrong, e.g. a bare string instead of a list)."""

    def __init__(self, reason: str, *, index: int | None = None) -> None:
        self.index = index
        self.reason = reason
        where = f"input {index}: " if index is not None else ""
        super().__init__(f"{where}{reason}")


class TextInputError(InputError):
    """A text input is not a string or cannot be tokenized."""


class TextTooLongError(TextInputError):
    """A text is longer than ``max_length`` tokens and ``truncate=False`` refuses to cut it.
    ``num_tokens`` is a lower bound when ``exact`` is False (a text far over the limit is not
    tokenized to its end)."""

    def __init__(self, *, index: int, num_tokens: int, max_length: int,
                 exact: bool = True) -> None:
        self.num_tokens = num_tokens
        self.max_length = max_length
        self.exact = exact
        count = num_tokens if exact else f"at least {num_tokens}"
        super().__init__(
            f"text has {count} tokens, more than max_length={max_length}; "
            "set truncate to cut it, or raise max_length",
            index=index,
        )


#: Inputs named one by one in a :class:`TruncationWarning` message (all are in ``.indices``).
_WARN_LISTED = 10


class TruncationWarning(UserWarning):
    """Texts longer than ``max_length`` were cut to it because ``truncate`` was left unset
    (None). One warning per call names every cut input; ``indices`` and ``num_tokens`` hold
    them all. ``estimated`` is True when the counts are a client-side estimate (the remote
    encoder cannot see the server's tokenizer). ``truncate=True`` cuts silently,
    ``truncate=False`` raises :class:`TextTooLongError` instead."""

    def __init__(
        self,
        indices: list[int],
        num_tokens: list[int],
        max_length: int,
        *,
        estimated: bool = False,
    ) -> None:
        self.indices = caller_positions(indices)
        self.num_tokens = list(num_tokens)
        self.max_length = max_length
        self.estimated = estimated
        pairs = list(zip(self.indices, self.num_tokens, strict=True))
        listed = ", ".join(
            f"input {i} ({'~' if estimated else ''}{n} tokens)" for i, n in pairs[:_WARN_LISTED]
        )
        if len(pairs) > _WARN_LISTED:
            listed += f", and {len(pairs) - _WARN_LISTED} more"
        if estimated:
            what = (f"{len(pairs)} text(s) likely exceed {max_length} tokens (estimated from "
                    f"word counts) and will be cut by the API: {listed}")
        else:
            what = f"{len(pairs)} text(s) cut to max_length={max_length} tokens: {listed}"
        super().__init__(
            f"{what}; pass truncate=True to cut silently, or truncate=False to raise "
            "TextTooLongError"
        )


class ImageInputError(InputError):
    """An image input is of an unsupported type or could not be read."""


class ImageNotFoundError(ImageInputError):
    """A path (or file:// URL) does not point to a readable file."""


class ImageDecodeError(ImageInputError):
    """The bytes are not an image Pillow can decode."""


class ImageTooLargeError(ImageInputError):
    """The image exceeds a byte or pixel limit."""


class ImageFetchError(ImageInputError):
    """An http(s) image URL could not be downloaded (status, timeout, size cap)."""


class ImageDownloadTooLargeError(ImageFetchError, ImageTooLargeError):
    """A download went over ``max_bytes``; catchable as a fetch error or as a size error."""


# --- model ------------------------------------------------------------------------------------


class ModelLoadError(JinaCLIPError):
    """The checkpoint, its config, tokenizer or preprocessor config could not be loaded."""


class UnsupportedModelError(JinaCLIPError, ValueError):
    """The checkpoint loads, but this feature does not support it (e.g. ONNX export of
    jina-clip-v2)."""


class CheckpointMismatchError(ModelLoadError):
    """The weights do not match the architecture built from config.json."""

    def __init__(
        self,
        *,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
        source: str = "",
    ) -> None:
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched
        lines = [f"checkpoint {source or ''} does not match the model built from config.json:"]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): {', '.join(missing[:20])}")
        if unexpected:
            lines.append(f"  unexpected keys ({len(unexpected)}): {', '.join(unexpected[:20])}")
        for key, want, got in mismatched[:20]:
            lines.append(f"  shape mismatch {key}: model {want}, checkpoint {got}")
        super().__init__("\n".join(lines))


# --- server-side address guard ----------------------------------------------------------------


class UnsafeURLError(JinaCLIPError, ValueError):
    """A URL resolves to an address the server refuses to fetch (private, loopback, ...)."""


# --- remote API -------------------------------------------------------------------------------


class APIError(JinaCLIPError):
    """The Embeddings API answered with an error, or could not be reached."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        body: object = None,
    ) -> None:
        self.message = message
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.body = body
        parts = [message]
        if status_code is not None:
            parts.append(f"status={status_code}")
        if code:
            parts.append(f"code={code}")
        if request_id:
            parts.append(f"request_id={request_id}")
        super().__init__(" | ".join(parts))


class AuthenticationError(APIError):
    """401: the API key is missing or invalid."""


class InsufficientBalanceError(APIError):
    """402/403: the account has no balance left or hit a resource limit."""


class BadRequestError(APIError):
    """400/413/422 and other 4xx: the request was refused; retrying will not help."""


class ConflictError(APIError):
    """409: the resource is busy. Retried with backoff before this is raised."""


class RateLimitError(APIError):
    """429: a rate limit was hit. Retried (honouring Retry-After) before this is raised."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object):
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class RetryAfterTooLongError(APIError):
    """The server asked to wait longer (``Retry-After``) than ``max_retry_after`` allows: the
    call gives up instead of retrying before the server is ready. ``retry_after`` is the wait
    asked for, in seconds; the refused response's error is the ``__cause__``."""

    def __init__(self, message: str, *, retry_after: float, max_retry_after: float,
                 **kwargs: object) -> None:
        self.retry_after = retry_after
        self.max_retry_after = max_retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def wrapping(cls, error: APIError, retry_after: float,
                 max_retry_after: float) -> RetryAfterTooLongError:
        """The give-up error for ``error``, whose response asked for ``retry_after`` s."""
        wrapped = cls(
            f"the server asked to retry after {retry_after:g} s, longer than "
            f"max_retry_after={max_retry_after:g} s: {error.message}",
            retry_after=retry_after, max_retry_after=max_retry_after,
            status_code=error.status_code, code=error.code, request_id=error.request_id,
            body=error.body,
        )
        wrapped.__cause__ = error
        return wrapped


class ServerError(APIError):
    """5xx: the server failed. Retried with backoff before this is raised."""


class APIConnectionError(APIError):
    """The request did not get an answer (connection refused/reset, DNS, protocol error)."""


class APITimeoutError(APIConnectionError):
    """The request timed out (client side, or a 408 from the server)."""


class ResponseValidationError(APIError):
    """The API answered 2xx but the body is malformed or inconsistent with the request."""


class InputRejectedError(BadRequestError, InputError):
    """The API refused one input by name (4xx with ``input N: ...``, e.g. an image only the
    server could decode). ``index`` is the input's position in the whole call, not in the
    request; catchable as an :class:`InputError` and as a :class:`BadRequestError`."""

    def __init__(self, reason: str, *, index: int, **api_fields: object) -> None:
        BadRequestError.__init__(self, f"input {index}: {reason}", **api_fields)  # type: ignore[arg-type]
        self.index = index
        self.reason = reason
