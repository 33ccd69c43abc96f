"""Per-instance runtime state of `JinaCLIPEmbedding`, kept out of its configuration.

(The lazily built encoder itself lives in the core: :class:`jina_clip.lazy.LazyEncoder`.)

* :func:`batch_scope` / :func:`reindexed` make an input error raised for one LlamaIndex batch
  name the input's position in the whole list the caller passed, not in the batch.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import Any

from jina_clip import InputError

__all__ = ["batch_scope", "reindexed"]


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
