"""Dynamic batching: merge the items of concurrent requests into few model calls.

Each request submits its items (texts, or decoded images) and awaits one future. A worker task
waits until ``max_batch_size`` items are queued or the oldest has waited ``max_wait_ms``, runs
the model once in a worker thread (never on the event loop) and scatters the rows back to each
request in order. A request larger than a batch is spread over several batches.

Fairness: a batch holds at most ``max_batch_size`` items and, when the items have costs (text
tokens), at most ``max_batch_tokens`` padded tokens (items x the longest), as TEI's
``max_batch_tokens`` (a single item over the budget runs alone). A request that does not fit
in the batch being cut goes to the back of the line with its remaining items, and a new request
joins the line ahead of such a partly served one, so requests take turns batch by batch: a
small request waits for at most the batch running when it arrives, whatever the big one's
size.

The queue is bounded in items: a submit that would overflow it raises :class:`QueueFull` at
once (the app answers 503 + Retry-After) instead of letting latency grow without bound. A
request whose caller goes away (client disconnect cancels its task) leaves the queue and its
count at once, so abandoned work cannot cause 503s. If a merged batch fails, each request in
it is re-run alone so that one bad input fails only its own request. If it ran out of memory,
it is split in halves (down to single items) and retried, so only an input that does not fit
even alone fails (:class:`~.oom.ModelOutOfMemory`). :meth:`aclose` fails
every request it has not answered, queued or in the running batch, with :class:`BatcherClosed`.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from .oom import ModelOutOfMemory, free_accelerator_cache, is_out_of_memory

__all__ = ["BatchReport", "BatcherClosed", "DynamicBatcher", "QueueFull"]

T = TypeVar("T")
log = logging.getLogger("jina_clip.server")


class QueueFull(Exception):
    """The batcher's queue cannot take the submitted items now."""


class BatcherClosed(RuntimeError):
    """The batcher was shut down before it answered (the app answers 503)."""


@dataclass(eq=False)
class _Job(Generic[T]):
    items: Sequence[T]
    future: asyncio.Future[np.ndarray]
    arrived: float
    costs: Sequence[int] | None = None  # per item (text tokens); None: 1 each
    taken: int = 0  # items handed to a batch so far
    done: int = 0  # items whose rows are filled in
    rows: np.ndarray | None = None
    failed: bool = False

    @property
    def dead(self) -> bool:
        return self.failed or self.future.done()


@dataclass(eq=False)
class _Slice:
    job: _Job[Any]
    start: int
    stop: int


@dataclass(frozen=True)
class BatchReport:
    """One model call, for metrics: its size, its padded tokens (items x the longest cost),
    how long each request slice in it had waited, and how long the model took."""

    batcher: str
    items: int
    tokens: int
    queue_seconds: list[float]
    model_seconds: float


@dataclass
class BatcherStats:
    """Counters for /health, tests and the benchmark."""

    calls: int = 0
    items: int = 0
    oom_splits: int = 0  # batches split in halves after running out of memory


