"""Bad and unusual images on every layer: the local encoder, the remote encoder through our
server, the server's own API, and both plugins. Every image is made in code.

Unusual but valid images (1×1, CMYK JPEG, 16-bit PNG, palette PNG with transparency, animated
GIF) must give the documented vector; broken ones a typed error naming the input's index."""

from __future__ import annotations

import io
import pathlib
import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image, ImageFile

from jina_clip import (
    ImageDecodeError,
    ImageInputError,
    ImageNotFoundError,
    ImageTooLargeError,
    InputError,
    InputRejectedError,
    JinaCLIP,
)
from jina_clip.images.modes import to_rgb
from langchain_jina_clip import JinaCLIPEmbeddings
from llama_index.embeddings.jina_clip import JinaCLIPEmbedding

from ..conftest import TINY_API_MODEL
from .conftest import b64, encoded, noise, png_bomb, png_bytes, unit_rows

GOOD = png_bytes((40, 30), seed=1)


# --- broken inputs: one table, three layers -----------------------------------------------------


def _corrupt(_: pathlib.Path) -> Any:
    return b"\x89PNG\r\n\x1a\n" + b"garbage!" * 10


def _truncated(_: pathlib.Path) -> Any:
    return png_bytes((64, 64))[:80]  # header fine, pixel data cut


def _empty_bytes(_: pathlib.Path) -> Any:
    return b""


def _empty_file(tmp: pathlib.Path) -> Any:
    path = tmp / "empty.png"
    path.write_bytes(b"")
    return path


def _svg(_: pathlib.Path) -> Any:
    return b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><rect/></svg>'


def _heic(_: pathlib.Path) -> Any:
    """An ISO-BMFF 'heic' header: sniffed as HEIF, undecodable without a HEIF plugin."""
    return b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64


def _bomb(_: pathlib.Path) -> Any:
    return png_bomb(30_000, 30_000)


def _over_pixel_limit(_: pathlib.Path) -> Any:
    return png_bomb(9_000, 9_000)  # 81 M pixels: under Pillow's own limit, over ours


def _directory(tmp: pathlib.Path) -> Any:
    return str(tmp)


def _missing(tmp: pathlib.Path) -> Any:
    return str(tmp / "no-such-image.png")


def _bad_base64(_: pathlib.Path) -> Any:
    return "this is not base64 !!"


def _base64_of_text(_: pathlib.Path) -> Any:
    return b64(b"just some text, certainly not an image file")


def _data_uri_not_image(_: pathlib.Path) -> Any:
    return "data:image/png;base64," + b64(b"plain text pretending to be a PNG")


def _data_uri_bad_base64(_: pathlib.Path) -> Any:
    return "data:image/png;base64,@@@not-base64@@@"


def _none(_: pathlib.Path) -> Any:
    return None


def _number(_: pathlib.Path) -> Any:
    return 3.5


