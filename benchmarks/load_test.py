"""Bounded load test of ``jina-clip serve`` on loopback: N concurrent asyncio+httpx clients for
T seconds, then an overload phase against a server with a tiny queue.

The script starts the server itself (tiny random checkpoint by default, ``--model`` for a real
one) as a subprocess on 127.0.0.1, so client and server do not share a GIL and the server's
memory can be read from ``/proc/<pid>/status`` (VmRSS, sampled every 0.25 s).

Each client sends mixed requests (1-8 items, texts of 1-40 words and small PNG images as data
URIs, in one ``input`` list) as fast as answers come back. Every 200 is checked: one vector per
input, in order, equal to the vector the server gave that input alone during warm-up. A 503
with ``Retry-After`` is counted apart (deliberate back-pressure; the client waits as told);
anything else is an error. Reported per phase: requests/s, items/s, latency p50/p90/p99 of
answered requests, errors by status, and server RSS at start, peak and end.

    python benchmarks/load_test.py                    # 64 clients x 30 s, then overload
    python benchmarks/load_test.py --clients 16 --duration 5 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import io
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

# ServeProcess is the repository's test tooling (tests/serve_process.py), not part of the
# installed package: import it from this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serve_process import ServeProcess

MODEL_NAME = "jina-clip-load"
#: The overload server: a queue this small overflows with a few dozen clients.
OVERLOAD_FLAGS = ("--max-queue", "16", "--max-batch-size", "8")
MAX_ITEMS = 8  # per request; must stay <= the overload queue (else 400 too_many_inputs)
ATOL = 1e-4  # batch composition may move a vector by float rounding, never more
_WORDS = ["the", "a", "photo", "of", "small", "big", "red", "blue", "green", "dog", "cat",
          "bird", "tree", "river", "city", "night", "day", "bridge", "road", "car", "house",
          "light", "dark", "sea", "sky", "people", "water", "food"]


@dataclass
class PhaseResult:
    """What one phase measured (all times in seconds unless named _ms, memory in MiB)."""

    name: str
    clients: int
    duration: float
    wall: float = 0.0
    ok: int = 0
    items: int = 0
    deliberate_503: int = 0  # 503 with Retry-After
    errors: dict[str, int] = field(default_factory=dict)  # status or exception -> count
    wrong: int = 0  # 200 whose vectors were missing, extra, reordered or different
    latency_ms: dict[str, float] = field(default_factory=dict)
    rss_mib: dict[str, float] = field(default_factory=dict)
    rss_samples: list[tuple[float, float]] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def req_s(self) -> float:
        return self.ok / self.wall if self.wall else 0.0

    @property
    def items_s(self) -> float:
        return self.items / self.wall if self.wall else 0.0


# --- workload ------------------------------------------------------------------------------------


@dataclass
class Workload:
    """Distinct inputs (API items) and, after warm-up, the server's vector for each."""

    items: list[dict[str, str]]
    reference: np.ndarray | None = None

    @classmethod
    def make(cls, seed: int, texts: int = 160, images: int = 16) -> Workload:
        from PIL import Image

        rng = random.Random(seed)
        words = _WORDS
        items = [{"text": " ".join(rng.choice(words) for _ in range(rng.randint(1, 40)))
                  + f" {i}"} for i in range(texts)]
        for _ in range(images):
            size = (rng.randint(8, 64), rng.randint(8, 64))
            buf = io.BytesIO()
            Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3)).save(buf, "PNG")
            items.append({"image": "data:image/png;base64,"
                                   + base64.b64encode(buf.getvalue()).decode()})
        return cls(items)

    def request(self, rng: random.Random) -> list[int]:
        """Indices of one request's items: mostly texts, one in five items an image."""
        n_text = len([i for i in self.items if "text" in i])
        out = []
        for _ in range(rng.randint(1, MAX_ITEMS)):
            if rng.random() < 0.2:
                out.append(rng.randrange(n_text, len(self.items)))
            else:
                out.append(rng.randrange(n_text))
        return out

    async def warm_up(self, client: httpx.AsyncClient, url: str) -> None:
        """The server's vector for each distinct input (requests of ``MAX_ITEMS``, one at a
        time), which also loads every code path before the clock starts."""
        vectors = []
        for start in range(0, len(self.items), MAX_ITEMS):
            r = await client.post(url, json=_body(self.items[start:start + MAX_ITEMS]))
            r.raise_for_status()
            vectors.append(_vectors(r.json()))
        self.reference = np.concatenate(vectors)


def _body(items: list[dict[str, str]]) -> dict[str, Any]:
    return {"model": MODEL_NAME, "input": items, "embedding_type": "base64"}


def _vectors(payload: dict[str, Any]) -> np.ndarray:
    data = payload["data"]
    if [d["index"] for d in data] != list(range(len(data))):
        raise ValueError("indices out of order")
    return np.stack([np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4")
                     for d in data])


# --- the load ------------------------------------------------------------------------------------


async def _sample_rss(server: ServeProcess, out: list[tuple[float, float]], t0: float,
                      stop: asyncio.Event) -> None:
    while not stop.is_set():
        out.append((time.monotonic() - t0, server.rss_mib()))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