class DynamicBatcher(Generic[T]):
    """Queue items from many requests and run them through ``fn`` in merged batches.

    ``fn(items) -> array (len(items), D)`` runs in ``executor``. With ``merge=False`` a batch
    never mixes requests (the no-batching baseline; the queue bound still applies).
    """

    def __init__(
        self,
        fn: Callable[[list[T]], np.ndarray],
        *,
        executor: concurrent.futures.Executor,
        max_batch_size: int = 32,
        max_wait_ms: float = 5.0,
        max_queue: int = 4096,
        max_batch_tokens: int | None = None,
        merge: bool = True,
        name: str = "batcher",
        on_batch: Callable[[BatchReport], None] | None = None,
    ) -> None:
        self._fn = fn
        self._executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.max_batch_tokens = max_batch_tokens
        self.merge = merge
        self.name = name
        self.on_batch = on_batch
        self.stats = BatcherStats()
        self._jobs: collections.deque[_Job[T]] = collections.deque()
        self._pending = 0  # items queued, not yet in a batch
        # The batch the worker is running: its jobs have left ``_jobs`` (when all their items
        # were taken), so without this a shutdown mid-batch would leave their futures hanging.
        self._inflight: list[_Slice] = []
        self._closed = False
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def queue_depth(self) -> int:
        """Items waiting for a batch."""
        return self._pending

    async def submit(self, items: Sequence[T], costs: Sequence[int] | None = None
                     ) -> np.ndarray:
        """Embed ``items``; returns their rows in order. Raises :class:`QueueFull`.
        ``costs`` (one per item, e.g. its tokens) count against ``max_batch_tokens``."""
        if not items:
            raise ValueError("submit() needs at least one item")
        if costs is not None and len(costs) != len(items):
            raise ValueError("submit() needs one cost per item")
        if self._closed:
            raise BatcherClosed(f"{self.name} batcher is shut down")
        if self._pending + len(items) > self.max_queue:
            raise QueueFull(f"{self.name} queue is full ({self._pending} items waiting)")
        self._ensure_worker()
        loop = asyncio.get_running_loop()
        job: _Job[T] = _Job(items, loop.create_future(), loop.time(), costs)
        self._jobs.insert(self._place(), job)
        self._pending += len(items)
        assert self._wakeup is not None
        self._wakeup.set()
        try:
            return await job.future
        finally:
            # Cancelling the caller also cancels ``job.future``, so "done" is not enough here.
            if not job.future.done() or job.future.cancelled():  # the caller went away
                job.failed = True
                self._release(job)

    def _place(self) -> int:
        """Where a new request joins the line: ahead of the first request that has had a turn
        already (a big one, partly served), unless a batch's worth of items is queued ahead of
        that one, so a new request waits for at most the running batch, and a big request
        still gets a turn every other batch."""
        ahead = 0
        for position, job in enumerate(self._jobs):
            if job.taken and ahead < self.max_batch_size:
                return position
            ahead += len(job.items) - job.taken
        return len(self._jobs)

    async def aclose(self) -> None:
        """Stop the worker and fail every unanswered request, queued or in the running batch,
        with :class:`BatcherClosed`; later submits fail the same way."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        jobs = {id(s.job): s.job for s in self._inflight}
        jobs.update((id(job), job) for job in self._jobs)
        for job in jobs.values():
            self._fail(job, BatcherClosed(f"server is shutting down; {self.name} request "
                                          f"was not finished"))
        self._inflight = []
        self._jobs.clear()
        self._pending = 0

    # --- worker -------------------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    def _release(self, job: _Job[Any]) -> None:
        """Take a dead job's untaken items out of the queue and its count now, wherever it is in
        the queue, instead of when the worker reaches it (which could cause early 503s)."""
        if job.taken < len(job.items):
            with contextlib.suppress(ValueError):  # already dropped by the worker
                self._jobs.remove(job)
                self._pending -= len(job.items) - job.taken

    def _drop_dead(self) -> None:
        while self._jobs and self._jobs[0].dead:
            job = self._jobs.popleft()
            self._pending -= len(job.items) - job.taken

    async def _run(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            self._drop_dead()
            if not self._jobs:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.merge:
                deadline = self._jobs[0].arrived + self.max_wait
                while self._pending < self.max_batch_size and loop.time() < deadline:
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), deadline - loop.time())
                    except asyncio.TimeoutError:
                        break
                self._drop_dead()
            batch = self._take()
            if batch:
                # Not cleared in a ``finally``: if aclose cancels us mid-batch it fails these.
                self._inflight = batch
                await self._execute(batch)
                self._inflight = []

    def _take(self) -> list[_Slice]:
        """Cut the next batch off the front of the line: up to ``max_batch_size`` items and
        ``max_batch_tokens`` padded tokens. A request left with items goes to the back."""
        batch: list[_Slice] = []
        count = width = 0  # items in the batch, cost of its longest
        while count < self.max_batch_size and self._jobs:
            job = self._jobs[0]
            if job.dead:
                self._drop_dead()
                continue
            n = 0
            while count + n < self.max_batch_size and job.taken + n < len(job.items):
                cost = 1 if job.costs is None else job.costs[job.taken + n]
                wider = max(width, cost)
                if (self.max_batch_tokens is not None and count + n > 0
                        and (count + n + 1) * wider > self.max_batch_tokens):
                    break
                width = wider
                n += 1
            if n:
                batch.append(_Slice(job, job.taken, job.taken + n))
                job.taken += n
                self._pending -= n
                count += n
            self._jobs.popleft()
            if job.taken < len(job.items):  # the batch is full: its turn is over
                self._jobs.append(job)
                break
            if not self.merge:
                break
        return batch

    async def _call(self, items: list[T], batch: list[_Slice]) -> np.ndarray:
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            out = await loop.run_in_executor(self._executor, self._fn, items)
        except Exception as exc:
            _release_frames(exc)
            raise
        self.stats.calls += 1
        self.stats.items += len(items)
        if self.on_batch is not None:
            costs = [1 if s.job.costs is None else s.job.costs[i] for s in batch
                     for i in range(s.start, s.stop)]
            self.on_batch(BatchReport(
                self.name, len(items), len(items) * max(costs, default=0),
                [started - s.job.arrived for s in batch], loop.time() - started))
        out = np.asarray(out)
        if out.ndim != 2 or out.shape[0] != len(items):
            raise RuntimeError(f"encoder returned shape {out.shape} for {len(items)} inputs")
        return out

    async def _execute(self, batch: list[_Slice]) -> None:
        # Requests cancelled or failed since the batch was cut (while an earlier part of an
        # out-of-memory split or of an isolation re-run ran) cost no model call.
        batch = [s for s in batch if not s.job.dead]
        if not batch:
            return
        items = [item for s in batch for item in s.job.items[s.start:s.stop]]
        try:
            rows = await self._call(items, batch)
        except Exception as exc:
            if is_out_of_memory(exc):
                await self._split_after_oom(batch, exc)
                return
            if len(batch) == 1:
                # An input error's index is relative to this slice; make it the request's.
                if isinstance(getattr(exc, "index", None), int):
                    exc.index += batch[0].start  # type: ignore[attr-defined]
                self._fail(batch[0].job, exc)
                return
            # Isolate the culprit: re-run each request's part alone.
            for s in batch:
                await self._execute([s])
            return
        offset = 0
        for s in batch:
            n = s.stop - s.start
            self._deliver(s, rows[offset:offset + n])
            offset += n

    async def _split_after_oom(self, batch: list[_Slice], exc: BaseException) -> None:
        """Free the accelerator cache and retry the batch as two halves; a single item that
        still does not fit fails its request with :class:`ModelOutOfMemory`."""
        # On the model thread: emptying the CUDA cache waits for the device (e.g. for the other
        # modality's batch), which must not stall the event loop. A shut-down executor fails
        # the retry below the same way, as a model error.
        with contextlib.suppress(RuntimeError):
            await asyncio.get_running_loop().run_in_executor(self._executor,
                                                             free_accelerator_cache)
        live = [s for s in batch if not s.job.dead]
        size = sum(s.stop - s.start for s in live)
        if size == 0:
            return
        if size == 1:
            s = live[0]
            log.warning("%s model call ran out of memory on a single input: %s", self.name, exc)
            self._fail(s.job, ModelOutOfMemory(
                f"the model ran out of memory on this {self.name} input even in a batch of its "
                "own", index=s.start))
            return
        self.stats.oom_splits += 1
        first, second = _split(live, size // 2)
        log.warning("%s batch of %d items ran out of memory; retrying it as %d + %d",
                    self.name, size, size // 2, size - size // 2)
        await self._execute(first)
        await self._execute(second)

    def _deliver(self, s: _Slice, rows: np.ndarray) -> None:
        job = s.job
        if job.dead:
            return
        if job.rows is None:
            job.rows = np.empty((len(job.items), rows.shape[1]), dtype=np.float32)
        job.rows[s.start:s.stop] = rows
        job.done += s.stop - s.start
        if job.done == len(job.items):
            job.future.set_result(job.rows)

    def _fail(self, job: _Job[Any], exc: BaseException) -> None:
        if not job.future.done():
            job.future.set_exception(exc)
        job.failed = True
        self._release(job)  # a request spanning batches: its later items need no room


def _split(batch: list[_Slice], k: int) -> tuple[list[_Slice], list[_Slice]]:
    """The first ``k`` items of ``batch`` and the rest (a request may straddle the cut)."""
    first: list[_Slice] = []
    second: list[_Slice] = []
    for s in batch:
        n = s.stop - s.start
        if k >= n:
            first.append(s)
            k -= n
        elif k > 0:
            first.append(_Slice(s.job, s.start, s.start + k))
            second.append(_Slice(s.job, s.start + k, s.stop))
            k = 0
        else:
            second.append(s)
    return first, second


def _release_frames(exc: BaseException) -> None:
    """Drop the local variables of the frames in ``exc``'s traceback (and in the exceptions it
    chains). Those frames hold the failed model call's tensors, on a GPU the very memory that
    ran out, for as long as the exception lives: while the batcher retries the halves, and in
    the error it hands a request. The traceback still prints (files, lines, functions)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        current = current.__cause__ or current.__context__
