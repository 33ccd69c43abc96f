"""The Ray Data engine (CLI in a subprocess with a timeout: a starved pipeline hangs): the
same ids exactly once and the same vectors as the local engine and as encode_image; a worker
that dies mid-batch is restarted and its batch appears exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jina_clip.embed.ray_engine import CRASH_ONCE_ENV

from .conftest import (
    BROKEN,
    MAX_IMAGE_BYTES,
    check_manifest,
    corpus_texts,
    good_image_ids,
    read_embeddings,
    read_errors,
    run_cli,
)

pytest.importorskip("ray")

RUN_TIMEOUT = 240


def _args(source: Path | str, out: Path, checkpoint: Path, *extra: str) -> list[str]:
    return [str(source), "--output", str(out), "--model", str(checkpoint), "--device", "cpu",
            "--batch-size", "16", "--max-image-bytes", str(MAX_IMAGE_BYTES), "--no-progress",
            *extra]


@pytest.mark.timeout(2 * RUN_TIMEOUT + 60)
def test_ray_and_local_hold_the_same_ids_and_vectors(
    image_corpus: Path, tiny_checkpoint: Path, core_encoder: Any, tmp_path: Path
) -> None:
    ray_out, local_out = tmp_path / "ray", tmp_path / "local"
    run_cli(*_args(image_corpus, ray_out, tiny_checkpoint, "--engine", "ray", "--workers", "2"),
            timeout=RUN_TIMEOUT)
    run_cli(*_args(image_corpus, local_out, tiny_checkpoint), timeout=RUN_TIMEOUT)
    ray_rows, local_rows = read_embeddings(ray_out), read_embeddings(local_out)
    ids = good_image_ids(image_corpus)
    assert sorted(ray_rows) == sorted(local_rows) == [(i, "image") for i in ids]
    ray_matrix = np.stack([ray_rows[(i, "image")] for i in ids])  # joined by id
    np.testing.assert_allclose(ray_matrix, np.stack([local_rows[(i, "image")] for i in ids]),
                               atol=1e-6)
    np.testing.assert_allclose(
        ray_matrix, core_encoder.encode_image([str(image_corpus / i) for i in ids]), atol=1e-6)
    assert read_errors(ray_out) == read_errors(local_out) == {
        (i, "image"): kind for i, kind in BROKEN.items()}
    assert check_manifest(ray_out)["counts"] == check_manifest(local_out)["counts"]


@pytest.mark.timeout(RUN_TIMEOUT + 60)
def test_a_worker_that_dies_mid_batch_is_redone_exactly_once(
    text_tables: dict[str, Path], tiny_checkpoint: Path, core_encoder: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "crashed-once"
    run_cli(*_args(text_tables["parquet"], tmp_path / "out", tiny_checkpoint, "--engine", "ray",
                   "--workers", "2", "--id-column", "doc_id", "--text-column", "body"),
            timeout=RUN_TIMEOUT, env={CRASH_ONCE_ENV: str(marker)})
    assert marker.exists(), "no worker crashed"
    texts = corpus_texts()
    rows = read_embeddings(tmp_path / "out")  # asserts exactly once
    assert sorted(rows) == [(i, "text") for i in sorted(texts)]
    np.testing.assert_allclose(np.stack([rows[(i, "text")] for i in texts]),
                               core_encoder.encode_text(list(texts.values())), atol=1e-5)
    assert read_errors(tmp_path / "out") == {}
    check_manifest(tmp_path / "out")
