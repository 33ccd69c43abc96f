"""The server on the tiny checkpoint returns what the local encoder returns directly."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from jina_clip import JinaCLIP
from jina_clip.server import ServerSettings, build_encoder, create_app


@pytest.fixture(scope="module")
def local(tiny_checkpoint: Any) -> Any:
    with JinaCLIP.local(str(tiny_checkpoint), device="cpu") as clip:
        yield clip


def png(color: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


async def test_server_matches_local_encoder(tiny_checkpoint: Any, local: Any) -> None:
    settings = ServerSettings(model=str(tiny_checkpoint), device="cpu", max_batch_size=4,
                              max_wait_ms=20)
    server_encoder = build_encoder(settings)
    app = create_app(server_encoder, settings)
    texts = ["a photo of a cat", "a bridge at dusk over the river", "x",
             "long " * 40, "mixed CASE text!"]
    images = [png((200, 100, 50), (256, 300)), png((0, 30, 250), (224, 224)),
              png((9, 9, 9), (500, 120))]
    want_text = local.encode_text(texts)
    want_image = local.encode_image([Image.open(io.BytesIO(b)) for b in images])
    items: list[Any] = [*texts, *({"image": base64.b64encode(b).decode()} for b in images)]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        # several concurrent requests, so texts from different requests share batches
        rs = await asyncio.gather(
            client.post("/v1/embeddings", json={"model": "jina-clip-v1", "input": items}),
            *(client.post("/v1/embeddings", json={"model": "jina-clip-v1", "input": [t]})
              for t in texts),
            client.post("/v1/embeddings", json={"model": "jina-clip-v1", "input": items,
                                                "embedding_type": "base64"}),
        )
    await app.state.server.aclose()
    server_encoder.close()
    assert all(r.status_code == 200 for r in rs), [r.text for r in rs]
    got = np.array([d["embedding"] for d in rs[0].json()["data"]], dtype=np.float32)
    np.testing.assert_allclose(got, np.concatenate([want_text, want_image]), atol=1e-5)
    for r, want in zip(rs[1:-1], want_text, strict=True):
        np.testing.assert_allclose(r.json()["data"][0]["embedding"], want, atol=1e-5)
    usage = rs[0].json()["usage"]["total_tokens"]
    text_tokens = sum(local.count_tokens(texts))
    assert usage == text_tokens + (2 * 2 + 1 + 3 * 1) * 1000
    from jina_clip.wire import decode_base64_embedding

    got64 = np.stack([decode_base64_embedding(d["embedding"]) for d in rs[-1].json()["data"]])
    np.testing.assert_allclose(got64, got, atol=1e-6)
