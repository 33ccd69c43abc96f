"""`LocalJinaCLIP`: jina-clip run on this machine with our own PyTorch model.

Texts are tokenized once, sorted by length and run in padded batches under a token budget;
images are decoded and resized on a small thread pool (Pillow releases the GIL) while the
previous batch runs on the model, and normalized on the model's device from uint8. The async
methods run the same code on a dedicated single worker thread, so the event loop never blocks
and model calls never interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..base import ImageInput, JinaCLIP, check_images, check_texts
from ..defaults import DEFAULT_LOCAL_MODEL
from ..errors import ImageDecodeError, InputError, TextTooLongError, TruncationWarning
from ..images.fetch import UrlFetcher
from ..images.modes import to_rgb
from ..images.preprocess import ImagePreprocessor
from ..images.sources import load_image
from ..model import JinaCLIPModel, resolve_checkpoint, skinny
from ..options import CallOptions
from ..postprocess import finalize, untrained_dimensions
from ..progress import progress_iter
from ..text import TextTokenizer
from .batching import plan_token_batches
from .device import resolve_device, resolve_dtype
from .options import LocalOptions
from .quantize import quantize_text_tower

__all__ = ["DEFAULT_MAX_LENGTH", "LocalJinaCLIP"]

#: jina-clip-v1's and v2's text towers are trained for 8,192 tokens, and the hosted API accepts
#: that much.
#: (The official ``encode_text`` truncates at 512 by default; pass ``max_length=512`` to match.)
DEFAULT_MAX_LENGTH = 8192

#: Set by the async methods: warnings raised in the worker thread are collected here and
#: re-issued in the coroutine, so they point at the caller's ``await`` line.
_deferred_warnings: contextvars.ContextVar[list[Warning] | None] = contextvars.ContextVar(
    "jina_clip_deferred_warnings", default=None
)


def _warn(warning: Warning, stacklevel: int) -> None:
    """``warnings.warn`` (``stacklevel`` counted from the caller of this function), or defer
    it to the coroutine that handed this work to a thread."""
    sink = _deferred_warnings.get()
    if sink is not None:
        sink.append(warning)
    else:
        warnings.warn(warning, stacklevel=stacklevel + 1)


class LocalJinaCLIP(JinaCLIP):
    """jina-clip on this machine (CPU, CUDA or MPS).

    ``LocalJinaCLIP(model, **options)``: ``model`` is a Hugging Face hub id or a local
    directory in the official layout; every option is a field of
    :class:`~jina_clip.local.options.LocalOptions`, documented and validated there (the
    validated options are :attr:`options`). Defaults resolved here: ``dimensions`` is the
    checkpoint's ``truncate_dim`` (none for jina-clip-v1), like the official code;
    ``batch_size`` 32 texts / 8 images on CPU and 256 on GPU; ``max_length`` 8192.
    """

    def __init__(
        self, model: str | os.PathLike[str] = DEFAULT_LOCAL_MODEL, **options: Any
    ) -> None:
        self.options = opts = LocalOptions(model=model, **options)
        self.device = resolve_device(opts.device)
        self.dtype = resolve_dtype(opts.dtype, self.device)
        self.directory: Path = resolve_checkpoint(
            opts.model, revision=opts.revision, cache_dir=opts.cache_dir,
            local_files_only=opts.local_files_only,
        )
        self.model = JinaCLIPModel.from_pretrained(
            self.directory, device=self.device, dtype=self.dtype
        )
        if opts.quantize is not None:
            if self.device.type != "cpu" or self.dtype != torch.float32:
                raise ValueError("quantize='int8' needs device='cpu' and dtype float32")
            quantize_text_tower(self.model, opts.quantize)
        if self.device.type == "cpu":
            skinny.kernels()  # built (once per machine, ~1 s) now, not in the first query
        self.tokenizer = TextTokenizer.from_dir(self.directory)
        self.preprocessor = ImagePreprocessor.from_config(
            self.directory / "preprocessor_config.json"
        )
        # The checkpoint's default truncation, as the official code does.
        self.dimensions = self._checked_dimensions(
            opts.dimensions or self.model.config.truncate_dim
        )
        on_gpu = self.device.type != "cpu"
        self.batch_size = opts.batch_size or (256 if on_gpu else 32)
        #: Images per model batch; the CPU default is measured (docs/performance.md, "CPU
        #: batch sizes"): as fast per image as larger batches, and decoding overlaps sooner.
        self.image_batch_size = opts.batch_size or (256 if on_gpu else 8)
        #: Padded tokens per text batch: bounds activation memory (attention is chunked); the
        #: CPU default is measured (docs/performance.md, "CPU batch sizes").
        self.token_budget = 256 * 1024 if on_gpu else 2 * 1024
        cpus = os.cpu_count() or 1
        self.max_length = opts.max_length or DEFAULT_MAX_LENGTH
        self.image_workers = opts.image_workers or (cpus if on_gpu else min(8, cpus))
        self._image_pool: ThreadPoolExecutor | None = None
        self._fetcher: UrlFetcher | None = None  # one HTTP client for image URLs, reused
        self._model_thread: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()  # one model call at a time
        self._pools_lock = threading.Lock()  # creating / closing the worker pools

    def _checked_dimensions(self, dimensions: int | None) -> int | None:
        """``dimensions`` within the model's width; for a Matryoshka model (jina-clip-v2) one
        of its trained dimensions."""
        native = self.model.text_dim
        if dimensions is not None and dimensions > native:
            raise InputError(f"dimensions must be between 1 and {native}, got {dimensions}")
        refusal = untrained_dimensions(dimensions, self.matryoshka_dimensions,
                                       self.options.model)
        if refusal is not None:
            raise InputError(refusal)
        return dimensions

    def _resolve(self, call: CallOptions) -> LocalOptions:
        """The options of one call: its validated keywords over the encoder's."""
        opts = self.options.merged(call)
        if opts.dimensions is None and self.dimensions is not None:  # checkpoint's default
            return opts.model_copy(update={"dimensions": self.dimensions})
        self._checked_dimensions(opts.dimensions)
        return opts

    # --- properties --------------------------------------------------------------------------

    @property
    def dimension(self) -> int:
        return self.dimensions or self.model.text_dim

    @property
    def model_name(self) -> str:
        return self.options.model

    @property
    def quantize(self) -> str | None:
        """``"int8"`` when the text tower runs quantised, else None."""
        return self.options.quantize

    @property
    def task_instructions(self) -> dict[str, str]:
        """The tasks ``encode_text(task=...)`` knows and the instruction each prepends, as in
        the official ``encode_text`` (jina-clip-v2: ``retrieval.query``); empty for v1."""
        return self.model.config.task_instructions

    @property
    def matryoshka_dimensions(self) -> tuple[int, ...]:
        """The checkpoint's trained Matryoshka dimensions (jina-clip-v2); empty for v1."""
        return self.model.config.matryoshka_dimensions or ()

    def instruction(self, task: str | None) -> str:
        """The text to prepend for ``task``. jina-clip-v1 has no instructions and ignores
        ``task``; for v2 a task the checkpoint does not define raises ``ValueError``."""
        instructions = self.task_instructions
        if task is None or not instructions:
            return ""
        if task not in instructions:
            raise InputError(f"unknown task {task!r} for {self.options.model}: valid tasks are "
                             f"{sorted(instructions)} (or None for no instruction)")
        return instructions[task]

    def __repr__(self) -> str:
        return (
            f"LocalJinaCLIP(model={self.options.model!r}, device={str(self.device)!r}, "
            f"dtype={str(self.dtype).removeprefix('torch.')!r}, dimension={self.dimension})"
        )

    # --- text --------------------------------------------------------------------------------

    def tokenize(
        self, texts: Sequence[str], *, max_length: int | None = None, truncate: bool | None = None
    ) -> list[list[int]]:
        """Token ids per text, checked against ``max_length``: cut with one warning for the
        call (``truncate`` None), cut silently (True) or raise (False). None means the
        encoder's setting, for both."""
        call = CallOptions(max_length=max_length, truncate=truncate)
        return self._tokenize(texts, self._resolve(call), stacklevel=3)

    def _tokenize(
        self, texts: Sequence[str], call: LocalOptions, *, stacklevel: int
    ) -> list[list[int]]:
        """``stacklevel`` of the warning, counted from here: 3 points at the caller of
        :meth:`tokenize`, 4 at the caller of ``encode_text``."""
        limit = call.max_length or DEFAULT_MAX_LENGTH
        rows = self.tokenizer.encode_capped(list(texts), limit)  # reads no more than needed
        long = [i for i, row in enumerate(rows) if row.num_tokens > limit]
        counts = [rows[i].num_tokens for i in long]
        if long and call.truncate is False:
            raise TextTooLongError(index=long[0], num_tokens=counts[0], max_length=limit,
                                   exact=rows[long[0]].exact)
        ids = [row.ids for row in rows]
        if long and call.truncate is None:
            _warn(TruncationWarning(long, counts, limit), stacklevel=stacklevel)
        return ids

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text, special tokens included (what the model sees, before truncation).

        Exact whatever the length (callers size and bill work by it, and a count cut at the
        limit would hide by how much a text is over it); a long text is counted piece by
        piece, so memory stays bounded, while time grows with the text (~1 s per MB)."""
        return self.tokenizer.count(list(check_texts(texts)))

    def _encode_text(self, texts: Sequence[str], call: CallOptions) -> np.ndarray:
        """``call.task`` prepends the checkpoint's instruction for it (jina-clip-v2:
        ``retrieval.query``, as the official ``encode_text``); jina-clip-v1 is symmetric and
        uses no instruction, so there it does not change the result."""
        opts = self._resolve(call)
        items = check_texts(texts)
        prefix = self.instruction(call.task)
        if not items:
            return self.empty(opts.dimensions)
        if prefix:
            items = [prefix + text for text in items]
        ids = self._tokenize(items, opts, stacklevel=4)
        raw = self._run_text(ids, opts.batch_size or self.batch_size, opts.show_progress)
        return _finish(raw, opts)

    def encode_tokens(self, ids: list[list[int]], *, normalize: bool | None = None,
                      batch_size: int | None = None) -> np.ndarray:
        """Embed texts already tokenized by :meth:`tokenize` (the server tokenizes off the
        model thread, once, and queues the ids). Unlike the other methods this one does not
        wait for the encoder's other model calls: the server runs long texts on a thread of
        their own so that they never delay short texts and images (inference only reads the
        weights)."""
        call = self._resolve(CallOptions(normalize=normalize, batch_size=batch_size))
        if not ids:
            return self.empty(call.dimensions)
        raw = self._run_text(ids, call.batch_size or self.batch_size, False, exclusive=False)
        return _finish(raw, call)

    def _run_text(self, ids: list[list[int]], batch_size: int, progress: bool, *,
                  exclusive: bool = True) -> np.ndarray:
        out = np.empty((len(ids), self.model.text_dim), dtype=np.float32)
        batches = plan_token_batches(
            [len(row) for row in ids], batch_size=batch_size, token_budget=self.token_budget
        )
        pad = self.tokenizer.pad_id
        lock = self._lock if exclusive else contextlib.nullcontext()
        with lock, torch.inference_mode():
            for batch in progress_iter(batches, enabled=progress, desc="texts", unit="batch"):
                width = max(len(ids[i]) for i in batch)
                tokens = torch.full((len(batch), width), pad, dtype=torch.long)
                for row, i in enumerate(batch):
                    tokens[row, : len(ids[i])] = torch.tensor(ids[i], dtype=torch.long)
                # As in the official code, the mask is "not the pad id": a literal "[PAD]"
                # inside a text is masked out too.
                mask = (tokens != pad).long()
                vectors = self.model.encode_text(
                    tokens.to(self.device, non_blocking=True),
                    mask.to(self.device, non_blocking=True),
                )
                out[batch] = vectors.float().cpu().numpy()
        return out

    # --- images ------------------------------------------------------------------------------

    def _encode_image(self, images: Sequence[ImageInput], call: CallOptions) -> np.ndarray:
        """Images given as paths, URLs, data URIs, base64, bytes, file objects or PIL."""
        opts = self._resolve(call)
        items = check_images(images)
        if not items:
            return self.empty(opts.dimensions)
        raw = self._run_images(items, opts.batch_size or self.image_batch_size,
                               opts.show_progress)
        return _finish(raw, opts)

    def _decode(self, image: ImageInput, index: int) -> np.ndarray:
        """Input -> uint8 [S, S, 3] (runs on the image pool).

        Like the official ``encode_image``, every image is converted to RGB *before* the
        processor's resize: it matters for RGBA, LA, palette and 1-bit images (Pillow resizes
        RGBA premultiplied and palette images with nearest neighbour). 16-bit grayscale is
        scaled to 8 bits instead of clipped (:func:`~jina_clip.images.modes.to_rgb`)."""
        picture = load_image(
            image, index=index, limits=self.options.image_limits, fetcher=self._url_fetcher()
        )
        try:
            return self.preprocessor.to_uint8(to_rgb(picture))
        except (OSError, ValueError) as err:  # e.g. a mode Pillow cannot convert ("La")
            raise ImageDecodeError(
                f"cannot convert {picture.mode} image to RGB: {err}", index=index
            ) from err

    def _url_fetcher(self) -> UrlFetcher:
        """The encoder's one HTTP client for image URLs (connection reuse across inputs and
        calls; thread-safe; closed by :meth:`close`)."""
        with self._pools_lock:
            if self._fetcher is None:
                self._fetcher = UrlFetcher(limits=self.options.image_limits)
            return self._fetcher

    def _decoded_batches(
        self, items: list[ImageInput], batch_size: int
    ) -> Iterator[tuple[range, list[Future[np.ndarray]]]]:
        """Yield batches of decode futures, one batch ahead, so decoding overlaps the model."""
        with self._pools_lock:  # two threads must not each start (and leak) a pool
            if self._image_pool is None:
                self._image_pool = ThreadPoolExecutor(
                    max_workers=self.image_workers, thread_name_prefix="jina-clip-image"
                )
            pool = self._image_pool
        pending: list[tuple[range, list[Future[np.ndarray]]]] = []
        try:
            for start in range(0, len(items), batch_size):
                span = range(start, min(start + batch_size, len(items)))
                pending.append((span, [pool.submit(self._decode, items[i], i) for i in span]))
                if len(pending) == 2:
                    yield pending.pop(0)
            while pending:
                yield pending.pop(0)
        finally:  # the consumer stopped early (an error): drop decoding nobody will read
            for _, futures in pending:
                for future in futures:
                    future.cancel()

    def _run_images(self, items: list[ImageInput], batch_size: int, progress: bool) -> np.ndarray:
        out = np.empty((len(items), self.model.image_dim), dtype=np.float32)
        pin = self.device.type == "cuda"
        total = (len(items) + batch_size - 1) // batch_size
        batches = self._decoded_batches(items, batch_size)
        try:
            for span, futures in progress_iter(
                batches, enabled=progress, total=total, desc="images", unit="batch"
            ):
                pixels = torch.from_numpy(np.stack([f.result() for f in futures]))
                if pin:
                    pixels = pixels.pin_memory()
                with self._lock, torch.inference_mode():
                    batch = self.preprocessor.normalize(pixels.to(self.device, non_blocking=True))
                    vectors = self.model.encode_image(batch.to(self.dtype))
                    out[span.start : span.stop] = vectors.float().cpu().numpy()
        finally:
            batches.close()  # cancel decoding of batches not yet consumed after an error
        return out

    # --- async -------------------------------------------------------------------------------

    async def _offload(self, fn: Any, /, *args: Any, **kwargs: Any) -> np.ndarray:
        with self._pools_lock:
            if self._model_thread is None:
                # One worker: async calls run one at a time, in arrival order, off the loop.
                self._model_thread = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="jina-clip"
                )
            model_thread = self._model_thread
        loop = asyncio.get_running_loop()
        # The caller's context variables come along (as with asyncio.to_thread), e.g. the
        # input numbering of jina_clip.positions.input_positions.
        context = contextvars.copy_context()
        deferred: list[Warning] = []
        context.run(_deferred_warnings.set, deferred)
        call = functools.partial(context.run, fn, *args, **kwargs)
        try:
            return await loop.run_in_executor(model_thread, call)
        finally:
            for warning in deferred:  # _offload <- _aencode_* <- aencode_* <- the caller
                warnings.warn(warning, stacklevel=4)

    async def _aencode_text(self, texts: Sequence[str], call: CallOptions) -> np.ndarray:
        return await self._offload(self._encode_text, texts, call)

    async def _aencode_image(self, images: Sequence[ImageInput], call: CallOptions) -> np.ndarray:
        return await self._offload(self._encode_image, images, call)

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the worker threads and close the HTTP client for image URLs. The encoder stays
        usable: they restart on demand."""
        with self._pools_lock:
            pools = (self._image_pool, self._model_thread)
            fetcher = self._fetcher
            self._image_pool = self._model_thread = self._fetcher = None
        for pool in pools:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        if fetcher is not None:
            fetcher.close()


def _finish(raw: np.ndarray, call: LocalOptions) -> np.ndarray:
    return finalize(raw, dimensions=call.dimensions, normalize=call.normalize)
