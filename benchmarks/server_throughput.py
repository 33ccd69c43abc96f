"""Throughput of ``jina-clip serve`` with dynamic batching on and off, in one run.

Starts ``jina-clip serve`` as a subprocess on 127.0.0.1 (a free port), with the tiny random
checkpoint by default (``--model`` for a real one), then N concurrent asyncio+httpx clients
send a fixed number of requests. Prints req/s, items/s, p50/p99 latency and the number of
model calls per mode, and the speed-up. The server runs in its own process so that client
and server do not share one GIL.

    python benchmarks/server_throughput.py --clients 32 --requests 400 --items 1
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

# ServeProcess is the repository's test tooling (tests/serve_process.py), not part of the
# installed package: import it from this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serve_process import ServeProcess


async def _drive(url: str, *, clients: int, requests: int, items: int, words: int
                 ) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))
    text = " ".join(["word"] * words)

    async def worker(client: httpx.AsyncClient, wid: int) -> None:
        nonlocal errors
        for n in counter:
            body = {"model": "jina-clip-v1",
                    "input": [f"{text} {wid} {n} {i}" for i in range(items)]}
            t0 = time.perf_counter()
            r = await client.post(f"{url}/v1/embeddings", json=body)
            latencies.append(time.perf_counter() - t0)
            errors += r.status_code != 200

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=300, limits=limits, trust_env=False) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client, w) for w in range(clients)))
        wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100)
    return {"req_s": requests / wall, "items_s": requests * items / wall,
            "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000, "errors": errors}


def run_mode(model: str, batching: bool, args: argparse.Namespace) -> dict[str, Any]:
    flags = ["--max-batch-size", str(args.max_batch_size), "--max-wait-ms",
             str(args.max_wait_ms), "--max-queue", "100000"]
    if not batching:
        flags.append("--no-batching")
    with ServeProcess(model, device=args.device, extra=flags, offline=False) as server:
        url = server.url
        warm = {"model": "jina-clip-v1", "input": ["warm up"] * 4}
        httpx.post(f"{url}/v1/embeddings", json=warm, timeout=60, trust_env=False)
        before = httpx.get(f"{url}/health", trust_env=False).json()["model_calls"]["text"]
        stats = asyncio.run(_drive(url, clients=args.clients, requests=args.requests,
                                   items=args.items, words=args.words))
        after = httpx.get(f"{url}/health", trust_env=False).json()["model_calls"]["text"]
        stats["model_calls"] = after - before
    return stats


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint (default: tiny random checkpoint)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--items", type=int, default=1, help="texts per request")
    p.add_argument("--words", type=int, default=12, help="words per text")
    p.add_argument("--max-batch-size", type=int, default=32)
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    args = p.parse_args()
    model = args.model
    if model is None:
        from jina_clip.testing import write_tiny_checkpoint

        model = str(write_tiny_checkpoint(tempfile.mkdtemp(prefix="tiny-jina-clip-")))
    print(f"model={args.model or 'tiny checkpoint'} clients={args.clients} "
          f"requests={args.requests} items/request={args.items} words/text={args.words}")
    results = {}
    for batching in (False, True):
        name = "batching on " if batching else "batching off"
        r = results[batching] = run_mode(model, batching, args)
        print(f"{name}: {r['req_s']:8.1f} req/s {r['items_s']:8.1f} items/s  "
              f"p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
              f"model calls {r['model_calls']}  errors {r['errors']}")
    print(f"speed-up (throughput, on/off): {results[True]['req_s'] / results[False]['req_s']:.2f}x")


if __name__ == "__main__":
    main()
