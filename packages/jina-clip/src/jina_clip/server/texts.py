"""Request texts -> batch items, tokenized once, off the event loop and off the model thread.

With an encoder that can embed token ids (:class:`TokenEncoder`, i.e. ``LocalJinaCLIP``), a
request's texts are tokenized on a worker thread (a text far over the limit only as far as it
takes to know it, see :meth:`jina_clip.text.TextTokenizer.encode_capped`), checked against the
limit, and the capped ids are what the batcher queues and the model thread embeds: no second
tokenization on the model thread, where it would stall every other request. Any other encoder
(a test double, a remote encoder) gets the texts themselves and counts tokens its own way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..base import JinaCLIP
from ..errors import TextTooLongError

__all__ = ["Prepared", "TextPath", "TokenEncoder"]


@runtime_checkable
class TokenEncoder(Protocol):
    """An encoder whose texts can be tokenized apart from embedding them."""

    def tokenize(self, texts: Sequence[str], *, max_length: int | None = None,
                 truncate: bool | None = None) -> list[list[int]]: ...

    def encode_tokens(self, ids: list[list[int]], *, normalize: bool | None = None,
                      batch_size: int | None = None) -> np.ndarray: ...


@dataclass
class Prepared:
    """One request's inputs of one modality, ready to queue: ``items`` (token ids, texts or
    decoded images), their usage ``tokens``, and ``costs``, each item's share of a batch's
    token budget (text tokens capped at the limit; None: images, which count as items)."""

    items: list[Any]
    tokens: int
    costs: list[int] | None = None

    @classmethod
    def of_texts(cls, items: list[Any], costs: list[int]) -> Prepared:
        return cls(items, sum(costs), costs)

    def subset(self, positions: list[int]) -> Prepared:
        """The items at ``positions`` (usage tokens are counted on the whole request)."""
        if len(positions) == len(self.items):
            return self
        costs = None if self.costs is None else [self.costs[i] for i in positions]
        return Prepared([self.items[i] for i in positions], 0, costs)


class TextPath:
    """How the server prepares (:meth:`prepare`, on a worker thread) and embeds
    (:meth:`embed`, on the model thread) texts for ``encoder``, with ``max_tokens`` the
    server's limit. Vectors are raw: post-processing is per request."""

    def __init__(self, encoder: JinaCLIP, max_tokens: int) -> None:
        self.encoder = encoder
        self.max_tokens = max_tokens
        self.tokens = isinstance(encoder, TokenEncoder)

    def prepare(self, indexed: list[tuple[int, str]], truncate: bool) -> Prepared:
        """Tokenize (or count) the texts; a text over the limit without ``truncate`` raises
        :class:`TextTooLongError` naming its index in the request."""
        texts = [t for _, t in indexed]
        if self.tokens:
            try:
                ids = self.encoder.tokenize(  # type: ignore[attr-defined]
                    texts, max_length=self.max_tokens, truncate=truncate)
            except TextTooLongError as exc:
                raise TextTooLongError(index=indexed[exc.index or 0][0],
                                       num_tokens=exc.num_tokens, max_length=exc.max_length,
                                       exact=exc.exact) from None
            return Prepared.of_texts(ids, [len(row) for row in ids])
        counts = self.count_tokens(texts)
        if not truncate:
            for (index, _), n in zip(indexed, counts, strict=True):
                if n > self.max_tokens:
                    raise TextTooLongError(index=index, num_tokens=n, max_length=self.max_tokens)
        return Prepared.of_texts(texts, [min(n, self.max_tokens) for n in counts])

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens per text, as the encoder counts them."""
        return list(self.encoder.count_tokens(texts))

    def embed(self, items: list[Any]) -> np.ndarray:
        """One batch of prepared items -> raw vectors (runs on the model thread)."""
        if self.tokens:
            return self.encoder.encode_tokens(  # type: ignore[attr-defined]
                items, normalize=False, batch_size=len(items))
        return self.encoder.encode_text(items, batch_size=len(items), normalize=False,
                                        max_length=self.max_tokens, truncate=True)

