"""The local engine: every input embedded exactly once (equal to encode_image/encode_text),
every failure in errors/ with its id, the manifest's counts, shards and resume rules."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jina_clip.embed import CorpusError, EmbedOptions, embed_corpus
from jina_clip.embed.resume import OutputNotEmptyError
from jina_clip.settings import JinaCLIPSettings

from .conftest import (
    BROKEN,
    MAX_IMAGE_BYTES,
    N_GOOD_IMAGES,
    check_manifest,
    corpus_texts,
    good_image_ids,
    mixed_table_rows,
    read_embeddings,
    read_errors,
)


def _options(checkpoint: Path, **kwargs: Any) -> EmbedOptions:
    encoder = JinaCLIPSettings(backend="local", model=str(checkpoint), device="cpu")
    return EmbedOptions(encoder=encoder, max_image_bytes=MAX_IMAGE_BYTES, **kwargs)


def test_folder_every_image_once_equal_to_encode_image_failures_in_errors(
    image_corpus: Path, tiny_checkpoint: Path, core_encoder: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    report = embed_corpus(image_corpus, out, _options(tiny_checkpoint, rows_per_shard=64,
                                                      batch_size=16))
    rows = read_embeddings(out)
    ids = good_image_ids(image_corpus)
    assert len(ids) == N_GOOD_IMAGES
    assert sorted(rows) == [(i, "image") for i in ids]
    want = core_encoder.encode_image([str(image_corpus / i) for i in ids])
    np.testing.assert_allclose(np.stack([rows[(i, "image")] for i in ids]), want, atol=1e-6)
    assert read_errors(out) == {(i, "image"): kind for i, kind in BROKEN.items()}
    manifest = check_manifest(out)
    assert manifest["counts"] == {"embedded": N_GOOD_IMAGES, "failed": len(BROKEN)}
    assert manifest["dimension"] == core_encoder.dimension == want.shape[1]
    assert manifest["normalized"] is True and manifest["model"] == str(tiny_checkpoint)
    assert manifest["options"]["rows_per_shard"] == 64
    assert "api_key" not in manifest["options"]["encoder"]
    names = sorted(p.name for p in (out / "embeddings").iterdir())
    assert names == [f"part-{n:05d}.parquet" for n in range(4)]  # 240 rows / 64 per shard
    assert (report.embedded, report.failed, report.run_skipped) == (N_GOOD_IMAGES, 4, 0)
    assert report.first_output_s is not None


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_text_tables_equal_to_encode_text(
    fmt: str, text_tables: dict[str, Path], tiny_checkpoint: Path, core_encoder: Any,
    tmp_path: Path,
) -> None:
    texts = corpus_texts()
    embed_corpus(text_tables[fmt], tmp_path, _options(
        tiny_checkpoint, id_column="doc_id", text_column="body", batch_size=40))
    rows = read_embeddings(tmp_path)
    assert sorted(rows) == [(i, "text") for i in sorted(texts)]
    want = core_encoder.encode_text(list(texts.values()))
    np.testing.assert_allclose(np.stack([rows[(i, "text")] for i in texts]), want, atol=1e-5)
    assert read_errors(tmp_path) == {}
    check_manifest(tmp_path)


def test_table_with_text_and_image_columns(
    image_corpus: Path, tiny_checkpoint: Path, core_encoder: Any, tmp_path: Path
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = mixed_table_rows(image_corpus)
    table = image_corpus / "mixed.parquet"  # relative image paths are relative to the table
    pq.write_table(pa.Table.from_pylist(rows), table)
    try:
        embed_corpus(table, tmp_path / "out", _options(tiny_checkpoint))
    finally:
        table.unlink()
    got = read_embeddings(tmp_path / "out")
    assert sorted(got) == [("r0", "image"), ("r0", "text"), ("r1", "image"), ("r1", "text"),
                           ("r3", "text")]
    np.testing.assert_allclose(got[("r0", "image")], core_encoder.encode_image(
        [str(image_corpus / rows[0]["image"])])[0], atol=1e-6)
    np.testing.assert_allclose(got[("r1", "image")], core_encoder.encode_image(
        [rows[1]["image"]])[0], atol=1e-6)
    np.testing.assert_allclose(got[("r3", "text")], core_encoder.encode_text(
        ["only text"])[0], atol=1e-6)
    assert read_errors(tmp_path / "out") == {("r2", "image"): "ImageNotFoundError",
                                             ("r4", "image"): "ImageInputError"}
    check_manifest(tmp_path / "out")


def test_webdataset_shards_images_and_texts(
    webdataset_shards: Path, tiny_checkpoint: Path, core_encoder: Any, tmp_path: Path
) -> None:
    embed_corpus(str(webdataset_shards / "*.tar"), tmp_path,
                 _options(tiny_checkpoint, text_column="txt"))
    got = read_embeddings(tmp_path)
    keys = [f"s{s}/{i:04d}" for s in range(2) for i in range(20)]
    assert sorted(got) == sorted([(k, "text") for k in keys] +
                                 [(k, "image") for k in keys if k != "s1/0005"])
    assert read_errors(tmp_path) == {("s1/0005", "image"): "ImageDecodeError"}
    with tarfile.open(webdataset_shards / "shard-00000.tar") as tar:
        member = tar.extractfile("s0/0003.jpg")
        assert member is not None
        image = member.read()
    np.testing.assert_allclose(got[("s0/0003", "image")],
                               core_encoder.encode_image([image])[0], atol=1e-6)


def test_duplicate_ids_fail_instead_of_giving_two_rows(
    tiny_checkpoint: Path, tmp_path: Path
) -> None:
    table = tmp_path / "dups.jsonl"
    table.write_text('{"id": 1, "text": "a cat"}\n{"id": 2, "text": "a dog"}\n'
                     '{"id": 1, "text": "another cat"}\n')
    embed_corpus(table, tmp_path / "out", _options(tiny_checkpoint))
    assert sorted(read_embeddings(tmp_path / "out")) == [("1", "text"), ("2", "text")]
    assert read_errors(tmp_path / "out") == {("1", "text"): "DuplicateIdError"}


def test_resume_skips_finished_ids_and_refuses_without_it(
    text_tables: dict[str, Path], tiny_checkpoint: Path, tmp_path: Path
) -> None:
    opts = {"id_column": "doc_id", "text_column": "body", "rows_per_shard": 50}
    first = embed_corpus(text_tables["parquet"], tmp_path, _options(tiny_checkpoint, **opts))
    with pytest.raises(OutputNotEmptyError, match="--resume"):
        embed_corpus(text_tables["parquet"], tmp_path, _options(tiny_checkpoint, **opts))
    (tmp_path / "embeddings" / ".part-00009.parquet.tmp").write_bytes(b"half a shard")
    (tmp_path / "embeddings" / "part-00001.parquet").unlink()  # as if never finished
    again = embed_corpus(text_tables["parquet"], tmp_path,
                         _options(tiny_checkpoint, resume=True, **opts))
    assert (first.run_embedded, again.run_embedded, again.run_skipped) == (150, 50, 100)
    assert len(read_embeddings(tmp_path)) == again.embedded == 150
    check_manifest(tmp_path)


def test_shards_are_written_in_row_groups(text_tables: dict[str, Path], tiny_checkpoint: Path,
                                          tmp_path: Path) -> None:
    """Bounded memory: a shard is appended batch by batch, not built in memory."""
    import pyarrow.parquet as pq

    from jina_clip.embed.items import embeddings_schema
    from jina_clip.embed.output import ShardWriter

    with ShardWriter(tmp_path, embeddings_schema(4), rows_per_shard=25,
                     row_group_rows=10) as writer:
        for n in range(6):
            writer.add({"id": [f"{n}-{k}" for k in range(9)],
                        "embedding": list(np.ones((9, 4), np.float32)),
                        "modality": ["text"] * 9})
    files = sorted(tmp_path.glob("*.parquet"))
    assert [pq.ParquetFile(f).metadata.num_rows for f in files] == [25, 25, 4]
    assert [pq.ParquetFile(f).metadata.num_row_groups for f in files] == [3, 3, 1]


def test_unusable_inputs_are_refused_up_front(text_tables: dict[str, Path], tmp_path: Path,
                                              tiny_checkpoint: Path) -> None:
    with pytest.raises(CorpusError, match="no 'id' column"):
        embed_corpus(text_tables["csv"], tmp_path, _options(tiny_checkpoint))
    with pytest.raises(CorpusError, match="not a column"):
        embed_corpus(text_tables["csv"], tmp_path, _options(tiny_checkpoint,
                                                            id_column="doc_id",
                                                            text_column="nope"))
    with pytest.raises(CorpusError, match="not a file, folder or glob"):
        embed_corpus(tmp_path / "nothing-here", tmp_path / "out", _options(tiny_checkpoint))


def test_cut_texts_are_named_by_id(tiny_checkpoint: Path, tmp_path: Path) -> None:
    from jina_clip.errors import TruncationWarning

    table = tmp_path / "long.jsonl"
    table.write_text('{"id": "short", "text": "a cat"}\n'
                     '{"id": "long-one", "text": "' + "word " * 40 + '"}\n')
    encoder = JinaCLIPSettings(backend="local", model=str(tiny_checkpoint), device="cpu",
                               max_length=16)
    with pytest.warns(TruncationWarning, match="ids: 'long-one'"):
        embed_corpus(table, tmp_path / "out", EmbedOptions(encoder=encoder))
    assert len(read_embeddings(tmp_path / "out")) == 2


def test_image_urls_are_fetched_and_a_404_is_an_error(
    image_corpus: Path, tiny_checkpoint: Path, core_encoder: Any, tmp_path: Path
) -> None:
    from ..loopback import serve_http

    good = good_image_ids(image_corpus)[:3]
    with serve_http(directory=image_corpus) as base:
        table = tmp_path / "urls.csv"
        table.write_text("id,image\n" + "".join(f"{n},{base}/{p}\n" for n, p in enumerate(good))
                         + f"404,{base}/a/nope.png\n")
        embed_corpus(table, tmp_path / "out", _options(tiny_checkpoint))
    rows = read_embeddings(tmp_path / "out")
    np.testing.assert_allclose(np.stack([rows[(str(n), "image")] for n in range(3)]),
                               core_encoder.encode_image([str(image_corpus / p) for p in good]),
                               atol=1e-6)
    assert read_errors(tmp_path / "out") == {("404", "image"): "ImageFetchError"}


def test_cli_corpus_mode_usage_errors_exit_2(
    text_tables: dict[str, Path], tiny_checkpoint: Path, tmp_path: Path, capsys: Any
) -> None:
    from jina_clip import cli

    base = ["embed", "--model", str(tiny_checkpoint), "--device", "cpu", "--no-progress"]
    assert cli.main([*base, str(text_tables["csv"])]) == 2
    assert "needs both INPUT and --output" in capsys.readouterr().err
    assert cli.main([*base, str(text_tables["csv"]), "-o", str(tmp_path), "--text", "x"]) == 2
    assert cli.main([*base, str(text_tables["csv"]), "-o", str(tmp_path)]) == 2
    assert "no 'id' column" in capsys.readouterr().err
    args = [*base, str(text_tables["csv"]), "-o", str(tmp_path), "--id-column", "doc_id",
            "--text-column", "body"]
    assert cli.main(args) == 0
    assert '"embedded": 150' in capsys.readouterr().out
    assert cli.main(args) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert cli.main([*args, "--resume"]) == 0
    assert '"skipped": 150' in capsys.readouterr().out


def test_dimensions_cut_every_vector_and_the_manifest_says_so(
    text_tables: dict[str, Path], tiny_checkpoint: Path, core_encoder: Any, tmp_path: Path
) -> None:
    encoder = JinaCLIPSettings(backend="local", model=str(tiny_checkpoint), device="cpu",
                               dimensions=32)
    embed_corpus(text_tables["parquet"], tmp_path, EmbedOptions(
        encoder=encoder, id_column="doc_id", text_column="body"))
    rows = read_embeddings(tmp_path)
    assert {v.shape for v in rows.values()} == {(32,)}
    assert check_manifest(tmp_path)["dimension"] == 32
    full = core_encoder.encode_text([corpus_texts()["t000"]], normalize=False)[0][:32]
    np.testing.assert_allclose(rows[("t000", "text")], full / np.linalg.norm(full), atol=1e-5)
