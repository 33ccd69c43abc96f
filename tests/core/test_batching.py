"""Length-sorted batching: every input exactly once, budgets respected."""

from __future__ import annotations

import random

from jina_clip.local.batching import plan_token_batches


def test_every_index_once_longest_first() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(1, 300) for _ in range(257)]
    batches = plan_token_batches(lengths, batch_size=16, token_budget=2048)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert [lengths[i] for i in flat] == sorted(lengths, reverse=True)


def test_budgets_respected() -> None:
    lengths = [100] * 10 + [1000] * 3 + [5]
    batches = plan_token_batches(lengths, batch_size=4, token_budget=2000)
    for batch in batches:
        assert len(batch) <= 4
        assert len(batch) * max(lengths[i] for i in batch) <= 2000 or len(batch) == 1


def test_item_over_budget_gets_its_own_batch() -> None:
    batches = plan_token_batches([9000, 10, 10], batch_size=8, token_budget=1000)
    assert batches[0] == [0]
    assert sorted(batches[1]) == [1, 2]


def test_empty() -> None:
    assert plan_token_batches([], batch_size=4, token_budget=10) == []
