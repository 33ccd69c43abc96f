"""``jina-clip bench --peers``: our encoder next to ONNX Runtime and OpenVINO on the same
weights, in one run, one table (the rows of docs/performance.md's comparison).

The checkpoint is exported with :func:`jina_clip.export.export_onnx` (and its text graph
quantised with ONNX Runtime's dynamic int8), so every engine computes the same model. Each
engine runs in its own worker process (:mod:`jina_clip.bench.peer_worker`), as a user runs
one, and times its calls itself. Calls are interleaved across engines (engine 1, engine 2,
..., engine 1, ...) so background load slows all of them alike, each after a short idle
(``PeerSizes.settle``): a thread pool keeps spinning after its call, even from another
process, and takes cores from the next engine's call. Throughput rows keep each engine's
best repeat, the query row its p50. The long text runs once per engine in a fresh
subprocess, for its own peak RSS; a peer's full ``[B, H, L, L]`` attention needs 5-17 GiB
at 8,192 tokens, so each peer's run is skipped (and says so) when the machine has not that
much memory available. Run the whole thing alone on the machine: the peers' long texts are
the memory peaks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ..local import LocalJinaCLIP
from .engines import ours_settings
from .measure import interleaved_timed, min_cosine, percentile, run_json_subprocess, table
from .peer_long import make_peer
from .peer_worker import EngineRows, PeerInputs, WorkerRows
from .workloads import exact_token_texts, jpeg_files

__all__ = ["PEER_ENGINES", "WORKER_CALL_TIMEOUT", "WORKER_START_TIMEOUT", "PeerSizes",
           "export_for_peers", "peer_table"]

#: Columns of the table, in order: (engine, precision).
PEER_ENGINES = ("ours-fp32", "ort-fp32", "openvino-fp32", "ours-bf16", "openvino-bf16",
                "ours-int8", "ort-int8")


@dataclass(frozen=True)
class PeerSizes:
    """Workloads, and ``settle``: seconds of idle before every timed call (outside the
    timing), so the previous engine's thread pool, spinning in its own process after its
    call (ONNX Runtime's, OpenMP's), has stopped taking cores from the next engine's call:
    back to back, it doubled our fp32 query's p50 behind ORT int8."""

    files: int = 16
    texts: int = 64
    text_tokens: int = 128
    query_tokens: int = 16
    queries: int = 30
    repeats: int = 3
    long_tokens: int = 8192
    settle: float = 0.2


def export_for_peers(checkpoint: Path, out: Path) -> Path:
    """The checkpoint as ONNX under ``out`` (fp32 graphs + a dynamic-int8 text graph)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from ..export import export_onnx

    done = export_onnx(checkpoint, out)
    quantize_dynamic(str(done.text_model), str(out / "onnx/text_model_int8.onnx"),
                     weight_type=QuantType.QInt8)
    return out


def _available_memory() -> int:
    with open("/proc/meminfo") as info:
        return next(int(ln.split()[1]) * 1024 for ln in info if ln.startswith("MemAvailable:"))


#: A peer's peak at a long text, in fp32 [H, L, L] tensors (mask, scores, softmax, ...):
#: from the issue's 8,192-token measurements (ORT 15.0 GiB, OpenVINO 8.2 and 4.5 GiB).
_LONG_FACTORS = {"ort-fp32": 5.0, "ort-int8": 5.0, "openvino-fp32": 2.7, "openvino-bf16": 1.5}


def _peer_long_bytes(tokens: int, heads: int, engine: str = "ort-fp32") -> int:
    """What ``engine`` needs for one ``tokens``-long text: its full-mask attention plus the
    model (estimated; the run is skipped when the machine has less available)."""
    return int(_LONG_FACTORS[engine] * 4 * heads * tokens * tokens) + (2 << 30)


#: Seconds a worker may take to load its engine, and to answer one call.
WORKER_START_TIMEOUT = 900.0
WORKER_CALL_TIMEOUT = 900.0


def peer_table(checkpoint: Path, workdir: Path, sizes: PeerSizes = PeerSizes(),
               engines: tuple[str, ...] = PEER_ENGINES,
               echo: Callable[[str], None] = print, in_process: bool = False,
               onnx_dir: Path | None = None,
               ) -> tuple[str, dict[str, dict[str, float]]]:
    """Measure every engine on every row; return the Markdown table and the raw numbers
    (``results[row][engine]``: seconds, or GiB for memory). Each engine runs in its own
    worker process unless ``in_process``; ``onnx_dir``: an earlier export to reuse (default:
    export now); ``sizes.long_tokens`` 0 skips the long-text rows."""
    if onnx_dir is None:
        onnx_dir = export_for_peers(checkpoint, workdir / "onnx-export")
        echo(f"exported to {onnx_dir}")
    inputs, heads = _inputs(checkpoint, workdir, sizes)
    echo("engines: " + ("all in this process" if in_process else "each in its own process")
         + f", calls interleaved, {sizes.settle:g} s idle before each")
    bound = _bind(engines, checkpoint, onnx_dir, inputs, workdir, in_process)
    results: dict[str, dict[str, float]] = {}
    agree: dict[str, float] = {}
    try:
        for row, repeats, warmup in (("images", sizes.repeats, 1), ("texts", sizes.repeats, 1),
                                     ("query", sizes.queries, 3)):
            t = interleaved_timed({n: partial(_settled, e, row, sizes.settle)
                                   for n, e in bound.items() if row in e.rows}, repeats, warmup)
            results[row] = {n: percentile(v, 50) if row == "query" else min(v)
                            for n, v in t.items()}
            echo(f"{row}{' p50' if row == 'query' else ''}: {_brief(results[row])}")
        if "ours-fp32" in bound:
            ref = bound["ours-fp32"].vectors("agree")
            agree = {n: min_cosine(e.vectors("agree"), ref) for n, e in bound.items()}
    finally:
        for engine in bound.values():
            engine.close()
    if sizes.long_tokens:
        results["long"], results["long_rss"], skipped = _long_rows(
            checkpoint, onnx_dir, sizes.long_tokens, heads, engines, echo)
    else:
        skipped = {}
    return _render(results, agree, skipped, sizes, engines), results


def _settled(engine: EngineRows | WorkerRows, row: str, settle: float) -> float:
    time.sleep(settle)
    return engine.time(row)


def _inputs(checkpoint: Path, workdir: Path, sizes: PeerSizes) -> tuple[PeerInputs, int]:
    """Every engine's inputs (texts of exact token counts, JPEG files), and the text
    tower's head count."""
    probe = LocalJinaCLIP(checkpoint, device="cpu", dtype="float32")
    try:
        texts = exact_token_texts(probe, sizes.text_tokens, sizes.texts, seed=1)
        inputs = PeerInputs(images=jpeg_files(workdir / "jpeg", sizes.files), texts=texts,
                            query=exact_token_texts(probe, sizes.query_tokens, 1, seed=3),
                            agree=texts[:8])
        return inputs, probe.model.config.text.num_attention_heads
    finally:
        probe.close()


