"""Generated corpora for the corpus-embedding tests: a few hundred small images (with a
corrupt, a truncated, a missing and an oversized one), text tables in three formats, a
mixed table and webdataset shards; and helpers that read an output folder back strictly."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

#: Images of the folder corpus that must end in errors/, with the error each must get.
BROKEN = {
    "broken/corrupt.jpg": "ImageDecodeError",
    "broken/truncated.png": "ImageDecodeError",
    "broken/missing.png": "ImageNotFoundError",
    "broken/huge.png": "ImageTooLargeError",
}
#: The byte limit the tests pass; only broken/huge.png exceeds it.
MAX_IMAGE_BYTES = 150_000
N_GOOD_IMAGES = 240
N_TEXTS = 150


def _png(rng: np.random.Generator, h: int, w: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(rng: np.random.Generator, h: int, w: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def image_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``N_GOOD_IMAGES`` decodable images in three folders, plus ``BROKEN``."""
    root = tmp_path_factory.mktemp("image-corpus")
    rng = np.random.default_rng(14)
    for i in range(N_GOOD_IMAGES):
        folder = root / ("a", "b/c", "d")[i % 3]
        folder.mkdir(parents=True, exist_ok=True)
        h, w = int(rng.integers(12, 48)), int(rng.integers(12, 48))
        data = _png(rng, h, w) if i % 2 else _jpeg(rng, h, w)
        (folder / f"img{i:04d}.{'png' if i % 2 else 'jpg'}").write_bytes(data)
    broken = root / "broken"
    broken.mkdir()
    (broken / "corrupt.jpg").write_bytes(b"\xff\xd8\xff this is not a jpeg at all")
    (broken / "truncated.png").write_bytes(_png(rng, 40, 40)[:120])
    os.symlink(root / "nowhere" / "gone.png", broken / "missing.png")
    (broken / "huge.png").write_bytes(_png(rng, 256, 256))
    assert (broken / "huge.png").stat().st_size > MAX_IMAGE_BYTES
    return root


def good_image_ids(root: Path) -> list[str]:
    """The ids (relative paths) of the decodable images of ``image_corpus``."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("img*"))


def corpus_texts() -> dict[str, str]:
    """``N_TEXTS`` short texts from the tiny vocabulary, keyed by id."""
    from jina_clip.testing import TINY_WORDS

    rng = np.random.default_rng(7)
    return {f"t{i:03d}": " ".join(rng.choice(TINY_WORDS, int(rng.integers(3, 30))))
            for i in range(N_TEXTS)}


@pytest.fixture(scope="session")
def text_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same texts as parquet, CSV and JSONL (format → path)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    root = tmp_path_factory.mktemp("text-tables")
    texts = corpus_texts()
    table = pa.table({"doc_id": list(texts), "body": list(texts.values())})
    paths = {"parquet": root / "texts.parquet", "csv": root / "texts.csv",
             "jsonl": root / "texts.jsonl"}
    pq.write_table(table, paths["parquet"])
    pcsv.write_csv(table, paths["csv"])
    paths["jsonl"].write_text("".join(json.dumps({"doc_id": k, "body": v}) + "\n"
                                      for k, v in texts.items()))
    return paths


@pytest.fixture(scope="session")
def webdataset_shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two shards of ``key.jpg`` + ``key.txt`` samples (one sample's image is corrupt)."""
    root = tmp_path_factory.mktemp("wds")
    rng = np.random.default_rng(3)
    texts = list(corpus_texts().values())
    for shard in range(2):
        with tarfile.open(root / f"shard-{shard:05d}.tar", "w") as tar:
            for i in range(20):
                key = f"s{shard}/{i:04d}"
                image = b"garbage" if (shard, i) == (1, 5) else _jpeg(rng, 24, 24)
                for ext, data in (("jpg", image), ("txt", texts[i].encode())):
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return root


@pytest.fixture(scope="session")
def images_and_texts_table(image_corpus: Path) -> Path:
    """A parquet table beside the images: one row per image (id = its relative path, image =
    that path, broken ones included) interleaved with one row per text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    images = good_image_ids(image_corpus) + sorted(BROKEN)
    texts = list(corpus_texts().items())
    rows: list[dict[str, str | None]] = []
    for n in range(max(len(images), len(texts))):
        if n < len(images):
            rows.append({"id": images[n], "text": None, "image": images[n]})
        if n < len(texts):
            rows.append({"id": texts[n][0], "text": texts[n][1], "image": None})
    path = image_corpus / "images-and-texts.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=64)
    return path


def mixed_table_rows(image_root: Path) -> list[dict[str, object]]:
    """Rows with a text and an image each: relative paths, base64, a missing file, a row
    with neither."""
    good = good_image_ids(image_root)
    b64 = base64.b64encode((image_root / good[1]).read_bytes()).decode()
    return [
        {"id": "r0", "text": "a red car", "image": good[0]},
        {"id": "r1", "text": "a dog", "image": b64},
        {"id": "r2", "text": None, "image": "a/does-not-exist.png"},
        {"id": "r3", "text": "only text", "image": None},
        {"id": "r4", "text": None, "image": None},
    ]


# --- reading an output folder back, strictly --------------------------------------------------


def read_embeddings(out: Path, *, killed: bool = False) -> dict[tuple[str, str], np.ndarray]:
    """``(id, modality)`` → vector; fails on a duplicate row, or on a leftover temp file
    unless the run was ``killed``."""
    import pyarrow.parquet as pq

    if not killed:
        assert not [p for p in (out / "embeddings").glob(".*")], "temp files left"
    rows: dict[tuple[str, str], np.ndarray] = {}
    for path in sorted((out / "embeddings").glob("*.parquet")):
        table = pq.read_table(path)
        vectors = np.asarray(table.column("embedding").to_pylist(), dtype=np.float32)
        for item_id, modality, vec in zip(table.column("id").to_pylist(),
                                          table.column("modality").to_pylist(), vectors,
                                          strict=True):
            assert (item_id, modality) not in rows, f"duplicate row {item_id} {modality}"
            rows[(item_id, modality)] = vec
    return rows


def read_errors(out: Path) -> dict[tuple[str, str], str]:
    """``(id, modality)`` → error type; fails on a duplicate row."""
    import pyarrow.parquet as pq

    rows: dict[tuple[str, str], str] = {}
    for path in sorted((out / "errors").glob("*.parquet")):
        for row in pq.read_table(path).to_pylist():
            key = (row["id"], row["modality"])
            assert key not in rows, f"duplicate error row {key}"
            assert row["message"]
            rows[key] = row["error_type"]
    return rows


def check_manifest(out: Path) -> dict[str, object]:
    """The manifest's counts equal the rows in the files."""
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"embedded": len(read_embeddings(out)),
                                  "failed": len(read_errors(out))}
    return manifest


def cli_command(*args: str) -> list[str]:
    """``jina-clip embed ARGS`` as a subprocess command line."""
    return [sys.executable, "-m", "jina_clip.cli", "embed", *args]


def run_cli(*args: str, timeout: float, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run ``jina-clip embed`` to completion (killed after ``timeout``: a Ray hang fails the
    test instead of the CI run) and return its JSON summary."""
    proc = subprocess.Popen(cli_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, env={**os.environ, **(env or {})})
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise AssertionError(f"jina-clip embed {' '.join(args)} hung for {timeout} s") from None
    finally:
        kill_group(proc)
    assert proc.returncode == 0, stderr[-4000:]
    return json.loads(stdout.strip().splitlines()[-1])


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the process group the CLI leads (the CLI and the Ray processes it started)."""
    import signal

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