#: case -> (make input, error class and message words for the local encoder, then for the
#: remote one). The remote encoder checks what it can before sending (paths, signatures);
#: what only decoding reveals comes back from the server as InputRejectedError (422).
CASES: dict[str, tuple[Callable[[pathlib.Path], Any], tuple[type, str], tuple[type, str]]] = {
    "corrupt": (_corrupt, (ImageDecodeError, "decode"), (InputRejectedError, "decode")),
    "truncated": (_truncated, (ImageDecodeError, "truncated"), (InputRejectedError, "truncated")),
    "zero-byte bytes": (_empty_bytes, (ImageDecodeError, "empty"), (ImageDecodeError, "empty")),
    "zero-byte file": (_empty_file, (ImageDecodeError, "empty"), (ImageDecodeError, "empty")),
    "svg": (_svg, (ImageDecodeError, "Pillow can decode"),
            (ImageDecodeError, "not a known image format")),
    "heic without plugin": (_heic, (ImageDecodeError, "Pillow can decode"),
                            (InputRejectedError, "Pillow can decode")),
    "bomb 30000x30000": (_bomb, (ImageTooLargeError, "bomb"), (InputRejectedError, "bomb")),
    "over max_pixels": (_over_pixel_limit, (ImageTooLargeError, "pixels"),
                        (InputRejectedError, "pixels")),
    "directory": (_directory, (ImageNotFoundError, "directory"),
                  (ImageNotFoundError, "directory")),
    "missing path": (_missing, (ImageNotFoundError, "no such file"),
                     (ImageNotFoundError, "no such file")),
    "invalid base64": (_bad_base64, (ImageInputError, "not a path, URL"),
                       (ImageInputError, "not a path, URL")),
    "base64 of text": (_base64_of_text, (ImageDecodeError, "not a known image format"),
                       (ImageDecodeError, "not a known image format")),
    "data URI not an image": (_data_uri_not_image, (ImageDecodeError, "Pillow can decode"),
                              (ImageDecodeError, "not a known image format")),
    "data URI bad base64": (_data_uri_bad_base64, (ImageDecodeError, "not valid base64"),
                            (ImageDecodeError, "not valid base64")),
    "None": (_none, (ImageInputError, "NoneType"), (ImageInputError, "NoneType")),
    "float": (_number, (ImageInputError, "float"), (ImageInputError, "float")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_local_broken_image_names_its_index(local_encoder: JinaCLIP, tmp_path: pathlib.Path,
                                            case: str) -> None:
    make, (error, words), _ = CASES[case]
    with pytest.raises(error, match=words) as info:
        local_encoder.encode_image([GOOD, GOOD, make(tmp_path)])
    assert info.value.index == 2 and str(info.value).startswith("input 2:")


@pytest.mark.parametrize("case", list(CASES))
def test_remote_broken_image_names_its_index(remote_encoder: JinaCLIP, tmp_path: pathlib.Path,
                                             case: str) -> None:
    """Batches of 2: the bad input (index 2) is input 0 of the second request."""
    make, _, (error, words) = CASES[case]
    with pytest.raises(error, match=words) as info:
        remote_encoder.encode_image([GOOD, GOOD, make(tmp_path), GOOD], batch_size=2)
    assert isinstance(info.value, InputError)
    assert info.value.index == 2 and str(info.value).startswith("input 2:")


@pytest.mark.parametrize("case", ["corrupt", "bomb 30000x30000", "missing path"])
async def test_async_twins_name_the_index_too(encoder: JinaCLIP, tmp_path: pathlib.Path,
                                              case: str) -> None:
    make = CASES[case][0]
    with pytest.raises(InputError) as info:
        await encoder.aencode_image([GOOD, make(tmp_path)])
    assert info.value.index == 1


def test_truncated_images_are_never_loaded_partially() -> None:
    """Pillow's process-wide switch that would decode a truncated file as a half-grey image
    must stay off (nothing in jina_clip sets it)."""
    import jina_clip.local  # noqa: F401 - importing the encoder must not flip it

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize(("width", "height"), [(30_000, 30_000), (9_000, 9_000)])
def test_bomb_is_refused_from_the_header_before_decoding(
        local_encoder: JinaCLIP, monkeypatch: pytest.MonkeyPatch, width: int,
        height: int) -> None:
    bomb = png_bomb(width, height)
    assert len(bomb) < 100
    loads: list[Any] = []
    real_load = ImageFile.ImageFile.load

    def spy(self: Any) -> Any:
        loads.append(self.size)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError) as info:
        local_encoder.encode_image([bomb])
    assert time.perf_counter() - start < 2.0
    assert info.value.index == 0 and loads == []  # no pixel was ever decoded


# --- the server's own API (JSON over HTTP) ------------------------------------------------------


def _post(url: str, items: list[Any]) -> httpx.Response:
    return httpx.post(f"{url}/embeddings", json={"model": TINY_API_MODEL, "input": items},
                      timeout=30)


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (b64(_corrupt(pathlib.Path())), "decode"),
        (b64(_truncated(pathlib.Path())), "truncated"),
        ("", "empty"),
        (b64(_svg(pathlib.Path())), "not a known image format"),  # as the remote client
        (b64(_heic(pathlib.Path())), "Pillow can decode"),
        (b64(_bomb(pathlib.Path())), "bomb"),
        (b64(_over_pixel_limit(pathlib.Path())), "pixels"),
        ("/etc/hostname", "base64"),  # a server never reads its own disk for a client
        ("file:///etc/hostname", "file://"),
        ("this is not base64 !!", "base64"),
        ("data:image/png;base64," + b64(b"plain text pretending"), "Pillow can decode"),
        ("data:image/png,not-base64", "decode"),  # percent-encoded data, as on the client
        (None, "input 1"),
    ],
)
def test_server_api_refuses_broken_images_with_422_naming_the_index(
        api_server_url: str, image: Any, words: str) -> None:
    response = _post(api_server_url, ["a text", {"image": image}])
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) == {"detail", "code", "request_id"}
    assert "input 1" in body["detail"] and words in body["detail"]
    assert "Traceback" not in response.text


