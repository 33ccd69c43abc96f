"""One huge text against ``jina-clip serve``: its wall time, other clients' latency during it,
and the server's memory before, at peak and after.

Starts ``jina-clip serve`` on the tiny random checkpoint (``--model`` for another) in a
subprocess on 127.0.0.1, sends one request with one text of ``--mb`` megabytes (``"a " * n``,
``truncate: true``, or ``false`` with ``--refuse``), and meanwhile a second client sends small
one-text requests one after another. Prints the huge request's wall time and status, the small
requests' latencies (max, p50) and the server's RSS before, peak (sampled every 50 ms) and two
seconds after.

    python benchmarks/server_huge_text.py --mb 8
    python benchmarks/server_huge_text.py --mb 8 --versions 1 2   # tiny v1, then tiny v2
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

# ServeProcess is the repository's test tooling (tests/serve_process.py), not part of the
# installed package: import it from this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serve_process import ServeProcess


def measure(url: str, server: ServeProcess, *, mb: float, truncate: bool,
            name: str = "jina-clip-v1") -> dict[str, float]:
    small = {"model": name, "input": ["a small text from another client"]}
    with httpx.Client(timeout=300, trust_env=False) as warm:
        for _ in range(3):
            warm.post(f"{url}/v1/embeddings", json=small).raise_for_status()
    time.sleep(1)
    before = server.rss_mib()
    peak = before
    done = threading.Event()
    result: dict[str, float] = {}

    def big() -> None:
        text = "a " * int(mb * 1_000_000 / 2)
        body = {"model": name, "input": [text], "truncate": truncate}
        with httpx.Client(timeout=300, trust_env=False) as client:
            t0 = time.perf_counter()
            response = client.post(f"{url}/v1/embeddings", json=body)
            result["big_s"] = time.perf_counter() - t0
            result["big_status"] = response.status_code
        done.set()

    latencies: list[float] = []

    def smalls() -> None:
        with httpx.Client(timeout=300, trust_env=False) as client:
            while not done.is_set():
                t0 = time.perf_counter()
                client.post(f"{url}/v1/embeddings", json=small).raise_for_status()
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.05)

    threads = [threading.Thread(target=big), threading.Thread(target=smalls)]
    for t in threads:
        t.start()
    while not done.is_set():
        peak = max(peak, server.rss_mib())
        time.sleep(0.05)
    for t in threads:
        t.join()
    time.sleep(2)
    result.update(rss_before_mib=before, rss_peak_mib=peak, rss_after_mib=server.rss_mib(),
                  small_requests=len(latencies), small_max_s=max(latencies, default=0.0),
                  small_p50_s=statistics.median(latencies) if latencies else 0.0)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None, help="checkpoint (default: a tiny random one)")
    parser.add_argument("--mb", type=float, default=8.0)
    parser.add_argument("--refuse", action="store_true", help="send truncate: false")
    parser.add_argument("--versions", nargs="+", choices=["1", "2"], default=["1"],
                        help="tiny checkpoints to run, one after another (2: jina-clip-v2)")
    args = parser.parse_args()
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for version in args.versions:
            name = f"jina-clip-v{version}"
            model = args.model
            if model is None:
                from jina_clip.testing import write_tiny_checkpoint, write_tiny_v2_checkpoint

                write = write_tiny_v2_checkpoint if version == "2" else write_tiny_checkpoint
                model = str(write(Path(tmp) / name))
            with ServeProcess(model, served_model_name=name) as server:
                rows[name] = measure(server.url, server, mb=args.mb, truncate=not args.refuse,
                                     name=name)
    for name, row in rows.items():
        print(name)
        for key, value in row.items():
            print(f"{key:>16}: {value:.2f}")

if __name__ == "__main__":
    main()
