"""Image inputs: classification, loading, URL fetching and the official preprocessing.

:mod:`.sources` and :mod:`.fetch` do not import torch; :mod:`.preprocess` imports it lazily,
only for :meth:`ImagePreprocessor.normalize`.
"""

from ..errors import ImageDownloadTooLargeError
from .fetch import UrlFetcher
from .preprocess import ImagePreprocessor
from .sources import (
    DEFAULT_LIMITS,
    ImageLimits,
    ImageSource,
    classify_image,
    decode_image_bytes,
    image_to_api_string,
    load_image,
    load_source,
    sniff_image_format,
    source_bytes,
)

__all__ = [
    "DEFAULT_LIMITS",
    "ImageDownloadTooLargeError",
    "ImageLimits",
    "ImagePreprocessor",
    "ImageSource",
    "UrlFetcher",
    "classify_image",
    "decode_image_bytes",
    "image_to_api_string",
    "load_image",
    "load_source",
    "sniff_image_format",
    "source_bytes",
]
