"""The remote encoder against our own server (tiny checkpoint, 127.0.0.1) returns the same
vectors as the local encoder on the same inputs: one wire format, two halves, no drift."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jina_clip import (
    BadRequestError,
    InputRejectedError,
    JinaCLIP,
    TextTooLongError,
    TruncationWarning,
)

MODEL = "jina-clip-tiny"  # what the api_server_url fixture serves
TEXTS = ["a bridge at dusk", "hello world", "the small dog runs along the river " * 5, ""]


@pytest.fixture(scope="module")
def local(tiny_checkpoint: Path) -> JinaCLIP:
    return JinaCLIP.local(tiny_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[object]:
    rng = np.random.default_rng(1)
    folder = tmp_path_factory.mktemp("remote-images")
    path = folder / "noise.png"
    Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)).save(path)
    jpeg = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (500, 375, 3), dtype=np.uint8)).save(jpeg, "JPEG")
    pil = Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8))
    data_uri = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()
    return [path, str(path), jpeg.getvalue(), io.BytesIO(jpeg.getvalue()), pil, data_uri]


@pytest.mark.parametrize("normalize", [True, False])
def test_text_parity(api_server_url: str, local: JinaCLIP, normalize: bool) -> None:
    with JinaCLIP.remote(MODEL, base_url=api_server_url, normalize=normalize) as remote:
        got = remote.encode_text(TEXTS)
    np.testing.assert_allclose(got, local.encode_text(TEXTS, normalize=normalize), atol=1e-5)


def test_image_parity(api_server_url: str, local: JinaCLIP, images: list[object]) -> None:
    with JinaCLIP.remote(MODEL, base_url=api_server_url, batch_size=2) as remote:
        got = remote.encode_image(images)  # type: ignore[arg-type]
        assert remote.last_usage.total_tokens > 0  # type: ignore[attr-defined]
    np.testing.assert_allclose(got, local.encode_image(images), atol=1e-5)  # type: ignore[arg-type]


async def test_async_parity_and_dimensions(
    api_server_url: str, tiny_checkpoint: Path, images: list[object]
) -> None:
    small_local = JinaCLIP.local(tiny_checkpoint, device="cpu", dimensions=8)
    async with JinaCLIP.remote(MODEL, base_url=api_server_url, dimensions=8) as remote:
        got_text = await remote.aencode_text(TEXTS)
        got_image = await remote.aencode_image(images[:3])  # type: ignore[arg-type]
    assert got_text.shape == (len(TEXTS), 8)
    np.testing.assert_allclose(got_text, small_local.encode_text(TEXTS), atol=1e-5)
    np.testing.assert_allclose(got_image, small_local.encode_image(images[:3]), atol=1e-5)  # type: ignore[arg-type]


def test_too_long_text_fails_remotely_too(api_server_url: str, local: JinaCLIP) -> None:
    too_long = "word " * 9000
    with pytest.raises(TextTooLongError):
        local.encode_text([too_long], truncate=False)
    with JinaCLIP.remote(MODEL, base_url=api_server_url, truncate=False) as remote:
        with pytest.raises(BadRequestError) as info:
            remote.encode_text(["fine", too_long])
        assert info.value.status_code == 422
        assert isinstance(info.value, InputRejectedError) and info.value.index == 1
        assert "input 1" in str(info.value)  # the server names the input index


def test_too_long_text_is_cut_with_a_warning_by_default(api_server_url: str,
                                                        local: JinaCLIP) -> None:
    """(Each 8,192-token text costs seconds on CPU: one remote run, one local run.)"""
    too_long = "word " * 9000
    with JinaCLIP.remote(MODEL, base_url=api_server_url) as remote, pytest.warns(
        TruncationWarning, match="input 1"
    ):
        cut = remote.encode_text(["fine", too_long])
    np.testing.assert_allclose(cut, local.encode_text(["fine", too_long], truncate=True), atol=1e-5)


async def test_per_call_dimensions_remote_equals_local(
    api_server_url: str, local: JinaCLIP, images: list[object]
) -> None:
    """``dimensions`` per call (not only in the constructor), sync and async, texts and
    images: the first d components, then normalized, on both encoders."""
    with JinaCLIP.remote(MODEL, base_url=api_server_url) as remote:
        got = remote.encode_text(TEXTS, dimensions=16)
        assert remote.encode_image([], dimensions=16).shape == (0, 16)
        got_image = remote.encode_image(images[:2], dimensions=32)  # type: ignore[arg-type]
        got_async = await remote.aencode_text(TEXTS, dimensions=16)
    np.testing.assert_allclose(got, local.encode_text(TEXTS, dimensions=16), atol=1e-5)
    np.testing.assert_allclose(got_async, got, atol=1e-6)
    np.testing.assert_allclose(got_image, local.encode_image(images[:2], dimensions=32),  # type: ignore[arg-type]
                               atol=1e-5)
