"""Dynamic batching: merging, ordering, queue bound, failure isolation."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

import numpy as np
import pytest

from jina_clip.server.batcher import BatcherClosed, DynamicBatcher, QueueFull

from .conftest import FakeEncoder, unit

MODEL = "jina-clip-v1"


def rows_for(items: list[int]) -> np.ndarray:
    return np.array([[x, -x] for x in items], dtype=np.float32)


@pytest.fixture
def pool():
    with concurrent.futures.ThreadPoolExecutor(1) as p:
        yield p


async def test_concurrent_submits_merge_and_keep_order(pool: Any) -> None:
    calls: list[list[int]] = []

    def fn(items: list[int]) -> np.ndarray:
        calls.append(list(items))
        return rows_for(items)

    b = DynamicBatcher(fn, executor=pool, max_batch_size=64, max_wait_ms=50)
    requests = [list(range(i * 10, i * 10 + 1 + i % 4)) for i in range(20)]
    results = await asyncio.gather(*(b.submit(r) for r in requests))
    for r, out in zip(requests, results, strict=True):
        np.testing.assert_array_equal(out, rows_for(r))
    assert len(calls) < len(requests) / 4
    assert max(len(c) for c in calls) <= 64
    await b.aclose()


async def test_large_request_spans_batches(pool: Any) -> None:
    sizes: list[int] = []

    def fn(items: list[int]) -> np.ndarray:
        sizes.append(len(items))
        return rows_for(items)

    b = DynamicBatcher(fn, executor=pool, max_batch_size=8, max_wait_ms=1)
    out = await b.submit(list(range(30)))
    np.testing.assert_array_equal(out, rows_for(list(range(30))))
    assert sizes == [8, 8, 8, 6]
    await b.aclose()


async def test_merge_off_runs_one_request_per_call(pool: Any) -> None:
    calls: list[list[int]] = []

    def fn(items: list[int]) -> np.ndarray:
        calls.append(list(items))
        return rows_for(items)

    b = DynamicBatcher(fn, executor=pool, max_batch_size=64, max_wait_ms=50, merge=False)
    await asyncio.gather(*(b.submit([i, i + 100]) for i in range(5)))
    assert sorted(map(tuple, calls)) == [(i, i + 100) for i in range(5)]
    await b.aclose()


async def test_queue_full_raises_immediately(pool: Any) -> None:
    def fn(items: list[int]) -> np.ndarray:
        time.sleep(0.2)
        return rows_for(items)

    b = DynamicBatcher(fn, executor=pool, max_batch_size=2, max_wait_ms=0, max_queue=4)
    first = asyncio.ensure_future(b.submit([1, 2]))  # taken by the worker at once
    await asyncio.sleep(0.05)
    second = asyncio.ensure_future(b.submit([3, 4, 5, 6]))  # fills the queue
    await asyncio.sleep(0)
    assert b.queue_depth == 4
    with pytest.raises(QueueFull):
        await b.submit([7])
    await asyncio.gather(first, second)
    assert b.queue_depth == 0
    await b.aclose()


async def test_failing_request_is_isolated(pool: Any) -> None:
    def fn(items: list[int]) -> np.ndarray:
        if 13 in items:
            raise ValueError("unlucky")
        return rows_for(items)

    b = DynamicBatcher(fn, executor=pool, max_batch_size=64, max_wait_ms=30)
    results = await asyncio.gather(b.submit([1, 2]), b.submit([12, 13]), b.submit([3]),
                                   return_exceptions=True)
    np.testing.assert_array_equal(results[0], rows_for([1, 2]))
    assert isinstance(results[1], ValueError)
    np.testing.assert_array_equal(results[2], rows_for([3]))
    await b.aclose()


async def test_cancelled_request_is_dropped(pool: Any) -> None:
    seen: list[list[int]] = []

    def fn(items: list[int]) -> np.ndarray:
        seen.append(list(items))
        time.sleep(0.1)
        return rows_for(items)

    b = DynamicBatcher(fn, executor=pool, max_batch_size=1, max_wait_ms=0)
    busy = asyncio.ensure_future(b.submit([1]))
    await asyncio.sleep(0.02)
    gone = asyncio.ensure_future(b.submit([2, 3, 4]))
    await asyncio.sleep(0.01)
    gone.cancel()
    await busy
    await asyncio.sleep(0.05)
    assert seen == [[1]]
    assert b.queue_depth == 0
    await b.aclose()


# --- through the app ---------------------------------------------------------------------------


async def test_app_merges_concurrent_requests(make_client: Any) -> None:
    enc = FakeEncoder(delay=0.02)
    client = make_client(enc, max_batch_size=64, max_wait_ms=20)
    texts = [[f"r{i} t{j}" for j in range(1 + i % 3)] for i in range(24)]
    responses = await asyncio.gather(*(
        client.post("/v1/embeddings", json={"model": MODEL, "input": t}) for t in texts))
    for t, r in zip(texts, responses, strict=True):
        assert r.status_code == 200, r.text
        got = np.array([d["embedding"] for d in r.json()["data"]])
        want = np.stack([unit(FakeEncoder.text_vector(x)) for x in t])
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert sum(len(c) for c in enc.text_calls) == sum(len(t) for t in texts)
    assert len(enc.text_calls) <= 6, [len(c) for c in enc.text_calls]


async def test_app_no_batching_baseline(make_client: Any) -> None:
    enc = FakeEncoder()
    client = make_client(enc, batching=False)
    texts = [[f"r{i}", f"s{i}"] for i in range(6)]
    await asyncio.gather(*(
        client.post("/v1/embeddings", json={"model": MODEL, "input": t}) for t in texts))
    assert sorted(enc.text_calls) == sorted(texts)


async def test_app_queue_full_is_503_with_retry_after(make_client: Any) -> None:
    enc = FakeEncoder(delay=0.3)
    client = make_client(enc, max_batch_size=2, max_wait_ms=0, max_queue=3, retry_after_s=2)
    post = lambda n: client.post(  # noqa: E731
        "/v1/embeddings", json={"model": MODEL, "input": [f"x{i}" for i in range(n)]})
    busy = asyncio.ensure_future(post(2))
    await asyncio.sleep(0.1)
    waiting = asyncio.ensure_future(post(3))
    await asyncio.sleep(0.05)
    r = await post(1)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "2"
    assert r.json()["code"] == "queue_full" and r.json()["request_id"]
    assert (await busy).status_code == 200 and (await waiting).status_code == 200
    health = (await client.get("/health")).json()
    assert health["queue_depth"]["text"] == 0


async def test_app_bad_request_does_not_affect_others(make_client: Any) -> None:
    enc = FakeEncoder(delay=0.01)
    client = make_client(enc, max_batch_size=64, max_wait_ms=30)
    bodies = [["good one"], ["good two", "BOOM"], ["good three"], ["x", {"image": "???"}]]
    rs = await asyncio.gather(*(
        client.post("/v1/embeddings", json={"model": MODEL, "input": b}) for b in bodies))
    assert [r.status_code for r in rs] == [200, 500, 200, 422]
    for r, text in ((rs[0], "good one"), (rs[2], "good three")):
        np.testing.assert_allclose(r.json()["data"][0]["embedding"],
                                   unit(FakeEncoder.text_vector(text)), rtol=1e-6)
    assert any(len(c) > 2 for c in enc.text_calls)  # they really were merged first


async def test_aclose_mid_batch_fails_every_submitter_promptly(pool: Any) -> None:
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def fn(items: list[int]) -> np.ndarray:
        loop.call_soon_threadsafe(started.set)
        time.sleep(0.5)  # the model is busy when shutdown comes
        return rows_for(items)

    b = DynamicBatcher(fn, executor=pool, max_batch_size=4, max_wait_ms=0)
    # [1, 2] and [3, 4] fill the first batch, so both leave the queue; [5] stays queued.
    subs = [asyncio.ensure_future(b.submit(r)) for r in ([1, 2], [3, 4], [5])]
    await asyncio.wait_for(started.wait(), 5)
    await b.aclose()
    results = await asyncio.wait_for(asyncio.gather(*subs, return_exceptions=True), 5)
    assert all(isinstance(r, BatcherClosed) for r in results), results
    with pytest.raises(BatcherClosed):
        await b.submit([6])


async def test_cancelled_requests_free_queue_room_at_once(pool: Any) -> None:
    release = concurrent.futures.Future[None]()
    seen: list[list[int]] = []

    def fn(items: list[int]) -> np.ndarray:
        seen.append(list(items))
        if items == [0]:
            release.result(5)  # hold the worker so it cannot reach the queued requests
        return rows_for(items)

    b = DynamicBatcher(fn, executor=pool, max_batch_size=4, max_wait_ms=0, max_queue=4)
    busy = asyncio.ensure_future(b.submit([0]))
    await asyncio.sleep(0.05)
    gone = [asyncio.ensure_future(b.submit(r)) for r in ([1, 2], [3, 4])]
    await asyncio.sleep(0)
    assert b.queue_depth == 4
    for task in gone:  # what a client disconnect does to the awaiting request task
        task.cancel()
    await asyncio.gather(*gone, return_exceptions=True)
    assert b.queue_depth == 0
    fresh = asyncio.ensure_future(b.submit([5, 6, 7, 8]))  # QueueFull before the fix
    await asyncio.sleep(0)
    assert not fresh.done() and b.queue_depth == 4
    release.set_result(None)
    await busy
    np.testing.assert_array_equal(await asyncio.wait_for(fresh, 5), rows_for([5, 6, 7, 8]))
    assert seen == [[0], [5, 6, 7, 8]]  # the cancelled items never reached the model
    await b.aclose()


async def test_app_shutdown_mid_batch_is_503(make_client: Any) -> None:
    enc = FakeEncoder(delay=0.5)
    client = make_client(enc, max_batch_size=8, max_wait_ms=0)
    pending = asyncio.ensure_future(
        client.post("/v1/embeddings", json={"model": MODEL, "input": ["a", "b"]}))
    await asyncio.sleep(0.1)
    await client._transport.app.state.server.text_batcher.aclose()
    r = await asyncio.wait_for(pending, 5)
    assert r.status_code == 503, r.text
    assert r.json()["code"] == "shutting_down" and "shutting down" in r.json()["detail"]
