"""A run SIGKILLed after some output exists, rerun with --resume: only the rest is embedded,
and the output ends complete with no duplicates (both engines, the CLI in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from jina_clip.embed.faults import SLOW_BATCH_ENV

from .conftest import (
    BROKEN,
    MAX_IMAGE_BYTES,
    N_GOOD_IMAGES,
    N_TEXTS,
    check_manifest,
    cli_command,
    corpus_texts,
    good_image_ids,
    kill_group,
    read_embeddings,
    read_errors,
    run_cli,
)

#: Seconds a Ray run may take on a loaded 2-CPU machine before the test calls it a hang.
RUN_TIMEOUT = 240


def _finished_shards(out: Path) -> list[Path]:
    return [p for p in (out / "embeddings").glob("part-*.parquet")]


@pytest.mark.timeout(2 * RUN_TIMEOUT + 60)
@pytest.mark.parametrize("engine", ["local", "ray"])
def test_sigkill_then_resume_embeds_only_the_rest(
    engine: str, image_corpus: Path, images_and_texts_table: Path, tiny_checkpoint: Path,
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    args = [str(images_and_texts_table), "--output", str(out), "--model", str(tiny_checkpoint),
            "--device", "cpu", "--engine", engine, "--batch-size", "8",
            "--rows-per-shard", "16", "--max-image-bytes", str(MAX_IMAGE_BYTES),
            "--no-progress"]
    if engine == "ray":
        args += ["--workers", "1"]
    # every batch waits 0.1 s: about 5 s of work after the first shard, on any machine
    env = {**os.environ, SLOW_BATCH_ENV: "0.1"}
    proc = subprocess.Popen(cli_command(*args), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True, env=env)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while not _finished_shards(out) and proc.poll() is None:
            assert time.monotonic() < deadline, "no shard appeared"
            time.sleep(0.02)
    finally:
        kill_group(proc)  # type: ignore[arg-type]
    assert proc.returncode == -9, "the run finished before it could be killed"
    assert not (out / "manifest.json").exists()
    done_before = len(read_embeddings(out, killed=True)) + len(read_errors(out))
    assert 0 < done_before < N_GOOD_IMAGES + N_TEXTS

    shards_before = set(_finished_shards(out))
    summary = run_cli(*args, "--resume", timeout=RUN_TIMEOUT, env=env)
    # Shards land as batches finish, not all at the end: ~45 slowed batches (4.5 s of work)
    # spread their shards over seconds. (Ray once read the table as one block and wrote
    # every shard in the same 10 ms, so a kill could not land between the first and last.)
    written = sorted(p.stat().st_mtime for p in set(_finished_shards(out)) - shards_before)
    assert written[-1] - written[0] > 1.0, "the shards were written all at once"
    this_run = summary["this_run"]
    assert isinstance(this_run, dict)
    total = N_GOOD_IMAGES + len(BROKEN) + N_TEXTS
    assert this_run["embedded"] + this_run["failed"] == total - done_before
    rows = read_embeddings(out)  # asserts no duplicates
    assert sorted(rows) == sorted([(i, "image") for i in good_image_ids(image_corpus)] +
                                  [(t, "text") for t in corpus_texts()])
    assert read_errors(out) == {(i, "image"): kind for i, kind in BROKEN.items()}
    check_manifest(out)
    assert not [p for p in os.listdir(out / "embeddings") if p.endswith(".tmp")]
