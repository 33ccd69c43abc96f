"""`RemoteJinaCLIP`: the :class:`~jina_clip.base.JinaCLIP` interface over Jina's Embeddings API
or any server speaking it (``jina-clip serve``).

A call is planned once (validation, image conversion, request bodies, batch slices; shared
by both twins), then its requests run concurrently (threads over one ``httpx.Client``, or
tasks over one ``httpx.AsyncClient``), each with its own retries, and the results are put
back in input order. See ``docs/remote.md``."""

from __future__ import annotations

import asyncio
import logging
import threading
import warnings
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlparse

import httpx
import numpy as np

from .._version import __version__
from ..base import ImageInput, JinaCLIP, check_images, check_texts
from ..defaults import DEFAULT_API_MODEL
from ..errors import (
    AuthenticationError,
    BadRequestError,
    ImageTooLargeError,
    InputError,
    ResponseValidationError,
    TextInputError,
    TruncationWarning,
)
from ..options import CallOptions
from ..postprocess import finalize
from ..progress import ProgressCounter, progress_counter
from .batching import plan_requests
from .error_map import rejected_input
from .models import model_spec
from .options import DEFAULT_MAX_REQUEST_BYTES, RemoteCallOptions, RemoteOptions
from .protocol import Envelope, image_item, parse_embeddings, text_item
from .retry import RetryPolicy
from .tokens import estimate_image_tokens, estimate_text_tokens, estimate_tokens_per_text
from .transport import Cancelled, post_async, post_sync
from .usage import TokenUsage, UsageMeter

__all__ = [
    "API_MAX_TEXT_TOKENS",
    "DEFAULT_IMAGE_BATCH_SIZE",
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_TEXT_BATCH_SIZE",
    "RemoteJinaCLIP",
]

logger = logging.getLogger("jina_clip.remote")

DEFAULT_TEXT_BATCH_SIZE = 128
#: Images are large (and billed per tile): fewer per request keeps each retry cheap.
DEFAULT_IMAGE_BATCH_SIZE = 16
_OFFICIAL_HOST = "api.jina.ai"
_QUERY_TASKS = frozenset({"retrieval.query", "query"})
_DOCUMENT_TASKS = frozenset({"retrieval.passage", "retrieval.document", "passage", "document"})
_PROBE_TEXT = "dimension probe"
#: The API's text limit for jina-clip models (tokens); over it a text is cut or refused.
API_MAX_TEXT_TOKENS = 8192


def _user_agent() -> str:
    return f"jina-clip/{__version__} (remote)"


@dataclass
class _Call:
    """One encode call, planned: what to send and how to finish the results."""

    envelope: Envelope
    items: list[bytes]
    slices: list[tuple[int, int]]
    expected_dim: int | None  # width the server must return (None: learn it)
    client_dims: int | None  # Matryoshka truncation done here (models without `dimensions`)
    normalize: bool
    show_progress: bool
    kind: str

    def body(self, i: int) -> bytes:
        start, end = self.slices[i]
        return self.envelope.body(self.items[start:end])

    def count(self, i: int) -> int:
        start, end = self.slices[i]
        return end - start


