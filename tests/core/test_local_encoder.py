"""LocalJinaCLIP end to end on a tiny checkpoint, through the real loading path."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jina_clip import (
    ImageDecodeError,
    ImageNotFoundError,
    JinaCLIP,
    JinaCLIPSettings,
    TextInputError,
    TextTooLongError,
    TruncationWarning,
)

TEXTS = [
    "a bridge at dusk",
    "hello",
    "a much longer sentence about a small dog that runs along the river road at dawn",
    "",
    "the cat",
]


@pytest.fixture(scope="module")
def clip(tiny_checkpoint: Path) -> JinaCLIP:
    return JinaCLIP.local(tiny_checkpoint, device="cpu", batch_size=2)


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("img") / "noise.png"
    Image.fromarray(rng.integers(0, 256, (300, 420, 3), dtype=np.uint8)).save(path)
    return path


def test_shapes_dtype_and_norm(clip: JinaCLIP) -> None:
    out = clip.encode_text(TEXTS)
    assert out.shape == (len(TEXTS), clip.dimension)
    assert out.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    assert clip.encode_text([]).shape == (0, clip.dimension)
    assert clip.encode_image([]).shape == (0, clip.dimension)


def test_order_preserved_under_length_sorting(clip: JinaCLIP) -> None:
    together = clip.encode_text(TEXTS)
    for i, text in enumerate(TEXTS):
        alone = clip.encode_text([text])[0]
        np.testing.assert_allclose(together[i], alone, atol=1e-5)
    # Distinct texts give distinct vectors, so a permutation bug cannot hide.
    sims = together @ together.T
    assert np.all(sims[~np.eye(len(TEXTS), dtype=bool)] < 0.9999)


def test_batch_size_does_not_change_results(clip: JinaCLIP) -> None:
    a = clip.encode_text(TEXTS, batch_size=1)
    b = clip.encode_text(TEXTS, batch_size=64)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_too_long_text_is_refused_with_truncate_false(clip: JinaCLIP) -> None:
    long_text = "word " * 100
    with pytest.raises(TextTooLongError) as info:
        clip.encode_text(["short", long_text], max_length=32, truncate=False)
    assert info.value.index == 1 and info.value.max_length == 32
    with pytest.warns(TruncationWarning, match="input 1"):  # the default: cut, and warn
        default = clip.encode_text(["short", long_text], max_length=32)
    cut = clip.encode_text(["short", long_text], max_length=32, truncate=True)
    assert cut.shape == (2, clip.dimension)
    np.testing.assert_array_equal(cut, default)
    # Truncation keeps the first tokens: same as a text that is already that short.
    ids = clip.tokenize([long_text], max_length=32, truncate=True)[0]  # type: ignore[attr-defined]
    assert len(ids) == 32


def test_bad_text_inputs_name_the_index(clip: JinaCLIP) -> None:
    with pytest.raises(TextInputError):
        clip.encode_text("a bare string")  # type: ignore[arg-type]
    with pytest.raises(TextInputError) as info:
        clip.encode_text(["ok", 3])  # type: ignore[list-item]
    assert info.value.index == 1


def test_normalize_false_and_dimensions(tiny_checkpoint: Path) -> None:
    raw = JinaCLIP.local(tiny_checkpoint, device="cpu", normalize=False)
    vectors = raw.encode_text(TEXTS)
    assert not np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    small = JinaCLIP.local(tiny_checkpoint, device="cpu", dimensions=8)
    cut = small.encode_text(TEXTS)
    assert cut.shape == (len(TEXTS), 8) and small.dimension == 8
    expected = vectors[:, :8] / np.linalg.norm(vectors[:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(cut, expected, atol=1e-5)


def test_every_image_kind_gives_the_same_vector(clip: JinaCLIP, picture: Path) -> None:
    data = picture.read_bytes()
    b64 = base64.b64encode(data).decode()
    kinds = [
        str(picture),
        picture,
        picture.as_uri(),
        data,
        bytearray(data),
        io.BytesIO(data),
        Image.open(picture),
        f"data:image/png;base64,{b64}",
        b64,
    ]
    out = clip.encode_image(kinds)
    assert out.shape == (len(kinds), clip.dimension)
    for row in out[1:]:
        np.testing.assert_allclose(row, out[0], atol=1e-6)


def test_image_and_text_share_the_space(clip: JinaCLIP, picture: Path) -> None:
    image = clip.encode_image([picture])
    text = clip.encode_text(["a photo"])
    assert image.shape == text.shape
    assert -1.0 <= float(image[0] @ text[0]) <= 1.0


def test_bad_image_fails_the_call_and_names_it(clip: JinaCLIP, picture: Path) -> None:
    with pytest.raises(ImageNotFoundError) as info:
        clip.encode_image([picture, "/no/such/picture.jpg"])
    assert info.value.index == 1
    with pytest.raises(ImageDecodeError) as info2:
        clip.encode_image([picture, picture, b"\x89PNG\r\n\x1a\n not really a png"])
    assert info2.value.index == 2


async def test_async_twins_match_and_do_not_block(clip: JinaCLIP, picture: Path) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    texts = await clip.aencode_text(TEXTS * 4)
    images = await clip.aencode_image([picture] * 4)
    stop.set()
    await task
    np.testing.assert_allclose(texts, clip.encode_text(TEXTS * 4), atol=1e-6)
    np.testing.assert_allclose(images, clip.encode_image([picture] * 4), atol=1e-6)
    assert ticks > 1, "the event loop was blocked during encoding"


def test_settings_build_local(tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINA_API_KEY", "jina_should_not_be_used")
    encoder = JinaCLIPSettings(model=str(tiny_checkpoint), device="cpu").build()
    assert type(encoder).__name__ == "LocalJinaCLIP"
    assert encoder.encode_text(["x"]).shape == (1, encoder.dimension)


def test_close_is_idempotent_and_encoder_stays_usable(tiny_checkpoint: Path) -> None:
    with JinaCLIP.local(tiny_checkpoint, device="cpu") as encoder:
        encoder.encode_text(["x"])
    encoder.close()
    assert encoder.encode_text(["x"]).shape == (1, encoder.dimension)
    assert "LocalJinaCLIP(" in repr(encoder)


@pytest.mark.parametrize("batch_size", [0, -1])
def test_non_positive_batch_size_is_refused(clip: JinaCLIP, picture: Path, batch_size: int) -> None:
    # A negative image batch_size used to skip every batch and return uninitialized rows.
    with pytest.raises(ValueError, match="batch_size"):
        clip.encode_image([picture, picture], batch_size=batch_size)
    with pytest.raises(ValueError, match="batch_size"):
        clip.encode_text(["a", "b"], batch_size=batch_size)


def test_non_positive_batch_size_is_refused_by_the_constructor(tiny_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        JinaCLIP.local(tiny_checkpoint, device="cpu", batch_size=-2)


@pytest.mark.parametrize("max_length", [0, 1])
def test_max_length_under_two_is_refused(clip: JinaCLIP, max_length: int) -> None:
    # max_length=0 used to fall back silently to the default of 8192.
    with pytest.raises(ValueError, match="max_length"):
        clip.encode_text(["hello world"], max_length=max_length, truncate=True)


def test_max_length_zero_is_refused_by_the_constructor(tiny_checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="max_length"):
        JinaCLIP.local(tiny_checkpoint, device="cpu", max_length=0)


def test_unconvertible_image_mode_is_a_typed_error_naming_the_index(
    clip: JinaCLIP, picture: Path
) -> None:
    # Pillow cannot convert "La" (premultiplied LA) to RGB: a bare ValueError before.
    with pytest.raises(ImageDecodeError) as info:
        clip.encode_image([picture, Image.new("La", (4, 4))])
    assert info.value.index == 1


def test_worker_pools_are_created_once_under_concurrency(tiny_checkpoint: Path) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    encoder = JinaCLIP.local(tiny_checkpoint, device="cpu")
    created: list[object] = []
    original = ThreadPoolExecutor.__init__

    def slow_init(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        created.append(self)
        threading.Event().wait(0.05)  # widen the check-then-create window
        original(self, *args, **kwargs)

    image = Image.new("RGB", (8, 8))
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ThreadPoolExecutor, "__init__", slow_init)
            threads = [
                threading.Thread(target=encoder.encode_image, args=([image],)) for _ in range(4)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert len(created) == 1  # one image pool, not one per racing thread
    finally:
        encoder.close()


def test_image_urls_share_one_http_client_closed_with_the_encoder(
    tiny_checkpoint: Path, picture: Path
) -> None:
    from tests.loopback import serve_http

    encoder = JinaCLIP.local(tiny_checkpoint, device="cpu")
    with serve_http(directory=picture.parent) as url:
        image_url = f"{url}/{picture.name}"
        first = encoder.encode_image([image_url, image_url])
        fetcher = encoder._fetcher  # type: ignore[attr-defined]
        assert fetcher is not None
        encoder.encode_image([image_url])
        assert encoder._fetcher is fetcher  # type: ignore[attr-defined]  # reused
        np.testing.assert_allclose(first[0], encoder.encode_image([picture])[0], atol=1e-6)
        encoder.close()
        assert encoder._fetcher is None  # type: ignore[attr-defined]
        assert fetcher._client.is_closed  # type: ignore[attr-defined]
        assert encoder.encode_image([image_url]).shape == (1, encoder.dimension)
    encoder.close()


def test_checkpoint_truncate_dim_is_the_default_dimensions(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """The official encode_* default to config.truncate_dim (parity audit D6)."""
    import json
    import shutil

    directory = tmp_path / "with-truncate-dim"
    shutil.copytree(tiny_checkpoint, directory)
    config = json.loads((directory / "config.json").read_text())
    config["truncate_dim"] = 8
    (directory / "config.json").write_text(json.dumps(config))
    defaulted = JinaCLIP.local(directory, device="cpu")
    explicit = JinaCLIP.local(tiny_checkpoint, device="cpu", dimensions=8)
    full = JinaCLIP.local(directory, device="cpu", dimensions=defaulted.model.text_dim)  # type: ignore[attr-defined]
    assert defaulted.dimension == 8 and full.dimension > 8
    np.testing.assert_allclose(
        defaulted.encode_text(TEXTS), explicit.encode_text(TEXTS), atol=1e-6
    )


async def test_per_call_dimensions_truncate_then_normalize(clip: JinaCLIP, picture: Path) -> None:
    raw_text = clip.encode_text(TEXTS, normalize=False)
    cut = clip.encode_text(TEXTS, dimensions=8)
    expected = raw_text[:, :8] / np.linalg.norm(raw_text[:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(cut, expected, atol=1e-5)
    np.testing.assert_allclose(await clip.aencode_text(TEXTS, dimensions=8), cut, atol=1e-6)
    raw_image = clip.encode_image([picture], normalize=False)
    image = await clip.aencode_image([picture], dimensions=8)
    np.testing.assert_allclose(
        image, raw_image[:, :8] / np.linalg.norm(raw_image[:, :8]), atol=1e-5
    )
    assert clip.encode_text([], dimensions=8).shape == clip.encode_image([], dimensions=8).shape
    assert clip.encode_image([], dimensions=8).shape == (0, 8)
    assert clip.dimension != 8  # a per-call width leaves the encoder's alone
    with pytest.raises(ValueError, match="dimensions"):
        clip.encode_text(["a"], dimensions=clip.dimension + 1)
    with pytest.raises(ValueError, match="dimensions"):
        clip.encode_image([picture], dimensions=0)


def test_per_call_truncate_overrides_and_none_keeps_the_constructors(tiny_checkpoint: Path) -> None:
    long_text = "word " * 100
    strict = JinaCLIP.local(tiny_checkpoint, device="cpu", max_length=32, truncate=False)
    with pytest.raises(TextTooLongError):
        strict.encode_text([long_text])
    with pytest.raises(TextTooLongError):  # None: the constructor's truncate=False
        strict.encode_text([long_text], truncate=None)
    assert strict.encode_text([long_text], truncate=True).shape == (1, strict.dimension)
    assert strict.count_tokens(["short", long_text])[1] > 32  # before truncation
    with pytest.raises(TextInputError):
        strict.count_tokens("a bare string")
