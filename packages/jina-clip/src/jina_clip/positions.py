"""How warnings number inputs when an integration splits its caller's list into several calls.

Errors are re-indexed by the integration after they are raised; a warning is emitted by the
core and cannot be caught and re-issued safely across threads, so the integration says up
front how to renumber, in a context variable (per thread and per task, carried into the
encoders' worker threads).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterable, Iterator

__all__ = ["caller_positions", "input_positions"]

_to_caller: contextvars.ContextVar[Callable[[int], int] | None] = contextvars.ContextVar(
    "jina_clip_input_positions", default=None
)


@contextlib.contextmanager
def input_positions(to_caller: Callable[[int], int]) -> Iterator[None]:
    """Within this block, a :class:`~jina_clip.errors.TruncationWarning` names each input by
    ``to_caller(index)`` instead of its position in the encoder call (LlamaIndex batches)."""
    token = _to_caller.set(to_caller)
    try:
        yield
    finally:
        _to_caller.reset(token)


def caller_positions(indices: Iterable[int]) -> list[int]:
    """``indices`` of one encoder call, as the caller numbers them."""
    to_caller = _to_caller.get()
    return [to_caller(i) for i in indices] if to_caller else list(indices)
