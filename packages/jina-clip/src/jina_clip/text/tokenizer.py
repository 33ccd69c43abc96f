"""The checkpoint's tokenizer (v1: BERT WordPiece, v2: XLM-R Unigram), via the ``tokenizers``
library (Rust, no transformers).

Real ``tokenizer.json`` files may carry a truncation or padding section; both are switched
off here so that the caller sees every token and decides itself about length (an error, or
truncation it asked for) and padding (per batch, by the encoder).
"""

from __future__ import annotations

import json
import pathlib
from typing import TYPE_CHECKING, Any

from ..errors import ModelLoadError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["TextTokenizer"]


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

    def truncate(self, ids: list[int], max_length: int) -> list[int]:
        """Cut to ``max_length`` tokens, keeping the final [SEP]."""
        if max_length < 2:
            raise ValueError("max_length must be at least 2 ([CLS] and [SEP])")
        if len(ids) <= max_length:
            return list(ids)
        return [*ids[: max_length - 1], self.sep_id]


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
