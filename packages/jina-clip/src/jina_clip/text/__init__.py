"""Text side of the local model: the checkpoint's tokenizer."""

from __future__ import annotations

from .tokenizer import TextTokenizer

__all__ = ["TextTokenizer"]
