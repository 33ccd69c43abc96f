"""The checkpoint's tokenizer (v1: BERT WordPiece, v2: XLM-R Unigram), via the ``tokenizers``
library (Rust, no transformers).

Real ``tokenizer.json`` files may carry a truncation or padding section; both are switched
off here so that the caller sees every token and decides itself about length (an error, or
truncation it asked for) and padding (per batch, by the encoder).

A text far over the limit is never tokenized in full (:meth:`TextTokenizer.encode_capped`):
an 8 MB text has ~4 M tokens, whose ids and offsets cost gigabytes and tens of seconds, only
for all but 8,192 of them to be thrown away. BERT's normalizer works character by character
and its pre-tokenizer splits words at whitespace and punctuation, so the tokens of a text are
the tokens of its pieces cut right after such a character; the tokenizer reads a long text in
pieces of a few times the limit and stops as soon as it has seen more than the limit.
XLM-R's Metaspace tokenizer (v2) is cut differently, just before a space between two ASCII
letters or digits (see :func:`_metaspace_cuts`). Any other tokenizer reads texts whole.
"""

from __future__ import annotations

import json
import pathlib
import re
import string
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ModelLoadError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["CappedIds", "TextTokenizer"]

#: Characters per piece of a long text, per token of the limit: a piece holds at least
#: ``limit`` tokens whenever tokens average 4 characters or fewer (English: ~4.5 with spaces),
#: so most over-long texts are decided after one piece.
_CHARS_PER_LIMIT_TOKEN = 4
#: Texts of at most this many characters per token of the limit are tokenized whole, in one
#: batch with the others (they cannot cost more than a few MB of ids).
_WHOLE_CHARS_PER_LIMIT_TOKEN = 8
#: Floors of both, in characters, whatever the limit: up to 64 K characters cost a few ms and
#: MB, and texts that short keep their exact counts (the truncation warning lists them).
MIN_WHOLE_CHARS = 64 * 1024
MIN_PIECE_CHARS = 32 * 1024
#: Pieces of a long text being counted (:meth:`TextTokenizer.count`); shorter texts are
#: tokenized whole.
COUNT_PIECE_CHARS = 64 * 1024


@dataclass(frozen=True)
class CappedIds:
    """One text's token ids cut to the limit, and how many tokens the whole text has:
    exactly (``exact``), or at least ``num_tokens`` when the text was not read to its end
    because it was already known to be over the limit."""

    ids: list[int]
    num_tokens: int
    exact: bool = True


