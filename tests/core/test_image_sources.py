"""Every image input kind loads the same pixels; strings are classified in the documented order;
every failure is a typed error naming the input's index."""

from __future__ import annotations

import base64
import io
import pathlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest
from PIL import Image

from jina_clip.errors import (
    ImageDecodeError,
    ImageInputError,
    ImageNotFoundError,
    ImageTooLargeError,
)
from jina_clip.images import (
    ImageLimits,
    classify_image,
    image_to_api_string,
    load_image,
    sniff_image_format,
)
from tests.loopback import serve_http


def _png_bytes() -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png_bytes()
EXPECTED = np.asarray(Image.open(io.BytesIO(PNG)).convert("RGB"))


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    """http://127.0.0.1:<port>: /cat.png serves the test PNG, anything else is a 404."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/cat.png":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                self.wfile.write(PNG)
            else:
                self.send_error(404)

        def log_message(self, *args: object) -> None:
            pass

    with serve_http(Handler) as url:
        yield url


@pytest.fixture
def png_path(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "cat image.png"  # a space: file:// URLs must be percent-decoded
    path.write_bytes(PNG)
    return path


def _all_kinds(path: pathlib.Path, server: str) -> dict[str, object]:
    b64 = base64.b64encode(PNG).decode()
    at_end = io.BytesIO(PNG)
    at_end.seek(0, io.SEEK_END)
    return {
        "str path": str(path),
        "Path": path,
        "file URL": path.as_uri(),
        "http URL": f"{server}/cat.png",
        "data URI": f"data:image/png;base64,{b64}",
        "raw base64": b64,
        "base64 with MIME line breaks": base64.encodebytes(PNG).decode(),
        "url-safe base64 unpadded": base64.urlsafe_b64encode(PNG).decode().rstrip("="),
        "bytes": PNG,
        "bytearray": bytearray(PNG),
        "memoryview": memoryview(PNG),
        "BytesIO at 0": io.BytesIO(PNG),
        "BytesIO at end": at_end,
        "PIL": Image.open(io.BytesIO(PNG)),
    }


def test_every_input_kind_gives_identical_pixels(png_path: pathlib.Path, image_server: str):
    for name, image in _all_kinds(png_path, image_server).items():
        loaded = load_image(image, index=3)
        assert loaded.size == (53, 37), name
        np.testing.assert_array_equal(np.asarray(loaded.convert("RGB")), EXPECTED, err_msg=name)
    with open(png_path, "rb") as f:
        np.testing.assert_array_equal(np.asarray(load_image(f, index=0)), EXPECTED)


def test_file_object_is_read_from_current_position(png_path: pathlib.Path):
    with open(png_path, "rb") as f:
        f.read(10)
        with pytest.raises(ImageDecodeError) as info:
            load_image(f, index=4)
    assert info.value.index == 4


def test_pil_image_is_returned_loaded_and_unconverted():
    image = Image.new("P", (10, 10))
    assert load_image(image, index=0) is image
    assert image.mode == "P"


# --- classification -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("data:image/png;base64,AAAA", "data_uri"),
        ("DATA:image/png;base64,AAAA", "data_uri"),
        ("https://example.com/a.png", "url"),
        ("HTTP://example.com/a.png", "url"),
        ("  http://example.com/a.png\n", "url"),
        ("file:///tmp/x.png", "file"),
        (base64.b64encode(PNG).decode(), "base64"),
        (base64.b64encode(b"\xff\xd8\xff\xe0" + b"\0" * 20).decode(), "base64"),  # JPEG head
        (base64.b64encode(b"GIF89a" + b"\0" * 20).decode(), "base64"),
        (base64.b64encode(b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 8).decode(), "base64"),
    ],
)
def test_string_classification(text: str, kind: str):
    assert classify_image(text, index=0).kind == kind


def test_existing_path_wins_over_base64(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch):
    # "abcd" is valid base64; an existing file of that name must be read as a file.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "abcd").write_bytes(PNG)
    source = classify_image("abcd", index=0)
    assert source.kind == "path"
    np.testing.assert_array_equal(np.asarray(load_image("abcd", index=0)), EXPECTED)


def test_file_url_percent_decoding(png_path: pathlib.Path):
    source = classify_image(png_path.as_uri(), index=0)
    assert source.kind == "file"
    assert source.payload == str(png_path)


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("photos/cat.jpg", ImageNotFoundError, "no such file: 'photos/cat.jpg'"),
        ("cat.jpg", ImageNotFoundError, "no such file"),
        ("photos/cat", ImageNotFoundError, "no such file"),
        ("hello world", ImageInputError, "not a path, URL, data URI or base64 image"),
        ("", ImageInputError, "empty string"),
        (base64.b64encode(b"just some text, long enough to be base64").decode(), ImageDecodeError,
         "not a known image format"),
        ("file://otherhost/x.png", ImageNotFoundError, "remote host"),
    ],
)
def test_unusable_strings(text: str, error: type[Exception], message: str):
    with pytest.raises(error, match=message) as info:
        load_image(text, index=7)
    assert info.value.index == 7
    assert type(info.value) is error


@pytest.mark.parametrize("value", [42, 1.5, None, ["a.png"], {"image": "x"}])
def test_unsupported_types_name_the_type(value: object):
    with pytest.raises(ImageInputError, match=type(value).__name__) as info:
        load_image(value, index=2)  # type: ignore[arg-type]
    assert info.value.index == 2


def test_text_mode_file_object_is_refused(tmp_path: pathlib.Path):
    path = tmp_path / "a.txt"
    path.write_text("hi")
    with open(path) as f, pytest.raises(ImageInputError, match="text mode"):
        load_image(f, index=0)


def test_sniff_image_format():
    assert sniff_image_format(PNG) == "PNG"
    assert sniff_image_format(b"II*\x00rest") == "TIFF"
    assert sniff_image_format(b"\0\0\0\x1cftypavif") == "AVIF"
    assert sniff_image_format(b"<html>") is None


# --- error paths -----------------------------------------------------------------------------


def test_missing_file_and_directory(tmp_path: pathlib.Path):
    with pytest.raises(ImageNotFoundError, match="no such file") as info:
        load_image(tmp_path / "missing.png", index=1)
    assert info.value.index == 1
    with pytest.raises(ImageNotFoundError, match="directory") as info:
        load_image(tmp_path, index=2)
    assert info.value.index == 2
    with pytest.raises(ImageNotFoundError, match="directory"):
        load_image(str(tmp_path), index=2)


def test_corrupt_and_non_image_bytes(tmp_path: pathlib.Path):
    with pytest.raises(ImageDecodeError, match="not an image") as info:
        load_image(b"this is not an image at all", index=5)
    assert info.value.index == 5
    with pytest.raises(ImageDecodeError) as info:
        load_image(PNG[: len(PNG) // 2], index=6)  # truncated: header fine, pixels missing
    assert info.value.index == 6
    text_file = tmp_path / "notes.png"
    text_file.write_text("not really a png\n")
    with pytest.raises(ImageDecodeError):
        load_image(text_file, index=0)
    with pytest.raises(ImageDecodeError, match="empty"):
        load_image(b"", index=0)


def test_data_uri_errors():
    with pytest.raises(ImageDecodeError, match="not valid base64"):
        load_image("data:image/png;base64,@@@@", index=0)
    with pytest.raises(ImageDecodeError, match="text/plain"):
        load_image("data:text/plain;base64,aGVsbG8=", index=0)
    with pytest.raises(ImageDecodeError, match="no ','"):
        load_image("data:image/png;base64", index=0)


def test_byte_limit(png_path: pathlib.Path):
    small = ImageLimits(max_bytes=100)
    for image in (PNG, png_path, base64.b64encode(PNG).decode()):
        with pytest.raises(ImageTooLargeError) as info:
            load_image(image, index=8, limits=small)
        assert info.value.index == 8


def test_decompression_bomb_refused_before_decoding():
    big = io.BytesIO()
    Image.new("L", (4000, 4000)).save(big, format="PNG")  # 16 Mpx, compresses to a few KB
    with pytest.raises(ImageTooLargeError, match="4000x4000") as info:
        load_image(big.getvalue(), index=9, limits=ImageLimits(max_pixels=1_000_000))
    assert info.value.index == 9


def test_pillow_bomb_error_is_mapped(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    png = io.BytesIO()
    Image.new("L", (100, 100)).save(png, format="PNG")
    with pytest.raises(ImageTooLargeError, match="decompression bomb"):
        load_image(png.getvalue(), index=0)


# --- image_to_api_string -----------------------------------------------------------------------


def test_api_string_passes_urls_data_uris_and_base64_through(png_path: pathlib.Path):
    b64 = base64.b64encode(PNG).decode()
    for text in ("https://example.com/cat.jpg", f"data:image/png;base64,{b64}", b64):
        assert image_to_api_string(text, index=0) == text
    assert image_to_api_string(base64.encodebytes(PNG).decode(), index=0) == b64


def test_api_string_sends_original_bytes(png_path: pathlib.Path):
    b64 = base64.b64encode(PNG).decode()
    for image in (png_path, str(png_path), png_path.as_uri(), PNG, io.BytesIO(PNG)):
        assert image_to_api_string(image, index=0) == b64


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "I;16", "CMYK"])
def test_api_string_pil_round_trip(mode: str):
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (9, 11, 3), dtype=np.uint8), "RGB").convert(mode)
    text = image_to_api_string(image, index=0)
    decoded = Image.open(io.BytesIO(base64.b64decode(text)))
    assert decoded.format == "PNG"
    want = image.convert("RGB") if mode == "CMYK" else image
    assert decoded.mode == want.mode
    np.testing.assert_array_equal(np.asarray(decoded), np.asarray(want))


def test_api_string_validates_bytes(tmp_path: pathlib.Path):
    text_file = tmp_path / "a.png"
    text_file.write_text("hello")
    with pytest.raises(ImageDecodeError, match="not a known image format") as info:
        image_to_api_string(text_file, index=3)
    assert info.value.index == 3
    with pytest.raises(ImageDecodeError):
        image_to_api_string(b"hello", index=0)
    with pytest.raises(ImageTooLargeError):
        image_to_api_string(PNG, index=0, limits=ImageLimits(max_bytes=10))
    with pytest.raises(ImageNotFoundError):
        image_to_api_string("missing/cat.jpg", index=0)
