"""jina-clip: one embedding space for text and images.

>>> from jina_clip import JinaCLIP
>>> clip = JinaCLIP.local("jinaai/jina-clip-v1")      # or JinaCLIP.remote(api_key=...)
>>> clip.encode_text(["a bridge at dusk"]).shape
(1, 768)

Importing this package does not import torch; only the local encoder does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import ImageInput, JinaCLIP
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CheckpointMismatchError,
    ConflictError,
    ImageDecodeError,
    ImageDownloadTooLargeError,
    ImageFetchError,
    ImageInputError,
    ImageNotFoundError,
    ImageTooLargeError,
    InputError,
    InputRejectedError,
    InsufficientBalanceError,
    JinaCLIPError,
    ModelLoadError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TextInputError,
    TextTooLongError,
    TruncationWarning,
    UnsafeURLError,
)
from .settings import JinaCLIPSettings

if TYPE_CHECKING:
    from .local import LocalJinaCLIP
    from .remote import RemoteJinaCLIP, TokenUsage

__version__ = "0.1.0"

#: Imported on first access, so that ``import jina_clip`` stays light (no torch, no httpx).
_LAZY = {
    "LocalJinaCLIP": ".local",
    "RemoteJinaCLIP": ".remote",
    "TokenUsage": ".remote",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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
    "ImageInput",
    "ImageInputError",
    "ImageNotFoundError",
    "ImageTooLargeError",
    "InputError",
    "InputRejectedError",
    "InsufficientBalanceError",
    "JinaCLIP",
    "JinaCLIPError",
    "JinaCLIPSettings",
    "LocalJinaCLIP",
    "ModelLoadError",
    "RateLimitError",
    "RemoteJinaCLIP",
    "ResponseValidationError",
    "ServerError",
    "TextInputError",
    "TextTooLongError",
    "TokenUsage",
    "TruncationWarning",
    "UnsafeURLError",
    "__version__",
]
