"""jina-clip: one embedding space for text and images.

>>> from jina_clip import JinaCLIP
>>> clip = JinaCLIP.local("jinaai/jina-clip-v1")      # or JinaCLIP.remote(api_key=...)
>>> clip.encode_text(["a bridge at dusk"]).shape
(1, 768)

Importing this package does not import torch; only the local encoder does.
"""

from __future__ import annotations

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
    ImageFetchError,
    ImageInputError,
    ImageNotFoundError,
    ImageTooLargeError,
    InputError,
    InsufficientBalanceError,
    JinaCLIPError,
    ModelLoadError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    TextInputError,
    TextTooLongError,
    UnsafeURLError,
)
from .settings import JinaCLIPSettings

__version__ = "0.1.0"

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CheckpointMismatchError",
    "ConflictError",
    "ImageDecodeError",
    "ImageFetchError",
    "ImageInput",
    "ImageInputError",
    "ImageNotFoundError",
    "ImageTooLargeError",
    "InputError",
    "InsufficientBalanceError",
    "JinaCLIP",
    "JinaCLIPError",
    "JinaCLIPSettings",
    "ModelLoadError",
    "RateLimitError",
    "ResponseValidationError",
    "ServerError",
    "TextInputError",
    "TextTooLongError",
    "UnsafeURLError",
    "__version__",
]
