"""``--resume``: what an earlier run of the same output folder already finished.

Both engines use this: an input whose ``(id, modality)`` is in a finished shard of
``embeddings/`` or ``errors/`` is skipped; everything else (including what sat in a killed
run's ``.tmp`` shards) is done again, so the output holds every input exactly once.
Failures count as finished (they fail the same way again); delete ``errors/`` to retry them.
"""

from __future__ import annotations

from pathlib import Path

from .items import item_key
from .output import (
    EMBEDDINGS_DIR,
    ERRORS_DIR,
    parquet_files,
    remove_stale_temp_files,
    stored_dimension,
)

__all__ = ["OutputNotEmptyError", "ResumeMismatchError", "check_resumed_dimension",
           "finished_keys", "prepare_output_dir"]


class OutputNotEmptyError(ValueError):
    """The output folder holds shards and ``resume`` was not asked for."""


class ResumeMismatchError(OutputNotEmptyError):
    """``--resume`` with another vector width than the finished shards (e.g. a different
    ``--dimensions`` or model): resuming would mix widths in one output."""


def check_resumed_dimension(output: Path, dimension: int | None) -> None:
    """Refuse, before any work, to resume ``output`` with vectors of another ``dimension``
    than its finished shards hold (None: not known yet, nothing to check)."""
    stored = stored_dimension(output / EMBEDDINGS_DIR)
    if dimension is not None and stored is not None and stored != dimension:
        raise ResumeMismatchError(
            f"{output} holds {stored}-d embeddings but this run makes {dimension}-d ones; "
            f"resume with the same --dimensions and model, or choose an empty folder")


def finished_keys(output: Path) -> set[str]:
    """``item_key(id, modality)`` of every row in the finished shards (only two columns are
    read)."""
    import pyarrow.parquet as pq

    keys: set[str] = set()
    for sub in (EMBEDDINGS_DIR, ERRORS_DIR):
        for path in parquet_files(output / sub):
            table = pq.read_table(path, columns=["id", "modality"])
            keys.update(item_key(i, m) for i, m in zip(
                table.column("id").to_pylist(), table.column("modality").to_pylist(),
                strict=True))
    return keys


def prepare_output_dir(output: Path, *, resume: bool) -> set[str]:
    """Create the folder; with ``resume``, delete stale temp shards and return the finished
    keys; without it, refuse a folder that already holds shards (nothing is overwritten)."""
    output.mkdir(parents=True, exist_ok=True)
    existing = parquet_files(output / EMBEDDINGS_DIR) + parquet_files(output / ERRORS_DIR)
    if existing and not resume:
        raise OutputNotEmptyError(
            f"{output} already holds {len(existing)} shard(s); pass --resume to finish "
            "that run, or choose an empty folder"
        )
    for sub in (EMBEDDINGS_DIR, ERRORS_DIR):
        remove_stale_temp_files(output / sub)
    return finished_keys(output) if resume else set()
