"""Per-instance runtime state of `JinaCLIPEmbedding`, kept out of its configuration.

(The lazily built encoder itself lives in the core:
:class:`jina_clip.integration.LazyEncoderSettings`.)

* :func:`batch_scope` / :func:`reindexed` make an input error raised for one LlamaIndex batch
  name the input's position in the whole list the caller passed, not in the batch;
  :func:`warnings_numbered_for_caller` does the same for the core's truncation warnings.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import Any

from jina_clip.integration import InputError, input_positions

__all__ = ["batch_scope", "caller_position", "reindexed", "warnings_numbered_for_caller"]


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


def caller_position(batch: Sequence[Any], index: int) -> int | None:
    """Where ``batch[index]`` sits in the caller's whole list (None when unknown). LlamaIndex
    cuts that list into contiguous batches of the same objects, so the batch is found by
    identity; if it is not a unique contiguous slice, the item itself is looked up."""
    whole = _whole.get()
    if whole is None or not 0 <= index < len(batch):
        return None
    size = len(batch)
    offsets = [
        start
        for start in range(len(whole) - size + 1)
        if whole[start] is batch[0] and all(whole[start + k] is batch[k] for k in range(size))
    ]
    if len(offsets) == 1:
        return offsets[0] + index
    matches = [i for i, item in enumerate(whole) if item is batch[index]]
    return matches[0] if len(matches) == 1 else None


def warnings_numbered_for_caller(batch: Sequence[Any]) -> contextlib.AbstractContextManager[None]:
    """Make the core's ``TruncationWarning`` for ``batch`` name positions in the caller's list
    (computed only if a warning is raised)."""

    def to_caller(index: int) -> int:
        position = caller_position(batch, index)
        return index if position is None else position

    return input_positions(to_caller)


def reindexed(error: InputError, batch: Sequence[Any]) -> InputError:
    """``error`` (raised for ``batch``) with ``index`` moved to the position of the failing
    input in the caller's whole list; the error keeps its type and traceback."""
    position = None if error.index is None else caller_position(batch, error.index)
    if position is None:
        return error
    error.index = position
    error.args = (f"input {position}: {error.reason}",)
    return error