async def drive(server: ServeProcess, name: str, *, clients: int, duration: float,
                seed: int = 0) -> PhaseResult:
    """Warm up, then ``clients`` concurrent clients for ``duration`` seconds."""
    result = PhaseResult(name, clients, duration)
    work = Workload.make(seed)
    url = f"{server.url}/v1/embeddings"
    latencies: list[float] = []
    errors: collections.Counter[str] = collections.Counter()
    # Idle connections are dropped before the server's 5 s keep-alive timeout closes them:
    # with equal timeouts a request can go out on a socket the server is closing (a reset).
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients,
                          keepalive_expiry=2.0)
    async with httpx.AsyncClient(timeout=120, limits=limits, trust_env=False) as http:
        await work.warm_up(http, url)
        assert work.reference is not None
        t0 = time.monotonic()
        stop = asyncio.Event()
        sampler = asyncio.ensure_future(_sample_rss(server, result.rss_samples, t0, stop))
        end = t0 + duration

        async def client(cid: int) -> None:
            rng = random.Random(seed * 1000 + cid)
            while time.monotonic() < end:
                picks = work.request(rng)
                start = time.monotonic()
                try:
                    r = await http.post(url, json=_body([work.items[i] for i in picks]))
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                if r.status_code == 200:
                    latencies.append(time.monotonic() - start)
                    result.ok += 1
                    result.items += len(picks)
                    try:
                        good = np.allclose(_vectors(r.json()), work.reference[picks], atol=ATOL)
                    except (ValueError, KeyError):
                        good = False
                    result.wrong += not good
                elif r.status_code == 503 and "retry-after" in r.headers:
                    result.deliberate_503 += 1
                    await asyncio.sleep(min(float(r.headers["retry-after"]),
                                            max(0.0, end - time.monotonic())))
                else:
                    errors[str(r.status_code)] += 1

        await asyncio.gather(*(client(c) for c in range(clients)))
        result.wall = time.monotonic() - t0
        stop.set()
        await sampler
    result.errors = dict(errors)
    rss = [m for _, m in result.rss_samples]
    result.rss_mib = {"start": rss[0], "peak": max(rss), "end": server.rss_mib()}
    if len(latencies) >= 2:
        q = statistics.quantiles(latencies, n=100)
        result.latency_ms = {"p50": q[49] * 1e3, "p90": q[89] * 1e3, "p99": q[98] * 1e3}
    return result


def run_phase(model: str, name: str, *, clients: int, duration: float,
              flags: Sequence[str] = (), device: str = "cpu", seed: int = 0) -> PhaseResult:
    """Start a server with ``flags``, load it, stop it."""
    with ServeProcess(model, device=device, served_model_name=MODEL_NAME, extra=flags) as server:
        return asyncio.run(drive(server, name, clients=clients, duration=duration, seed=seed))


def run(model: str, *, clients: int, duration: float, overload_duration: float | None = None,
        device: str = "cpu") -> list[PhaseResult]:
    """The steady phase (default queue) and the overload phase (``OVERLOAD_FLAGS``)."""
    steady = run_phase(model, "steady", clients=clients, duration=duration, device=device)
    overload = run_phase(model, "overload", clients=clients,
                         duration=overload_duration or min(duration, 10.0),
                         flags=OVERLOAD_FLAGS, device=device, seed=1)
    return [steady, overload]


def table(results: Sequence[PhaseResult]) -> str:
    head = ("| phase | clients | s | answered | req/s | items/s | p50 ms | p90 ms | p99 ms "
            "| 503+Retry-After | other errors | wrong | RSS start/peak/end MiB |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        lat = r.latency_ms
        lines.append(
            f"| {r.name} | {r.clients} | {r.wall:.1f} | {r.ok} | {r.req_s:.1f} | "
            f"{r.items_s:.1f} | {lat.get('p50', 0):.0f} | {lat.get('p90', 0):.0f} | "
            f"{lat.get('p99', 0):.0f} | {r.deliberate_503} | "
            f"{r.error_count} {r.errors or ''} | {r.wrong} | "
            f"{r.rss_mib['start']:.0f} / {r.rss_mib['peak']:.0f} / {r.rss_mib['end']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help="checkpoint (default: tiny random checkpoint)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--duration", type=float, default=30.0, help="seconds of steady load")
    p.add_argument("--overload-duration", type=float, default=10.0)
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()
    model = args.model
    if model is None:
        from jina_clip.testing import write_tiny_checkpoint

        model = str(write_tiny_checkpoint(tempfile.mkdtemp(prefix="tiny-jina-clip-")))
    results = run(model, clients=args.clients, duration=args.duration,
                  overload_duration=args.overload_duration, device=args.device)
    print(f"model={args.model or 'tiny checkpoint'} device={args.device} "
          f"cpus={os.cpu_count()} overload flags: {' '.join(OVERLOAD_FLAGS)}")
    print(table(results))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump([asdict(r) for r in results], f, indent=1)
    bad = [r.name for r in results if r.error_count or r.wrong]
    if bad:
        sys.exit(f"errors in phase(s): {', '.join(bad)}")


if __name__ == "__main__":
    main()
