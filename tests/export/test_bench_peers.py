"""``jina-clip bench --peers``: every engine runs every row it supports on the tiny
checkpoint, the peers compute our vectors (same weights), and the long text runs in a fresh
subprocess per engine."""

from __future__ import annotations

import json
import pathlib

import pytest

from jina_clip import cli
from jina_clip.bench.peers import PEER_ENGINES, PeerSizes, _peer_long_bytes, peer_table

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

# workers and long-text subprocesses: a hung one fails the test instead of the CI run
pytestmark = pytest.mark.timeout(600)


def test_bench_peers_measures_every_engine(
    tiny_checkpoint: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "rows.json"
    assert cli.main(["bench", "--model", str(tiny_checkpoint), "--device", "cpu", "--quick",
                     "--only", "peers", "--json", str(out_json)]) == 0
    printed = capsys.readouterr().out
    rows = {r["name"]: r["extra"] for r in json.loads(out_json.read_text())}
    assert list(rows) == [f"peers: {engine}" for engine in PEER_ENGINES]
    for engine in PEER_ENGINES:
        values = rows[f"peers: {engine}"]
        for key in ("texts", "query", "long", "long_rss"):
            assert values[key] > 0, (key, engine)
        has_images = not engine.endswith("int8")  # the int8 engines quantise texts only
        assert ("images" in values) == has_images
    # Same weights: the fp32 peers give our fp32 vectors; low precisions stay close.
    agree = next(ln for ln in printed.splitlines() if ln.startswith("| min cos to ours"))
    cells = [c.strip() for c in agree.strip("|").split("|")][1:]
    cosines = dict(zip(PEER_ENGINES, map(float, cells), strict=True))
    assert cosines["ort-fp32"] > 0.99999 and cosines["openvino-fp32"] > 0.99999
    assert min(cosines.values()) > 0.99
    assert "one 2,048-token text, peak RSS" in printed
    assert "engines: each in its own process, calls interleaved, 0.01 s idle" in printed


def test_in_process_runs_the_same_rows_without_workers(
    tiny_checkpoint: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    said: list[str] = []
    md, results = peer_table(tiny_checkpoint, tmp_path, PeerSizes(2, 4, 16, 8, 3, 1, 0, 0),
                             engines=("ours-fp32", "ort-int8"), echo=said.append,
                             in_process=True)
    assert "engines: all in this process, calls interleaved, 0 s idle before each" in said
    assert not list(tmp_path.glob("worker-*.log"))
    assert set(results["images"]) == {"ours-fp32"}
    assert set(results["texts"]) == set(results["query"]) == {"ours-fp32", "ort-int8"}
    assert "long" not in results  # long_tokens=0 skips the long rows
    agree = next(ln for ln in md.splitlines() if ln.startswith("| min cos to ours"))
    assert float(agree.strip("|").split("|")[1]) > 0.99999


def test_peer_long_memory_estimate_matches_the_issue() -> None:
    # ~15 GiB measured for a peer's 8k-token text on full-size jina-clip-v1 (12 heads).
    assert 14 < _peer_long_bytes(8192, 12, "ort-fp32") / 2**30 < 20
    assert 5 < _peer_long_bytes(8192, 12, "openvino-bf16") / 2**30 < 8
