"""Kill and restart: `jina-clip serve` is SIGKILLed in the middle of a client load (threads on
the sync API and tasks on the async one), restarted on the same port a few seconds later, and
every call of every client still finishes with the right vectors in the right order, because
the remote encoder retries connection errors (refused, reset, a response cut off) with
backoff for as long as its ``max_retries`` allow."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from jina_clip import JinaCLIP
from tests.serve_process import ServeProcess

from ..conftest import TINY_API_MODEL

#: Outlasts ~60 s of outage: waits of 0.05·2^n s, jittered and capped at 0.5 s, 120 times (a
#: restart takes 3-10 s here: starting Python, importing torch, loading the model).
RETRY = {"max_retries": 120, "backoff_base": 0.05, "backoff_max": 0.5, "timeout": 30.0}
THREADS, ASYNC_TASKS, CALLS, PER_CALL = 4, 3, 16, 12


def call_texts(client: int, call: int) -> list[str]:
    return [f"client {client} call {call} item {i} " + "word " * (i % 5) for i in range(PER_CALL)]


@pytest.mark.slow
def test_clients_survive_server_kill_and_restart(
    tiny_checkpoint: Path, core_encoder: JinaCLIP, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jina_clip.remote")
    clients = THREADS + ASYNC_TASKS
    results: dict[tuple[int, int], np.ndarray] = {}
    finished_at: dict[tuple[int, int], float] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def record(key: tuple[int, int], vectors: np.ndarray) -> None:
        with lock:
            results[key] = vectors
            finished_at[key] = time.monotonic()

    server = ServeProcess(tiny_checkpoint, served_model_name=TINY_API_MODEL)
    with server:
        remote, aremote = (JinaCLIP.remote(TINY_API_MODEL, base_url=f"{server.url}/v1",
                                           max_concurrency=4, **RETRY) for _ in range(2))

        def sync_client(c: int) -> None:
            try:
                for n in range(CALLS):
                    record((c, n), remote.encode_text(call_texts(c, n), batch_size=4))
            except BaseException as exc:  # reported by the test
                errors.append(exc)

        def async_clients() -> None:
            async def one(c: int) -> None:
                for n in range(CALLS):
                    record((c, n), await aremote.aencode_text(call_texts(c, n), batch_size=4))

            async def main() -> None:
                try:
                    await asyncio.gather(*(one(THREADS + k) for k in range(ASYNC_TASKS)))
                finally:
                    await aremote.aclose()

            try:
                asyncio.run(main())
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=sync_client, args=(c,)) for c in range(THREADS)]
        workers.append(threading.Thread(target=async_clients))
        for w in workers:
            w.start()
        wait_for(lambda: len(results) >= clients * CALLS // 4, 60, "load did not get going")
        done_before_kill = len(results)
        server.kill()
        killed_at = time.monotonic()
        time.sleep(1.0)  # clients now meet refused connections, not just reset ones
        server.start()
        restarted_at = time.monotonic()
        for w in workers:
            w.join(120)
        assert not any(w.is_alive() for w in workers), "a client hung"
        remote.close()

    assert not errors, errors
    assert done_before_kill < clients * CALLS
    assert sum(t > restarted_at for t in finished_at.values()) > 0  # load spanned the outage
    assert len(results) == clients * CALLS
    for (c, n), vectors in sorted(results.items()):
        np.testing.assert_allclose(vectors, core_encoder.encode_text(call_texts(c, n)),
                                   atol=1e-5, err_msg=f"client {c} call {n}")
    retries = [r for r in caplog.records if r.getMessage().startswith("retrying")]
    assert retries, "the outage was never seen by a client"
    assert restarted_at - killed_at > 1.0


def wait_for(condition: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.02)
