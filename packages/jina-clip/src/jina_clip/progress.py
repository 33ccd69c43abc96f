"""Progress bars that cost nothing when off.

``tqdm.auto`` is imported only when a bar is asked for: importing it inside Jupyter without
ipywidgets emits a ``TqdmWarning``, which users of ``show_progress=False`` should not see.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["ProgressCounter", "progress_counter", "progress_iter"]

T = TypeVar("T")


class ProgressCounter:
    """What the encoders use of a tqdm bar: ``update()`` and ``with``. This one does nothing."""

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done (ignored)."""

    def __enter__(self) -> ProgressCounter:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def progress_iter(iterable: Iterable[T], *, enabled: bool, **tqdm_kwargs: Any) -> Iterator[T]:
    """``iterable`` itself, or wrapped in a tqdm bar when ``enabled``."""
    if not enabled:
        return iter(iterable)
    from tqdm.auto import tqdm

    return iter(tqdm(iterable, **tqdm_kwargs))


def progress_counter(total: int, *, enabled: bool, **tqdm_kwargs: Any) -> ProgressCounter:
    """A bar counting to ``total`` that the caller ``update()``s, or a no-op counter."""
    if not enabled:
        return ProgressCounter()
    from tqdm.auto import tqdm

    return tqdm(total=total, **tqdm_kwargs)  # type: ignore[return-value]
