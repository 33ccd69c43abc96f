"""The Ray engine's stages called directly, without a cluster (fast): reader rows of every
input kind become the same ids as the local engine's reader, finished ids are skipped, and
the encoder stage returns vectors and failures in one table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from jina_clip.embed.items import item_key
from jina_clip.embed.options import EmbedOptions
from jina_clip.embed.ray_engine import _decode_block, _EncoderActor
from jina_clip.embed.sources import Corpus, iter_items, resolve_corpus
from jina_clip.settings import JinaCLIPSettings

from .conftest import BROKEN, MAX_IMAGE_BYTES

LIMITS = EmbedOptions(max_image_bytes=MAX_IMAGE_BYTES).image_limits()


def _keys_of(table: pa.Table) -> list[tuple[str, str]]:
    return sorted(zip(table.column("id").to_pylist(), table.column("modality").to_pylist(),
                      strict=True))


def _local_keys(corpus: Corpus) -> list[tuple[str, str]]:
    return sorted((it.id, it.modality) for it in iter_items(corpus))


def test_folder_rows_same_ids_and_errors_as_local(image_corpus: Path) -> None:
    corpus = resolve_corpus(image_corpus)
    files = [f for f in corpus.files if Path(f).exists()]  # the driver fails missing ones
    block = pa.table({"bytes": [Path(f).read_bytes() for f in files], "path": files})
    out = _decode_block(block, corpus, frozenset(), LIMITS)
    missing = ("broken/missing.png", "image")
    assert _keys_of(out) == [k for k in _local_keys(corpus) if k != missing]
    errors = {r["id"]: r["error_type"] for r in out.to_pylist() if r["error_type"]}
    assert errors == {k: v for k, v in BROKEN.items() if k != "broken/missing.png"}


def test_table_and_webdataset_rows_same_ids_as_local(
    text_tables: dict[str, Path], webdataset_shards: Path
) -> None:
    table = resolve_corpus(text_tables["parquet"], id_column="doc_id", text_column="body")
    out = _decode_block(pq.read_table(table.files[0]), table, frozenset(), LIMITS)
    assert _keys_of(out) == _local_keys(table)
    wds = resolve_corpus(str(webdataset_shards / "*.tar"), text_column="txt")
    block = pa.table({"bytes": [Path(f).read_bytes() for f in wds.files],
                      "path": list(wds.files)})
    out = _decode_block(block, wds, frozenset(), LIMITS)
    assert _keys_of(out) == _local_keys(wds) and len(out) == 80  # 40 samples × (image, text)


def test_finished_ids_are_skipped(text_tables: dict[str, Path]) -> None:
    table = resolve_corpus(text_tables["parquet"], id_column="doc_id", text_column="body")
    finished = frozenset(item_key(f"t{i:03d}", "text") for i in range(100))
    out = _decode_block(pq.read_table(table.files[0]), table, finished, LIMITS)
    assert _keys_of(out) == [(f"t{i:03d}", "text") for i in range(100, 150)]


def test_encoder_stage_vectors_and_failures(
    tiny_checkpoint: Path, core_encoder: Any
) -> None:
    actor = _EncoderActor(JinaCLIPSettings(backend="local", model=str(tiny_checkpoint),
                                           device="cpu"))
    block = pa.table({
        "id": ["a", "b", "c"], "modality": ["text", "text", "image"],
        "text": ["a red car", "a dog", None], "image": [None, None, None],
        "error_type": [None, None, "ImageDecodeError"], "message": [None, None, "bad"],
    })
    out = actor(block)
    rows = {r["id"]: r for r in out.to_pylist()}
    assert rows["c"]["embedding"] is None and rows["c"]["error_type"] == "ImageDecodeError"
    np.testing.assert_allclose(np.array([rows["a"]["embedding"], rows["b"]["embedding"]]),
                               core_encoder.encode_text(["a red car", "a dog"]), atol=1e-6)
    actor.clip.close()
