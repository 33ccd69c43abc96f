"""The corpus mode of ``jina-clip embed`` (INPUT --output DIR): flags → :class:`EmbedOptions`
→ :func:`embed_corpus`, and a one-line summary. Nothing else lives here."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import ValidationError

__all__ = ["options_from_args", "run_corpus_command"]


def options_from_args(args: argparse.Namespace) -> Any:
    """``EmbedOptions`` from the parsed flags; flags left unset keep the model's defaults."""
    from ..defaults import DEFAULT_LOCAL_MODEL
    from ..settings import JinaCLIPSettings
    from .options import EmbedOptions

    encoder: dict[str, Any] = {
        "backend": args.backend, "dimensions": args.dimensions,
        "normalize": not args.no_normalize, "truncate": args.truncate,
        "batch_size": args.batch_size,  # one call = one model batch (or one request)
    }
    if args.backend == "local":
        encoder.update(model=args.model, device=args.device, dtype=args.dtype)
    elif args.model != DEFAULT_LOCAL_MODEL:  # the hub id default means "the API's default"
        encoder["model"] = args.model
    if args.backend == "api":
        if args.base_url:
            encoder["base_url"] = args.base_url
        if args.max_concurrency:
            encoder["max_concurrency"] = args.max_concurrency
    fields: dict[str, Any] = {
        "encoder": JinaCLIPSettings(**encoder), "id_column": args.id_column,
        "text_column": args.text_column, "image_column": args.image_column,
        "engine": args.engine, "address": args.address, "resume": args.resume,
        "show_progress": not args.no_progress,
    }
    for name in ("workers", "gpus_per_worker", "batch_size", "rows_per_shard",
                 "max_image_bytes", "max_image_pixels"):
        if getattr(args, name) is not None:
            fields[name] = getattr(args, name)
    return EmbedOptions(**fields)


def run_corpus_command(args: argparse.Namespace) -> int:
    """Run corpus mode; exit 2 on a usage error, 0 when every input is embedded or in errors/."""
    from .api import embed_corpus
    from .resume import OutputNotEmptyError
    from .sources import CorpusError

    if args.input is None or args.output is None:
        print("jina-clip embed: corpus mode needs both INPUT and --output DIR", file=sys.stderr)
        return 2
    if args.text or args.image:
        print("jina-clip embed: --text/--image cannot be combined with INPUT", file=sys.stderr)
        return 2
    try:
        options = options_from_args(args)
        report = embed_corpus(args.input, args.output, options)
    except (ValidationError, CorpusError, OutputNotEmptyError) as exc:
        print(f"jina-clip embed: {exc}", file=sys.stderr)
        return 2
    json.dump({"output": str(report.output), "embedded": report.embedded,
               "failed": report.failed, "this_run": {"embedded": report.run_embedded,
               "failed": report.run_failed, "skipped": report.run_skipped},
               "seconds": report.seconds}, sys.stdout)
    sys.stdout.write("\n")
    return 0
