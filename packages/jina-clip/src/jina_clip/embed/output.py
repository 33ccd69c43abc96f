"""The output folder: ``embeddings/*.parquet``, ``errors/*.parquet``, ``manifest.json``.

A shard is written row group by row group to a hidden ``.NAME.tmp`` file and renamed to its
final, deterministic name (``part-00000.parquet``, ...) only when complete, so a reader (or a
resumed run) never sees half a file: what is in a ``*.parquet`` is done; a killed run leaves
only ``.tmp`` files, which the next run deletes.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = [
    "EMBEDDINGS_DIR",
    "ERRORS_DIR",
    "MANIFEST",
    "OutputShards",
    "ShardWriter",
    "count_rows",
    "next_shard_index",
    "parquet_files",
    "remove_stale_temp_files",
    "stored_dimension",
    "write_json_atomic",
]

EMBEDDINGS_DIR = "embeddings"
ERRORS_DIR = "errors"
MANIFEST = "manifest.json"
_PART = re.compile(r"^part-(\d+)\.parquet$")


def parquet_files(directory: Path) -> list[Path]:
    """The finished shards of ``directory`` (sorted; ``.tmp`` files are not shards)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir()
                  if p.suffix == ".parquet" and not p.name.startswith("."))


def count_rows(directory: Path) -> int:
    """Rows in the finished shards, from the parquet footers (no data is read)."""
    import pyarrow.parquet as pq

    return sum(pq.ParquetFile(p).metadata.num_rows for p in parquet_files(directory))


def stored_dimension(directory: Path) -> int | None:
    """The vector width of the finished shards (a resumed run that embedded nothing new)."""
    import pyarrow.parquet as pq

    for path in parquet_files(directory):
        return pq.read_schema(path).field("embedding").type.list_size
    return None


def next_shard_index(directory: Path) -> int:
    """The first ``part-N`` number not used yet (a resumed run appends after the last)."""
    used = [int(m.group(1)) for p in parquet_files(directory) if (m := _PART.match(p.name))]
    return max(used, default=-1) + 1


def remove_stale_temp_files(directory: Path) -> int:
    """Delete the ``.tmp`` shards a killed run left behind; returns how many."""
    if not directory.is_dir():
        return 0
    stale = [p for p in directory.iterdir() if p.name.startswith(".") and p.suffix == ".tmp"]
    for p in stale:
        p.unlink()
    return len(stale)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON to a temp file and rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class ShardWriter:
    """Appends rows to ``part-N.parquet`` shards: ``row_group_rows`` per row group (bounded
    memory), a new shard every ``rows_per_shard`` rows, each renamed into place when full."""

    def __init__(
        self,
        directory: Path,
        schema: pa.Schema,
        *,
        rows_per_shard: int = 100_000,
        row_group_rows: int = 4096,
    ) -> None:
        if rows_per_shard < 1 or row_group_rows < 1:
            raise ValueError("rows_per_shard and row_group_rows must be >= 1")
        self.directory = directory
        self.schema = schema
        self.rows_per_shard = rows_per_shard
        self.row_group_rows = min(row_group_rows, rows_per_shard)
        self.index = next_shard_index(directory)
        self.shards_written: list[Path] = []
        self._columns: dict[str, list[Any]] = {name: [] for name in schema.names}
        self._buffered = 0
        self._in_shard = 0
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None

    def add(self, columns: dict[str, Any]) -> None:
        """Buffer rows (a dict of equal-length column lists or arrays)."""
        n = len(next(iter(columns.values())))
        start = 0
        while start < n:
            room = min(self.row_group_rows - self._buffered,
                       self.rows_per_shard - self._in_shard - self._buffered)
            take = min(room, n - start)
            for name, values in columns.items():
                self._columns[name].extend(values[start:start + take])
            self._buffered += take
            start += take
            if self._buffered >= self.row_group_rows or (
                    self._in_shard + self._buffered >= self.rows_per_shard):
                self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._buffered:
            return
        table = pa.Table.from_pydict(self._columns, schema=self.schema)
        if self._writer is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._tmp = self.directory / f".part-{self.index:05d}.parquet.tmp"
            self._writer = pq.ParquetWriter(self._tmp, self.schema)
        self._writer.write_table(table)
        self._in_shard += self._buffered
        self._columns = {name: [] for name in self.schema.names}
        self._buffered = 0
        if self._in_shard >= self.rows_per_shard:
            self._finish_shard()

    def _finish_shard(self) -> None:
        if self._writer is None or self._tmp is None:
            return
        self._writer.close()
        final = self.directory / f"part-{self.index:05d}.parquet"
        os.replace(self._tmp, final)
        self.shards_written.append(final)
        self._writer, self._tmp = None, None
        self._in_shard = 0
        self.index += 1

    def close(self) -> None:
        """Write what is buffered and rename the last shard into place."""
        self._flush()
        self._finish_shard()

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        # On an error the temp file stays: it is incomplete, and the next run deletes it.
        if exc[0] is None:
            self.close()


class OutputShards:
    """The two writers of a run, ``embeddings/`` and ``errors/``, as both engines use them.
    The embeddings writer is opened at the first vectors (their width fixes the schema)."""

    def __init__(self, output: Path, rows_per_shard: int) -> None:
        from .items import errors_schema

        self.output = output
        self.rows_per_shard = rows_per_shard
        self.errors = ShardWriter(output / ERRORS_DIR, errors_schema(),
                                  rows_per_shard=rows_per_shard)
        self.embeddings: ShardWriter | None = None
        self.dimension: int | None = None

    def add_embeddings(self, ids: list[str], vectors: Any, modalities: list[str]) -> None:
        """Append rows; ``vectors`` is a float32 ``(len(ids), dimension)`` array."""
        if not ids:
            return
        if self.embeddings is None:
            from .items import embeddings_schema

            self.dimension = int(vectors.shape[1])
            self.embeddings = ShardWriter(self.output / EMBEDDINGS_DIR,
                                          embeddings_schema(self.dimension),
                                          rows_per_shard=self.rows_per_shard)
        self.embeddings.add({"id": ids, "embedding": list(vectors), "modality": modalities})

    def add_failures(self, failures: list[Any]) -> None:
        """Append ``errors/`` rows for :class:`~jina_clip.embed.items.Failure` s."""
        if failures:
            from .items import failure_columns

            self.errors.add(failure_columns(failures))

    def close(self) -> None:
        """Finish both writers (rename their last shards into place)."""
        if self.embeddings is not None:
            self.embeddings.close()
        self.errors.close()

    def __enter__(self) -> OutputShards:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:  # on an error the temp shards stay for the next run to delete
            self.close()