class TextTokenizer:
    """Texts -> token ids with [CLS] ... [SEP] (v2: <s> ... </s>), unpadded and untruncated."""

    def __init__(self, tokenizer: Tokenizer, *, pad_id: int = 0) -> None:
        self._tok = tokenizer
        self.pad_id = pad_id
        sep = tokenizer.token_to_id("[SEP]")
        cls_ = tokenizer.token_to_id("[CLS]")
        if sep is None or cls_ is None:  # XLM-R (jina-clip-v2): <s> ... </s>
            sep, cls_ = tokenizer.token_to_id("</s>"), tokenizer.token_to_id("<s>")
        if sep is None or cls_ is None:
            raise ModelLoadError("tokenizer.json has no [CLS]/[SEP] or <s>/</s> tokens")
        self.cls_id: int = cls_
        self.sep_id: int = sep
        boundary = _word_boundaries(tokenizer)
        if boundary is None:
            boundary = _metaspace_cuts(tokenizer)
        # Up to the last safe cut of a piece / the first safe cut after a long word.
        self._piece_end = None if boundary is None else re.compile(f"[\\s\\S]*{boundary}")
        self._next_end = None if boundary is None else re.compile(boundary)

    @property
    def reads_in_pieces(self) -> bool:
        """Whether a long text is tokenized only as far as needed (else it is read whole)."""
        return self._piece_end is not None

    @classmethod
    def from_dir(cls, directory: pathlib.Path) -> TextTokenizer:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - part of the [local] extra
            raise ModelLoadError("the tokenizers package is needed: pip install "
                                 "'jina-clip[local]'") from exc
        path = pathlib.Path(directory) / "tokenizer.json"
        if not path.is_file():
            raise ModelLoadError(f"{path} not found")
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # tokenizers raises a bare Exception on bad files
            raise ModelLoadError(f"cannot read {path}: {exc}") from exc
        tok.no_truncation()
        tok.no_padding()
        _align_normalizer(tok, _read_json(pathlib.Path(directory) / "tokenizer_config.json"))
        pad = tok.token_to_id("[PAD]")
        if pad is None:
            pad = tok.token_to_id("<pad>")  # XLM-R: 1
        return cls(tok, pad_id=0 if pad is None else pad)

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids with [CLS]/[SEP]; no padding, no truncation. Batched in Rust threads."""
        if not texts:
            return []
        encodings = self._tok.encode_batch(list(texts), add_special_tokens=True)
        return [enc.ids for enc in encodings]

    def encode_capped(self, texts: list[str], max_length: int) -> list[CappedIds]:
        """Token ids with [CLS]/[SEP] cut to ``max_length`` (keeping [SEP]), reading no more of
        a long text than it takes to know it is over ``max_length``. The ids are those of
        :meth:`encode` then :meth:`truncate`; so is ``num_tokens`` whenever ``exact``."""
        if max_length < 2:
            raise ValueError("max_length must be at least 2 ([CLS] and [SEP])")
        whole_chars = max(_WHOLE_CHARS_PER_LIMIT_TOKEN * max_length, MIN_WHOLE_CHARS)
        short = [i for i, t in enumerate(texts)
                 if self._piece_end is None or len(t) <= whole_chars]
        out: list[CappedIds | None] = [None] * len(texts)
        for i, ids in zip(short, self.encode([texts[i] for i in short]), strict=True):
            out[i] = CappedIds(self.truncate(ids, max_length), len(ids))
        for i, text in enumerate(texts):
            if out[i] is None:
                out[i] = self._encode_long(text, max_length)
        return out  # type: ignore[return-value]

    def count(self, texts: list[str]) -> list[int]:
        """Exact tokens per text with [CLS]/[SEP], as ``len`` of :meth:`encode`'s rows, but a
        long text read in pieces that are counted and dropped: memory stays that of one piece
        (an 8 MB text whole holds ~4 M ids and offsets, gigabytes); time stays linear."""
        piece = COUNT_PIECE_CHARS
        short = [i for i, t in enumerate(texts) if self._piece_end is None or len(t) <= piece]
        out = [0] * len(texts)
        for i, ids in zip(short, self.encode([texts[i] for i in short]), strict=True):
            out[i] = len(ids)
        done = set(short)
        for i, text in enumerate(texts):
            if i not in done:
                out[i] = 2 + sum(len(self._tok.encode(text[a:b], add_special_tokens=False))
                                 for a, b in self._pieces(text, piece))
        return out

    def _pieces(self, text: str, piece: int) -> Iterator[tuple[int, int]]:
        """(start, stop) of the pieces of a long text, each cut at a safe place."""
        start = 0
        while start < len(text):
            stop = self._cut(text, start, start + piece)
            yield start, stop
            start = stop

    def _encode_long(self, text: str, max_length: int) -> CappedIds:
        """:meth:`encode_capped` of one long text, piece by piece."""
        assert self._piece_end is not None
        wanted = max_length - 1  # content tokens that prove the text is over the limit
        piece = max(_CHARS_PER_LIMIT_TOKEN * max_length, MIN_PIECE_CHARS)
        content: list[int] = []
        stop = 0
        for start, stop in self._pieces(text, piece):
            content += self._tok.encode(text[start:stop], add_special_tokens=False).ids
            if len(content) >= wanted:
                break
        total = len(content) + 2
        ids = [self.cls_id, *content, self.sep_id]
        return CappedIds(self.truncate(ids, max_length), total, exact=stop >= len(text))

    def _cut(self, text: str, start: int, stop: int) -> int:
        """Where the piece from ``start`` ends: right after the last word boundary before
        ``stop``, or after the first one past it (one long word), or at the text's end."""
        assert self._piece_end is not None
        if stop >= len(text):
            return len(text)
        match = self._piece_end.match(text, start, stop)
        if match is not None and match.end() > start:
            return match.end()
        assert self._next_end is not None
        beyond = self._next_end.search(text, stop)  # an unbroken run longer than a piece
        return beyond.end() if beyond is not None else len(text)

    def truncate(self, ids: list[int], max_length: int) -> list[int]:
        """Cut to ``max_length`` tokens, keeping the final [SEP]."""
        if max_length < 2:
            raise ValueError("max_length must be at least 2 ([CLS] and [SEP])")
        if len(ids) <= max_length:
            return list(ids)
        return [*ids[: max_length - 1], self.sep_id]


def _word_boundaries(tokenizer: Tokenizer) -> str | None:
    """The characters after which a BERT text may be cut into pieces that tokenize to the
    same tokens, as a regex character class; None when the tokenizer is not the BERT kind
    (its tokens may then span any cut, and texts are tokenized whole).

    BERT's normalizer maps each character on its own and its pre-tokenizer splits words at
    whitespace and punctuation, so ASCII whitespace and punctuation qualify, except the
    characters of added tokens such as ``[SEP]``, which are matched across word boundaries."""
    normalizer = tokenizer.normalizer
    if normalizer is not None and type(normalizer).__name__ != "BertNormalizer":
        return None
    if type(tokenizer.pre_tokenizer).__name__ != "BertPreTokenizer":
        return None
    added = "".join(t.content for t in tokenizer.get_added_tokens_decoder().values())
    ends = "".join(c for c in " \t\n\r" + string.punctuation if c not in added)
    return f"[{re.escape(ends)}]"