def test_server_api_refuses_a_data_uri_with_a_non_image_type(api_server_url: str) -> None:
    """Like the clients: a payload labelled text/plain was not meant as a picture (422, named)."""
    response = _post(api_server_url, ["a text", {"image": "data:text/plain;base64," + b64(GOOD)}])
    assert response.status_code == 422, response.text
    assert "input 1" in response.json()["detail"] and "text/plain" in response.json()["detail"]
    for ok in ("data:image/png;base64,", "data:application/octet-stream;base64,", "data:;base64,"):
        assert _post(api_server_url, [{"image": ok + b64(GOOD)}]).status_code == 200, ok


def test_clients_refuse_a_data_uri_with_a_non_image_type(encoder: JinaCLIP) -> None:
    with pytest.raises(ImageDecodeError, match="text/plain") as info:
        encoder.encode_image([GOOD, "data:text/plain;base64," + b64(GOOD)])
    assert info.value.index == 1


# --- unusual but valid images: documented results -----------------------------------------------


def _animated_gif() -> bytes:
    first, second = noise((24, 24), seed=3), noise((24, 24), seed=4)
    return encoded(first, "GIF", save_all=True, append_images=[second], duration=50, loop=0)


def _palette_png() -> bytes:
    image = noise((24, 24), seed=5).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return encoded(image, "PNG", transparency=0)


def _sixteen_bit_png(fmt: str = "PNG") -> bytes:
    ramp = (np.arange(32 * 32, dtype=np.uint32).reshape(32, 32) * 64).astype(np.uint16)
    return encoded(Image.fromarray(ramp), fmt)


def _sixteen_bit_scaled(data: bytes) -> Image.Image:
    """What the model sees of a 16-bit grayscale file: samples scaled to 8 bits (v >> 8)."""
    return Image.fromarray(
        (np.asarray(_decoded(data)).astype(np.uint16) >> 8).astype(np.uint8)).convert("RGB")


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


#: name -> (encoded file, the RGB image the model must see: the documented result)
VALID: dict[str, tuple[bytes, Callable[[bytes], Image.Image]]] = {
    "1x1": (png_bytes((1, 1)), lambda d: _decoded(d).convert("RGB")),
    "cmyk jpeg": (encoded(noise((24, 24), seed=6, mode="CMYK"), "JPEG"),
                  lambda d: _decoded(d).convert("RGB")),
    "palette png with transparency": (_palette_png(), lambda d: _decoded(d).convert("RGB")),
    "rgba png": (encoded(noise((24, 24), seed=7, mode="RGBA")),
                 lambda d: _decoded(d).convert("RGB")),
    # the first frame, as Pillow opens it
    "animated gif": (_animated_gif(), lambda d: _decoded(d).convert("RGB")),
    # 16-bit samples scaled to 8 bits (v >> 8), not clipped at 255
    "16-bit png": (_sixteen_bit_png(), _sixteen_bit_scaled),
}


@pytest.mark.parametrize("name", list(VALID))
def test_unusual_valid_images_give_the_documented_vector(local_encoder: JinaCLIP,
                                                         remote_encoder: JinaCLIP,
                                                         name: str) -> None:
    data, model_sees = VALID[name]
    local = local_encoder.encode_image([data, GOOD])
    assert unit_rows(local)
    want = local_encoder.encode_image([model_sees(data)])[0]
    np.testing.assert_allclose(local[0], want, atol=1e-5)
    remote = remote_encoder.encode_image([data, GOOD])  # original bytes -> our server
    np.testing.assert_allclose(remote, local, atol=1e-5)


