"""The local engine: one process, no Ray. Images are read and decoded by a thread pool one
batch ahead of the model (so decoding overlaps encoding), batches are encoded through the
public :class:`~jina_clip.JinaCLIP` interface, and rows are appended to parquet shards row
group by row group: memory is bounded by a few batches whatever the corpus size."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..images.fetch import UrlFetcher
from ..progress import progress_counter
from .items import Failure, Item, item_key
from .output import OutputShards
from .prepare import Keep, encode_items, prepare_item
from .sources import Corpus, batched, iter_items

if TYPE_CHECKING:
    from ..base import JinaCLIP
    from ..images.sources import ImageLimits
    from .options import EmbedOptions

__all__ = ["RunStats", "run_local", "unseen_items"]


class RunStats:
    """What one run did (the manifest counts the files instead, across resumed runs)."""

    def __init__(self, started: float | None = None) -> None:
        self.embedded = 0
        self.failed = 0
        self.skipped = 0
        #: ``time.perf_counter()`` when the command started (model loading included).
        self.started = time.perf_counter() if started is None else started
        self.first_output_s: float | None = None

    def wrote(self, embedded: int, failed: int) -> None:
        """Count a written batch; the first one fixes the time to first output."""
        self.embedded += embedded
        self.failed += failed
        if self.first_output_s is None and embedded + failed:
            self.first_output_s = time.perf_counter() - self.started


def unseen_items(
    items: Iterator[Item], finished: set[str], stats: RunStats
) -> Iterator[Item | Failure]:
    """Drop inputs finished by an earlier run (``--resume``); an id seen twice in this corpus
    (same modality) fails as a duplicate instead of giving two rows."""
    seen: set[str] = set()
    for item in items:
        key = item_key(item.id, item.modality)
        if key in finished:
            stats.skipped += 1
        elif key in seen:
            yield Failure.duplicate(item.id, item.modality)
        else:
            seen.add(key)
            yield item


def _prepare(
    entry: Item | Failure, *, keep: Keep, limits: ImageLimits, fetcher: UrlFetcher
) -> Item | Failure:
    if isinstance(entry, Failure):
        return entry
    return prepare_item(entry, keep=keep, limits=limits, fetcher=fetcher)


def run_local(
    corpus: Corpus, output: Path, options: EmbedOptions, clip: JinaCLIP, finished: set[str],
    stats: RunStats,
) -> RunStats:
    """Embed every unfinished input of ``corpus`` into ``output``."""
    entries = unseen_items(iter_items(corpus), finished, stats)
    limits = options.image_limits()
    fetcher = UrlFetcher(limits=limits)  # one client: connection reuse
    prepare = partial(_prepare, keep=options.keep(), limits=limits, fetcher=fetcher)
    shards = OutputShards(output, options.rows_per_shard)
    bar = progress_counter(None, enabled=options.show_progress,  # type: ignore[arg-type]
                           unit="item", desc="embed")
    with ThreadPoolExecutor(options.decode_workers, thread_name_prefix="embed-decode") as pool, \
            fetcher, shards, bar:
        ahead: deque[list[Future[Item | Failure]]] = deque()
        batches = batched(entries, options.batch_size)  # type: ignore[arg-type]
        for batch in batches:
            ahead.append([pool.submit(prepare, entry) for entry in batch])
            if len(ahead) < 2:
                continue  # keep one batch decoding while the previous one is encoded
            _encode_and_write(ahead.popleft(), clip, shards, stats, bar)
        while ahead:
            _encode_and_write(ahead.popleft(), clip, shards, stats, bar)
    return stats


def _encode_and_write(
    futures: list[Future[Item | Failure]], clip: JinaCLIP, shards: OutputShards,
    stats: RunStats, bar: object,
) -> None:
    prepared = [f.result() for f in futures]
    batch = encode_items(clip, prepared)
    shards.add_embeddings(batch.ids, batch.matrix(), batch.modalities)
    shards.add_failures(batch.failures)
    stats.wrote(len(batch.ids), len(batch.failures))
    bar.update(len(prepared))  # type: ignore[attr-defined]
