"""Turn every accepted image input into a decoded :class:`PIL.Image.Image`.

Accepted inputs (``ImageInput``):

* ``PIL.Image.Image`` - used as is (``load()`` is called; no pixel limit, it is already in memory).
* ``bytes`` / ``bytearray`` / ``memoryview`` - the encoded file (PNG, JPEG, ...).
* ``io.BytesIO`` - its whole buffer (``getvalue()``), whatever its position: LlamaIndex and others
  hand over buffers they have just written, positioned at the end.
* any other binary file object - read from its *current* position to the end (like
  ``PIL.Image.open``); it is consumed, not closed.
* ``pathlib.Path`` / ``os.PathLike`` - a local file.
* ``str`` - classified, in this order (first match wins):

  1. ``data:`` URI (``data:image/png;base64,...``; percent-encoded data also works),
  2. ``http://`` / ``https://`` URL (fetched by a :class:`~jina_clip.images.fetch.UrlFetcher`),
  3. ``file://`` URL (local host only),
  4. path of an existing file,
  5. raw base64: strict alphabet (standard or URL-safe, padding optional, MIME line breaks
     allowed) that decodes to bytes starting with a known image signature (JPEG, PNG, GIF, WebP,
     BMP, TIFF, ICO, JPEG 2000, AVIF/HEIF),
  6. otherwise an error saying what the string looked like: a missing file
     (:class:`ImageNotFoundError`), base64 of something that is not an image
     (:class:`ImageDecodeError`), or none of the above (:class:`ImageInputError`).

  Paths come before base64 so that an existing file is never misread; base64 must carry an image
  signature so that a mistyped path is never decoded as garbage.

  The server classifies its request strings with the same function (``local_files=False``:
  ``file://`` URLs and paths are refused, a server never reads its own disk for a client), so
  what the client sends the server accepts: both alphabets, padding or not, data URIs.

Every error is an :class:`~jina_clip.errors.ImageInputError` subclass carrying the input's
``index``. Limits (:class:`ImageLimits`) guard against huge files and decompression bombs: the
pixel count is checked right after ``Image.open`` reads the header, before any pixel is decoded.
No EXIF orientation is applied: the official jina-clip preprocessing does not apply it either.
This module does not import torch.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from PIL import Image, UnidentifiedImageError

from ..errors import (
    ImageDecodeError,
    ImageInputError,
    ImageNotFoundError,
    ImageTooLargeError,
    UnsafeURLError,
)

if TYPE_CHECKING:
    from ..base import ImageInput
    from .fetch import UrlFetcher

__all__ = [
    "DEFAULT_LIMITS",
    "ImageLimits",
    "ImageSource",
    "SourceKind",
    "classify_image",
    "decode_image_bytes",
    "image_to_api_string",
    "load_image",
    "load_source",
    "sniff_image_format",
]

SourceKind = Literal["pil", "bytes", "file", "path", "url", "data_uri", "base64"]


@dataclass(frozen=True)
class ImageLimits:
    """Size and network limits applied while loading one image. All are per image."""

    #: Largest encoded image (file, download, decoded base64) in bytes.
    max_bytes: int = 20 * 1024 * 1024
    #: Largest width × height; bigger images are refused before their pixels are decoded.
    max_pixels: int = 64 * 1024 * 1024
    #: Seconds allowed for one URL fetch, redirects and body included.
    fetch_timeout: float = 10.0
    #: Redirects followed before giving up.
    max_redirects: int = 5

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.fetch_timeout <= 0:
            raise ValueError("fetch_timeout must be positive")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must be >= 0")


DEFAULT_LIMITS = ImageLimits()


@dataclass(frozen=True)
class ImageSource:
    """What an input turned out to be. ``payload`` is a ``PIL.Image.Image`` (``pil``), the
    encoded ``bytes`` (``bytes``, ``base64``), a local path ``str`` (``file``, ``path``) or the
    original string (``url``, ``data_uri``). ``text`` keeps the stripped input string for the
    string kinds so that it can be passed through to the API unchanged."""

    kind: SourceKind
    payload: object
    text: str | None = field(default=None, repr=False)


# --- signatures -------------------------------------------------------------------------------

_FTYP_IMAGE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis")


def sniff_image_format(data: bytes) -> str | None:
    """Name of the image format ``data`` starts with, or None. Used to tell base64 images from
    other base64 text and to validate bytes sent to the API without decoding them."""
    head = bytes(data[:16])
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and len(head) >= 14:
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[:4] == b"\x00\x00\x01\x00":
        return "ICO"
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n") or head.startswith(b"\xffO\xffQ"):
        return "JPEG2000"
    if head[4:8] == b"ftyp" and head[8:12] in _FTYP_IMAGE_BRANDS:
        return "AVIF" if head[8:11] == b"avi" else "HEIF"
    return None


# --- classification ---------------------------------------------------------------------------

_B64_STD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_B64_URLSAFE = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_LINE_BREAKS = re.compile(r"[\r\n]+")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,5}$")
#: Shorter strings that are not base64 images are reported as missing files or bad input,
#: never as "base64 of something else".
_MIN_BASE64_REPORT = 32


def _b64decode_strict(text: str) -> bytes | None:
    """Decode ``text`` if it is base64 in one alphabet (MIME line breaks and missing padding
    tolerated), else None."""
    compact = _LINE_BREAKS.sub("", text)
    if not compact:
        return None
    if _B64_STD.fullmatch(compact):
        altchars = None
    elif _B64_URLSAFE.fullmatch(compact):
        altchars = b"-_"
    else:
        return None
    body = compact.rstrip("=")
    if len(body) % 4 == 1 or len(compact) - len(body) > 2:
        return None
    padded = body + "=" * (-len(body) % 4)
    try:
        return base64.b64decode(padded, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None


def _file_url_to_path(url: str, *, index: int) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.netloc not in ("", "localhost"):
        raise ImageNotFoundError(
            f"file:// URL names a remote host {parsed.netloc!r}; only local files are read",
            index=index,
        )
    return urllib.request.url2pathname(parsed.path)


def _is_existing_path(text: str) -> bool:
    try:
        return os.path.exists(text)
    except (OSError, ValueError):  # name too long, NUL byte, ...
        return False


def _looks_like_path(text: str) -> bool:
    return (
        "/" in text
        or "\\" in text
        or text.startswith(("~", "."))
        or bool(_EXTENSION.search(text))
    )


def _preview(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


def _check_base64_size(text: str, max_bytes: int | None, *, index: int) -> None:
    """Refuse base64 whose decoded size would exceed ``max_bytes`` before decoding it."""
    if max_bytes is not None and len(text) // 4 * 3 > max_bytes + 3:
        raise ImageTooLargeError(
            f"image is about {len(text) // 4 * 3} bytes, larger than {max_bytes} bytes",
            index=index)


def _classify_string(raw: str, *, index: int, local_files: bool = True,
                     max_bytes: int | None = None) -> ImageSource:
    text = raw.strip()
    if not text:
        raise ImageInputError("empty string is not an image", index=index)
    lower = text[:8].lower()
    if lower.startswith("data:"):
        return ImageSource("data_uri", text, text)
    if lower.startswith(("http://", "https://")):
        return ImageSource("url", text, text)
    if not local_files:
        scheme = _SCHEME.match(text[:40])
        if scheme is not None:  # a URL refused by policy, like a redirect to it (unsafe_url)
            name = scheme.group(1).lower()
            raise ImageInputError(
                f"{name}:// URLs are not accepted; send an http(s) URL, a data URI or base64",
                index=index) from UnsafeURLError(f"only http and https URLs are fetched, not "
                                                 f"{name}:")
        _check_base64_size(text, max_bytes, index=index)
        decoded = _b64decode_strict(text)
        if decoded is not None and sniff_image_format(decoded):
            return ImageSource("base64", decoded, _LINE_BREAKS.sub("", text))
        hint = "; paths are not accepted" if _looks_like_path(text) else ""
        if decoded is None:
            raise ImageInputError(
                f"image is not an http(s) URL, a data URI or valid base64{hint}", index=index)
        raise ImageDecodeError(
            f"string is valid base64 but its {len(decoded)} decoded bytes are not a known "
            f"image format (starts with {decoded[:8]!r}){hint}", index=index)
    if lower.startswith("file://"):
        return ImageSource("file", _file_url_to_path(text, index=index), text)
    if _is_existing_path(raw):
        return ImageSource("path", raw, raw)
    if text != raw and _is_existing_path(text):
        return ImageSource("path", text, text)
    _check_base64_size(text, max_bytes, index=index)
    decoded = _b64decode_strict(text)
    if decoded is not None and sniff_image_format(decoded):
        return ImageSource("base64", decoded, _LINE_BREAKS.sub("", text))
    if decoded is not None and len(text) >= _MIN_BASE64_REPORT:
        raise ImageDecodeError(
            f"string is valid base64 but its {len(decoded)} decoded bytes are not a known "
            f"image format (starts with {decoded[:8]!r}); not an existing path either",
            index=index,
        )
    if _looks_like_path(text):
        raise ImageNotFoundError(f"no such file: {_preview(raw, 200)}", index=index)
    raise ImageInputError(
        f"not a path, URL, data URI or base64 image: {_preview(raw)}", index=index
    )


def _read_file_object(obj: object, *, index: int) -> bytes:
    if isinstance(obj, io.BytesIO):
        return obj.getvalue()
    if isinstance(obj, io.TextIOBase):
        raise ImageInputError("file object is opened in text mode; open it with 'rb'", index=index)
    try:
        data = obj.read()  # type: ignore[attr-defined]
    except (OSError, ValueError) as err:
        raise ImageInputError(f"could not read file object: {err}", index=index) from err
    if isinstance(data, str):
        raise ImageInputError("file object is opened in text mode; open it with 'rb'", index=index)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageInputError(
            f"file object's read() returned {type(data).__name__}, expected bytes", index=index
        )
    return bytes(data)


def classify_image(image: ImageInput, *, index: int, local_files: bool = True,
                   max_bytes: int | None = None) -> ImageSource:
    """Say what ``image`` is without decoding pixels or touching the network. File objects are
    read here (a stream cannot be read twice); base64 strings are decoded to check their
    signature. Raises a typed :class:`ImageInputError` for anything unusable.

    ``local_files=False`` (the server): strings may only be http(s) URLs, data URIs or base64
    (decoded whatever it holds; the decoder says whether it is an image); ``max_bytes`` refuses
    bigger base64 before decoding it."""
    if isinstance(image, Image.Image):
        return ImageSource("pil", image)
    if isinstance(image, str):
        return _classify_string(image, index=index, local_files=local_files,
                                max_bytes=max_bytes)
    if isinstance(image, (bytes, bytearray)):
        return ImageSource("bytes", bytes(image))
    if isinstance(image, memoryview):
        return ImageSource("bytes", image.tobytes())
    if isinstance(image, os.PathLike):
        path = os.fspath(image)
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        return ImageSource("path", path, path)
    if hasattr(image, "read"):
        return ImageSource("bytes", _read_file_object(image, index=index))
    raise ImageInputError(
        f"unsupported image type {type(image).__name__}; expected a path, URL, data URI, "
        "base64 string, bytes, binary file object or PIL image",
        index=index,
    )


# --- decoding ---------------------------------------------------------------------------------


def decode_image_bytes(
    data: bytes, *, index: int, limits: ImageLimits = DEFAULT_LIMITS
) -> Image.Image:
    """Decode an encoded image fully, enforcing ``limits``. The pixel count is checked from the
    header before the (expensive, possibly malicious) pixel data is decoded."""
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(
            f"image is {len(data)} bytes, over the limit of {limits.max_bytes}", index=index
        )
    if not data:
        raise ImageDecodeError("image data is empty", index=index)
    try:
        # Pillow's own bomb check uses a process-wide threshold. Below it our per-call limit
        # is the stricter one, so its warning becomes an error; above it we ignore the warning
        # and let our limit decide (Pillow still refuses twice its threshold outright).
        with warnings.catch_warnings():
            pil_limit = Image.MAX_IMAGE_PIXELS
            escalate = pil_limit is None or limits.max_pixels <= pil_limit
            warnings.simplefilter("error" if escalate else "ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > limits.max_pixels:
                raise ImageTooLargeError(
                    f"image is {width}x{height} = {width * height} pixels, over the limit of "
                    f"{limits.max_pixels}",
                    index=index,
                )
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageTooLargeError(f"decompression bomb refused: {err}", index=index) from err
    except UnidentifiedImageError as err:
        raise ImageDecodeError(
            f"not an image Pillow can decode ({len(data)} bytes starting with {data[:8]!r})",
            index=index,
        ) from err
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        if isinstance(err, ImageInputError):
            raise
        raise ImageDecodeError(f"could not decode image: {err}", index=index) from err
    return image


def _read_path(path: str, *, index: int, limits: ImageLimits) -> bytes:
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise ImageNotFoundError(f"no such file: {path!r}", index=index) from None
    except (OSError, ValueError) as err:
        raise ImageNotFoundError(f"cannot access {path!r}: {err}", index=index) from err
    if os.path.isdir(path):
        raise ImageNotFoundError(f"is a directory, not an image file: {path!r}", index=index)
    if size > limits.max_bytes:
        raise ImageTooLargeError(
            f"file {path!r} is {size} bytes, over the limit of {limits.max_bytes}", index=index
        )
    try:
        with open(path, "rb") as f:
            data = f.read(limits.max_bytes + 1)
    except OSError as err:
        raise ImageNotFoundError(f"cannot read {path!r}: {err}", index=index) from err
    if len(data) > limits.max_bytes:  # grew since stat, or a special file
        raise ImageTooLargeError(
            f"file {path!r} is over the limit of {limits.max_bytes} bytes", index=index
        )
    return data


def check_data_uri_media_type(header: str, *, index: int) -> None:
    """Refuse a ``data:`` URI header (``data:<type>;...``, before the comma) whose media type
    says it is not an image: a payload labelled ``text/plain`` was not meant as a picture.
    No type, ``image/*`` and ``application/octet-stream`` are accepted."""
    mediatype = header[5:].split(";")[0].strip().lower()
    if mediatype and not mediatype.startswith("image/") and mediatype != "application/octet-stream":
        raise ImageDecodeError(f"data URI has media type {mediatype!r}, not image/*", index=index)


def _decode_data_uri(uri: str, *, index: int, limits: ImageLimits) -> bytes:
    header, sep, body = uri.partition(",")
    if not sep:
        raise ImageDecodeError("malformed data URI: no ',' after the header", index=index)
    params = header[5:].split(";")
    check_data_uri_media_type(header, index=index)
    # base64 size bound before decoding: 3 bytes per 4 characters
    if len(body) * 3 // 4 > limits.max_bytes + 3:
        raise ImageTooLargeError(
            f"data URI holds about {len(body) * 3 // 4} bytes, over the limit of "
            f"{limits.max_bytes}",
            index=index,
        )
    if any(p.strip().lower() == "base64" for p in params[1:]):
        data = _b64decode_strict(urllib.parse.unquote(body.strip()))
        if data is None:
            raise ImageDecodeError(
                "data URI says base64 but its data is not valid base64", index=index
            )
        return data
    return urllib.parse.unquote_to_bytes(body)


def _source_bytes(source: ImageSource, *, index: int, limits: ImageLimits) -> bytes:
    """Encoded bytes of every kind except ``pil`` and ``url``."""
    if source.kind in ("bytes", "base64"):
        return source.payload  # type: ignore[return-value]
    if source.kind in ("path", "file"):
        return _read_path(source.payload, index=index, limits=limits)  # type: ignore[arg-type]
    if source.kind == "data_uri":
        return _decode_data_uri(source.payload, index=index, limits=limits)  # type: ignore[arg-type]
    raise AssertionError(source.kind)  # pragma: no cover


def _load_pil(image: Image.Image, *, index: int) -> Image.Image:
    try:
        image.load()
    except (OSError, ValueError, SyntaxError, EOFError) as err:
        raise ImageDecodeError(f"PIL image could not be loaded: {err}", index=index) from err
    return image


def load_image(
    image: ImageInput,
    *,
    index: int,
    limits: ImageLimits = DEFAULT_LIMITS,
    fetcher: UrlFetcher | None = None,
) -> Image.Image:
    """Load any accepted input as a fully decoded PIL image, mode unchanged (the caller
    converts: :class:`~jina_clip.local.LocalJinaCLIP` converts to RGB before the resize, as the
    official ``encode_image`` does). URLs are fetched with ``fetcher``, or with
    a throwaway :class:`UrlFetcher` built from ``limits`` (no URL guard) when none is given."""
    return load_source(classify_image(image, index=index), index=index, limits=limits,
                       fetcher=fetcher)


def load_source(
    source: ImageSource,
    *,
    index: int,
    limits: ImageLimits = DEFAULT_LIMITS,
    fetcher: UrlFetcher | None = None,
) -> Image.Image:
    """:func:`load_image` of an input :func:`classify_image` has classified already (the
    server classifies while parsing the request, and loads on a worker thread later)."""
    if source.kind == "pil":
        return _load_pil(source.payload, index=index)  # type: ignore[arg-type]
    data = source_bytes(source, index=index, limits=limits, fetcher=fetcher)
    return decode_image_bytes(data, index=index, limits=limits)


def source_bytes(
    source: ImageSource,
    *,
    index: int,
    limits: ImageLimits = DEFAULT_LIMITS,
    fetcher: UrlFetcher | None = None,
) -> bytes:
    """The encoded bytes of a classified input of any kind but ``pil``, not decoded (corpus
    runs send them on to a Ray actor). URLs are fetched as in :func:`load_image`."""
    if source.kind == "url":
        if fetcher is None:
            from .fetch import UrlFetcher

            with UrlFetcher(limits=limits) as own:
                return own.fetch(source.payload, index=index)  # type: ignore[arg-type]
        return fetcher.fetch(source.payload, index=index)  # type: ignore[arg-type]
    return _source_bytes(source, index=index, limits=limits)


# --- the remote API's wire form ---------------------------------------------------------------

_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"})


def _checked_b64(data: bytes, *, index: int, limits: ImageLimits, what: str) -> str:
    _validate_encoded(data, index=index, limits=limits, what=what)
    return base64.b64encode(data).decode("ascii")


def _validate_encoded(data: bytes, *, index: int, limits: ImageLimits, what: str) -> None:
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(
            f"{what} is {len(data)} bytes, over the limit of {limits.max_bytes}", index=index
        )
    if not data:
        raise ImageDecodeError(f"{what} is empty", index=index)
    if sniff_image_format(data) is None:
        raise ImageDecodeError(
            f"{what} is not a known image format (starts with {data[:8]!r})", index=index
        )


def image_to_api_string(
    image: ImageInput, *, index: int, limits: ImageLimits = DEFAULT_LIMITS
) -> str:
    """The string Jina's Embeddings API accepts for ``image``: http(s) URLs, data URIs and raw
    base64 pass through (the server fetches/decodes them); local files, bytes and file objects
    are sent as base64 of their original bytes (no re-encoding, no quality loss); PIL images are
    encoded as PNG (lossless; modes PNG cannot hold, such as CMYK, are converted to RGB first).
    Bytes are checked for an image signature so that a wrong file fails here, with its index,
    instead of as an opaque 4xx for the whole batch."""
    source = classify_image(image, index=index)
    if source.kind == "url":
        return source.text  # type: ignore[return-value]
    if source.kind == "base64":
        data = source.payload
        _validate_encoded(data, index=index, limits=limits, what="base64 image")  # type: ignore[arg-type]
        return source.text  # type: ignore[return-value]
    if source.kind == "data_uri":
        data = _decode_data_uri(source.payload, index=index, limits=limits)  # type: ignore[arg-type]
        _validate_encoded(data, index=index, limits=limits, what="data URI image")
        return source.text  # type: ignore[return-value]
    if source.kind == "pil":
        pil: Image.Image = _load_pil(source.payload, index=index)  # type: ignore[assignment]
        if pil.mode not in _PNG_MODES:
            pil = pil.convert("RGB")
        buffer = io.BytesIO()
        pil.save(buffer, format="PNG")
        return _checked_b64(buffer.getvalue(), index=index, limits=limits, what="PNG-encoded image")
    what = f"file {source.payload!r}" if source.kind in ("path", "file") else "image bytes"
    data = _source_bytes(source, index=index, limits=limits)
    return _checked_b64(data, index=index, limits=limits, what=what)
