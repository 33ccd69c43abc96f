"""Image inputs: classification, loading, URL fetching and the official preprocessing.

:mod:`.sources` and :mod:`.fetch` do not import torch; :mod:`.preprocess` imports it lazily,
only for :meth:`ImagePreprocessor.normalize`.
"""

from .fetch import AsyncUrlFetcher, ImageDownloadTooLargeError, UrlFetcher
from .preprocess import ImagePreprocessor
from .sources import (
    DEFAULT_LIMITS,
    ImageLimits,
    ImageSource,
    aload_image,
    classify_image,
    decode_image_bytes,
    image_to_api_string,
    load_image,
    sniff_image_format,
)

__all__ = [
    "DEFAULT_LIMITS",
    "AsyncUrlFetcher",
    "ImageDownloadTooLargeError",
    "ImageLimits",
    "ImagePreprocessor",
    "ImageSource",
    "UrlFetcher",
    "aload_image",
    "classify_image",
    "decode_image_bytes",
    "image_to_api_string",
    "load_image",
    "sniff_image_format",
]
