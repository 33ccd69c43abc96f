"""Reading an output folder back: the manifest, and the embeddings in bounded batches (ids and
vectors always together, so joining to your metadata is by id, never by position)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .output import EMBEDDINGS_DIR, MANIFEST, parquet_files

__all__ = ["EmbeddingBatch", "iter_embeddings", "read_manifest"]


@dataclass(frozen=True)
class EmbeddingBatch:
    """Rows of ``embeddings/``: ``vectors[i]`` belongs to ``ids[i]`` (``modalities[i]``)."""

    ids: list[str]
    modalities: list[str]
    vectors: np.ndarray


def read_manifest(output: str | os.PathLike[str]) -> dict[str, Any]:
    """``manifest.json`` of a finished run (model, dimension, normalization, counts)."""
    return json.loads((Path(output) / MANIFEST).read_text(encoding="utf-8"))


def iter_embeddings(
    output: str | os.PathLike[str], *, batch_rows: int = 10_000, modality: str | None = None
) -> Iterator[EmbeddingBatch]:
    """Every embedding row, ``batch_rows`` at a time (memory stays bounded for any size);
    ``modality`` keeps only ``"text"`` or ``"image"`` rows."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    for path in parquet_files(Path(output) / EMBEDDINGS_DIR):
        for batch in pq.ParquetFile(path).iter_batches(batch_rows):
            if modality is not None:
                batch = batch.filter(pc.equal(batch.column("modality"), modality))
            if not batch.num_rows:
                continue
            column = batch.column("embedding")
            width = column.type.list_size
            vectors = column.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
            yield EmbeddingBatch(batch.column("id").to_pylist(),
                                 batch.column("modality").to_pylist(),
                                 vectors.astype(np.float32, copy=False))
