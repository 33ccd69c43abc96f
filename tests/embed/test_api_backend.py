"""``--backend api``: the corpus embedded through our own ``jina-clip serve`` on 127.0.0.1
gives the local model's vectors, and a bad image still ends in errors/ alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jina_clip import cli

from ..conftest import TINY_API_MODEL
from .conftest import BROKEN, check_manifest, good_image_ids, read_embeddings, read_errors


def test_api_backend_against_our_server(
    image_corpus: Path, api_server_url: str, core_encoder: Any, tmp_path: Path,
    capsys: Any,
) -> None:
    rc = cli.main(["embed", str(image_corpus), "--output", str(tmp_path), "--backend", "api",
                   "--base-url", api_server_url, "--model", TINY_API_MODEL,
                   "--max-concurrency", "2", "--max-image-bytes", "150000", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    rows = read_embeddings(tmp_path)
    ids = good_image_ids(image_corpus)
    assert sorted(rows) == [(i, "image") for i in ids]
    np.testing.assert_allclose(
        np.stack([rows[(i, "image")] for i in ids]),
        core_encoder.encode_image([str(image_corpus / i) for i in ids]), atol=1e-5)
    assert read_errors(tmp_path) == {(i, "image"): kind for i, kind in BROKEN.items()}
    manifest = check_manifest(tmp_path)
    assert manifest["backend"] == "api" and manifest["model"] == TINY_API_MODEL
    assert "api_key" not in manifest["options"]["encoder"]
