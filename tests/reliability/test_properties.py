"""Property-based tests (hypothesis): how strings and bytes are classified into image source
kinds, that no input ever crashes the classifier or decoder with anything but a typed error
naming its index, and that every encoder returns one row per input, in input order, whatever
the mix of inputs and the batch size. Runs are kept short (few examples, no database)."""

from __future__ import annotations

import base64
import io
import os
import pathlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from jina_clip import ImageInputError, JinaCLIP
from jina_clip.images import classify_image, decode_image_bytes
from jina_clip.images.sources import sniff_image_format
from llama_index.embeddings.jina_clip import JinaCLIPEmbedding

from .conftest import encoded, noise

FAST = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
#: Runs of the model: every image costs a 224×224 forward pass, even on the tiny checkpoint.
SLOW = settings(max_examples=12, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

#: One small image per format the classifier must recognise from its signature.
FORMATS = {fmt: encoded(noise((12, 10), seed=i), fmt)
           for i, fmt in enumerate(["PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF"])}


@pytest.fixture(scope="module", autouse=True)
def _in_an_empty_directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Relative strings are never existing files by accident (except '.' and '..')."""
    previous = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("empty-cwd"))
    yield
    os.chdir(previous)


# --- classification ---------------------------------------------------------------------------

image_bytes = st.sampled_from(sorted(FORMATS)).map(FORMATS.__getitem__)


@st.composite
def base64_strings(draw: st.DrawFn) -> tuple[str, bytes]:
    """An image as base64: either alphabet, padding kept or dropped, MIME line breaks at
    random places, whitespace around it."""
    data = draw(image_bytes)
    urlsafe = draw(st.booleans())
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    if draw(st.booleans()):
        text = text.rstrip("=")
    breaks = draw(st.lists(st.integers(1, max(1, len(text) - 1)), max_size=4, unique=True))
    for at in sorted(breaks, reverse=True):
        text = text[:at] + draw(st.sampled_from(["\n", "\r\n"])) + text[at:]
    pad = st.text(alphabet=" \t\n", max_size=3)
    return draw(pad) + text + draw(pad), data


@FAST
@given(case=base64_strings(), index=st.integers(0, 10_000))
def test_base64_images_are_classified_as_base64(case: tuple[str, bytes], index: int) -> None:
    text, data = case
    source = classify_image(text, index=index)
    assert source.kind == "base64" and source.payload == data


@FAST
@given(data=image_bytes, wrap=st.sampled_from([bytes, bytearray, memoryview, io.BytesIO]))
def test_binary_inputs_are_classified_as_bytes(data: bytes, wrap: Any) -> None:
    source = classify_image(wrap(data), index=0)
    assert source.kind == "bytes" and source.payload == data


@FAST
@given(scheme=st.sampled_from(["http", "https", "HTTP", "Https"]),
       host=st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1,
                             max_size=12), min_size=2, max_size=3).map(".".join),
       path=st.text(alphabet=st.characters(whitelist_categories=("Ll", "Nd")), max_size=20),
       space=st.text(alphabet=" \n", max_size=2))
def test_urls_are_classified_as_urls_without_touching_the_network(scheme: str, host: str,
                                                                  path: str, space: str) -> None:
    url = f"{scheme}://{host}/{path}.png"
    source = classify_image(space + url + space, index=0)
    assert source.kind == "url" and source.payload == url


@FAST
@given(data=image_bytes, media=st.sampled_from(["image/png", "image/jpeg", "IMAGE/WEBP", ""]),
       prefix=st.sampled_from(["data:", "DATA:", "Data:"]))
def test_data_uris_are_classified_as_data_uris(data: bytes, media: str, prefix: str) -> None:
    uri = f"{prefix}{media};base64,{base64.b64encode(data).decode()}"
    assert classify_image(uri, index=0).kind == "data_uri"


@FAST
@given(text=st.text(max_size=80), index=st.integers(0, 1_000))
def test_any_string_is_a_source_or_a_typed_error_naming_its_index(text: str, index: int) -> None:
    try:
        source = classify_image(text, index=index)
    except ImageInputError as err:
        assert err.index == index and str(err).startswith(f"input {index}:")
        return
    assert source.kind in {"path", "file", "url", "data_uri", "base64"}
    if source.kind == "base64":  # only when it really decodes to an image signature
        assert sniff_image_format(source.payload) is not None  # type: ignore[arg-type]
    if source.kind == "path":  # only strings naming something that exists
        assert os.path.exists(source.payload)  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # Pillow, on random TIFF bytes
@FAST
@given(data=st.one_of(st.binary(max_size=200), image_bytes.map(lambda d: d[: len(d) // 2]),
                      image_bytes.map(lambda d: d[:16] + b"\0" * 40)),
       index=st.integers(0, 1_000))
def test_any_bytes_decode_or_fail_with_a_typed_error(data: bytes, index: int) -> None:
    """Random, truncated and zero-filled files: an image, or a typed error; never a crash."""
    try:
        image = decode_image_bytes(data, index=index)
    except ImageInputError as err:
        assert err.index == index
        return
    assert image.size[0] >= 1 and image.size[1] >= 1


# --- order and count ----------------------------------------------------------------------------

TEXTS = ["", "a cat", "a red bicycle on a bridge at dusk", "two dogs", "x " * 30,
         "the same text", "ünïcödé 漢字", "\n\t"]
PICTURES = [noise((20 + 7 * i, 16 + 5 * i), seed=10 + i) for i in range(4)]
KINDS = ["bytes", "pil", "base64", "data_uri", "path", "bytesio"]


@pytest.fixture(scope="module")
def picture_paths(tmp_path_factory: pytest.TempPathFactory) -> list[pathlib.Path]:
    folder = tmp_path_factory.mktemp("pictures")
    paths = [folder / f"p{i}.png" for i in range(len(PICTURES))]
    for path, picture in zip(paths, PICTURES, strict=True):
        path.write_bytes(encoded(picture))
    return paths


@pytest.fixture(scope="module")
def text_reference(local_encoder: JinaCLIP) -> np.ndarray:
    """Each text alone (batch of one): the row it must get in any mix."""
    return np.stack([local_encoder.encode_text([t], batch_size=1)[0] for t in TEXTS])


@pytest.fixture(scope="module")
def image_reference(local_encoder: JinaCLIP) -> np.ndarray:
    return np.stack([local_encoder.encode_image([encoded(p)], batch_size=1)[0]
                     for p in PICTURES])


def _as(kind: str, i: int, paths: list[pathlib.Path]) -> Any:
    data = encoded(PICTURES[i])
    return {
        "bytes": lambda: data,
        "pil": lambda: Image.open(io.BytesIO(data)),
        "base64": lambda: base64.b64encode(data).decode(),
        "data_uri": lambda: "data:image/png;base64," + base64.b64encode(data).decode(),
        "path": lambda: paths[i],
        "bytesio": lambda: io.BytesIO(data),
    }[kind]()


text_picks = st.lists(st.integers(0, len(TEXTS) - 1), max_size=14)
image_picks = st.lists(st.tuples(st.integers(0, len(PICTURES) - 1), st.sampled_from(KINDS)),
                       max_size=6)


@settings(FAST, max_examples=30)
@given(picks=text_picks, batch_size=st.integers(1, 9))
def test_local_texts_keep_order_and_count(local_encoder: JinaCLIP, text_reference: np.ndarray,
                                          picks: list[int], batch_size: int) -> None:
    out = local_encoder.encode_text([TEXTS[i] for i in picks], batch_size=batch_size)
    assert out.shape == (len(picks), local_encoder.dimension)
    np.testing.assert_allclose(out, text_reference[picks].reshape(out.shape), atol=2e-5)


@SLOW
@given(picks=image_picks, batch_size=st.integers(1, 4))
def test_local_images_keep_order_and_count(local_encoder: JinaCLIP,
                                           image_reference: np.ndarray,
                                           picture_paths: list[pathlib.Path],
                                           picks: list[tuple[int, str]], batch_size: int) -> None:
    inputs = [_as(kind, i, picture_paths) for i, kind in picks]
    out = local_encoder.encode_image(inputs, batch_size=batch_size)
    want = image_reference[[i for i, _ in picks]].reshape(out.shape)
    np.testing.assert_allclose(out, want, atol=2e-5)


@SLOW
@given(texts=text_picks, images=image_picks, batch_size=st.integers(1, 5))
def test_remote_keeps_order_and_count(remote_encoder: JinaCLIP, text_reference: np.ndarray,
                                      image_reference: np.ndarray,
                                      picture_paths: list[pathlib.Path], texts: list[int],
                                      images: list[tuple[int, str]], batch_size: int) -> None:
    """Several requests per call, run concurrently, batched again by the server."""
    out = remote_encoder.encode_text([TEXTS[i] for i in texts], batch_size=batch_size)
    np.testing.assert_allclose(out, text_reference[texts].reshape(out.shape), atol=2e-5)
    inputs = [_as(kind, i, picture_paths) for i, kind in images]
    out = remote_encoder.encode_image(inputs, batch_size=batch_size)
    want = image_reference[[i for i, _ in images]].reshape(out.shape)
    np.testing.assert_allclose(out, want, atol=2e-5)


@pytest.fixture(scope="module")
def llama(tiny_params: dict[str, Any]) -> Iterator[JinaCLIPEmbedding]:
    with JinaCLIPEmbedding(**tiny_params) as embedding:
        yield embedding


@SLOW
@given(picks=text_picks, embed_batch_size=st.integers(1, 5))
def test_llamaindex_batches_keep_order_and_count(llama: JinaCLIPEmbedding,
                                                 text_reference: np.ndarray, picks: list[int],
                                                 embed_batch_size: int) -> None:
    llama.embed_batch_size = embed_batch_size  # not a jina-clip field: the encoder is kept
    out = np.array(llama.get_text_embedding_batch([TEXTS[i] for i in picks]), dtype=np.float32)
    assert len(out) == len(picks)
    np.testing.assert_allclose(out.reshape(-1, text_reference.shape[1]), text_reference[picks],
                               atol=2e-5)
