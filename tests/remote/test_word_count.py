"""Issue 15, item 3: the remote encoder's word-count token estimate counts a huge text's
words without building the list of them, with the numbers ``len(text.split())`` gives."""

from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jina_clip.remote import tokens

_PARTS = ["a", "word", "日本", "x\u00a0y", " ", "  ", "\n", "\t", "\u3000", "\u2003", "\x1c",
          "\u200b", "\u0085", "é"]


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(st.sampled_from(_PARTS), max_size=200), chunk=st.integers(1, 12))
def test_counts_equal_split_wherever_the_slices_fall(parts: list[str], chunk: int) -> None:
    text = "".join(parts)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tokens, "WORD_COUNT_CHUNK", chunk)
        assert tokens.count_words(text) == len(text.split())
        assert tokens.estimate_tokens_per_text([text]) == [-(-len(text.split()) * 11 // 10)]


@given(text=st.text(max_size=300), chunk=st.integers(1, 40))
def test_counts_equal_split_for_any_unicode(text: str, chunk: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tokens, "WORD_COUNT_CHUNK", chunk)
        assert tokens.count_words(text) == len(text.split())


def test_a_huge_text_is_counted_in_bounded_memory() -> None:
    text = "a " * 4_000_000  # 8 MB, 4 M words: their list alone is ~32 MB of pointers
    tracemalloc.start()
    (estimate,) = tokens.estimate_tokens_per_text([text])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert estimate == 4_400_000
    assert peak < 8 * 2**20, peak
