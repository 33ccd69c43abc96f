"""Issue 15 on jina-clip-v2 (XLM-R Metaspace tokenizer): a huge text is tokenized once, only
as far as needed, off the model threads; the ``retrieval.query`` instruction is prepended
exactly once on that tokenize-once path, as the local encoder does."""

from __future__ import annotations

import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from jina_clip.local import LocalJinaCLIP
from jina_clip.server import ServerSettings, build_encoder

from .test_fairness import HUGE, LIMIT, Spy

MODEL = "jina-clip-v2"


@pytest.fixture(scope="module")
def local_v2(tiny_v2_checkpoint: pathlib.Path) -> Iterator[LocalJinaCLIP]:
    encoder = build_encoder(ServerSettings(model=str(tiny_v2_checkpoint), device="cpu"))
    assert isinstance(encoder, LocalJinaCLIP)
    assert encoder.tokenizer.reads_in_pieces
    yield encoder
    encoder.close()


def _vectors(response: Any) -> np.ndarray:
    assert response.status_code == 200, response.text[:300]
    return np.array([row["embedding"] for row in response.json()["data"]], dtype=np.float32)


async def test_v2_huge_text_is_tokenized_once_from_a_prefix(
        local_v2: LocalJinaCLIP, make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(local_v2, monkeypatch)  # fails if any text over 1 M characters is read whole
    async with make_client(local_v2, max_text_tokens=LIMIT, served_model_name=MODEL) as client:
        r = await client.post("/v1/embeddings", timeout=120, json={
            "model": MODEL, "input": [HUGE], "truncate": True})
        assert r.json()["usage"]["total_tokens"] == LIMIT
        assert spy.exact == [False]
        assert not any(name.startswith(("jina-clip-model", "jina-clip-long-text"))
                       for name in spy.threads), spy.threads
        assert threading.main_thread().name not in spy.threads
        cut = await client.post("/v1/embeddings", timeout=120, json={
            "model": MODEL, "input": ["a " * 9000], "truncate": True})
        refused = await client.post("/v1/embeddings", timeout=120, json={
            "model": MODEL, "input": ["x", HUGE]})
    np.testing.assert_allclose(_vectors(r), _vectors(cut), rtol=1e-5, atol=1e-6)
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("input 1: text has at least ")


async def test_v2_query_instruction_is_applied_once_on_the_server(
        local_v2: LocalJinaCLIP, make_client: Any) -> None:
    texts = ["a photo of a cat", "Привет мир"]
    instruction = local_v2.instruction("retrieval.query")
    assert instruction
    async with make_client(local_v2, served_model_name=MODEL) as client:
        r = await client.post("/v1/embeddings", json={
            "model": MODEL, "input": texts, "task": "retrieval.query"})
    got = _vectors(r)
    once = local_v2.encode_text(texts, task="retrieval.query", normalize=True)
    np.testing.assert_allclose(got, once, atol=1e-5, rtol=0)
    # The same as the instruction written by hand once, and unlike none or twice.
    by_hand = local_v2.encode_text([instruction + t for t in texts], normalize=True)
    np.testing.assert_allclose(got, by_hand, atol=1e-5, rtol=0)
    for wrong in (texts, [instruction + instruction + t for t in texts]):
        assert np.abs(got - local_v2.encode_text(wrong, normalize=True)).max() > 1e-3
    ids = local_v2.tokenize([instruction + t for t in texts])
    assert r.json()["usage"]["total_tokens"] == sum(map(len, ids))
