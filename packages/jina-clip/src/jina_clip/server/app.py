"""The FastAPI app: Jina's ``POST /v1/embeddings`` (also what the ``openai`` client speaks),
``GET /v1/models`` and ``GET /health``, in front of any :class:`~jina_clip.JinaCLIP`.

Request flow: validate and decode every input (naming its index on failure), then queue texts
and images on their dynamic batchers, then post-process per request (Matryoshka ``dimensions``,
``normalized``) and encode (float / base64 / binary / ubinary). The encoder is always asked
for raw, un-normalized vectors so requests with different options can share one batch.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from .. import __version__
from ..base import JinaCLIP
from ..errors import InputError
from ..image_tokens import tile_tokens
from ..postprocess import finalize, untrained_dimensions
from ..wire import EmbeddingRequest, EmbeddingResponse, encode_base64_embedding
from .batcher import BatcherClosed, DynamicBatcher, QueueFull
from .body import parse_embedding_request, request_body_openapi
from .config import ServerSettings
from .decode import ImageLoader
from .errors import HTTPError, install_error_handlers
from .guard import AddressGuard, Resolver, system_resolver
from .inputs import ParsedInput, parse_input
from .metrics import CONTENT_TYPE, ServerMetrics
from .middleware import RequestContextMiddleware
from .oom import ModelOutOfMemory
from .openapi import embeddings_responses, install_openapi, metrics_responses, read_responses
from .schemas import Health, ModelCard, ModelList, PerModality
from .texts import Prepared, TextPath

__all__ = ["create_app"]

log = logging.getLogger("jina_clip.server")

#: ``task`` values accepted. jina-clip-v1 uses no instruction, so they do not change its
#: vectors; jina-clip-v2 prepends its instruction for the tasks it defines (``retrieval.query``).
ACCEPTED_TASKS = (None, "retrieval.query", "retrieval.passage")
EMBEDDING_TYPES = ("float", "base64", "binary", "ubinary")
#: Routes that need no API key (load-balancer probes).
OPEN_PATHS = frozenset({"/health"})
ROUTES = ("/v1/embeddings", "/v1/models", "/health", "/metrics")


class ServerState:
    """Everything a request needs: the encoder, its batchers, pools and limits."""

    def __init__(self, encoder: JinaCLIP, settings: ServerSettings,
                 resolver: Resolver) -> None:
        self.encoder = encoder
        self.settings = settings
        self.dimension = encoder.dimension
        self.model_names = {settings.served_model_name, settings.model}
        #: Instruction per task (v2: the official ``retrieval.query`` prefix; v1: none).
        self.task_instructions: dict[str, str] = dict(encoder.task_instructions)
        #: v2's trained Matryoshka dimensions (the only ``dimensions`` the local encoder takes).
        self.matryoshka_dimensions: tuple[int, ...] = encoder.matryoshka_dimensions
        self.url_guard = AddressGuard(resolver=resolver,
                                      allow_private=settings.allow_private_urls)
        self.loader = ImageLoader(settings, self.url_guard)
        # One model thread for short texts and images, one for long texts (so that a text of
        # thousands of tokens never delays them); the image pool decodes, fetches, tokenizes.
        self.model_pool = concurrent.futures.ThreadPoolExecutor(1, "jina-clip-model")
        self.long_text_pool = concurrent.futures.ThreadPoolExecutor(1, "jina-clip-long-text")
        self.image_pool = concurrent.futures.ThreadPoolExecutor(
            settings.image_workers, "jina-clip-decode")
        self.texts = TextPath(encoder, settings.max_text_tokens)
        self.metrics = ServerMetrics(ROUTES)
        size = settings.max_batch_size
        common: dict[str, Any] = dict(
            executor=self.model_pool, max_batch_size=size, max_wait_ms=settings.max_wait_ms,
            max_queue=settings.max_queue, merge=settings.batching,
            on_batch=self.metrics.observe_batch)
        self.text_batcher: DynamicBatcher[Any] = DynamicBatcher(
            self.texts.embed, name="text", max_batch_tokens=settings.max_batch_tokens,
            **common)
        self.long_text_batcher: DynamicBatcher[Any] = DynamicBatcher(
            self.texts.embed, name="long text", max_batch_tokens=settings.max_batch_tokens,
            **{**common, "executor": self.long_text_pool})
        self.image_batcher: DynamicBatcher[Any] = DynamicBatcher(
            self._encode_images, name="image", **common)
        for batcher in self.batchers:
            self.metrics.watch_queue(batcher.name, lambda b=batcher: b.queue_depth)

    def _encode_images(self, images: list[Any]) -> np.ndarray:
        return self.encoder.encode_image(images, normalize=False, batch_size=len(images))

    @property
    def batchers(self) -> tuple[DynamicBatcher[Any], ...]:
        return (self.text_batcher, self.long_text_batcher, self.image_batcher)

    def text_lanes(self, prepared: Prepared) -> list[tuple[DynamicBatcher[Any], list[int]]]:
        """Which texts (positions in ``prepared``) go to which batcher: texts over
        ``long_text_tokens`` to the long-text lane, the rest to the text batcher."""
        if not self.texts.tokens:  # no token counts to go by: one lane
            return [(self.text_batcher, list(range(len(prepared.items))))]
        costs = prepared.costs or []
        limit = self.settings.long_text_tokens
        short = [i for i, n in enumerate(costs) if n <= limit]
        long = [i for i, n in enumerate(costs) if n > limit]
        return [(b, part) for b, part in ((self.text_batcher, short),
                                          (self.long_text_batcher, long)) if part]

    async def aclose(self) -> None:
        for batcher in self.batchers:
            await batcher.aclose()
        self.model_pool.shutdown(wait=False, cancel_futures=True)
        self.long_text_pool.shutdown(wait=False, cancel_futures=True)
        self.image_pool.shutdown(wait=False, cancel_futures=True)
        self.loader.close()


def _bearer_check(settings: ServerSettings) -> Callable[[str], bool] | None:
    """``check(authorization_header) -> bool`` for the configured key (None: auth is off)."""
    if not settings.api_key:
        return None
    expected = settings.api_key.get_secret_value().encode()

    def check(authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                                  expected)

    return check


def _embedding_types(req: EmbeddingRequest) -> list[str]:
    """The requested output types, distinct and in request order.

    More than one means each ``embedding`` is an object keyed by type, as in Jina's API; a
    one-element list is the same as the plain string.
    """
    kind = req.embedding_type
    if isinstance(kind, list):
        if not kind:
            raise HTTPError(422, "embedding_type: give at least one type")
        return list(dict.fromkeys(kind))
    return [kind or req.encoding_format or "float"]


def _format(vectors: np.ndarray, kind: str) -> list[Any]:
    if kind == "float":
        return vectors.tolist()
    if kind == "base64":
        return [encode_base64_embedding(v) for v in vectors]
    packed = np.packbits(vectors > 0, axis=1)  # sign bits, 8 dimensions per byte
    if kind == "binary":
        packed = (packed.astype(np.int16) - 128).astype(np.int8)
    return packed.tolist()


async def _gather_or_cancel(*aws: Awaitable[Any]) -> list[Any]:
    """Like gather, but the first failure cancels the others (their queued items drop)."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        raise