#: Normalizers that map each character (Precompiled: each grapheme cluster, and a letter and
#: the space after it are never one) on its own (or, for Replace, collapse runs of spaces,
#: which a cut between a letter and a single space never splits), and so leave a text cut
#: between ASCII letters/digits and a space normalized as the text is, provided they map those
#: characters to themselves (checked by :func:`_keeps_ascii_words`).
_PIECEWISE_NORMALIZERS = frozenset({"NFC", "NFD", "NFKC", "NFKD", "Precompiled"})


def _metaspace_cuts(tokenizer: Tokenizer) -> str | None:
    """Where an XLM-R (Metaspace, sentencepiece-style) text may be cut into pieces that
    tokenize to the same tokens, as a regex whose match ends at the cut; None when the
    configuration is not one proven so (texts are then tokenized whole).

    The cut goes between an ASCII letter or digit and a single space followed by another:
    the piece before ends inside a word (cutting after the space would give it a lone ``▁``
    token), the piece after starts with the space, which Metaspace turns into the ``▁`` that
    starts the same word in the whole text, so no prefix ``▁`` is added to it, whatever the
    ``prepend_scheme``. ``split`` must be on (the Unigram model then sees one word at a time),
    the normalizers must work per character or grapheme (NFKC-like, sentencepiece's
    Precompiled charsmap) or collapse repeated spaces, and leave ASCII letters, digits and the
    space as they are, and no added token may span the cut or strip the space there. Anything
    else is refused."""
    if type(tokenizer.model).__name__ != "Unigram":
        return None
    pre = _state(tokenizer.pre_tokenizer)
    if pre.get("type") != "Metaspace" or not pre.get("split", True):
        return None
    if pre.get("replacement") != "\u2581":
        return None
    norm = _state(tokenizer.normalizer)
    steps = norm.get("normalizers", []) if norm.get("type") == "Sequence" else [norm]
    for step in steps:
        if not step or step.get("type") in _PIECEWISE_NORMALIZERS:
            continue
        if (step.get("type") == "Replace" and step.get("pattern") == {"Regex": " {2,}"}
                and step.get("content") == " "):
            continue
        return None
    if not _keeps_ascii_words(tokenizer):
        return None
    for token in tokenizer.get_added_tokens_decoder().values():
        text = token.content
        spaced = any(c.isspace() for c in unicodedata.normalize("NFKC", text))
        if (not text or spaced or (token.lstrip and _alnum(text[0]))
                or (token.rstrip and _alnum(text[-1]))):
            return None
    return "[A-Za-z0-9](?= [A-Za-z0-9])"


def _keeps_ascii_words(tokenizer: Tokenizer) -> bool:
    """Whether the normalizer leaves every "x y" of ASCII letters/digits as it is (a
    sentencepiece charsmap could, in principle, map a letter elsewhere)."""
    normalizer = tokenizer.normalizer
    if normalizer is None:
        return True
    chars = string.ascii_letters + string.digits
    return all(normalizer.normalize_str(f"{a} {chars}") == f"{a} {chars}" for a in chars)


def _alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _state(component: object) -> dict[str, Any]:
    """A tokenizers component's configuration (its JSON state); {} for none."""
    if component is None:
        return {}
    try:
        state = json.loads(component.__getstate__())  # type: ignore[attr-defined]
    except Exception:  # a custom (Python) component has no JSON state: unknown, not none
        return {"type": "unknown"}
    return state if isinstance(state, dict) else {"type": "unknown"}


def _read_json(path: pathlib.Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def _align_normalizer(tok: Tokenizer, config: dict[str, Any]) -> None:
    """Apply ``tokenizer_config.json``'s BERT options the way transformers does.

    ``BertTokenizerFast`` rebuilds the ``tokenizer.json`` normalizer when ``do_lower_case``,
    ``strip_accents`` or ``tokenize_chinese_chars`` in ``tokenizer_config.json`` disagree with
    it (defaults True, None, True), so the official code tokenizes with the config's values;
    we do the same to get the same ids.
    """
    if "Bert" not in str(config.get("tokenizer_class", "BertTokenizer")):
        return
    from tokenizers import normalizers

    normalizer = tok.normalizer
    if normalizer is None:
        return
    state = json.loads(normalizer.__getstate__())
    if state.get("type") != "BertNormalizer":
        return
    wanted = {
        "lowercase": config.get("do_lower_case", True),
        "strip_accents": config.get("strip_accents"),
        "handle_chinese_chars": config.get("tokenize_chinese_chars", True),
    }
    if all(state.get(key, value) == value for key, value in wanted.items()):
        return
    state.pop("type")
    state.update(wanted)
    tok.normalizer = normalizers.BertNormalizer(**state)
