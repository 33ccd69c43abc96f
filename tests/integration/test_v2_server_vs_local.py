"""jina-clip-v2 through `jina-clip serve` equals jina-clip-v2 locally: name on the wire,
the query task's instruction, Matryoshka dimensions, images."""

from __future__ import annotations

import base64
import io
import pathlib
import shutil

import httpx
import numpy as np
import pytest
from PIL import Image

from jina_clip import JinaCLIP
from jina_clip.errors import BadRequestError

TEXTS = ["a photo of a cat", "Привет мир", "日本語文字"]


@pytest.fixture(scope="module")
def v2_dir(tiny_v2_checkpoint: pathlib.Path, tmp_path_factory) -> pathlib.Path:
    # named like the hub repo, so the server names itself jina-clip-v2 on its own
    return shutil.copytree(tiny_v2_checkpoint, tmp_path_factory.mktemp("m") / "jina-clip-v2")


@pytest.fixture(scope="module")
def local(v2_dir):
    encoder = JinaCLIP.local(str(v2_dir), device="cpu")
    yield encoder
    encoder.close()


@pytest.fixture(scope="module")
def url(v2_dir, local):
    from jina_clip.server import ServerSettings, ServerThread, create_app

    settings = ServerSettings(model=str(v2_dir), device="cpu")
    assert settings.served_model_name == "jina-clip-v2"
    with ServerThread(create_app(local, settings)) as base:
        yield base


def _post(url: str, **body) -> np.ndarray:
    response = httpx.post(f"{url}/v1/embeddings", json={"model": "jina-clip-v2", **body},
                          timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["model"] == "jina-clip-v2"
    return np.array([row["embedding"] for row in response.json()["data"]], dtype=np.float32)


def test_models_route_names_v2(url) -> None:
    ids = [m["id"] for m in httpx.get(f"{url}/v1/models", timeout=10).json()["data"]]
    assert ids == ["jina-clip-v2"]


@pytest.mark.parametrize("task", [None, "retrieval.query"])
@pytest.mark.parametrize("dims", [None, 16])
def test_texts_equal_local(url, local, task, dims) -> None:
    got = _post(url, input=TEXTS, task=task, dimensions=dims)
    want = local.encode_text(TEXTS, task=task, dimensions=dims)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_images_equal_local(url, local) -> None:
    picture = Image.new("L", (40, 70), 120)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    got = _post(url, input=[{"image": uri}], dimensions=32)
    np.testing.assert_allclose(got, local.encode_image([picture], dimensions=32), atol=1e-5)


def test_cli_serve_names_v2_after_the_model() -> None:
    from jina_clip import cli

    parser = cli.build_parser()
    v2 = cli.serve_settings(parser.parse_args(["serve", "--model", "jinaai/jina-clip-v2"]))
    assert v2.served_model_name == "jina-clip-v2"
    v1 = cli.serve_settings(parser.parse_args(["serve", "--model", "jinaai/jina-clip-v1"]))
    assert v1.served_model_name == "jina-clip-v1"
    named = cli.serve_settings(parser.parse_args(
        ["serve", "--model", "jinaai/jina-clip-v2", "--served-model-name", "mine"]))
    assert named.served_model_name == "mine"


def test_untrained_dimension_is_refused_like_locally(url, local) -> None:
    """dimensions=20 is not a trained Matryoshka dimension: locally a typed error, on the server
    a 422 naming the trained ones, and through our remote client an error (not 20-d vectors)."""
    with pytest.raises(ValueError, match="Matryoshka"):
        local.encode_text(["x"], dimensions=20)
    response = httpx.post(f"{url}/v1/embeddings", timeout=30,
                          json={"model": "jina-clip-v2", "input": ["x"], "dimensions": 20})
    assert response.status_code == 422, response.text
    assert "Matryoshka dimensions [8, 16, 32, 64]" in response.json()["detail"]
    with (JinaCLIP.remote("jina-clip-v2", base_url=f"{url}/v1", max_retries=0) as remote,
          pytest.raises(BadRequestError, match="Matryoshka")):
        remote.encode_text(["x"], dimensions=20)


async def test_remote_client_async_equals_local(url, local) -> None:
    """`JinaCLIP.remote` against our v2 server: per-call dimensions and the query task, texts and
    images, through the async methods."""
    picture = Image.new("RGB", (30, 20), (200, 10, 10))
    with JinaCLIP.remote("jina-clip-v2", base_url=f"{url}/v1", max_retries=0) as remote:
        query = await remote.aencode_text(TEXTS, task="retrieval.query", dimensions=8)
        images = await remote.aencode_image([picture], dimensions=16)
    np.testing.assert_allclose(
        query, local.encode_text(TEXTS, task="retrieval.query", dimensions=8), atol=1e-5, rtol=0)
    np.testing.assert_allclose(images, local.encode_image([picture], dimensions=16), atol=1e-5,
                               rtol=0)