class RemoteJinaCLIP(JinaCLIP):
    """jina-clip over HTTP: Jina's Embeddings API, or a self-hosted server at ``base_url``.

    Requests are batched (item and byte caps), run ``max_concurrency`` at a time, retried on
    408/409/429/5xx/timeouts/connection errors with jittered exponential backoff honouring
    ``Retry-After`` (up to ``max_retry_after``), and validated before their vectors are
    returned in input order."""

    call_options = RemoteCallOptions

    def __init__(self, model: str = DEFAULT_API_MODEL, **options: Any) -> None:
        """``RemoteJinaCLIP(model, **options)``: every option is a field of
        :class:`~jina_clip.remote.options.RemoteOptions`, validated there."""
        self.options = opts = RemoteOptions(model=model, **options)
        self._spec = model_spec(opts.model)
        self._learned_dim: int | None = None
        self._url = f"{opts.base_url}/embeddings"
        if opts.api_key is None and urlparse(opts.base_url).hostname == _OFFICIAL_HOST:
            raise AuthenticationError(
                f"no API key for {opts.base_url}: pass api_key=... or set JINA_API_KEY "
                "(get one at https://jina.ai/embeddings); a self-hosted server at another "
                "base_url needs none"
            )
        self._timeout = httpx.Timeout(opts.timeout)
        self._policy = RetryPolicy(opts.max_retries, opts.backoff_base, opts.backoff_max,
                                   opts.max_retry_after)
        self._client = opts.http_client
        self._owns_client = opts.http_client is None
        # Owned AsyncClients, one per event loop (their connections belong to that loop),
        # so the encoder can serve several loops, even in several threads, at once.
        self._async_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, httpx.AsyncClient
        ] = weakref.WeakKeyDictionary()
        self._client_lock = threading.Lock()
        # One limit per encoder, shared by concurrent calls (the API counts per key): a
        # semaphore for threads, and one per event loop for tasks.
        self._sync_slots = threading.BoundedSemaphore(opts.max_concurrency)
        self._async_slots: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()
        self._async_lock = threading.Lock()  # guards both per-loop tables

        self._total = UsageMeter()
        self._last = TokenUsage()

    # --- identity ------------------------------------------------------------------------------

    def __repr__(self) -> str:
        opts = self.options
        return f"{type(self).__name__}(model={opts.model!r}, base_url={opts.base_url!r})"

    @property
    def model_name(self) -> str:
        return self.options.model

    @property
    def base_url(self) -> str:
        return self.options.base_url

    @property
    def dimension(self) -> int:
        """Vector length. For a model this client does not know (and no ``dimensions``), it
        is learned from the first response; before any, one tiny probe request is sent."""
        known = self._known_dimension()
        if known is None:
            self.encode_text([_PROBE_TEXT])
            known = self._known_dimension()
            assert known is not None
        return known

    def _known_dimension(self) -> int | None:
        return self.options.dimensions or self._spec.dimension or self._learned_dim

    # --- usage ---------------------------------------------------------------------------------

    @property
    def last_usage(self) -> TokenUsage:
        """Tokens billed by the last encode call (all its requests, including those of a call
        that failed part-way: they were billed)."""
        return self._last

    @property
    def total_usage(self) -> TokenUsage:
        """Tokens billed over this encoder's lifetime."""
        return self._total.value

    def estimate_tokens(
        self,
        texts: Sequence[str] | None = None,
        images: Sequence[ImageInput | tuple[int, int]] | None = None,
    ) -> int:
        """Jina's published estimate of what embedding these inputs costs (the real count
        comes back in :attr:`last_usage`). Images need their size: bytes, paths, PIL images
        or ``(width, height)``; URLs are not downloaded (ImageInputError)."""
        total = estimate_text_tokens(check_texts(texts)) if texts is not None else 0
        if images is not None:
            total += estimate_image_tokens(check_images(images), self._spec, self.model_name)
        return total

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Jina's published estimate per text (about 1.1 tokens per word): the server's
        tokenizer is not available here. The real total comes back in :attr:`last_usage`."""
        return estimate_tokens_per_text(check_texts(texts))

    # --- planning (shared by the twins) --------------------------------------------------------

    def _task_field(self, task: str | None) -> str | None:
        if task is None or task in _DOCUMENT_TASKS:
            return None
        if task not in _QUERY_TASKS:
            raise InputError(
                f"unknown task {task!r}: use 'retrieval.query' for queries, or None for "
                "documents"
            )
        # Symmetric models (jina-clip-v1) embed queries and documents alike.
        return "retrieval.query" if self._spec.supports_task else None

    def _plan(self, kind: str, items: list[bytes], call: RemoteOptions, *, task: str | None,
              too_large: Callable[[int, int], Exception]) -> _Call:
        self._spec.check_dimensions(call.dimensions, call.model)
        server_dims = call.dimensions if self._spec.supports_dimensions else None
        client_dims = None if server_dims is not None else call.dimensions
        envelope = Envelope(
            call.model,
            task=task,
            dimensions=server_dims,
            # Truncating here means normalizing here, after the cut.
            normalized=call.normalize and client_dims is None,
            # None asks the API to cut (what the local encoder does), with a warning here.
            truncate=call.truncate is not False,
        )
        default_size = DEFAULT_TEXT_BATCH_SIZE if kind == "text" else DEFAULT_IMAGE_BATCH_SIZE
        slices = plan_requests(
            [len(item) for item in items],
            max_items=call.batch_size or default_size,
            max_bytes=call.max_request_bytes,
            overhead=envelope.overhead,
            too_large=too_large,
        )
        expected = server_dims or self._spec.dimension or self._learned_dim
        return _Call(envelope, items, slices, expected, client_dims, call.normalize,
                     call.show_progress, kind)

    def _plan_texts(self, texts: Sequence[str], options: CallOptions) -> _Call:
        task = self._task_field(options.task)
        call = self.options.merged(options)
        checked = check_texts(texts)
        if call.truncate is None:
            _warn_likely_too_long(checked)
        limit = call.max_request_bytes

        def too_large(index: int, size: int) -> Exception:
            return TextInputError(
                f"text is {size:,} bytes as JSON, over max_request_bytes={limit:,}", index=index
            )

        return self._plan("text", [text_item(t) for t in checked], call, task=task,
                          too_large=too_large)

    def _plan_images(self, images: Sequence[ImageInput], options: CallOptions) -> _Call:
        call = self.options.merged(options)
        checked = check_images(images)
        from ..images.sources import image_to_api_string  # PIL: only when images are sent

        items = [image_item(image_to_api_string(img, index=i)) for i, img in enumerate(checked)]
        limit = call.max_request_bytes

        def too_large(index: int, size: int) -> Exception:
            return ImageTooLargeError(
                f"image is {size:,} bytes as base64 JSON, over max_request_bytes={limit:,}; "
                "resize it (large images also cost more tokens) or raise max_request_bytes",
                index=index,
            )

        return self._plan("image", items, call, task=None, too_large=too_large)

    def _finish(self, call: _Call, parts: list[np.ndarray | None]) -> np.ndarray:
        matrices = [p for p in parts if p is not None]
        assert len(matrices) == len(call.slices)
        widths = {m.shape[1] for m in matrices}
        if len(widths) != 1:
            raise ResponseValidationError(
                f"invalid response: requests of one call returned different dimensions "
                f"{sorted(widths)}"
            )
        vectors = np.concatenate(matrices, axis=0)
        if call.client_dims is not None and call.client_dims > vectors.shape[1]:
            raise ResponseValidationError(
                f"invalid response: dimensions={call.client_dims} is larger than the "
                f"{vectors.shape[1]} the server returned"
            )
        if self._known_dimension() is None:
            self._learned_dim = vectors.shape[1]
        return finalize(vectors, dimensions=call.client_dims, normalize=call.normalize)

    def _headers(self) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": _user_agent(),
            **self.options.default_headers,
        }
        if self.options.api_key is not None:
            headers["Authorization"] = f"Bearer {self.options.api_key.get_secret_value()}"
        return headers

    def _progress(self, call: _Call) -> ProgressCounter:
        return progress_counter(len(call.slices), enabled=call.show_progress, unit="req",
                                desc=f"jina-clip {call.kind} requests")

    def _record(self, usage: TokenUsage, meter: UsageMeter) -> None:
        meter.add(usage)
        self._total.add(usage)

    def _accept(self, call: _Call, i: int, response: httpx.Response,
                meter: UsageMeter) -> np.ndarray:
        """Request ``i``'s vectors, validated against what was sent; usage recorded."""
        vectors, usage = parse_embeddings(response, count=call.count(i),
                                          dimension=call.expected_dim)
        self._record(usage, meter)
        return vectors

    # --- sync ----------------------------------------------------------------------------------

    def _encode_text(self, texts: Sequence[str], call: CallOptions) -> np.ndarray:
        return self._run_sync(self._plan_texts(texts, call))

    def _encode_image(self, images: Sequence[ImageInput], call: CallOptions) -> np.ndarray:
        return self._run_sync(self._plan_images(images, call))

    def _sync_client(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(timeout=self._timeout, follow_redirects=False)
            return self._client

    def _run_sync(self, call: _Call) -> np.ndarray:
        if not call.slices:
            return self.empty(call.client_dims or call.expected_dim)
        client, headers = self._sync_client(), self._headers()
        meter = UsageMeter()
        cancel = threading.Event()
        parts: list[np.ndarray | None] = [None] * len(call.slices)

        def one(i: int) -> None:
            try:
                response = post_sync(client, self._url, call.body(i), headers, self._timeout,
                                     self._policy, self._sync_slots, cancel)
            except BadRequestError as err:
                _raise_rejected(call, i, err)
            parts[i] = self._accept(call, i, response, meter)

        try:
            with self._progress(call) as bar:
                workers = min(self.options.max_concurrency, len(call.slices))
                if workers == 1:
                    for i in range(len(call.slices)):
                        one(i)
                        bar.update()
                else:
                    self._run_threads(one, len(call.slices), workers, cancel, bar)
        finally:
            self._last = meter.value
        return self._finish(call, parts)

    @staticmethod
    def _run_threads(one: Callable[[int], None], n: int, workers: int,
                     cancel: threading.Event, bar: Any) -> None:
        """Run ``one(0..n-1)`` on ``workers`` threads; on the first failure stop the rest
        (pending ones never start, retrying ones wake up) and raise it."""
        with ThreadPoolExecutor(workers, thread_name_prefix="jina-clip-remote") as pool:
            pending: set[Future[None]] = {pool.submit(one, i) for i in range(n)}
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    exc = future.exception()
                    if exc is not None and not isinstance(exc, Cancelled):
                        cancel.set()
                        for other in pending:
                            other.cancel()
                        raise exc
                    bar.update()

    # --- async ---------------------------------------------------------------------------------

    async def _aencode_text(self, texts: Sequence[str], call: CallOptions) -> np.ndarray:
        return await self._run_async(self._plan_texts(texts, call))

    async def _aencode_image(self, images: Sequence[ImageInput], call: CallOptions) -> np.ndarray:
        # Reading files and encoding base64 is blocking work: keep it off the event loop.
        return await self._run_async(await asyncio.to_thread(self._plan_images, images, call))

    def _async_http(self) -> httpx.AsyncClient:
        """The AsyncClient for the running event loop: the one passed in, or one owned per
        loop (pooled connections belong to one loop, e.g. successive ``asyncio.run``)."""
        if self.options.async_http_client is not None:
            return self.options.async_http_client
        loop = asyncio.get_running_loop()
        with self._async_lock:
            client = self._async_clients.get(loop)
            if client is None:
                client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)
                self._async_clients[loop] = client
            return client

    def _async_semaphore(self) -> asyncio.Semaphore:
        """``max_concurrency`` slots for the running loop (asyncio primitives belong to one
        loop; the cap applies per event loop)."""
        loop = asyncio.get_running_loop()
        with self._async_lock:
            slots = self._async_slots.get(loop)
            if slots is None:
                slots = self._async_slots[loop] = asyncio.Semaphore(self.options.max_concurrency)
            return slots

    async def _run_async(self, call: _Call) -> np.ndarray:
        if not call.slices:
            if self._known_dimension() is None:
                await self.aencode_text([_PROBE_TEXT])
            return self.empty(call.client_dims or call.expected_dim)
        client, headers, slots = self._async_http(), self._headers(), self._async_semaphore()
        meter = UsageMeter()
        parts: list[np.ndarray | None] = [None] * len(call.slices)

        async def one(i: int) -> None:
            try:
                response = await post_async(client, self._url, call.body(i), headers,
                                            self._timeout, self._policy, slots)
            except BadRequestError as err:
                _raise_rejected(call, i, err)
            parts[i] = self._accept(call, i, response, meter)

        tasks = [asyncio.ensure_future(one(i)) for i in range(len(call.slices))]
        try:
            with self._progress(call) as bar:
                for next_done in asyncio.as_completed(tasks):
                    await next_done
                    bar.update()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._last = meter.value
        return self._finish(call, parts)

    # --- lifecycle -----------------------------------------------------------------------------

    def _close_async_clients(self, current: asyncio.AbstractEventLoop | None = None) -> list[
        httpx.AsyncClient
    ]:
        """Detach every owned AsyncClient; close each on its own loop when that is safe from
        here. Returns the one of ``current`` (the caller's loop) for the caller to await."""
        with self._async_lock:
            clients = list(self._async_clients.items())
            self._async_clients.clear()
        mine = []
        for loop, client in clients:
            if loop is current:
                mine.append(client)
            elif loop.is_closed():
                continue  # a closed loop has already torn its connections down
            elif loop.is_running():  # possibly in another thread: schedule, thread-safely
                asyncio.run_coroutine_threadsafe(client.aclose(), loop)
            else:
                try:
                    loop.run_until_complete(client.aclose())
                except RuntimeError:  # another loop runs in this thread: nothing safe to do
                    logger.debug("could not close an AsyncClient of another event loop")
        return mine

    def close(self) -> None:
        """Close the HTTP clients this encoder created (never ones passed in)."""
        with self._client_lock:
            if self._client is not None and self._owns_client:
                self._client.close()
                self._client = None
        self._close_async_clients()

    async def aclose(self) -> None:
        for client in self._close_async_clients(asyncio.get_running_loop()):
            await client.aclose()
        self.close()


def _warn_likely_too_long(texts: list[str]) -> None:
    """With ``truncate=None`` the API cuts silently: warn (once per call) about the texts
    Jina's estimate says are over the limit. An estimate (~1.1 tokens per word): the server's
    tokenizer is not available here, so a text of few, very long words can be cut unwarned."""
    counts = estimate_tokens_per_text(texts)
    long = [i for i, n in enumerate(counts) if n > API_MAX_TEXT_TOKENS]
    if long:
        # stacklevel 5: _warn_likely_too_long <- _plan_texts <- _(a)encode_text <-
        # (a)encode_text <- the caller.
        warnings.warn(TruncationWarning(long, [counts[i] for i in long], API_MAX_TEXT_TOKENS,
                                        estimated=True), stacklevel=5)


def _raise_rejected(call: _Call, i: int, err: BadRequestError) -> NoReturn:
    """Re-raise request ``i``'s 400-class error; one naming an input of the request becomes an
    :class:`InputRejectedError` indexed in the whole call."""
    mapped = rejected_input(err, offset=call.slices[i][0], count=call.count(i))
    if mapped is err:
        raise err
    raise mapped from err
