"""Remote backend: Jina's Embeddings API, or any server speaking it."""

from __future__ import annotations

from .encoder import RemoteJinaCLIP
from .usage import TokenUsage

__all__ = ["RemoteJinaCLIP", "TokenUsage"]