def test_animated_gif_uses_its_first_frame_only(local_encoder: JinaCLIP) -> None:
    gif = _animated_gif()
    frames = [noise((24, 24), seed=3), noise((24, 24), seed=4)]
    got, first, second = local_encoder.encode_image([gif, *[encoded(f, "GIF") for f in frames]])
    assert np.allclose(got, first, atol=1e-5) and not np.allclose(got, second, atol=1e-3)


def test_sixteen_bit_png_is_not_washed_out(local_encoder: JinaCLIP) -> None:
    """Pillow's convert('RGB') would clip the ramp to white almost everywhere."""
    data = _sixteen_bit_png()
    clipped = _decoded(data).convert("RGB")
    assert (np.asarray(clipped) == 255).mean() > 0.9  # the failure this guards against
    got, white = local_encoder.encode_image([data, clipped])
    assert not np.allclose(got, white, atol=1e-3)


def test_sixteen_bit_grayscale_opened_as_mode_i_is_scaled_too(local_encoder: JinaCLIP) -> None:
    """Pillow opens 16-bit grayscale as mode "I" from PGM files, and from PNG files before
    Pillow 10.3 (this package allows Pillow 10.0): the same 0..65535 samples, so the same
    scaling, not convert('RGB')'s clipping. Other "I" images (e.g. 32-bit TIFF) are not
    16-bit data and keep Pillow's conversion. (The remote client sends no PGM: it is not
    among the formats it recognises.)"""
    pgm = _sixteen_bit_png("PPM")
    assert _decoded(pgm).mode == "I"
    got, want = local_encoder.encode_image([pgm, _sixteen_bit_scaled(pgm)])
    np.testing.assert_allclose(got, want, atol=1e-5)
    for fmt in ("PNG", "PPM"):
        sixteen = _decoded(_sixteen_bit_png(fmt))
        as_i = sixteen.convert("I") if sixteen.mode != "I" else sixteen
        as_i.format = fmt  # the decoder's name, as Image.open sets it
        want = np.asarray(_sixteen_bit_scaled(_sixteen_bit_png(fmt)))
        np.testing.assert_array_equal(np.asarray(to_rgb(as_i)), want, err_msg=fmt)
    tiff = _decoded(encoded(Image.fromarray(np.full((4, 4), 300, dtype=np.int32)), "TIFF"))
    assert tiff.mode == "I" and (np.asarray(to_rgb(tiff)) == 255).all()


def test_empty_list_and_bare_image(encoder: JinaCLIP) -> None:
    assert encoder.encode_image([]).shape == (0, encoder.dimension)
    for bare in (GOOD, "photo.png", noise()):
        with pytest.raises(ImageInputError, match="single image") as info:
            encoder.encode_image(bare)  # type: ignore[arg-type]
        assert info.value.index is None


# --- plugins ------------------------------------------------------------------------------------


@pytest.fixture(params=["local", "api"])
def plugin_params(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.getfixturevalue(f"{'tiny' if request.param == 'local' else 'api'}_params")


def test_langchain_broken_image_names_its_index(plugin_params: dict[str, Any],
                                                tmp_path: pathlib.Path) -> None:
    with JinaCLIPEmbeddings(**plugin_params) as lc:
        assert lc.embed_images([]) == []
        with pytest.raises(InputError) as info:
            lc.embed_images([GOOD, _corrupt(tmp_path)])
        assert info.value.index == 1
        with pytest.raises(ImageNotFoundError) as info:
            lc.embed_image([str(tmp_path / "missing.png")])
        assert info.value.index == 0


def test_llamaindex_broken_image_names_its_index_in_the_whole_list(
        plugin_params: dict[str, Any]) -> None:
    """LlamaIndex cuts the list into batches of 2; the error names the caller's index."""
    images = [io.BytesIO(GOOD) for _ in range(3)] + [io.BytesIO(_corrupt(pathlib.Path()))]
    with JinaCLIPEmbedding(**plugin_params, embed_batch_size=2) as li:
        with pytest.raises(InputError) as info:
            li.get_image_embedding_batch(images)
        assert info.value.index == 3 and str(info.value).startswith("input 3:")

