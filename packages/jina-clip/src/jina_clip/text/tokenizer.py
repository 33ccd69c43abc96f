"""The checkpoint's WordPiece tokenizer, via the ``tokenizers`` library (Rust, no transformers).

Real ``tokenizer.json`` files may carry a truncation or padding section; both are switched
off here so that the caller sees every token and decides itself about length (an error, or
truncation it asked for) and padding (per batch, by the encoder).
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING

from ..errors import ModelLoadError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["TextTokenizer"]


class TextTokenizer:
    """Texts -> token ids with [CLS] ... [SEP], unpadded and untruncated."""

    def __init__(self, tokenizer: Tokenizer, *, pad_id: int = 0) -> None:
        self._tok = tokenizer
        self.pad_id = pad_id
        sep = tokenizer.token_to_id("[SEP]")
        cls_ = tokenizer.token_to_id("[CLS]")
        if sep is None or cls_ is None:
            raise ModelLoadError("tokenizer.json has no [CLS]/[SEP] tokens (not a BERT vocab)")
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
        pad = tok.token_to_id("[PAD]")
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
