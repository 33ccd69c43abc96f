"""``TextTokenizer.encode_capped``: the same ids and counts as tokenizing whole then cutting,
while reading only a bounded prefix of a text far over the limit (issue 15, item 1), for the
v1 (BERT WordPiece) and v2 (XLM-R Metaspace Unigram) tokenizers."""

from __future__ import annotations

import pathlib
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from jina_clip.text import TextTokenizer
from jina_clip.text import tokenizer as tokenizer_module

_PIECES = ["the", "Cat", "sat", "dusk", "bridge", "café", "naïve", "中文", "x", "a", "[SEP]",
           "[PAD]", "[unused3]", "##", "'s", "e\u0301", "İ", "\u00a0", "\u200b", "\x00",
           "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
           *" \t\n\r.,;:!?-()[]{}<>/\\\"'#$%&*+=@^_`|~",
           # v2 (Metaspace, NFKC, collapsed spaces): its marker, spaces NFKC makes, scripts
           "▁", "  ", "\u3000", "¨", "ａ", "<s>", "</s>", "<mask>", "<pad>", "xy", "привет",
           "Ωμέγα", "नमस्ते", "日本語", "ab1", "Z9"]

#: Mostly single spaces between the pieces, where v2's cuts go; sometimes none, or several.
_SEPARATORS = [" ", " ", " ", "", "", "  ", "\n", " \t"]


@pytest.fixture(scope="module",
                params=["v1 plain", "v1 added tokens", "v2 plain", "v2 added tokens"])
