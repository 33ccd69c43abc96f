"""Vectors from the plugin equal the core encoder's, for every input kind and both backends;
async equals sync; Python floats; the core's typed errors come through unchanged."""

from __future__ import annotations

import base64
import io
import pathlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

from jina_clip import ImageDecodeError, ImageNotFoundError, JinaCLIP, TextInputError
from langchain_jina_clip import JinaCLIPEmbeddings
from tests.loopback import serve_http

TEXTS = ["a red circle", "a blue square on white", "hello world", ""]


@pytest.fixture(scope="module")
def http_folder(pictures: list[pathlib.Path]) -> Iterator[str]:
    """The pictures folder served over http://127.0.0.1:PORT/."""
    with serve_http(directory=pictures[0].parent) as url:
        yield url


def _kinds(http_root: str) -> dict[str, Callable[[pathlib.Path], Any]]:
    def data(path: pathlib.Path) -> bytes:
        return path.read_bytes()

    return {
        "str path": str,
        "PathLike": lambda p: p,
        "file URL": lambda p: p.as_uri(),
        "http URL": lambda p: f"{http_root}/{p.name}",
        "data URI": lambda p: "data:image/png;base64," + base64.b64encode(data(p)).decode(),
        "base64": lambda p: base64.b64encode(data(p)).decode(),
        "bytes": data,
        "bytearray": lambda p: bytearray(data(p)),
        "memoryview": lambda p: memoryview(data(p)),
        "BytesIO": lambda p: io.BytesIO(data(p)),
        "file object": lambda p: p.open("rb"),
        "PIL": lambda p: Image.open(p),
    }


KINDS = list(_kinds("").keys())


def _close(items: list[Any]) -> None:
    for item in items:
        if hasattr(item, "close") and not isinstance(item, (io.BytesIO, Image.Image)):
            item.close()


@pytest.mark.parametrize("kind", KINDS)
def test_embed_images_each_kind_matches_core(
    embeddings: JinaCLIPEmbeddings,
    core_encoder: JinaCLIP,
    pictures: list[pathlib.Path],
    http_folder: str,
    kind: str,
) -> None:
    if kind == "http URL" and embeddings.resolved_backend() == "api":
        pytest.skip("the server refuses loopback URLs (its address guard), by design")
    expected = core_encoder.encode_image([str(p) for p in pictures[:3]])
    items = [_kinds(http_folder)[kind](p) for p in pictures[:3]]
    try:
        got = embeddings.embed_images(items)
    finally:
        _close(items)
    assert np.allclose(np.array(got), expected, atol=1e-5)


def test_embed_image_uris_matches_core_and_texts_share_the_space(
    embeddings: JinaCLIPEmbeddings, core_encoder: JinaCLIP, pictures: list[pathlib.Path]
) -> None:
    uris = [str(p) for p in pictures]
    images = embeddings.embed_image(uris=uris)  # the call vector stores make
    assert np.allclose(np.array(images), core_encoder.encode_image(uris), atol=1e-5)
    docs = embeddings.embed_documents(TEXTS)
    assert np.allclose(np.array(docs), core_encoder.encode_text(TEXTS), atol=1e-5)
    query = embeddings.embed_query(TEXTS[0])
    # v2 prepends the query instruction (v1 ignores the task)
    want = core_encoder.encode_text(TEXTS[:1], task="retrieval.query")[0]
    assert np.allclose(query, want, atol=1e-5)
    assert len(images[0]) == len(docs[0]) == len(query) == core_encoder.dimension


@pytest.mark.usefixtures("aclose_api_client")
async def test_async_twins_equal_sync(
    embeddings: JinaCLIPEmbeddings, pictures: list[pathlib.Path]
) -> None:
    uris = [str(p) for p in pictures]
    mixed = [pictures[0], pictures[1].read_bytes(), Image.open(pictures[2])]
    assert np.allclose(await embeddings.aembed_documents(TEXTS), embeddings.embed_documents(TEXTS))
    assert np.allclose(await embeddings.aembed_query("q"), embeddings.embed_query("q"))
    assert np.allclose(await embeddings.aembed_image(uris), embeddings.embed_image(uris))
    assert np.allclose(await embeddings.aembed_images(mixed), embeddings.embed_images(mixed))


@pytest.mark.usefixtures("aclose_api_client")
async def test_plain_python_floats(
    embeddings: JinaCLIPEmbeddings, pictures: list[pathlib.Path]
) -> None:
    results = [
        embeddings.embed_documents(["a", "b"]),
        [embeddings.embed_query("a")],
        embeddings.embed_image([str(pictures[0])]),
        embeddings.embed_images([pictures[0].read_bytes()]),
        await embeddings.aembed_documents(["a"]),
        [await embeddings.aembed_query("a")],
        await embeddings.aembed_images([pictures[0]]),
    ]
    for vectors in results:
        assert type(vectors) is list
        for vector in vectors:
            assert type(vector) is list
            assert all(type(x) is float for x in vector)


def test_empty_lists(embeddings: JinaCLIPEmbeddings) -> None:
    assert embeddings.embed_documents([]) == []
    assert embeddings.embed_images([]) == []


@pytest.mark.usefixtures("aclose_api_client")
async def test_text_errors_are_the_cores_naming_the_index(
    embeddings: JinaCLIPEmbeddings,
) -> None:
    with pytest.raises(TextInputError) as err:
        embeddings.embed_documents(["fine", 3])  # type: ignore[list-item]
    assert err.value.index == 1
    with pytest.raises(TextInputError) as err:
        await embeddings.aembed_documents(["fine", "also fine", None])  # type: ignore[list-item]
    assert err.value.index == 2
    with pytest.raises(TextInputError, match="single string"):
        embeddings.embed_documents("not a list")  # type: ignore[arg-type]


@pytest.mark.usefixtures("aclose_api_client")
async def test_image_errors_are_the_cores_naming_the_index(
    embeddings: JinaCLIPEmbeddings, pictures: list[pathlib.Path], tmp_path: pathlib.Path
) -> None:
    good = str(pictures[0])
    with pytest.raises(ImageDecodeError) as err:
        embeddings.embed_images([good, b"definitely not an image"])
    assert err.value.index == 1
    missing = str(tmp_path / "no-such-picture.png")
    with pytest.raises(ImageNotFoundError) as err:
        embeddings.embed_image([good, good, missing])
    assert err.value.index == 2
    with pytest.raises(ImageNotFoundError) as err:
        await embeddings.aembed_image([missing])
    assert err.value.index == 0
    with pytest.raises(ImageDecodeError) as err:
        await embeddings.aembed_images([b"nope"])
    assert err.value.index == 0


def test_matryoshka_dimensions(tiny_params: dict[str, Any], core_encoder: JinaCLIP) -> None:
    with JinaCLIPEmbeddings(**tiny_params, dimensions=16) as embeddings:
        vector = embeddings.embed_query("hello")
    assert len(vector) == 16
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)


def test_model_dump_with_a_live_encoder(embeddings: JinaCLIPEmbeddings) -> None:
    embeddings.embed_query("build it")
    dumped = embeddings.model_dump_json()
    assert "_lazy" not in dumped and "encoder" not in dumped
    assert JinaCLIPEmbeddings.model_validate_json(dumped).model == embeddings.model
