"""What flows through a corpus run: one input (:class:`Item`), one failure (:class:`Failure`),
and the output schemas both engines write, so their files are interchangeable."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "Failure",
    "Item",
    "Modality",
    "embeddings_schema",
    "errors_schema",
    "failure_columns",
    "item_key",
]

Modality = Literal["text", "image"]


@dataclass(frozen=True)
class Item:
    """One input of the corpus. ``payload`` is the text, or anything
    :func:`jina_clip.images.load_image` accepts (path, URL, base64, bytes)."""

    id: str
    modality: Modality
    payload: object


@dataclass(frozen=True)
class Failure:
    """An input that could not be embedded: written to ``errors/``, never dropped."""

    id: str
    modality: str
    error_type: str
    message: str

    @staticmethod
    def duplicate(item_id: str, modality: str) -> Failure:
        """The second (and later) occurrence of an ``(id, modality)`` in one corpus."""
        return Failure(item_id, modality, "DuplicateIdError",
                       f"id {item_id!r} ({modality}) appears more than once in the input")

    @staticmethod
    def of(item_id: str, modality: str, err: BaseException) -> Failure:
        """The failure for ``err``; InputError messages lose the batch-local ``input N:``."""
        reason = getattr(err, "reason", None)
        return Failure(item_id, modality, type(err).__name__, str(reason or err))


def failure_columns(failures: list[Failure]) -> dict[str, list[str]]:
    """Failures as the columns of ``errors/`` shards."""
    return {"id": [f.id for f in failures], "modality": [f.modality for f in failures],
            "error_type": [f.error_type for f in failures],
            "message": [f.message for f in failures]}


def item_key(item_id: str, modality: str) -> str:
    """The unique key of an output row: a table row with a text and an image gives two rows
    with the same ``id``, one per modality."""
    return f"{modality}:{item_id}"


def embeddings_schema(dimension: int) -> pa.Schema:
    """``id``, ``embedding`` (float32 × dimension), ``modality``."""
    import pyarrow as pa

    return pa.schema([
        pa.field("id", pa.string(), nullable=False),
        pa.field("embedding", pa.list_(pa.float32(), dimension), nullable=False),
        pa.field("modality", pa.string(), nullable=False),
    ])


def errors_schema() -> pa.Schema:
    """``id``, ``modality``, ``error_type`` (the exception class), ``message``."""
    import pyarrow as pa

    return pa.schema([
        pa.field("id", pa.string(), nullable=False),
        pa.field("modality", pa.string(), nullable=False),
        pa.field("error_type", pa.string(), nullable=False),
        pa.field("message", pa.string(), nullable=False),
    ])
