"""Issue 15, item 1: a huge text is tokenized once, only as far as needed, off the event loop
and the model threads; long texts run in a lane of their own; batches have a token budget and
requests take turns, so a small request does not wait for a big one."""

from __future__ import annotations

import asyncio
import concurrent.futures
import pathlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from jina_clip import JinaCLIP
from jina_clip.local import LocalJinaCLIP
from jina_clip.server import ServerSettings, build_encoder
from jina_clip.server.batcher import DynamicBatcher

HUGE = "a " * 4_000_000  # 8 MB, 4 M tokens
LIMIT = 512  # the server's max_text_tokens here: the tiny model embeds 8,192 tokens in seconds


# --- the batcher: token budget and turns -----------------------------------------------------


async def test_requests_take_turns_batch_by_batch() -> None:
    calls: list[list[str]] = []

    def fn(items: list[str]) -> np.ndarray:
        calls.append(list(items))
        return np.zeros((len(items), 2), dtype=np.float32)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        batcher: DynamicBatcher[str] = DynamicBatcher(fn, executor=pool, max_batch_size=4,
                                                      max_wait_ms=20)
        big = asyncio.ensure_future(batcher.submit([f"big{i}" for i in range(40)]))
        await asyncio.sleep(0)
        small = asyncio.ensure_future(batcher.submit(["small"]))
        await asyncio.gather(big, small)
        await batcher.aclose()
    where = next(i for i, call in enumerate(calls) if "small" in call)
    assert where <= 1, calls  # after at most the running batch of the big request, not ten
    assert sum(len(c) for c in calls) == 41 and max(len(c) for c in calls) <= 4


async def test_batches_stay_under_the_token_budget() -> None:
    calls: list[list[int]] = []

    def fn(items: list[int]) -> np.ndarray:
        calls.append(list(items))
        return np.zeros((len(items), 2), dtype=np.float32)

    costs = [10, 10, 10, 10, 50, 10, 3]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        batcher: DynamicBatcher[int] = DynamicBatcher(fn, executor=pool, max_batch_size=32,
                                                      max_wait_ms=1, max_batch_tokens=30)
        rows = await batcher.submit(list(range(len(costs))), costs)
        await batcher.aclose()
    assert rows.shape == (len(costs), 2)
    for call in calls:  # padded: items x the longest; one item over the budget runs alone
        assert len(call) == 1 or len(call) * max(costs[i] for i in call) <= 30, calls
    assert [4] in calls and sorted(i for c in calls for i in c) == list(range(len(costs)))


# --- the server with the tiny model ----------------------------------------------------------


@pytest.fixture(scope="module")
def local(tiny_checkpoint: pathlib.Path) -> Iterator[LocalJinaCLIP]:
    encoder = build_encoder(ServerSettings(model=str(tiny_checkpoint), device="cpu"))
    assert isinstance(encoder, LocalJinaCLIP)
    yield encoder
    encoder.close()


class Spy:
    """Records the threads that tokenize and how much they tokenized."""

    def __init__(self, encoder: LocalJinaCLIP, monkeypatch: pytest.MonkeyPatch) -> None:
        self.threads: list[str] = []
        self.exact: list[bool] = []
        capped = encoder.tokenizer.encode_capped
        whole = encoder.tokenizer.encode

        def encode_capped(texts: list[str], limit: int) -> Any:
            self.threads.append(threading.current_thread().name)
            rows = capped(texts, limit)
            self.exact += [row.exact for row in rows]
            return rows

        def encode(texts: list[str]) -> Any:
            assert max(map(len, texts), default=0) < 1_000_000, "tokenized a huge text whole"
            return whole(texts)

        monkeypatch.setattr(encoder.tokenizer, "encode_capped", encode_capped)
        monkeypatch.setattr(encoder.tokenizer, "encode", encode)


