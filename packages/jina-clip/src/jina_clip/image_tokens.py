"""The image-token rule of jina-clip-v1 (Jina's pricing, and ``jina-clip serve``'s usage): the
image is covered by 224x224 tiles of 1,000 tokens each. One home for the rule: the server
counts usage with it, the remote client estimates cost with it. Imports nothing heavy."""

from __future__ import annotations

import math

__all__ = ["TILE", "TOKENS_PER_TILE", "tile_tokens"]

#: Side of a square tile, in pixels.
TILE = 224
#: Tokens per tile.
TOKENS_PER_TILE = 1000


def tile_tokens(width: int, height: int, *, tile: int = TILE,
                per_tile: int = TOKENS_PER_TILE) -> int:
    """Tokens of a ``width`` x ``height`` image: ``ceil(w/tile) * ceil(h/tile) * per_tile``."""
    return math.ceil(width / tile) * math.ceil(height / tile) * per_tile