def _bind(engines: tuple[str, ...], checkpoint: Path, onnx_dir: Path, inputs: PeerInputs,
          workdir: Path, in_process: bool) -> dict[str, EngineRows | WorkerRows]:
    """Every engine loaded and bound to the inputs: here, or each in a worker process (all
    started at once, then waited for)."""
    bound: dict[str, EngineRows | WorkerRows] = {}
    try:
        if in_process:
            for name in engines:
                bound[name] = EngineRows(make_peer(name, checkpoint, onnx_dir), inputs)
            return bound
        path = inputs.save(workdir / "peer-inputs.json")
        for name in engines:
            bound[name] = WorkerRows.start(name, checkpoint, onnx_dir, path, workdir,
                                           WORKER_CALL_TIMEOUT)
        for worker in bound.values():
            assert isinstance(worker, WorkerRows)
            worker.wait_ready(WORKER_START_TIMEOUT)
        return bound
    except BaseException:
        for engine in bound.values():
            engine.close()
        raise


def _long_rows(checkpoint: Path, onnx_dir: Path, tokens: int, heads: int,
               engines: tuple[str, ...], echo: Callable[[str], None],
               ) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    seconds: dict[str, float] = {}
    rss: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for name in engines:
        if name.startswith("ours"):
            dtype, quantize = ours_settings(name)
            args = ["jina_clip.bench.long_text", str(checkpoint), "optimised", str(tokens),
                    "cpu", dtype, *([quantize] if quantize else [])]
        else:
            need, have = _peer_long_bytes(tokens, heads, name), _available_memory()
            if need > have:
                skipped[name] = f"needs ~{need / 2**30:.0f} GiB, {have / 2**30:.0f} available"
                echo(f"{name}: long text skipped ({skipped[name]})")
                continue
            args = ["jina_clip.bench.peer_long", name, str(checkpoint), str(onnx_dir),
                    str(tokens)]
        res = run_json_subprocess(args)
        if not res["finite"]:
            raise RuntimeError(f"{name}: the {tokens}-token text gave a bad vector: {res}")
        seconds[name], rss[name] = res["seconds"], res["peak"] / 2**30
        echo(f"{name}: {tokens}-token text {seconds[name]:.2f} s, {rss[name]:.2f} GiB")
    return seconds, rss, skipped


def _brief(row: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.4g} s" for name, seconds in row.items())


def _render(results: dict[str, dict[str, float]], agree: dict[str, float],
            skipped: dict[str, str], sizes: PeerSizes, engines: tuple[str, ...]) -> str:
    rows = [("images", f"{sizes.files} JPEGs 500x375 -> vectors", "{:.2f} s", 1),
            ("texts", f"{sizes.texts} texts x {sizes.text_tokens} tokens", "{:.2f} s", 1),
            ("query", f"one {sizes.query_tokens}-token query, p50", "{:.1f} ms", 1e3),
            ("long", f"one {sizes.long_tokens:,}-token text, time", "{:.1f} s", 1),
            ("long_rss", f"one {sizes.long_tokens:,}-token text, peak RSS", "{:.2f} GiB", 1)]
    body = []
    for key, label, fmt, scale in rows if sizes.long_tokens else rows[:3]:
        cells = [label]
        for name in engines:
            value = results.get(key, {}).get(name)
            cells.append("skipped" if value is None and name in skipped and key.startswith(
                "long") else "-" if value is None else fmt.format(value * scale))
        body.append(cells)
    if agree:
        body.append(["min cos to ours fp32 (texts)",
                     *(f"{agree[n]:.6f}" if n in agree else "-" for n in engines)])
    return table(body, ["", *engines])
