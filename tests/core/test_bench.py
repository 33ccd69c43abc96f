"""``jina-clip bench``: it runs every section, its baseline computes the same vectors as our
encoder (so the ratios compare like with like), and its workloads are what they claim."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from jina_clip import cli
from jina_clip.bench import SECTIONS
from jina_clip.bench.baseline import baseline_encode_images, baseline_encode_texts
from jina_clip.bench.measure import min_cosine, percentile, table
from jina_clip.bench.workloads import exact_token_texts, jpeg_files
from jina_clip.local import LocalJinaCLIP


@pytest.fixture(scope="module", params=["tiny_checkpoint", "tiny_v2_checkpoint"])
def enc(request: pytest.FixtureRequest) -> LocalJinaCLIP:
    """The tiny v1 and v2 checkpoints (v2: its own naive baseline, pad id 1)."""
    return LocalJinaCLIP(request.getfixturevalue(request.param), device="cpu", dtype="float32")


def test_cli_help_lists_the_sections_without_importing_torch() -> None:
    code = ("import sys, io, contextlib\n"
            "from jina_clip import cli\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
            "    cli.main(['bench', '--help'])\n"
            "assert 'torch' not in sys.modules, 'bench --help imported torch'\n"
            "print(out.getvalue())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert ", ".join(SECTIONS) in " ".join(done.stdout.split())


def test_exact_token_texts_have_exactly_that_many_tokens(enc: LocalJinaCLIP) -> None:
    for tokens in (3, 16, 128):
        texts = exact_token_texts(enc, tokens, 5, seed=tokens)
        assert enc.count_tokens(texts) == [tokens] * 5
        assert len(set(texts)) == 5
    with pytest.raises(ValueError, match="at least 3"):
        exact_token_texts(enc, 2, 1)


def test_jpeg_files_cycle_through_unique_files(tmp_path: pathlib.Path) -> None:
    paths = jpeg_files(tmp_path, 7, size=(50, 40), unique=3)
    assert len(paths) == 7 and len(set(paths)) == 3
    assert paths[3] == paths[0] and all(pathlib.Path(p).stat().st_size > 500 for p in paths)


def test_baseline_texts_match_the_encoder(enc: LocalJinaCLIP) -> None:
    texts = [*exact_token_texts(enc, 40, 3), "short one", "a dog on a bridge at dusk"]
    ours = enc.encode_text(texts, normalize=False)
    base = baseline_encode_texts(enc, texts, batch=2)  # padding inside batches
    np.testing.assert_allclose(base, ours, rtol=1e-4, atol=1e-4)


def test_baseline_images_match_the_encoder(enc: LocalJinaCLIP, tmp_path: pathlib.Path) -> None:
    files = jpeg_files(tmp_path, 3, size=(80, 60))
    np.testing.assert_allclose(baseline_encode_images(enc, files),
                               enc.encode_image(files, normalize=False), rtol=1e-4, atol=1e-4)


def test_measure_helpers() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert min_cosine(a, a) == pytest.approx(1.0)
    assert min_cosine(a, np.array([[1.0, 0.0], [2.0, 0.0]])) == pytest.approx(0.0)
    out = table([["x", "1"]], ["name", "value"]).splitlines()
    assert out[0] == "| name | value |" and out[2] == "| x    | 1     |"


def test_bench_cli_runs_every_section_and_writes_json(
    tiny_checkpoint: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "rows.json"
    rc = cli.main(["bench", "--model", str(tiny_checkpoint), "--device", "cpu", "--quick",
                   "--int8", "--json", str(out_json)])
    assert rc == 0
    printed = capsys.readouterr().out
    rows = json.loads(out_json.read_text())
    names = [r["name"] for r in rows]
    assert names == [
        "texts, 128 tokens (encode_text)",
        "images, JPEG files -> vectors (encode_image)",
        "images, model only, batch 4",
        "texts, model only, batch 4",
        "one 16-token query, p50",
        "one 2,048-token text, peak memory",
        "one 16-token query, int8 (opt-in)",  # precision: skipped, fp32 has nothing to compare
    ]
    for row in rows:
        assert row["value"] > 0 and np.isfinite(row["value"]), row
        assert row["baseline"] and row["ratio"].endswith("x"), row
        assert row["name"] in printed
    # The baseline computes the same vectors, so the speed-up compares like with like.
    assert "min cos vs baseline 1.000000" in rows[0]["notes"]
    assert "min cos vs baseline 1.000000" in rows[1]["notes"]
    assert "baseline: the same weights" in printed


def test_bench_cli_without_baseline_and_unknown_section(
    tiny_checkpoint: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["bench", "--model", str(tiny_checkpoint), "--device", "cpu", "--quick",
                     "--only", "query", "--no-baseline"]) == 0
    out = capsys.readouterr().out
    assert "one 16-token query, p50" in out and "baseline: the same" not in out
    assert cli.main(["bench", "--model", str(tiny_checkpoint), "--only", "query,bogus"]) == 2
    assert "unknown section(s) bogus" in capsys.readouterr().err


def test_bench_precision_row_compares_a_low_precision_run_with_fp32(
    tiny_checkpoint: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    out_json = tmp_path / "rows.json"
    assert cli.main(["bench", "--model", str(tiny_checkpoint), "--device", "cpu", "--dtype",
                     "bfloat16", "--quick", "--only", "precision,model", "--json",
                     str(out_json)]) == 0
    rows = {r["name"]: r for r in json.loads(out_json.read_text())}
    row = rows["bfloat16 vs fp32, min cosine"]
    assert 0.99 < row["value"] <= 1.0 + 1e-6
    assert rows["images, model only, batch 4"]["notes"] == "bfloat16; baseline fp32"


def test_bench_cli_runs_on_v2(tiny_v2_checkpoint: pathlib.Path, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "v2.json"
    rc = cli.main(["bench", "--model", str(tiny_v2_checkpoint), "--device", "cpu", "--quick",
                   "--only", "texts,images,model,query,long", "--json", str(out)])
    assert rc == 0
    rows = {r["name"]: r for r in json.loads(out.read_text())}
    assert rows["one 16-token query, p50"]["target"] == "<= 150 ms"
    assert all(r["value"] > 0 for r in rows.values())
