"""The Ray Data engine (``--engine ray``, ``pip install 'jina-clip[ray]'``).

    read (Ray Data readers) → decode + validate (CPU tasks) → encode (actor pool, one model
    per actor, ``num_gpus`` each) → driver → parquet shards

The driver streams the encoded blocks (``iter_batches``) into the same
:class:`~jina_clip.embed.output.ShardWriter` as the local engine, so the output folder,
its temp+rename shards, ``--resume`` (skip ids already in finished shards) and the duplicate
check are the same code for both engines, and the output can live on the driver's disk
without shared storage. Ray retries a task whose actor died and restarts the actor; a task's
output reaches the driver once, so a crashed worker's batch appears exactly once.

Ray Data's own ``CheckpointConfig`` (beta in ray 2.60) was not used: it filters on a
column of the rows as read, while our ids are made after reading (a path relative to
INPUT, one table row → a text and an image), it deletes its checkpoint on success, and its
filter actor needs a whole CPU (which hangs a 2-CPU machine).
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .faults import maybe_crash
from .items import Failure, Item, item_key
from .local_engine import RunStats
from .output import EMBEDDINGS_DIR, OutputShards, stored_dimension
from .prepare import encode_items, prepare_item
from .sources import Corpus, image_file_item, iter_tar_samples, table_items, webdataset_items

if TYPE_CHECKING:
    import pyarrow as pa

    from ..images.fetch import UrlFetcher
    from ..images.sources import ImageLimits
    from ..settings import JinaCLIPSettings
    from .options import EmbedOptions

__all__ = ["run_ray"]

def _stage_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema([("id", pa.string()), ("modality", pa.string()), ("text", pa.string()),
                      ("image", pa.binary()), ("error_type", pa.string()),
                      ("message", pa.string())])


def _raw_items(rows: dict[str, list[Any]], corpus: Corpus) -> list[Item]:
    """Reader rows → items, with the same ids as :func:`~jina_clip.embed.sources.iter_items`."""
    if corpus.kind == "images":
        return [image_file_item(path, corpus.root, data)
                for path, data in zip(rows["path"], rows["bytes"], strict=True)]
    if corpus.kind == "table":
        return list(table_items(rows, corpus, "ray read block"))
    items: list[Item] = []
    for data in rows["bytes"]:
        for key, members in iter_tar_samples(io.BytesIO(data)):
            items.extend(webdataset_items(key, members, corpus))
    return items


#: One URL client per worker process and limits (connection reuse across blocks).
_FETCHERS: dict[ImageLimits, UrlFetcher] = {}


def _fetcher(limits: ImageLimits) -> UrlFetcher:
    from ..images.fetch import UrlFetcher

    if limits not in _FETCHERS:
        _FETCHERS[limits] = UrlFetcher(limits=limits)
    return _FETCHERS[limits]


def _decode_block(
    block: pa.Table, corpus: Corpus, finished: frozenset[str], limits: ImageLimits
) -> pa.Table:
    """CPU stage: items of a read block, minus finished ones, decoded and validated; images
    travel on as their encoded bytes, failures as rows with an error."""
    import pyarrow as pa

    out: dict[str, list[Any]] = {name: [] for name in _stage_schema().names}
    fetcher = _fetcher(limits)
    for raw in _raw_items(block.to_pydict(), corpus):
        if item_key(raw.id, raw.modality) in finished:
            continue
        ready = prepare_item(raw, keep="bytes", limits=limits, fetcher=fetcher)
        out["id"].append(ready.id)
        out["modality"].append(ready.modality)
        if isinstance(ready, Failure):
            out["text"].append(None)
            out["image"].append(None)
            out["error_type"].append(ready.error_type)
            out["message"].append(ready.message)
        else:
            out["text"].append(ready.payload if ready.modality == "text" else None)
            out["image"].append(ready.payload if ready.modality == "image" else None)
            out["error_type"].append(None)
            out["message"].append(None)
    return pa.Table.from_pydict(out, schema=_stage_schema())


class _EncoderActor:
    """One per worker: builds the encoder once, then embeds blocks of decoded items."""

    def __init__(self, settings: JinaCLIPSettings) -> None:
        self.clip = settings.build()

    def __call__(self, block: pa.Table) -> pa.Table:
        import numpy as np
        import pyarrow as pa

        entries: list[Item | Failure] = []
        for row in block.to_pylist():
            if row["error_type"] is not None:
                entries.append(Failure(row["id"], row["modality"], row["error_type"],
                                       row["message"]))
            else:
                payload = row["text"] if row["modality"] == "text" else row["image"]
                entries.append(Item(row["id"], row["modality"], payload))
        batch = encode_items(self.clip, entries)
        maybe_crash()  # tests only (faults.py)
        dim = self.clip.dimension
        n_fail = len(batch.failures)
        flat = np.concatenate([batch.matrix().reshape(-1),
                               np.zeros(n_fail * dim, dtype=np.float32)])
        valid = np.array([True] * len(batch.ids) + [False] * n_fail)
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), dim,
                                                    mask=pa.array(~valid))
        return pa.table({
            "id": batch.ids + [f.id for f in batch.failures],
            "modality": batch.modalities + [f.modality for f in batch.failures],
            "embedding": vectors,
            "error_type": [None] * len(batch.ids) + [f.error_type for f in batch.failures],
            "message": [None] * len(batch.ids) + [f.message for f in batch.failures],
        })


def _unreadable_files(corpus: Corpus, finished: set[str]) -> tuple[Corpus, list[Failure]]:
    """Ray's file reader fails the whole job on a missing file (a broken link in a folder):
    such files fail here, one error row each, and the rest is read."""
    if corpus.kind != "images":
        return corpus, []
    missing = [f for f in corpus.files if not os.path.exists(f)]
    if not missing:
        return corpus, []
    failures = []
    for path in missing:
        result = prepare_item(image_file_item(path, corpus.root), keep="bytes")
        if isinstance(result, Failure) and item_key(result.id, "image") not in finished:
            failures.append(result)
    unreadable = set(missing)  # built once, not once per file
    readable = tuple(f for f in corpus.files if f not in unreadable)
    return dataclasses.replace(corpus, files=readable), failures


def _read(corpus: Corpus) -> Any:
    import ray.data

    files = [os.path.abspath(f) for f in corpus.files]
    if corpus.kind in ("images", "webdataset"):
        return ray.data.read_binary_files(files, include_paths=True)
    columns = [c for c in (corpus.id_column, corpus.text_column, corpus.image_column) if c]
    if corpus.table_format == "parquet":
        return ray.data.read_parquet(files, columns=columns)
    if corpus.table_format == "csv":
        import pyarrow as pa
        import pyarrow.csv as pcsv

        return ray.data.read_csv(files, convert_options=pcsv.ConvertOptions(
            include_columns=columns, column_types={c: pa.string() for c in columns}))
    return ray.data.read_json(files, lines=True)


def _init_ray(options: EmbedOptions) -> bool:
    """Connect to ``address`` or start a local Ray; True when we started it (and stop it)."""
    import ray

    if ray.is_initialized():
        return False
    if options.address:
        ray.init(address=options.address, log_to_driver=False)
        return False
    cpus = options.ray_num_cpus or max(4, os.cpu_count() or 1)
    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    return True


def run_ray(
    corpus: Corpus, output: Path, options: EmbedOptions, finished: set[str], stats: RunStats
) -> tuple[RunStats, str, int]:
    """Embed every unfinished input with Ray Data; returns (stats, model name, dimension)."""
    import ray
    from ray.data import ActorPoolStrategy, DataContext

    from ..defaults import DEFAULT_API_MODEL, DEFAULT_LOCAL_MODEL

    started_here = _init_ray(options)
    try:
        ctx = DataContext.get_current()
        ctx.enable_progress_bars = options.show_progress
        settings = options.encoder
        if settings.model and os.path.isdir(settings.model):  # workers may run elsewhere
            settings = settings.model_copy(update={"model": os.path.abspath(settings.model)})
        corpus, failures = _unreadable_files(corpus, finished)
        # a webdataset row is a whole shard: one per call keeps memory at one shard
        rows = 1 if corpus.kind == "webdataset" else options.batch_size
        # Blocks of one batch each, split as they stream: a map task's output leaves it as one
        # block, so a table read as one block (one parquet file) would be decoded by one task
        # and reach the shards only when all of it was embedded (no progress, nothing to
        # resume from after a kill, the whole corpus in memory).
        ds = _read(corpus).repartition(target_num_rows_per_block=rows).map_batches(
            _decode_block, batch_format="pyarrow", batch_size=rows,
            fn_kwargs={"corpus": corpus, "finished": frozenset(finished),
                       "limits": options.image_limits()},
        ).map_batches(
            _EncoderActor, batch_format="pyarrow", batch_size=options.batch_size,
            fn_constructor_kwargs={"settings": settings},
            compute=ActorPoolStrategy(size=options.workers),
            num_cpus=options.cpus_per_worker, num_gpus=options.gpus_per_worker or None,
        )
        stats.skipped = len(finished)  # the decode tasks skip them; counted from the output
        dimension = _drain(ds, output, options, stats, failures)
    finally:
        if started_here:
            ray.shutdown()
    default = DEFAULT_LOCAL_MODEL if settings.resolved_backend() == "local" else DEFAULT_API_MODEL
    dimension = dimension or stored_dimension(output / EMBEDDINGS_DIR) or settings.dimensions
    return stats, settings.model or default, dimension or 0


def _drain(
    ds: Any, output: Path, options: EmbedOptions, stats: RunStats, failures: list[Failure]
) -> int | None:
    """Stream encoded blocks into the shards (after ``failures`` found by the driver); an id
    seen twice fails as a duplicate."""
    import pyarrow.compute as pc

    seen: set[str] = set()
    with OutputShards(output, options.rows_per_shard) as shards:
        shards.add_failures(failures)
        stats.wrote(0, len(failures))
        for block in ds.iter_batches(batch_format="pyarrow", batch_size=None):
            ok = block.filter(pc.is_valid(block.column("embedding")))
            bad = block.filter(pc.is_null(block.column("embedding")))
            ids, modalities = ok.column("id").to_pylist(), ok.column("modality").to_pylist()
            failed = [Failure(*r.values()) for r in bad.select(
                ["id", "modality", "error_type", "message"]).to_pylist()]
            keep: list[int] = []
            for n, (item_id, modality) in enumerate(zip(ids, modalities, strict=True)):
                key = item_key(item_id, modality)
                if key in seen:
                    failed.append(Failure.duplicate(item_id, modality))
                else:
                    seen.add(key)
                    keep.append(n)
            if keep:
                width = ok.schema.field("embedding").type.list_size
                vectors = (ok.column("embedding").combine_chunks().flatten().to_numpy()
                           .reshape(len(ids), width))
                shards.add_embeddings([ids[n] for n in keep], vectors[keep],
                                      [modalities[n] for n in keep])
            shards.add_failures(failed)
            stats.wrote(len(keep), len(failed))
    return shards.dimension
