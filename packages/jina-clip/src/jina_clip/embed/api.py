"""`embed_corpus`: embed a whole corpus into parquet, on this machine or on a Ray cluster.

    from jina_clip.embed import EmbedOptions, embed_corpus

    report = embed_corpus("photos/", "out/", EmbedOptions(resume=True))
    print(report.embedded, report.failed)

The output folder is ``embeddings/*.parquet`` (``id``, ``embedding``, ``modality``),
``errors/*.parquet`` (``id``, ``modality``, ``error_type``, ``message``) and
``manifest.json``; see ``docs/embed.md``.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from .local_engine import RunStats
from .options import EmbedOptions
from .output import EMBEDDINGS_DIR, ERRORS_DIR, MANIFEST, count_rows, write_json_atomic
from .resume import check_resumed_dimension, prepare_output_dir
from .sources import Corpus, resolve_corpus

if TYPE_CHECKING:
    from ..base import JinaCLIP

__all__ = ["EmbedReport", "embed_corpus"]


@dataclass(frozen=True)
class EmbedReport:
    """The result of a run. ``embedded``/``failed`` count the output folder (all runs of a
    resumed job); ``run_*`` count this run only (``run_skipped``: inputs finished by an
    earlier run; the Ray engine counts the finished rows of the output instead)."""

    output: Path
    embedded: int
    failed: int
    run_embedded: int
    run_failed: int
    run_skipped: int
    seconds: float
    first_output_s: float | None
    manifest: dict[str, Any]


def _corpus(source: str | os.PathLike[str], options: EmbedOptions) -> Corpus:
    return resolve_corpus(source, id_column=options.id_column,
                          text_column=options.text_column, image_column=options.image_column)


def embed_corpus(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    options: EmbedOptions | None = None,
    *,
    clip: JinaCLIP | None = None,
) -> EmbedReport:
    """Embed every input of ``source`` into ``output``. ``clip`` (local engine only) reuses an
    encoder you already built instead of building one from ``options.encoder``."""
    stats = RunStats(time.perf_counter())
    options = options or EmbedOptions()
    if clip is not None and options.engine != "local":
        raise ValueError("clip= is for the local engine; the Ray engine builds one per worker")
    corpus = _corpus(source, options)
    out = Path(output)
    finished = prepare_output_dir(out, resume=options.resume)
    started = _dt.datetime.now(_dt.timezone.utc)
    check_resumed_dimension(out, options.encoder.dimensions)
    if options.engine == "ray":
        from .ray_engine import run_ray

        stats, model_name, dimension = run_ray(corpus, out, options, finished, stats)
    else:
        from .local_engine import run_local

        own = clip is None
        encoder = options.encoder.build() if clip is None else clip
        try:
            check_resumed_dimension(out, encoder.dimension)
            run_local(corpus, out, options, encoder, finished, stats)
            model_name, dimension = encoder.model_name, encoder.dimension
        finally:
            if own:
                encoder.close()
    manifest = _manifest(source, out, options, model_name, dimension, started, stats)
    write_json_atomic(out / MANIFEST, manifest)
    return EmbedReport(
        output=out, embedded=manifest["counts"]["embedded"],
        failed=manifest["counts"]["failed"], run_embedded=stats.embedded,
        run_failed=stats.failed, run_skipped=stats.skipped,
        seconds=manifest["run"]["seconds"], first_output_s=stats.first_output_s,
        manifest=manifest,
    )


def _manifest(
    source: str | os.PathLike[str], out: Path, options: EmbedOptions, model_name: str,
    dimension: int, started: _dt.datetime, stats: Any,
) -> dict[str, Any]:
    finished = _dt.datetime.now(_dt.timezone.utc)
    settings = options.encoder
    return {
        "format": "jina-clip-embed/1",
        "jina_clip_version": __version__,
        "input": os.fspath(source),
        "model": model_name,
        "revision": settings.revision,
        "backend": settings.resolved_backend(),
        "dimension": dimension,
        "normalized": settings.normalize,
        "dtype": "float32",
        "columns": {"embeddings": ["id", "embedding", "modality"],
                    "errors": ["id", "modality", "error_type", "message"]},
        "counts": {"embedded": count_rows(out / EMBEDDINGS_DIR),
                   "failed": count_rows(out / ERRORS_DIR)},
        "run": {"started": started.isoformat(), "finished": finished.isoformat(),
                "seconds": round((finished - started).total_seconds(), 3),
                "embedded": stats.embedded, "failed": stats.failed,
                "skipped_as_finished": stats.skipped,
                "first_output_s": stats.first_output_s},
        "options": options.model_dump(mode="json"),
    }
