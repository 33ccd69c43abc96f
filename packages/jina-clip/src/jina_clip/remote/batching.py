"""Split a call's inputs into requests under an item cap and a byte cap.

Greedy and order-preserving: each request is a contiguous slice of the inputs, so results
are reassembled by offset. Sizes are of the exact serialized JSON that will be sent."""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["API_MAX_ITEMS", "plan_requests"]

#: The API refuses more inputs per request ("larger than the largest allowed size 2048").
API_MAX_ITEMS = 2048


def plan_requests(
    sizes: Sequence[int],
    *,
    max_items: int,
    max_bytes: int,
    overhead: int,
    too_large: Callable[[int, int], Exception],
) -> list[tuple[int, int]]:
    """Return ``(start, end)`` slices covering ``range(len(sizes))`` in order.

    ``sizes[i]`` is item ``i``'s serialized length; ``overhead`` is the request's bytes
    without items. Items are joined by one comma. An item that cannot fit even alone raises
    ``too_large(index, size)`` before anything is sent. ``max_items`` (1 to
    :data:`API_MAX_ITEMS`) is validated with the options, not here."""
    budget = max_bytes - overhead
    for index, size in enumerate(sizes):
        if size > budget:
            raise too_large(index, size)
    slices: list[tuple[int, int]] = []
    start, used = 0, 0
    for index, size in enumerate(sizes):
        count = index - start
        extra = size + (1 if count else 0)
        if count and (count >= max_items or used + extra > budget):
            slices.append((start, index))
            start, used, extra = index, 0, size
        used += extra
    if start < len(sizes):
        slices.append((start, len(sizes)))
    return slices
