"""The ``jina-clip`` command: ``serve`` (the Embeddings API server), ``embed`` (print
vectors as JSON, or a whole corpus to parquet: ``jina_clip.embed``) and ``bench`` (measure
speed and memory on this machine). Heavy imports (torch, FastAPI) happen only inside the
chosen subcommand."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:
    from .server.config import ServerSettings

__all__ = ["build_parser", "main", "serve_settings"]

API_KEY_ENV = "JINA_CLIP_SERVER_API_KEY"


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="jinaai/jina-clip-v1",
                   help="hub id or local checkpoint directory (default: %(default)s)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, mps")
    p.add_argument("--dtype", default="auto", help="auto, float32, bfloat16, float16")


def _add_serve(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from .server.config import ServerSettings

    d = ServerSettings()
    p = sub.add_parser("serve", help="serve Jina's /v1/embeddings API with a local model")
    _add_model_args(p)
    p.add_argument("--served-model-name", default=None,
                   help="name clients send and the server reports (default: jina-clip-v2 for "
                        f"a .../jina-clip-v2 model, else {d.served_model_name})")
    p.add_argument("--host", default=d.host)
    p.add_argument("--port", type=int, default=d.port)
    p.add_argument("--api-key", default=None,
                   help=f"require 'Authorization: Bearer <key>' (default: ${API_KEY_ENV})")
    p.add_argument("--max-batch-size", type=int, default=d.max_batch_size,
                   help="items per model call (1: no batching)")
    p.add_argument("--max-batch-tokens", type=int, default=d.max_batch_tokens,
                   help="padded text tokens per model call (default: %(default)s)")
    p.add_argument("--long-text-tokens", type=int, default=d.long_text_tokens,
                   help="longer texts run on a model thread of their own "
                   "(default: %(default)s)")
    p.add_argument("--max-wait-ms", type=float, default=d.max_wait_ms)
    p.add_argument("--max-queue", type=int, default=d.max_queue,
                   help="queued items per modality before 503")
    p.add_argument("--retry-after", type=int, default=d.retry_after_s, metavar="SECONDS",
                   help="Retry-After header value of every 503 (default: %(default)s)")
    p.add_argument("--no-batching", action="store_true",
                   help="run each request as its own model call")
    p.add_argument("--max-inputs", type=int, default=d.max_inputs)
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes)
    p.add_argument("--max-image-bytes", type=int, default=d.max_image_bytes)
    p.add_argument("--max-image-pixels", type=int, default=d.max_image_pixels)
    p.add_argument("--max-text-tokens", type=int, default=d.max_text_tokens)
    p.add_argument("--fetch-timeout", type=float, default=d.fetch_timeout_s)
    p.add_argument("--max-redirects", type=int, default=d.max_redirects,
                   help="redirects followed per image URL (default: %(default)s)")
    p.add_argument("--image-workers", type=int, default=d.image_workers)
    p.add_argument("--allow-private-urls", action="store_true",
                   help="allow image URLs on private/loopback networks (trusted networks only)")
    p.add_argument("--header-timeout", type=float, default=d.header_timeout_s,
                   metavar="SECONDS", help="close connections whose request headers take "
                   "longer (default: %(default)s)")
    p.add_argument("--body-timeout", type=float, default=d.body_timeout_s, metavar="SECONDS",
                   help="408 and close when a request body takes longer (default: %(default)s)")
    p.add_argument("--log-level", default=d.log_level)


def _add_embed(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("embed", help="embed a corpus into parquet (INPUT --output DIR), or a "
                       "few --text/--image inputs to JSON on stdout")
    _add_model_args(p)
    p.add_argument("--text", action="append", default=[], help="a text (repeatable)")
    p.add_argument("--image", action="append", default=[],
                   help="an image path, URL, data URI or base64 (repeatable)")
    p.add_argument("--dimensions", type=int, default=None)
    p.add_argument("--no-normalize", action="store_true")
    p.add_argument("--truncate", action=argparse.BooleanOptionalAction, default=None,
                   help="texts over 8192 tokens: --truncate cuts silently, --no-truncate "
                   "fails; by default they are cut with a warning")
    _add_corpus_args(p)


def _add_corpus_args(p: argparse.ArgumentParser) -> None:
    """Corpus mode (``docs/embed.md``); the defaults live in ``EmbedOptions``."""
    g = p.add_argument_group("corpus mode (INPUT --output DIR)")
    g.add_argument("input", nargs="?", default=None, metavar="INPUT",
                   help="a folder or glob of images, a parquet/CSV/JSONL table, or "
                   "webdataset .tar shards")
    g.add_argument("--output", "-o", default=None, metavar="DIR",
                   help="writes DIR/embeddings/*.parquet, DIR/errors/*.parquet, "
                   "DIR/manifest.json")
    g.add_argument("--backend", choices=("local", "api"), default="local",
                   help="local: run the model here; api: call the Embeddings API "
                   "(--base-url, JINA_API_KEY)")
    g.add_argument("--base-url", default=None, help="API backend: endpoint root")
    g.add_argument("--max-concurrency", type=int, default=None,
                   help="API backend: concurrent requests per encoder")
    g.add_argument("--batch-size", type=int, default=None,
                   help="inputs per encoder call and per model batch (default 64; on a GPU "
                   "try 256)")
    g.add_argument("--id-column", default=None)
    g.add_argument("--text-column", default=None)
    g.add_argument("--image-column", default=None)
    g.add_argument("--engine", choices=("local", "ray"), default="local")
    g.add_argument("--address", default=None, help="Ray: an existing cluster (auto, ray://...)")
    g.add_argument("--workers", type=int, default=None, help="Ray: encoder actors")
    g.add_argument("--gpus-per-worker", type=float, default=None)
    g.add_argument("--rows-per-shard", type=int, default=None)
    g.add_argument("--max-image-bytes", type=int, default=None,
                   help="larger image files go to errors/ (default: 20 MiB)")
    g.add_argument("--max-image-pixels", type=int, default=None,
                   help="images with more pixels go to errors/ (default: 64 Mpx)")
    g.add_argument("--resume", action="store_true",
                   help="skip inputs already in DIR's finished shards")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_bench(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from .bench import SECTIONS  # torch-free

    p = sub.add_parser("bench", help="benchmark the local model against the official-style "
                       "baseline and print a table")
    _add_model_args(p)
    p.add_argument("--random-weights", action="store_true",
                   help="a full-size checkpoint with random weights (no download; speed only), "
                   "written once to the cache; jina-clip-v2's when --model names it")
    p.add_argument("--only", default=None,
                   help=f"comma-separated sections to run, from: {', '.join(SECTIONS)} "
                   "(default: all but int8 and peers)")
    p.add_argument("--int8", action="store_true", help="also measure quantize='int8' (CPU)")
    p.add_argument("--peers", action="store_true",
                   help="also export the checkpoint to ONNX and measure ONNX Runtime and "
                   "OpenVINO next to ours, interleaved (CPU; needs jina-clip[bench])")
    p.add_argument("--peers-in-process", action="store_true",
                   help="run the peer engines all in this process instead of each in its own "
                   "(for comparison: runtimes sharing a process slow each other)")
    p.add_argument("--quick", action="store_true", help="small workloads (a minute or two)")
    p.add_argument("--no-baseline", action="store_true", help="skip the baseline runs")
    p.add_argument("--image-workers", type=int, default=None)
    p.add_argument("--json", default=None, metavar="PATH", help="also write the rows as JSON")


def _add_export(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export", help="export the model for other runtimes (ONNX)")
    p.add_argument("format", choices=["onnx"], help="what to write (onnx: onnx/text_model.onnx "
                   "and onnx/vision_model.onnx plus tokenizer and preprocessor files)")
    p.add_argument("--model", default="jinaai/jina-clip-v1",
                   help="hub id or local checkpoint directory (default: %(default)s)")
    p.add_argument("--output", "-o", required=True, metavar="DIR",
                   help="directory to write (created)")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset (default: %(default)s)")
    p.add_argument("--towers", default="text,vision",
                   help="comma-separated towers to export (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jina-clip", description=__doc__)
    parser.add_argument("--version", action="version", version=f"jina-clip {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_serve(sub)
    _add_embed(sub)
    _add_bench(sub)
    _add_export(sub)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from .server import serve

    try:
        settings = serve_settings(args)
    except EmptyAPIKey as exc:
        print(f"jina-clip serve: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"jina-clip serve: invalid option: {exc}", file=sys.stderr)
        return 2
    serve(settings)
    return 0


class EmptyAPIKey(ValueError):
    """``--api-key ""`` or an empty ``JINA_CLIP_SERVER_API_KEY``: refused, since serving
    without auth is not what whoever set it meant."""


def _api_key(flag: str | None) -> str | None:
    """The key from ``--api-key``, else from the environment; None when neither is set."""
    if flag is not None:
        where, key = "--api-key", flag
    elif API_KEY_ENV in os.environ:
        where, key = API_KEY_ENV, os.environ[API_KEY_ENV]
    else:
        return None
    if not key.strip():
        raise EmptyAPIKey(f"{where} is empty; give a non-empty key (or unset it to serve "
                          "without auth)")
    return key


def serve_settings(args: argparse.Namespace) -> ServerSettings:
    """``ServerSettings`` from parsed ``serve`` flags (the API key may come from the env)."""
    from .server.config import ServerSettings

    named = {} if args.served_model_name is None else {
        "served_model_name": args.served_model_name}
    return ServerSettings(
        model=args.model, **named, device=args.device,
        dtype=args.dtype, host=args.host, port=args.port, api_key=_api_key(args.api_key),
        batching=not args.no_batching, max_batch_size=args.max_batch_size,
        max_batch_tokens=args.max_batch_tokens, long_text_tokens=args.long_text_tokens,
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        max_wait_ms=args.max_wait_ms, max_queue=args.max_queue,
        retry_after_s=args.retry_after, max_inputs=args.max_inputs,
        max_body_bytes=args.max_body_bytes, max_image_bytes=args.max_image_bytes,
        max_image_pixels=args.max_image_pixels, max_text_tokens=args.max_text_tokens,
        fetch_timeout_s=args.fetch_timeout, max_redirects=args.max_redirects,
        image_workers=args.image_workers,
        allow_private_urls=args.allow_private_urls, log_level=args.log_level,
    )


def _embed(args: argparse.Namespace) -> int:
    from .base import JinaCLIP

    if args.input is not None or args.output is not None:
        from .embed.cli import run_corpus_command

        return run_corpus_command(args)
    if not args.text and not args.image:
        print("jina-clip embed: give INPUT --output DIR, or at least one --text or --image",
              file=sys.stderr)
        return 2
    clip = JinaCLIP.local(args.model, device=args.device, dtype=args.dtype,
                          dimensions=args.dimensions, normalize=not args.no_normalize,
                          truncate=args.truncate)
    with clip:
        out = []
        if args.text:
            for text, vec in zip(args.text, clip.encode_text(args.text), strict=True):
                out.append({"text": text, "embedding": vec.tolist()})
        if args.image:
            for image, vec in zip(args.image, clip.encode_image(args.image), strict=True):
                out.append({"image": image if len(image) <= 200 else image[:200] + "...",
                            "embedding": vec.tolist()})
    json.dump({"model": clip.model_name, "dimension": clip.dimension, "data": out},
              sys.stdout)
    sys.stdout.write("\n")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .bench import DEFAULT_SECTIONS, SECTIONS, BenchOptions, run_bench

    sections = (tuple(s.strip() for s in args.only.split(",") if s.strip()) if args.only
                else DEFAULT_SECTIONS)
    if args.int8 and "int8" not in sections:
        sections += ("int8",)
    if args.peers and "peers" not in sections:
        sections += ("peers",)
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        print(f"jina-clip bench: unknown section(s) {', '.join(unknown)}; choose from "
              f"{', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    model = args.model
    if args.random_weights:
        from huggingface_hub.constants import HF_HOME

        from .bench.workloads import random_checkpoint

        print("using a full-size checkpoint with random weights (speed only)", file=sys.stderr)
        version = "v2" if "jina-clip-v2" in str(args.model) else "v1"
        name = "random-full" if version == "v1" else "random-full-v2"
        model = str(random_checkpoint(Path(HF_HOME) / "jina-clip-bench" / name, version))
    if "peers" in sections:  # fail before the other sections run, not after them
        from .export.onnx import ensure_exportable

        ensure_exportable(model)
    rows = run_bench(BenchOptions(
        model=model, device=args.device, dtype=args.dtype, sections=sections,
        quick=args.quick, baseline=not args.no_baseline, image_workers=args.image_workers,
        peers_in_process=args.peers_in_process,
    ))
    if args.json:
        Path(args.json).write_text(json.dumps([r.to_dict() for r in rows], indent=2) + "\n")
    return 0


def _export(args: argparse.Namespace) -> int:
    from .export import export_onnx

    towers = tuple(t.strip() for t in args.towers.split(",") if t.strip())
    try:
        done = export_onnx(args.model, args.output, opset=args.opset, towers=towers)
    except ValueError as exc:
        print(f"jina-clip export: {exc}", file=sys.stderr)
        return 2
    for path in (done.text_model, done.vision_model, *done.side_files):
        if path.is_file():
            print(path)
    return 0


_COMMANDS = {"serve": _serve, "embed": _embed, "bench": _bench, "export": _export}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jina-clip`` console script."""
    args = build_parser().parse_args(argv)
    from .errors import JinaCLIPError

    try:
        return _COMMANDS[args.command](args)
    except JinaCLIPError as exc:
        print(f"jina-clip {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
