"""The corpus engine's overhead, time to first output and memory, in one run.

    flock /tmp/jina-bench.lock python benchmarks/embed_corpus.py            # tiny checkpoint
    flock /tmp/jina-bench.lock python benchmarks/embed_corpus.py --model DIR --images 200

1. Throughput on one folder of photo-sized JPEGs: a plain loop calling ``encode_image`` on
   chunks of paths (the baseline, same encoder object, same process) vs ``embed_corpus`` with
   the local engine (interleaved with the loop, best of ``--repeats``) and with the Ray
   engine (2 encoder actors; ``ray.init`` timed apart). Prints items/s, the ratio to the
   loop, and the time to the first written batch.
2. Memory: peak RSS (``VmHWM``) of fresh subprocesses embedding a text table of N and of
   10 N rows with the local engine, against a plain loop that keeps the 10 N vectors as one
   array. Bounded memory means the engine's peak does not grow with N.

The tiny checkpoint (the default) makes the engine's own cost visible: with the real model
the encoder dominates and the ratios move towards 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _folder(root: Path, count: int) -> Path:
    """``count`` distinct file names (hard links to 128 photo-like JPEGs): every one is read
    and decoded."""
    from jina_clip.bench.workloads import jpeg_files

    unique = jpeg_files(root / "unique", min(count, 128))
    folder = root / "corpus"
    folder.mkdir()
    for n in range(count):
        os.link(unique[n % len(unique)], folder / f"{n:06d}.jpg")
    return folder


def _settings(model: str) -> Any:
    from jina_clip.settings import JinaCLIPSettings

    return JinaCLIPSettings(backend="local", model=model, device="cpu")


def throughput(
    model: str, images: int, batch: int, root: Path, ray: bool, repeats: int
) -> list[dict]:
    import numpy as np

    from jina_clip.embed import EmbedOptions, embed_corpus

    folder = _folder(root, images)
    paths = sorted(str(p) for p in folder.iterdir())
    clip = _settings(model).build()
    clip.encode_image(paths[:batch])  # warm-up
    rows = []
    loop_s, engine_s, first_s = [], [], []
    for rep in range(repeats):  # interleaved, best of: the machine is shared
        t0 = time.perf_counter()
        vectors = [clip.encode_image(paths[i:i + batch]) for i in range(0, len(paths), batch)]
        loop_s.append(time.perf_counter() - t0)
        assert np.concatenate(vectors).shape[0] == images
        report = embed_corpus(folder, root / f"out-local-{rep}", EmbedOptions(batch_size=batch),
                              clip=clip)
        engine_s.append(report.seconds)
        first_s.append(report.first_output_s)
    best_loop = min(loop_s)
    rows.append({"what": "plain loop: encode_image on chunks", "items_s": images / best_loop,
                 "ratio": 1.0, "first_output_s": None, "seconds": best_loop})
    rows.append({"what": "jina-clip embed, local engine", "items_s": images / min(engine_s),
                 "ratio": best_loop / min(engine_s), "first_output_s": min(first_s),
                 "seconds": min(engine_s)})
    clip.close()
    if ray:
        import ray as ray_module

        t0 = time.perf_counter()
        ray_module.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
        init_s = time.perf_counter() - t0
        options = EmbedOptions(encoder=_settings(model), engine="ray", workers=2,
                               batch_size=batch)
        report = embed_corpus(folder, root / "out-ray", options)
        ray_module.shutdown()
        rows.append({"what": f"jina-clip embed, Ray engine, 2 actors (+ray.init {init_s:.1f} s)",
                     "items_s": images / report.seconds, "ratio": best_loop / report.seconds,
                     "first_output_s": report.first_output_s, "seconds": report.seconds})
    return rows


def _text_table(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from jina_clip.testing import TINY_WORDS

    words = TINY_WORDS
    texts = [" ".join(words[(n * 7 + k) % len(words)] for k in range(12)) for n in range(rows)]
    pq.write_table(pa.table({"id": [f"t{n:08d}" for n in range(rows)], "text": texts}), path)


def _memory_child(mode: str, table: str, model: str, out: str) -> None:
    """Runs in a fresh process; prints its peak RSS as JSON."""
    import numpy as np
    import pyarrow.parquet as pq

    from jina_clip.embed import EmbedOptions, embed_corpus

    clip = _settings(model).build()
    if mode == "engine":
        n = embed_corpus(table, out, EmbedOptions(batch_size=256), clip=clip).embedded
    else:
        texts = pq.read_table(table).column("text").to_pylist()
        matrix = np.concatenate([clip.encode_text(texts[i:i + 256])
                                 for i in range(0, len(texts), 256)])
        n = matrix.shape[0]
    print(json.dumps({"peak_rss_mb": _peak_rss_mb(), "rows": n}))


def memory(model: str, texts: int, root: Path) -> list[dict]:
    rows = []
    for mode, count in (("engine", texts), ("engine", 10 * texts), ("loop", 10 * texts)):
        table = root / f"texts-{count}.parquet"
        if not table.exists():
            _text_table(table, count)
        out = root / f"mem-{mode}-{count}"
        done = subprocess.run([sys.executable, __file__, "--memory-child", mode, str(table),
                               model, str(out)], capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        what = ("jina-clip embed, local engine" if mode == "engine"
                else "plain loop keeping one array")
        rows.append({"what": f"{what}, {count:,} texts", **result})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", default=None, help="checkpoint folder (default: tiny)")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--texts", type=int, default=20_000,
                        help="rows of the small memory run (the large one has 10x)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--repeats", type=int, default=3,
                        help="loop/engine pairs, interleaved; the best of each is printed")
    parser.add_argument("--memory-child", nargs=4, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        _memory_child(*args.memory_child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = args.model
        if model is None:
            from jina_clip.testing import write_tiny_checkpoint

            model = str(write_tiny_checkpoint(root / "tiny"))
        print(f"load: {os.getloadavg()[0]:.1f}, cpus: {os.cpu_count()}, model: "
              f"{'tiny' if args.model is None else args.model}")
        print("\n| throughput | items/s | vs loop | first output (s) |\n|---|---|---|---|")
        for row in throughput(model, args.images, args.batch_size, root, not args.no_ray,
                              args.repeats):
            first = "–" if row["first_output_s"] is None else f"{row['first_output_s']:.2f}"
            print(f"| {row['what']} | {row['items_s']:.0f} | {row['ratio']:.2f}x | {first} |")
        print("\n| memory | rows | peak RSS (MB) |\n|---|---|---|")
        for row in memory(model, args.texts, root):
            print(f"| {row['what']} | {row['rows']:,} | {row['peak_rss_mb']:.0f} |")
        print(f"\nload at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
