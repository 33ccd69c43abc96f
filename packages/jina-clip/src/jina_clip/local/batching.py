"""Length-sorted batching: pad little, keep every batch under a token budget, restore order.

Sorting by length before batching means each padded batch holds texts of similar length, so
almost no compute is spent on padding; the caller scatters results back by index, so the
caller's order is never changed.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["plan_token_batches"]


def plan_token_batches(
    lengths: Sequence[int], *, batch_size: int, token_budget: int
) -> list[list[int]]:
    """Group input indices into batches, longest first.

    Each batch has at most ``batch_size`` items and at most ``token_budget`` padded tokens
    (items x longest item), except that a single item longer than the budget forms a batch of
    its own. Every index appears in exactly one batch.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        # Sorted descending: the first item of a batch is its longest.
        longest = lengths[current[0]] if current else lengths[i]
        if current and (
            len(current) >= batch_size or (len(current) + 1) * longest > token_budget
        ):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches
