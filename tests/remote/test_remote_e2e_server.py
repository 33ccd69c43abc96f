"""End to end against the project's own server (uvicorn on 127.0.0.1) running the local
encoder on the tiny checkpoint: the remote encoder must return the local encoder's vectors."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from .fake_jina_api import png_bytes

pytest.importorskip("torch")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from jina_clip import JinaCLIP
from jina_clip.remote import RemoteJinaCLIP

TEXTS = ["a bridge at dusk", "a red bicycle", "three", "four words are here", "five"]


@pytest.fixture(scope="module")
def local(tiny_checkpoint):
    encoder = JinaCLIP.local(str(tiny_checkpoint), device="cpu")
    yield encoder
    encoder.close()


@pytest.fixture(scope="module")
def server_url(local):
    from jina_clip.server import ServerSettings, ServerThread, create_app

    app = create_app(local, ServerSettings(served_model_name="tiny-clip"))
    with ServerThread(app) as url:
        yield url + "/v1"


def test_remote_matches_local_through_the_server(local, server_url):
    images = [png_bytes(40, 30, seed=1), png_bytes(16, 16, seed=2)]
    with RemoteJinaCLIP("tiny-clip", base_url=server_url, batch_size=2) as remote:
        np.testing.assert_allclose(remote.encode_text(TEXTS), local.encode_text(TEXTS),
                                   atol=1e-5)
        assert remote.dimension == local.dimension
        assert remote.last_usage.total_tokens > 0
        vectors = asyncio.run(remote.aencode_image(images))
        np.testing.assert_allclose(vectors, local.encode_image(images), atol=1e-5)


def test_client_side_dimensions_through_the_server(local, server_url):
    with RemoteJinaCLIP("tiny-clip", base_url=server_url, dimensions=8) as remote:
        vectors = remote.encode_text(TEXTS)
    assert vectors.shape == (len(TEXTS), 8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
