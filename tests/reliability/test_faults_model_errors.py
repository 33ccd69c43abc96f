"""Model errors fail one batch, not the process: an out-of-memory batch is split in halves and
retried; an input that does not fit even alone fails only its own request (503 + Retry-After,
code ``out_of_memory``); any other model error is a 500 for its request only; the server keeps
serving afterwards."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import torch

from jina_clip import JinaCLIP, ServerError
from jina_clip.server import ServerSettings, ServerThread, build_encoder, create_app
from jina_clip.server.batcher import DynamicBatcher
from jina_clip.server.oom import ModelOutOfMemory, is_out_of_memory

MODEL = "jina-clip-tiny"
#: Simulated accelerator memory: a text batch "fits" when rows x padded width <= this.
TOKEN_BUDGET = 100
MAX_IMAGES = 2

OOM_ERRORS: list[Callable[[], BaseException]] = [
    lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    lambda: RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                         "8589934592 bytes"),
    lambda: RuntimeError("MPS backend out of memory (MPS allocated: 1 GB)"),
    lambda: RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate"),
    lambda: RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED"),
    MemoryError,
]


def rows_for(items: list[int]) -> np.ndarray:
    return np.array([[x, 1.0] for x in items], dtype=np.float32)


@pytest.fixture
def pool() -> Iterator[concurrent.futures.ThreadPoolExecutor]:
    with concurrent.futures.ThreadPoolExecutor(1) as p:
        yield p


# --- the batcher --------------------------------------------------------------------------------


def test_oom_detection_tells_memory_from_other_errors() -> None:
    assert all(is_out_of_memory(make()) for make in OOM_ERRORS)
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))  # not an allocator error type


@pytest.mark.parametrize("make_error", OOM_ERRORS)
async def test_oom_batch_is_split_and_every_request_answered_in_order(
    pool: Any, make_error: Callable[[], BaseException]
) -> None:
    sizes: list[int] = []

    def fn(items: list[int]) -> np.ndarray:
        sizes.append(len(items))
        if len(items) > 3:
            raise make_error()
        return rows_for(items)

    b = DynamicBatcher(fn, executor=pool, max_batch_size=64, max_wait_ms=30)
    requests = [list(range(10, 15)), [20, 21], list(range(30, 34))]
    results = await asyncio.gather(*(b.submit(r) for r in requests))
    for r, out in zip(requests, results, strict=True):
        np.testing.assert_array_equal(out, rows_for(r))
    assert sizes[0] == 11  # merged first, then halved until each part fits
    assert max(s for s in sizes[1:]) <= 11 // 2 + 1 and sum(s for s in sizes if s <= 3) == 11
    assert b.stats.oom_splits >= 3 and b.stats.items == 11
    await b.aclose()


async def test_input_that_never_fits_fails_only_its_request(pool: Any) -> None:
    def fn(items: list[int]) -> np.ndarray:
        if 99 in items or len(items) > 4:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return rows_for(items)

    b = DynamicBatcher(fn, executor=pool, max_batch_size=64, max_wait_ms=30)
    results = await asyncio.gather(b.submit([1, 2, 3]), b.submit([4, 5, 99, 6]), b.submit([7]),
                                   return_exceptions=True)
    np.testing.assert_array_equal(results[0], rows_for([1, 2, 3]))
    assert isinstance(results[1], ModelOutOfMemory) and results[1].index == 2
    np.testing.assert_array_equal(results[2], rows_for([7]))
    np.testing.assert_array_equal(await b.submit([8, 9]), rows_for([8, 9]))  # still serving
    await b.aclose()


async def test_oom_frees_the_cuda_cache(pool: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    freed: list[int] = []  # the threads that freed it
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: freed.append(threading.get_ident()))
    model_thread = pool.submit(threading.get_ident).result()

    def fn(items: list[int]) -> np.ndarray:
        if len(items) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return rows_for(items)

    b = DynamicBatcher(fn, executor=pool, max_batch_size=8, max_wait_ms=0)
    np.testing.assert_array_equal(await b.submit([1, 2]), rows_for([1, 2]))
    # once per failed call, before its halves run; on the model thread, not the event loop
    # (emptying the CUDA cache waits for the device, e.g. for the other modality's batch)
    assert freed == [model_thread]
    await b.aclose()


async def test_a_request_cancelled_during_an_oom_split_is_not_run(pool: Any) -> None:
    """A client that goes away while the first half runs (e.g. its own timeout) costs no
    model call for its half: cancelled items never reach the model, as in the queue."""
    calls: list[list[int]] = []
    in_first_half, go_on = threading.Event(), threading.Event()

    def fn(items: list[int]) -> np.ndarray:
        calls.append(list(items))
        if len(items) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory")
        if items == [1, 2]:
            in_first_half.set()
            go_on.wait(5)
        return rows_for(items)

    b = DynamicBatcher(fn, executor=pool, max_batch_size=8, max_wait_ms=30)
    kept, gone = asyncio.ensure_future(b.submit([1, 2])), asyncio.ensure_future(b.submit([3, 4]))
    assert await asyncio.to_thread(in_first_half.wait, 5)
    gone.cancel()  # what a client disconnect does to the awaiting request task
    await asyncio.gather(gone, return_exceptions=True)
    go_on.set()
    np.testing.assert_array_equal(await asyncio.wait_for(kept, 5), rows_for([1, 2]))
    np.testing.assert_array_equal(await b.submit([5]), rows_for([5]))  # after the split's end
    assert calls == [[1, 2, 3, 4], [1, 2], [5]]
    await b.aclose()


class Activations:
    """Stands for the tensors a forward pass holds when it fails (GPU memory on a real run)."""


@pytest.mark.parametrize("make_error", [lambda: torch.OutOfMemoryError("CUDA out of memory"),
                                        lambda: ValueError("a bad input")],
                         ids=["out of memory", "other error"])
async def test_retries_run_after_the_failed_call_has_let_go_of_its_memory(
    pool: Any, make_error: Callable[[], BaseException]
) -> None:
    # The failed call's frames, and so its tensors, live as long as its exception's traceback:
    # retrying while that is still referenced (inside the except clause) runs the halves next
    # to the memory that ran out (PyTorch FAQ, "My out of memory exception handler can't
    # allocate memory").
    held: list[weakref.ref[Activations]] = []
    leaked_into: list[int] = []

    def fn(items: list[int]) -> np.ndarray:
        if any(ref() is not None for ref in held):
            leaked_into.append(len(items))
        activations = Activations()
        held.append(weakref.ref(activations))
        if len(items) > 1:
            raise make_error()
        return rows_for(items)

    b = DynamicBatcher(fn, executor=pool, max_batch_size=8, max_wait_ms=30)
    results = await asyncio.gather(b.submit([1, 2]), b.submit([3]), return_exceptions=True)
    if isinstance(results[0], ValueError):  # the other error: isolation re-runs each request
        np.testing.assert_array_equal(results[1], rows_for([3]))
    else:
        for got, want in zip(results, ([1, 2], [3]), strict=True):
            np.testing.assert_array_equal(got, rows_for(want))
    assert leaked_into == []
    await b.aclose()


# --- the server with the tiny model -------------------------------------------------------------


class SimulatedMemory:
    """Wraps the model's towers: a call raises torch's OutOfMemoryError when its batch is
    larger than the simulated memory, as a real GPU would, and records every batch shape."""

    def __init__(self, model: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.text_shapes: list[tuple[int, int]] = []
        self.image_batches: list[int] = []
        self.fail_other = False
        encode_text, encode_image = model.encode_text, model.encode_image

        def text(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            self.text_shapes.append(tuple(tokens.shape))
            if self.fail_other:
                raise RuntimeError("index out of range in self")
            if tokens.shape[0] * tokens.shape[1] > TOKEN_BUDGET:
                raise torch.OutOfMemoryError(f"CUDA out of memory: batch {tuple(tokens.shape)}")
            return encode_text(tokens, mask)

        def image(pixels: torch.Tensor) -> torch.Tensor:
            self.image_batches.append(pixels.shape[0])
            if pixels.shape[0] > MAX_IMAGES:
                raise torch.OutOfMemoryError("CUDA out of memory (images)")
            return encode_image(pixels)

        monkeypatch.setattr(model, "encode_text", text)
        monkeypatch.setattr(model, "encode_image", image)


@pytest.fixture
def oom_server(tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
               ) -> Iterator[tuple[str, SimulatedMemory]]:
    settings = ServerSettings(model=str(tiny_checkpoint), device="cpu", served_model_name=MODEL,
                              max_wait_ms=50, retry_after_s=2)
    encoder = build_encoder(settings)
    memory = SimulatedMemory(encoder.model, monkeypatch)  # type: ignore[attr-defined]
    try:
        with ServerThread(create_app(encoder, settings)) as url:
            yield url, memory
    finally:
        encoder.close()


def short_texts(n: int, tag: str) -> list[str]:
    return [f"{tag} photo {i}" for i in range(n)]


def png(shade: int) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (20, 12), (shade, 255 - shade, shade // 2)).save(buf, "PNG")
    return buf.getvalue()


def test_server_splits_oom_batches_and_answers_exactly(
    oom_server: tuple[str, SimulatedMemory], core_encoder: JinaCLIP
) -> None:
    url, memory = oom_server
    texts = short_texts(24, "a")
    images = [png(s) for s in range(0, 250, 50)]
    with JinaCLIP.remote(MODEL, base_url=f"{url}/v1", max_retries=0, batch_size=32) as remote:
        got_texts = remote.encode_text(texts)
        got_images = remote.encode_image(images)
    np.testing.assert_allclose(got_texts, core_encoder.encode_text(texts), atol=1e-5)
    np.testing.assert_allclose(got_images, core_encoder.encode_image(images), atol=1e-5)
    assert memory.text_shapes[0][0] == 24  # one merged batch first, which "ran out"
    fitted = [rows for rows, width in memory.text_shapes if rows * width <= TOKEN_BUDGET]
    assert sum(fitted) == 24 and max(fitted) < 24  # every text embedded once, in parts
    assert memory.image_batches[0] == 5
    assert sum(n for n in memory.image_batches if n <= MAX_IMAGES) == 5
    health = httpx.get(f"{url}/health", trust_env=False).json()
    assert health["status"] == "ok"


async def test_input_too_big_for_memory_fails_alone_with_a_clear_503(
    oom_server: tuple[str, SimulatedMemory], core_encoder: JinaCLIP
) -> None:
    url, _ = oom_server
    huge = " ".join(["word"] * 120)  # ~122 tokens: over the budget even in a batch of one
    bodies = [short_texts(3, "b"), ["fine", "also fine", "x", huge, "y"], short_texts(4, "c")]
    async with httpx.AsyncClient(base_url=url, trust_env=False, timeout=60) as client:
        responses = await asyncio.gather(*(
            client.post("/v1/embeddings", json={"model": MODEL, "input": body})
            for body in bodies))
        assert [r.status_code for r in responses] == [200, 503, 200]
        bad = responses[1]
        assert bad.headers["retry-after"] == "2"
        assert bad.json()["code"] == "out_of_memory"
        assert bad.json()["detail"].startswith("input 3: the model ran out of memory")
        assert bad.json()["request_id"] == bad.headers["x-request-id"]
        for r, body in ((responses[0], bodies[0]), (responses[2], bodies[2])):
            got = np.array([d["embedding"] for d in r.json()["data"]], dtype=np.float32)
            np.testing.assert_allclose(got, core_encoder.encode_text(body), atol=1e-5)
        # the process survived and serves the next request normally
        later = await client.post("/v1/embeddings", json={"model": MODEL, "input": ["after"]})
        assert later.status_code == 200

    with (JinaCLIP.remote(MODEL, base_url=f"{url}/v1", max_retries=0) as remote,
          pytest.raises(ServerError) as info):
        remote.encode_text(["ok", huge])
    assert info.value.status_code == 503 and info.value.code == "out_of_memory"
    assert "input 1" in str(info.value)


def test_other_model_error_is_500_for_its_request_only(
    oom_server: tuple[str, SimulatedMemory], core_encoder: JinaCLIP
) -> None:
    url, memory = oom_server
    memory.fail_other = True
    r = httpx.post(f"{url}/v1/embeddings", json={"model": MODEL, "input": ["x"]},
                   trust_env=False, timeout=60)
    assert r.status_code == 500 and r.json()["code"] == "internal_error"
    assert "index out of range" not in r.json()["detail"]  # internals are logged, not sent
    memory.fail_other = False
    with JinaCLIP.remote(MODEL, base_url=f"{url}/v1", max_retries=0) as remote:
        np.testing.assert_allclose(remote.encode_text(["x"]), core_encoder.encode_text(["x"]),
                                   atol=1e-5)