def tokenizer(request: pytest.FixtureRequest, tiny_checkpoint: pathlib.Path,
              tiny_v2_checkpoint: pathlib.Path) -> TextTokenizer:
    checkpoint = tiny_checkpoint if request.param.startswith("v1") else tiny_v2_checkpoint
    if request.param.endswith("plain"):
        tokenizer = TextTokenizer.from_dir(checkpoint)
    else:
        tok = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
        tok.no_truncation()
        tok.no_padding()
        if request.param.startswith("v1"):
            tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
        else:  # ones that match inside words: "xy", "ab1"
            tok.add_special_tokens(["xy", "<mask>"])
            tok.add_tokens(["ab1", "Z9"])
        tokenizer = TextTokenizer(tok)
    assert tokenizer.reads_in_pieces  # else the properties below hold trivially
    return tokenizer


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every text read in pieces, sized by the limit alone and smaller than it in tokens,
    so that the small limits here put many cuts inside the ids kept (where a wrong cut
    shows)."""
    monkeypatch.setattr(tokenizer_module, "_CHARS_PER_LIMIT_TOKEN", 1)
    monkeypatch.setattr(tokenizer_module, "_WHOLE_CHARS_PER_LIMIT_TOKEN", 0)
    monkeypatch.setattr(tokenizer_module, "MIN_WHOLE_CHARS", 0)
    monkeypatch.setattr(tokenizer_module, "MIN_PIECE_CHARS", 0)


def _reference(tokenizer: TextTokenizer, text: str, limit: int) -> tuple[list[int], int]:
    (ids,) = tokenizer.encode([text])
    return tokenizer.truncate(ids, limit), len(ids)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_SEPARATORS)),
                     max_size=400),
       limit=st.integers(min_value=2, max_value=40))
def test_capped_equals_whole_then_cut(tokenizer: TextTokenizer,
                                      words: list[tuple[str, str]], limit: int) -> None:
    text = "".join(word + separator for word, separator in words)
    (got,) = tokenizer.encode_capped([text], limit)
    ids, count = _reference(tokenizer, text, limit)
    assert got.ids == ids
    if got.exact:
        assert got.num_tokens == count
    else:  # read only until it was known to be over the limit
        assert limit < got.num_tokens <= count


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=300), max_size=6), limit=st.integers(2, 30))
def test_capped_equals_whole_then_cut_for_any_unicode(tokenizer: TextTokenizer,
                                                      texts: list[str], limit: int) -> None:
    for text, got in zip(texts, tokenizer.encode_capped(texts, limit), strict=True):
        ids, count = _reference(tokenizer, text, limit)
        assert got.ids == ids
        assert got.num_tokens == count if got.exact else limit < got.num_tokens <= count


def test_under_the_limit_is_exact(tokenizer: TextTokenizer) -> None:
    text = "the cat sat. " * 300  # 1,200 tokens, long enough to be read in pieces
    (got,) = tokenizer.encode_capped([text], 2000)
    assert got.exact and got.ids == tokenizer.encode([text])[0]


def test_a_huge_text_is_read_only_as_far_as_the_limit(tokenizer: TextTokenizer) -> None:
    """8 MB, 4 M tokens: tokenizing it whole costs seconds and gigabytes; capped, only a
    prefix is read (tracemalloc sees Python-side allocations: the ids lists)."""
    text = "a " * 4_000_000
    tracemalloc.start()
    t0 = time.perf_counter()
    (got,) = tokenizer.encode_capped([text], 8192)
    elapsed = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(got.ids) == 8192 and not got.exact and got.num_tokens > 8192
    assert got.ids == tokenizer.encode_capped(["a " * 9000], 8192)[0].ids
    assert peak < 20 * 2**20, peak
    assert elapsed < 2.0, elapsed


def test_texts_up_to_64k_characters_keep_exact_counts(tokenizer: TextTokenizer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokenizer_module, "MIN_WHOLE_CHARS", 64 * 1024)
    text = "word " * 2000  # 10,000 characters, ~2,002 tokens, far over a limit of 16
    (got,) = tokenizer.encode_capped([text], 16)
    assert got.exact and got.num_tokens == _reference(tokenizer, text, 16)[1] >= 2002


def test_one_unbroken_run_is_read_to_its_first_boundary(tokenizer: TextTokenizer) -> None:
    text = "a" * 200_000 + " the cat" * 10
    (got,) = tokenizer.encode_capped([text], 8)
    assert got.ids == _reference(tokenizer, text, 8)[0]


@pytest.mark.parametrize("change", ["split off", "lowercase", "lstrip word token",
                                    "spaced token", "bpe model"])
def test_v2_configurations_not_proven_are_read_whole(tiny_v2_checkpoint: pathlib.Path,
                                                     change: str) -> None:
    """The piece rule is proven for Metaspace with split, NFKC-like normalizers and added
    tokens that cannot span or strip the cut; anything else falls back to whole texts."""
    from tokenizers import AddedToken, models, normalizers, pre_tokenizers

    tok = Tokenizer.from_file(str(tiny_v2_checkpoint / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    if change == "split off":
        tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always", split=False)
    elif change == "lowercase":
        tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    elif change == "lstrip word token":
        tok.add_special_tokens([AddedToken("word", lstrip=True, special=True)])
    elif change == "spaced token":
        tok.add_tokens(["the cat"])
    else:
        tok.model = models.BPE()
    tokenizer = TextTokenizer(tok)
    assert not tokenizer.reads_in_pieces
    text = "the cat " * 5000
    (got,) = tokenizer.encode_capped([text], 8)
    assert got.exact and got.ids == _reference(tokenizer, text, 8)[0]


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(words=st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_SEPARATORS)),
                      max_size=200),
       piece=st.integers(1, 60))
def test_count_equals_whole_in_any_pieces(tokenizer: TextTokenizer,
                                          words: list[tuple[str, str]], piece: int) -> None:
    """Issue 15, item 2: ``count`` (``LocalJinaCLIP.count_tokens``) stays exact while it
    reads a long text in pieces."""
    text = "".join(word + separator for word, separator in words)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tokenizer_module, "COUNT_PIECE_CHARS", piece)
        assert tokenizer.count([text, "x"]) == [len(ids) for ids in tokenizer.encode([text, "x"])]


def test_counting_a_huge_text_holds_one_piece(tokenizer: TextTokenizer) -> None:
    text = "a " * 1_000_000
    tracemalloc.start()
    (count,) = tokenizer.count([text])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == len(tokenizer.encode(["a " * 1000])[0]) + 999_000
    assert peak < 2 * 2**20, peak  # whole, the ids list alone is 8 MB


def test_v2_normalizer_changing_ascii_words_is_read_whole(
        tiny_v2_checkpoint: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A per-character normalizer is trusted only if ASCII letters, digits and the space stay
    as they are (what a sentencepiece charsmap is checked for when it loads)."""
    from tokenizers import normalizers

    monkeypatch.setattr(tokenizer_module, "_PIECEWISE_NORMALIZERS",
                        tokenizer_module._PIECEWISE_NORMALIZERS | {"Lowercase"})
    tok = Tokenizer.from_file(str(tiny_v2_checkpoint / "tokenizer.json"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    assert not TextTokenizer(tok).reads_in_pieces
    tok.normalizer = normalizers.NFKC()
    assert TextTokenizer(tok).reads_in_pieces
