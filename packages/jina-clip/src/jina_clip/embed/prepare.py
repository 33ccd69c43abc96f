"""Per-item decoding and validation before batching, and encoding a batch without letting
one bad input fail it.

Images are read and fully decoded one by one (with the core's typed errors and size limits)
before they join a batch, so a corrupt, missing or oversized picture becomes one
:class:`~jina_clip.embed.items.Failure` and the batch that reaches the model is all valid.
Should the encoder still refuse an input (a mode Pillow cannot convert, a server that rejects
one), its ``InputError.index`` names it: that item fails and the rest of the batch is encoded
again.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from ..errors import ImageInputError, InputError, TextInputError, TruncationWarning
from ..images.sources import (
    DEFAULT_LIMITS,
    ImageLimits,
    classify_image,
    decode_image_bytes,
    source_bytes,
)
from .faults import maybe_slow_down
from .items import Failure, Item

if TYPE_CHECKING:
    from ..base import JinaCLIP
    from ..images.fetch import UrlFetcher

__all__ = ["EncodedBatch", "encode_items", "image_bytes", "prepare_item"]

#: What a prepared image carries to the encoder: the decoded picture (same process, no second
#: decode) or its encoded bytes (sent to a Ray actor or over HTTP: smaller than pixels).
Keep = Literal["pil", "bytes"]


def image_bytes(value: object, *, limits: ImageLimits, fetcher: UrlFetcher | None) -> bytes:
    """The encoded bytes of an image cell (path, URL, data URI, base64 or bytes)."""
    source = classify_image(value, index=0)  # type: ignore[arg-type]
    if source.kind == "pil":
        raise ImageInputError("a PIL image cannot be stored in a corpus; give its bytes", index=0)
    return source_bytes(source, index=0, limits=limits, fetcher=fetcher)


def prepare_item(
    item: Item,
    *,
    keep: Keep,
    limits: ImageLimits = DEFAULT_LIMITS,
    fetcher: UrlFetcher | None = None,
) -> Item | Failure:
    """``item`` ready for the encoder, or the reason it cannot be embedded."""
    try:
        if item.modality == "text":
            if not isinstance(item.payload, str):
                kind = "no text" if item.payload is None else type(item.payload).__name__
                raise TextInputError(f"expected a text, got {kind}")
            return item
        if item.payload is None:
            raise ImageInputError("no image in this row")
        data = image_bytes(item.payload, limits=limits, fetcher=fetcher)
        picture = decode_image_bytes(data, index=0, limits=limits)
        return Item(item.id, "image", picture if keep == "pil" else data)
    except InputError as err:
        return Failure.of(item.id, item.modality, err)


class EncodedBatch:
    """The rows a batch produced: ids, modalities and vectors in matching order, plus the
    items that failed."""

    def __init__(self, dimension: int) -> None:
        self.ids: list[str] = []
        self.modalities: list[str] = []
        self.vectors: list[np.ndarray] = []
        self.failures: list[Failure] = []
        self._dimension = dimension

    def matrix(self) -> np.ndarray:
        """All vectors as one float32 ``(rows, dimension)`` array."""
        if not self.vectors:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return np.concatenate(self.vectors).astype(np.float32, copy=False)


def _encode_one_modality(
    clip: JinaCLIP, items: list[Item], out: EncodedBatch, batch_size: int | None
) -> None:
    pending = list(items)
    while pending:
        payloads = [it.payload for it in pending]
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", TruncationWarning)
                if pending[0].modality == "text":
                    vectors = clip.encode_text(payloads, batch_size=batch_size)  # type: ignore[arg-type]
                else:
                    vectors = clip.encode_image(payloads, batch_size=batch_size)  # type: ignore[arg-type]
            _rename_warnings(caught, pending)
        except InputError as err:
            if err.index is None or not 0 <= err.index < len(pending):
                raise
            bad = pending.pop(err.index)
            out.failures.append(Failure.of(bad.id, bad.modality, err))
            continue
        out.ids.extend(it.id for it in pending)
        out.modalities.extend(it.modality for it in pending)
        out.vectors.append(np.asarray(vectors, dtype=np.float32))
        return


def _rename_warnings(caught: list[warnings.WarningMessage], items: list[Item]) -> None:
    """Re-emit warnings; a TruncationWarning names the cut texts by id, not by their position
    in a batch the user never saw."""
    for w in caught:
        if isinstance(w.message, TruncationWarning):
            cut = w.message
            ids = [items[i].id for i in cut.indices if 0 <= i < len(items)]
            renamed = TruncationWarning(cut.indices, cut.num_tokens, cut.max_length,
                                        estimated=cut.estimated)
            renamed.args = (f"{len(ids)} text(s) cut to {cut.max_length} tokens, ids: "
                            f"{', '.join(map(repr, ids[:10]))}{' ...' if len(ids) > 10 else ''}",)
            warnings.warn(renamed, stacklevel=3)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def encode_items(
    clip: JinaCLIP, items: Sequence[Item | Failure], *, batch_size: int | None = None
) -> EncodedBatch:
    """Encode prepared items (texts and images in separate calls); failures pass through."""
    out = EncodedBatch(clip.dimension)
    texts = [it for it in items if isinstance(it, Item) and it.modality == "text"]
    images = [it for it in items if isinstance(it, Item) and it.modality == "image"]
    out.failures.extend(it for it in items if isinstance(it, Failure))
    for group in (texts, images):
        if group:
            _encode_one_modality(clip, group, out, batch_size)
    maybe_slow_down()  # tests only (faults.py)
    return out
