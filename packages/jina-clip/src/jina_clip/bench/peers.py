"""``jina-clip bench --peers``: our encoder next to ONNX Runtime and OpenVINO on the same
weights, in one run, one table (the rows of docs/performance.md's comparison).

The checkpoint is exported with :func:`jina_clip.export.export_onnx` (and its text graph
quantised with ONNX Runtime's dynamic int8), so every engine computes the same model. Calls
are interleaved across engines (engine 1, engine 2, ..., engine 1, ...) so background load
slows all of them alike; throughput rows keep each engine's best repeat, the query row its
p50. The long text runs once per engine in a fresh subprocess, for its own peak RSS; a
peer's full ``[B, H, L, L]`` attention needs 5-17 GiB at 8,192 tokens, so each peer's run is
skipped (and says so) when the machine has not that much memory available. Run the whole
thing alone on the machine: the peers' long texts are the memory peaks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..local import LocalJinaCLIP
from .engines import Engine
from .measure import interleaved, min_cosine, percentile, run_json_subprocess, table
from .peer_long import make_peer
from .workloads import exact_token_texts, jpeg_files

__all__ = ["PEER_ENGINES", "PeerSizes", "export_for_peers", "peer_table"]

#: Columns of the table, in order: (engine, precision).
PEER_ENGINES = ("ours-fp32", "ort-fp32", "openvino-fp32", "ours-bf16", "openvino-bf16",
                "ours-int8", "ort-int8")


@dataclass(frozen=True)
class PeerSizes:
    files: int = 16
    texts: int = 64
    text_tokens: int = 128
    query_tokens: int = 16
    queries: int = 30
    repeats: int = 3
    long_tokens: int = 8192


def export_for_peers(checkpoint: Path, out: Path) -> Path:
    """The checkpoint as ONNX under ``out`` (fp32 graphs + a dynamic-int8 text graph)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from ..export import export_onnx

    done = export_onnx(checkpoint, out)
    quantize_dynamic(str(done.text_model), str(out / "onnx/text_model_int8.onnx"),
                     weight_type=QuantType.QInt8)
    return out


def _ours(name: str, checkpoint: Path) -> Engine:
    precision = name.split("-")[1]
    enc = LocalJinaCLIP(checkpoint, device="cpu",
                        dtype="bfloat16" if precision == "bf16" else "float32",
                        quantize="int8" if precision == "int8" else None)

    def text(texts: list[str]) -> np.ndarray:
        return enc.encode_text(texts, normalize=False)

    def image(files: list[str]) -> np.ndarray:
        return enc.encode_image(files, normalize=False)

    # int8 quantises the text tower only: its images would be our fp32 again
    return Engine(name, text, None if precision == "int8" else image, enc.close)


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


def peer_table(checkpoint: Path, workdir: Path, sizes: PeerSizes = PeerSizes(),
               engines: tuple[str, ...] = PEER_ENGINES,
               echo: Callable[[str], None] = print) -> tuple[str, dict[str, dict[str, float]]]:
    """Measure every engine on every row; return the Markdown table and the raw numbers
    (``results[row][engine]``: seconds, or GiB for memory)."""
    onnx_dir = export_for_peers(checkpoint, workdir / "onnx-export")
    echo(f"exported to {onnx_dir}")
    built = {name: _ours(name, checkpoint) if name.startswith("ours") else
             make_peer(name, checkpoint, onnx_dir) for name in engines}
    files = jpeg_files(workdir / "jpeg", sizes.files)
    probe_enc = LocalJinaCLIP(checkpoint, device="cpu", dtype="float32")
    texts = exact_token_texts(probe_enc, sizes.text_tokens, sizes.texts, seed=1)
    query = exact_token_texts(probe_enc, sizes.query_tokens, 1, seed=3)
    heads = probe_enc.model.config.text.num_attention_heads
    probe_enc.close()
    results: dict[str, dict[str, float]] = {}
    agree: dict[str, float] = {}
    try:
        imagers = {n: e.encode_image for n, e in built.items() if e.encode_image is not None}
        t = interleaved({n: (lambda f=f: f(files)) for n, f in imagers.items()},
                        sizes.repeats, _cpu())
        results["images"] = {n: min(v) for n, v in t.items()}
        echo(f"images: {_brief(results['images'])}")
        t = interleaved({n: (lambda e=e: e.encode_text(texts)) for n, e in built.items()},
                        sizes.repeats, _cpu())
        results["texts"] = {n: min(v) for n, v in t.items()}
        echo(f"texts: {_brief(results['texts'])}")
        t = interleaved({n: (lambda e=e: e.encode_text(query)) for n, e in built.items()},
                        sizes.queries, _cpu(), warmup=3)
        results["query"] = {n: percentile(v, 50) for n, v in t.items()}
        echo(f"query p50: {_brief(results['query'])}")
        if "ours-fp32" in built:
            ref = built["ours-fp32"].encode_text(texts[:8])
            agree = {n: min_cosine(e.encode_text(texts[:8]), ref) for n, e in built.items()}
    finally:
        for engine in built.values():
            engine.close()
    results["long"], results["long_rss"], skipped = _long_rows(
        checkpoint, onnx_dir, sizes.long_tokens, heads, engines, echo)
    return _render(results, agree, skipped, sizes, engines), results


def _long_rows(checkpoint: Path, onnx_dir: Path, tokens: int, heads: int,
               engines: tuple[str, ...], echo: Callable[[str], None],
               ) -> tuple[dict[str, float], dict[str, float], dict[str, str]]:
    seconds: dict[str, float] = {}
    rss: dict[str, float] = {}
    skipped: dict[str, str] = {}
    for name in engines:
        if name.startswith("ours"):
            precision = name.split("-")[1]
            args = ["jina_clip.bench.long_text", str(checkpoint), "optimised", str(tokens),
                    "cpu", "bfloat16" if precision == "bf16" else "float32",
                    *(["int8"] if precision == "int8" else [])]
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


def _cpu():  # type: ignore[no-untyped-def]
    import torch

    return torch.device("cpu")


def _render(results: dict[str, dict[str, float]], agree: dict[str, float],
            skipped: dict[str, str], sizes: PeerSizes, engines: tuple[str, ...]) -> str:
    rows = [("images", f"{sizes.files} JPEGs 500x375 -> vectors", "{:.2f} s", 1),
            ("texts", f"{sizes.texts} texts x {sizes.text_tokens} tokens", "{:.2f} s", 1),
            ("query", f"one {sizes.query_tokens}-token query, p50", "{:.1f} ms", 1e3),
            ("long", f"one {sizes.long_tokens:,}-token text, time", "{:.1f} s", 1),
            ("long_rss", f"one {sizes.long_tokens:,}-token text, peak RSS", "{:.2f} GiB", 1)]
    body = []
    for key, label, fmt, scale in rows:
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