class EmbeddingService:
    """The ``/v1/embeddings`` logic, separate from routing."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.settings = state.settings

    def _check_options(self, req: EmbeddingRequest) -> list[str]:
        if req.model not in self.state.model_names:
            raise HTTPError(400, f"model {req.model!r} is not served here; this server serves "
                                 f"{self.settings.served_model_name!r}", code="invalid_model")
        if req.task not in ACCEPTED_TASKS:
            raise HTTPError(422, f"task {req.task!r} is not supported by "
                                 f"{self.settings.served_model_name}; leave it unset")
        if req.dimensions is not None and req.dimensions > self.state.dimension:
            raise HTTPError(422, f"dimensions={req.dimensions} is larger than the model's "
                                 f"{self.state.dimension}")
        refusal = untrained_dimensions(req.dimensions, self.state.matryoshka_dimensions,
                                       self.settings.served_model_name)
        if refusal is not None:
            raise HTTPError(422, refusal)
        return _embedding_types(req)

    def _parse(self, req: EmbeddingRequest) -> ParsedInput:
        try:
            return parse_input(req.input, max_inputs=self.settings.max_inputs,
                               max_image_bytes=self.settings.max_image_bytes)
        except OverflowError as exc:
            raise HTTPError(400, str(exc), code="too_many_inputs") from None
        except InputError:
            raise
        except ValueError as exc:
            raise HTTPError(422, str(exc)) from None

    async def _check_texts(self, parsed: ParsedInput, truncate: bool,
                           task: str | None = None) -> Prepared:
        """Texts (with the task's instruction, if the model has one: jina-clip-v2's
        ``retrieval.query``) tokenized (once, on a worker thread); over-long ones fail unless
        ``truncate``."""
        prefix = self.state.task_instructions.get(task or "", "")
        indexed = [(i, prefix + t) for i, t in parsed.texts] if prefix else parsed.texts
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.state.image_pool, self.state.texts.prepare,
                                          indexed, truncate)

    async def _decode_images(self, parsed: ParsedInput) -> Prepared:
        """Decoded images (fetched and decoded on the image pool) and their usage tokens."""
        loop = asyncio.get_running_loop()
        decoded = await _gather_or_cancel(*(
            loop.run_in_executor(self.state.image_pool, self.state.loader.load, src)
            for src in parsed.images))
        return Prepared(decoded, sum(tile_tokens(*im.size) for im in decoded))

    async def _submit(self, batcher: DynamicBatcher[Any], ready: Prepared,
                      indices: list[int]) -> np.ndarray:
        try:
            return await batcher.submit(ready.items, ready.costs)
        except QueueFull as exc:
            raise HTTPError(503, f"server is busy: {exc}; retry later", code="queue_full",
                            headers={"Retry-After": str(self.settings.retry_after_s)}) from None
        except BatcherClosed as exc:  # shutdown: another replica (or a restart) can answer
            raise HTTPError(503, str(exc), code="shutting_down",
                            headers={"Retry-After": str(self.settings.retry_after_s)}) from None
        except ModelOutOfMemory as exc:  # capacity, not bad input: it may fit later
            index = indices[exc.index] if 0 <= exc.index < len(indices) else exc.index
            raise HTTPError(503, f"input {index}: the model ran out of memory on it even in a "
                                 "batch of its own; retry later or send a smaller input",
                            code="out_of_memory",
                            headers={"Retry-After": str(self.settings.retry_after_s)}) from None
        except InputError as exc:  # the model refused an input the checks let through
            if exc.index is not None and 0 <= exc.index < len(indices):
                raise InputError(exc.reason, index=indices[exc.index]) from None
            raise

    async def embed(self, req: EmbeddingRequest) -> JSONResponse:
        kinds = self._check_options(req)
        # Off the loop: base64-decoding inline images of a large body takes tens of ms.
        parsed = await asyncio.get_running_loop().run_in_executor(
            self.state.image_pool, self._parse, req
        )
        for batcher, n in ((self.state.text_batcher, len(parsed.texts)),
                           (self.state.image_batcher, len(parsed.images))):
            if n > batcher.max_queue:  # could never be queued: a 503 would be retried forever
                raise HTTPError(400, f"{n} {batcher.name} inputs are more than this server "
                                     f"queues at once ({batcher.max_queue}); split the request",
                                code="too_many_inputs")
        # 1. validate and decode everything, so that bad input never reaches a batch
        checks: list[Awaitable[Prepared]] = []
        if parsed.texts:
            checks.append(self._check_texts(parsed, req.truncate, req.task))
        if parsed.images:
            checks.append(self._decode_images(parsed))
        ready = await _gather_or_cancel(*checks)
        # 2. queue texts (short and long apart) and images on their batchers
        groups: list[tuple[DynamicBatcher[Any], list[int], Prepared]] = []
        if parsed.texts:
            texts, indices = ready[0], [i for i, _ in parsed.texts]
            for batcher, part in self.state.text_lanes(texts):
                groups.append((batcher, [indices[p] for p in part], texts.subset(part)))
        if parsed.images:
            groups.append((self.state.image_batcher, [s.index for s in parsed.images],
                           ready[-1]))
        results = await _gather_or_cancel(*(
            self._submit(batcher, prepared, indices)
            for batcher, indices, prepared in groups))
        vectors = np.empty((parsed.count, self.state.dimension), dtype=np.float32)
        for (_, indices, _), rows in zip(groups, results, strict=True):
            vectors[indices] = rows
        self.state.metrics.inputs.labels("text").inc(len(parsed.texts))
        self.state.metrics.inputs.labels("image").inc(len(parsed.images))
        tokens = sum(p.tokens for p in ready)
        # Post-processing and JSON rendering take ~1 s for 2048 float vectors: off the loop.
        return await asyncio.to_thread(self._respond, vectors, req, kinds, tokens)

    def _respond(self, vectors: np.ndarray, req: EmbeddingRequest, kinds: list[str],
                 tokens: int) -> JSONResponse:
        vectors = finalize(vectors, dimensions=req.dimensions, normalize=req.normalized)
        if len(kinds) == 1:
            embeddings: list[Any] = _format(vectors, kinds[0])
        else:
            formatted = {kind: _format(vectors, kind) for kind in kinds}
            embeddings = [{kind: formatted[kind][i] for kind in kinds}
                          for i in range(len(vectors))]
        data = [{"object": "embedding", "index": i, "embedding": e}
                for i, e in enumerate(embeddings)]
        return JSONResponse({
            "model": self.settings.served_model_name, "object": "list",
            "usage": {"total_tokens": tokens, "prompt_tokens": tokens}, "data": data})


_DESCRIPTION = (
    "Jina's Embeddings API (`POST /v1/embeddings`, also what the `openai` client sends) in "
    "front of a local jina-clip model. Every error, whatever its status (404 and 405 for "
    "unknown routes and methods included), has the `ErrorResponse` body; every response "
    "carries an `x-request-id` header.")


def create_app(encoder: JinaCLIP, settings: ServerSettings | None = None, *,
               resolver: Resolver = system_resolver) -> FastAPI:
    """Build the server around an already-loaded ``encoder``. The app does not close the
    encoder; ``resolver`` is the DNS lookup the address guard uses (tests inject a fake)."""
    settings = settings or ServerSettings()
    state = ServerState(encoder, settings, resolver)
    service = EmbeddingService(state)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await state.aclose()

    app = FastAPI(title="jina-clip server", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, description=_DESCRIPTION)
    app.state.server = state
    install_error_handlers(app)
    # Auth is checked in the middleware, before the body is read and parsed: an unauthenticated
    # client gets 401 whatever it sends, and costs no JSON parsing on the event loop.
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes,
                       authorize=_bearer_check(settings), open_paths=OPEN_PATHS,
                       body_timeout_s=settings.body_timeout_s, metrics=state.metrics)
    install_openapi(app, auth=settings.api_key is not None, open_paths=OPEN_PATHS)

    # The embeddings route returns its JSONResponse as built: response_model documents the
    # body (FastAPI does not re-validate a Response), the tests check the two agree.
    # The body is parsed by parse_embedding_request (off the event loop when large), so the
    # request schema is declared through openapi_extra instead of a typed parameter.
    @app.post("/v1/embeddings", response_model=EmbeddingResponse,
              responses=embeddings_responses(settings), summary="Embed texts and images",
              openapi_extra=request_body_openapi())
    async def embeddings(request: Request) -> JSONResponse:
        """Embed every input (texts and images, in one space) and answer one vector per
        input, in the requested `embedding_type`. Bad input fails the whole request with an
        error naming the input's index; nothing is dropped or reordered."""
        return await service.embed(await parse_embedding_request(request))

    @app.get("/v1/models", response_model=ModelList,
             responses=read_responses("The served model."),
             summary="List the served model")
    async def models() -> ModelList:
        """The one model this server serves, in OpenAI's model-list format."""
        return ModelList(data=[ModelCard(id=settings.served_model_name, root=settings.model,
                                         dimension=state.dimension)])

    @app.get("/metrics", response_class=Response, responses=metrics_responses(),
             summary="Prometheus metrics")
    async def metrics() -> Response:
        """Requests by route and status, errors by code, inputs embedded by modality, queue
        depth, and per batcher the items and tokens per model call, the time in the queue
        and in the model (Prometheus text format; behind the API key when one is set)."""
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/health", response_model=Health,
             responses=read_responses("The server is up; its queues and counters."),
             summary="Liveness and batcher counters")
    async def health() -> Health:
        """Answers while the server runs; needs no API key (for load-balancer probes)."""
        def per(count: Callable[[DynamicBatcher[Any]], int]) -> PerModality:
            return PerModality(text=count(state.text_batcher) + count(state.long_text_batcher),
                               image=count(state.image_batcher))

        return Health(model=settings.served_model_name,
                      queue_depth=per(lambda b: b.queue_depth),
                      model_calls=per(lambda b: b.stats.calls),
                      items_embedded=per(lambda b: b.stats.items))

    return app