async def test_a_huge_text_is_tokenized_once_off_the_model_threads(
        local: LocalJinaCLIP, make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(local, monkeypatch)
    async with make_client(local, max_text_tokens=LIMIT) as client:
        r = await client.post("/v1/embeddings", timeout=120, json={
            "model": "jina-clip-v1", "input": [HUGE], "truncate": True})
        assert r.status_code == 200, r.text[:300]
        assert r.json()["usage"]["total_tokens"] == LIMIT
        assert spy.threads and spy.exact == [False]  # read only until over the limit
        assert not any(name.startswith(("jina-clip-model", "jina-clip-long-text"))
                       for name in spy.threads), spy.threads
        assert threading.main_thread().name not in spy.threads  # not on the event loop
        cut = await client.post("/v1/embeddings", timeout=120, json={
            "model": "jina-clip-v1", "input": ["a " * 9000], "truncate": True})
    np.testing.assert_allclose(r.json()["data"][0]["embedding"],
                               cut.json()["data"][0]["embedding"], rtol=1e-5, atol=1e-6)


async def test_a_huge_text_without_truncate_is_refused_from_a_prefix(
        local: LocalJinaCLIP, make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(local, monkeypatch)
    async with make_client(local, max_text_tokens=LIMIT) as client:
        r = await client.post("/v1/embeddings", timeout=120, json={
            "model": "jina-clip-v1", "input": ["x", HUGE]})
    assert r.status_code == 422, r.text[:300]
    detail = r.json()["detail"]
    assert detail.startswith("input 1: text has at least ") and f"max_length={LIMIT}" in detail
    seen = int(detail.split("at least ")[1].split()[0])
    assert LIMIT < seen < 40_000  # a prefix (32 K characters at most), not the 4 M tokens
    assert spy.exact == [True, False]


async def test_short_texts_and_images_do_not_wait_for_a_long_text(
        local: LocalJinaCLIP, make_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The long text's model call is held until a short text and an image sent after it have
    been answered: if they waited behind it (one model thread), they would time out."""
    from .conftest import png_b64

    release = threading.Event()
    embed_tokens = local.encode_tokens

    def held(ids: list[list[int]], **kw: Any) -> np.ndarray:
        if max(map(len, ids)) > LIMIT // 2:
            assert release.wait(30), "the long text was never released"
        return embed_tokens(ids, **kw)

    monkeypatch.setattr(local, "encode_tokens", held)
    async with make_client(local, max_wait_ms=1, max_text_tokens=LIMIT,
                           long_text_tokens=LIMIT // 2) as client:
        def post(input: Any) -> Any:
            return client.post("/v1/embeddings", timeout=60, json={
                "model": "jina-clip-v1", "input": input, "truncate": True})

        long = asyncio.ensure_future(post([HUGE]))
        await asyncio.sleep(0.5)
        short, image = await asyncio.wait_for(
            asyncio.gather(post(["a short text"]), post([{"image": png_b64()}])), 20)
        assert not long.done()
        release.set()
        assert (await long).status_code == 200
    assert short.status_code == 200 and image.status_code == 200


def test_the_long_text_lane_only_takes_long_texts(local: LocalJinaCLIP) -> None:
    from jina_clip.server.app import ServerState
    from jina_clip.server.guard import system_resolver
    from jina_clip.server.texts import Prepared

    state = ServerState(local, ServerSettings(long_text_tokens=10), system_resolver)
    try:
        lanes = state.text_lanes(Prepared.of_texts([[1] * 5, [1] * 11, [1] * 10], [5, 11, 10]))
        assert [(b.name, part) for b, part in lanes] == [("text", [0, 2]), ("long text", [1])]
    finally:
        asyncio.run(state.aclose())


def test_any_encoder_without_token_ids_keeps_one_text_lane(tiny_checkpoint: Any) -> None:
    from jina_clip.server.texts import TextPath

    from .conftest import FakeEncoder

    assert not TextPath(FakeEncoder(), 8192).tokens
    assert TextPath(JinaCLIP.local(str(tiny_checkpoint), device="cpu"), 8192).tokens
