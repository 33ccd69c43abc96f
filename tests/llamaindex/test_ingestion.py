"""`IngestionPipeline` with `JinaCLIPEmbedding` as its embedding step: image nodes (a path, a
URL served from 127.0.0.1, base64) are embedded as images, text nodes as text, and every
vector equals the core encoder's vector for the same input."""

from __future__ import annotations

import base64
import pathlib
from collections.abc import Iterator

import numpy as np
import pytest

from jina_clip import BadRequestError, JinaCLIP
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.schema import ImageNode, MetadataMode, TextNode
from llama_index.embeddings.jina_clip import JinaCLIPEmbedding
from tests.loopback import serve_http


@pytest.fixture(scope="module")
def picture_server(corpus: pathlib.Path) -> Iterator[str]:
    """http://127.0.0.1:PORT serving the corpus folder."""
    with serve_http(directory=corpus) as url:
        yield url


def _nodes(corpus: pathlib.Path, url: str | None) -> list:
    encoded = base64.b64encode((corpus / "picture-2.png").read_bytes()).decode()
    nodes = [
        TextNode(text="The old stone bridge crosses the river.", metadata={"topic": "bridges"}),
        ImageNode(image_path=str(corpus / "picture-0.png")),
        ImageNode(image=encoded, text="a caption that must not be embedded instead"),
        TextNode(text="Boil the pasta for nine minutes."),
    ]
    if url is not None:
        nodes.insert(2, ImageNode(image_url=f"{url}/picture-1.png"))
    return nodes


def _expected(nodes: list, core: JinaCLIP) -> list[np.ndarray]:
    out = []
    for node in nodes:
        if isinstance(node, ImageNode):
            source = node.image or node.image_path or node.image_url
            out.append(core.encode_image([source])[0])
        else:
            out.append(core.encode_text([node.get_content(MetadataMode.EMBED)])[0])
    return out


def _check(nodes: list, expected: list[np.ndarray]) -> None:
    for node, vector in zip(nodes, expected, strict=True):
        assert node.embedding is not None
        np.testing.assert_allclose(node.embedding, vector, atol=1e-5)


def _url(request: pytest.FixtureRequest, embed_model: JinaCLIPEmbedding) -> str | None:
    # Over the API an image URL is fetched by the server, and ours refuses loopback
    # addresses (as Jina's would): the URL case runs locally; see test_url_over_api.
    if embed_model.resolved_backend() == "api":
        return None
    return request.getfixturevalue("picture_server")


def test_pipeline_run(request, embed_model, corpus, core_encoder):
    nodes = _nodes(corpus, _url(request, embed_model))
    out = IngestionPipeline(transformations=[embed_model]).run(nodes=nodes)
    _check(out, _expected(nodes, core_encoder))


async def test_pipeline_arun(request, embed_model, corpus, core_encoder):
    nodes = _nodes(corpus, _url(request, embed_model))
    out = await IngestionPipeline(transformations=[embed_model]).arun(nodes=nodes)
    _check(out, _expected(nodes, core_encoder))


def test_bytesio_like_llamaindex_hands_over(embed_model, corpus, core_encoder):
    """Image nodes given as base64 or URL reach embedding models as BytesIO."""
    node = ImageNode(image=base64.b64encode((corpus / "picture-3.png").read_bytes()).decode())
    (vector,) = embed_model.get_image_embedding_batch([node.resolve_image()])
    np.testing.assert_allclose(
        vector, core_encoder.encode_image([corpus / "picture-3.png"])[0], atol=1e-5
    )


def test_url_over_api(embed_model, corpus, picture_server):
    if embed_model.resolved_backend() != "api":
        pytest.skip("API backend only")
    with pytest.raises(BadRequestError) as caught:
        embed_model.get_image_embedding(f"{picture_server}/picture-1.png")
    assert caught.value.code == "unsafe_url"
