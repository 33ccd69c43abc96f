"""The Ray Data engine end to end (the CLI in a subprocess with a timeout: a starved pipeline
hangs): the same ids exactly once and the same vectors as the local engine and as
encode_image, although a worker dies mid-batch (it is restarted, its batch redone once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jina_clip.embed import EmbedOptions, embed_corpus
from jina_clip.embed.faults import CRASH_ONCE_ENV

from .conftest import (
    BROKEN,
    MAX_IMAGE_BYTES,
    check_manifest,
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


@pytest.mark.timeout(RUN_TIMEOUT + 60)
def test_ray_matches_local_and_encode_image_exactly_once_despite_a_worker_crash(
    image_corpus: Path, tiny_checkpoint: Path, core_encoder: Any, tmp_path: Path
) -> None:
    """One Ray run (two encoder actors, one of which exits mid-batch once) against the local
    engine on the same folder: same ids once each, same vectors joined by id, same errors."""
    ray_out, local_out = tmp_path / "ray", tmp_path / "local"
    marker = tmp_path / "crashed-once"
    run_cli(*_args(image_corpus, ray_out, tiny_checkpoint, "--engine", "ray", "--workers", "2"),
            timeout=RUN_TIMEOUT, env={CRASH_ONCE_ENV: str(marker)})
    assert marker.exists(), "no worker crashed"
    embed_corpus(image_corpus, local_out, EmbedOptions(max_image_bytes=MAX_IMAGE_BYTES),
                 clip=core_encoder)
    ray_rows, local_rows = read_embeddings(ray_out), read_embeddings(local_out)  # no dups
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
