"""Per-instance runtime state of `JinaCLIPEmbedding`, kept out of its configuration.

* :class:`EncoderSlot` holds the lazily built encoder, the lock guarding its creation and the
  per-event-loop semaphores capping concurrent async batches. A copied or unpickled embedding
  gets a fresh, empty slot: it builds its own encoder from its own settings.
* :func:`batch_scope` / :func:`reindexed` make an input error raised for one LlamaIndex batch
  name the input's position in the whole list the caller passed, not in the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from jina_clip import InputError, JinaCLIP

__all__ = ["EncoderSlot", "batch_scope", "reindexed"]


class EncoderSlot:
    """The encoder of one embedding object, built once on first use (thread-safe)."""

    __slots__ = ("_encoder", "_lock", "_semaphores")

    def __init__(self) -> None:
        self._encoder: JinaCLIP | None = None
        self._lock = threading.Lock()
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()

    @property
    def built(self) -> bool:
        return self._encoder is not None

    def get(self, build: Callable[[], JinaCLIP]) -> JinaCLIP:
        """The encoder, built by ``build()`` the first time (once, even under threads)."""
        encoder = self._encoder
        if encoder is None:
            with self._lock:
                encoder = self._encoder
                if encoder is None:
                    encoder = self._encoder = build()
        return encoder

    def take(self) -> JinaCLIP | None:
        """Detach and return the encoder (None if none was built)."""
        with self._lock:
            encoder, self._encoder = self._encoder, None
        return encoder

    def semaphore(self, limit: int) -> asyncio.Semaphore:
        """This event loop's semaphore (asyncio primitives belong to one loop)."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(limit)
        return semaphore

    # Copies and pickles start empty: an encoder (model weights, HTTP clients, threads) is
    # never shared between objects or sent to another process.
    def __copy__(self) -> EncoderSlot:
        return EncoderSlot()

    def __deepcopy__(self, memo: dict[int, Any]) -> EncoderSlot:
        return EncoderSlot()

    def __reduce__(self) -> tuple[type[EncoderSlot], tuple[()]]:
        return EncoderSlot, ()

    def __repr__(self) -> str:
        return f"<encoder {'built' if self.built else 'not built'}>"


#: The list passed to the public batch method now running (per thread / task).
_whole: contextvars.ContextVar[Sequence[Any] | None] = contextvars.ContextVar(
    "jina_clip_llamaindex_batch", default=None
)


@contextlib.contextmanager
def batch_scope(items: Sequence[Any]) -> Iterator[None]:
    """Mark ``items`` as the caller's whole list while LlamaIndex splits it into batches."""
    token = _whole.set(items)
    try:
        yield
    finally:
        _whole.reset(token)


def reindexed(error: InputError, batch: Sequence[Any]) -> InputError:
    """``error`` (raised for ``batch``) with ``index`` moved to the position of the failing
    input in the caller's whole list. LlamaIndex cuts that list into contiguous batches of the
    same objects, so the batch is found by identity; the error keeps its type and traceback."""
    whole = _whole.get()
    if whole is None or error.index is None or not 0 <= error.index < len(batch):
        return error
    size = len(batch)
    offsets = [
        start
        for start in range(len(whole) - size + 1)
        if whole[start] is batch[0] and all(whole[start + k] is batch[k] for k in range(size))
    ]
    if len(offsets) != 1:  # not a contiguous slice (e.g. cache hits removed) or ambiguous
        matches = [i for i, item in enumerate(whole) if item is batch[error.index]]
        if len(matches) != 1:
            return error
        position = matches[0]
    else:
        position = offsets[0] + error.index
    error.index = position
    error.args = (f"input {position}: {error.reason}",)
    return error
