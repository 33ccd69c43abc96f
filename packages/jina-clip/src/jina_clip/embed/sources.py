"""What INPUT is, and the items it holds.

INPUT is a folder or glob of images (searched recursively), a parquet/CSV/JSONL table, or
webdataset ``.tar`` shards. :func:`resolve_corpus` looks at it once (file names, the table's
header); :func:`iter_items` then streams :class:`~jina_clip.embed.items.Item` s, never the
whole corpus at once. The row converters (:func:`table_items`, :func:`image_file_item`,
:func:`webdataset_items`) are shared with the Ray engine, so both engines give every input the
same id.
"""

from __future__ import annotations

import glob
import json
import os
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from .items import Item

__all__ = [
    "IMAGE_EXTENSIONS",
    "Corpus",
    "CorpusError",
    "image_file_item",
    "iter_items",
    "iter_tar_samples",
    "resolve_corpus",
    "table_items",
    "webdataset_items",
]

IMAGE_EXTENSIONS = frozenset(
    {"jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff", "ico", "jp2", "avif"}
)
TABLE_EXTENSIONS = {"parquet": "parquet", "csv": "csv", "jsonl": "json", "json": "json",
                    "ndjson": "json"}
#: Rows read from a table per batch (bounded memory for any table size).
TABLE_BATCH_ROWS = 1024

CorpusKind = Literal["images", "table", "webdataset"]


class CorpusError(ValueError):
    """INPUT or its columns cannot be used (nothing was embedded)."""


@dataclass(frozen=True)
class Corpus:
    """A resolved INPUT: its kind, its files in a stable order, the folder ids are relative
    to, and (tables, shards) which column or extension holds the id, the text, the image."""

    kind: CorpusKind
    files: tuple[str, ...]
    root: str
    id_column: str | None = None
    text_column: str | None = None
    image_column: str | None = None
    table_format: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def _ext(path: str) -> str:
    return path.rsplit(".", 1)[-1].lower() if "." in os.path.basename(path) else ""


def _glob_root(pattern: str) -> str:
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return str(Path(*fixed)) if fixed else "."


def _walk_images(root: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        found.extend(os.path.join(dirpath, f) for f in sorted(filenames)
                     if _ext(f) in IMAGE_EXTENSIONS)
    return found


def resolve_corpus(
    source: str | os.PathLike[str],
    *,
    id_column: str | None = None,
    text_column: str | None = None,
    image_column: str | None = None,
) -> Corpus:
    """Classify INPUT and list its files. Raises :class:`CorpusError` when it holds nothing
    usable or a named column does not exist."""
    text = os.fspath(source)
    if os.path.isdir(text):
        files, root = _walk_images(text), text
    elif glob.has_magic(text):
        root = _glob_root(text)
        files = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
    elif os.path.isfile(text):
        files, root = [text], os.path.dirname(text) or "."
    else:
        raise CorpusError(f"input {text!r} is not a file, folder or glob that matches anything")
    if not files:
        raise CorpusError(f"input {text!r} holds no images, tables or .tar shards")
    kinds = {_ext(f) for f in files}
    if kinds <= {"tar"}:
        return Corpus("webdataset", tuple(files), root, id_column=None,
                      text_column=text_column, image_column=image_column)
    if kinds <= set(TABLE_EXTENSIONS):
        formats = {TABLE_EXTENSIONS[k] for k in kinds}
        if len(formats) > 1:
            raise CorpusError(f"input {text!r} mixes table formats: {sorted(kinds)}")
        return _table_corpus(files, formats.pop(), id_column, text_column, image_column)
    images = [f for f in files if _ext(f) in IMAGE_EXTENSIONS]
    if not images:
        raise CorpusError(f"input {text!r} holds no images, tables or .tar shards")
    return Corpus("images", tuple(images), root)


def _table_columns(path: str, table_format: str) -> list[str]:
    if table_format == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    if table_format == "csv":
        import csv

        with open(path, newline="", encoding="utf-8") as f:
            return next(csv.reader(f), [])
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                return list(json.loads(line))
    return []


def _table_corpus(
    files: list[str], table_format: str, id_column: str | None, text_column: str | None,
    image_column: str | None,
) -> Corpus:
    columns = _table_columns(files[0], table_format)
    for name, value in (("--id-column", id_column), ("--text-column", text_column),
                        ("--image-column", image_column)):
        if value is not None and value not in columns:
            raise CorpusError(f"{name} {value!r} is not a column of {files[0]} "
                              f"(columns: {', '.join(columns)})")
    id_column = id_column or "id"
    if id_column not in columns:
        raise CorpusError(f"table {files[0]} has no 'id' column; name one with --id-column "
                          f"(columns: {', '.join(columns)})")
    if text_column is None and image_column is None:
        text_column = "text" if "text" in columns else None
        image_column = "image" if "image" in columns else None
    if text_column is None and image_column is None:
        raise CorpusError(f"table {files[0]} has no 'text' or 'image' column; name one with "
                          "--text-column or --image-column")
    root = os.path.dirname(os.path.abspath(files[0]))  # image paths are relative to it
    return Corpus("table", tuple(files), root, id_column=id_column, text_column=text_column,
                  image_column=image_column, table_format=table_format)


# --- converters shared by both engines --------------------------------------------------------


def image_file_item(path: str, root: str, data: object = None) -> Item:
    """An image file of a folder corpus: its id is the path relative to the root, with '/'."""
    rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root)).replace(os.sep, "/")
    return Item(rel, "image", path if data is None else data)


def resolve_image_value(value: object, base_dir: str) -> object:
    """A table's image cell: a relative path is taken relative to the table's folder; URLs,
    data URIs, base64 and bytes pass unchanged."""
    if not isinstance(value, str) or os.path.isabs(value) or "\n" in value:
        return value
    lower = value[:8].lower()
    if lower.startswith(("http://", "https://", "data:", "file://")):
        return value
    joined = os.path.join(base_dir, value)
    if os.path.exists(joined) or (len(value) < 1024 and _ext(value) in IMAGE_EXTENSIONS):
        return joined
    return value


def table_items(rows: Mapping[str, list[Any]], corpus: Corpus, where: str) -> Iterator[Item]:
    """The items of a column batch: one per non-null text cell and one per non-null image
    cell. A row whose cells are all null becomes a text/image item with payload None, which
    fails with a clear message instead of vanishing."""
    ids = rows[corpus.id_column]  # type: ignore[index]
    texts = rows[corpus.text_column] if corpus.text_column else [None] * len(ids)
    images = rows[corpus.image_column] if corpus.image_column else [None] * len(ids)
    for n, (raw_id, text, image) in enumerate(zip(ids, texts, images, strict=True)):
        if raw_id is None or (isinstance(raw_id, float) and raw_id != raw_id):
            raise CorpusError(f"{where}: row {n} of this batch has no id")
        item_id = str(raw_id)
        if text is not None:
            yield Item(item_id, "text", text)
        if image is not None:
            yield Item(item_id, "image", resolve_image_value(image, corpus.root))
        if text is None and image is None:
            yield Item(item_id, "image" if corpus.image_column else "text", None)


def webdataset_items(key: str, members: Mapping[str, bytes], corpus: Corpus) -> Iterator[Item]:
    """The items of one webdataset sample (``key`` → ``{extension: bytes}``): the image (the
    ``--image-column`` extension, else the first image extension present) and, when
    ``--text-column`` names an extension, the text."""
    if corpus.image_column:
        if corpus.image_column in members:
            yield Item(key, "image", members[corpus.image_column])
    else:
        for ext in sorted(members):
            if ext in IMAGE_EXTENSIONS:
                yield Item(key, "image", members[ext])
                break
    if corpus.text_column and corpus.text_column in members:
        yield Item(key, "text", members[corpus.text_column].decode("utf-8", "replace"))


def _split_member(name: str) -> tuple[str, str]:
    """webdataset's rule: the key is the path up to the first '.' of the file name."""
    head, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{head}/{stem}" if head else stem), ext.lower()


def iter_tar_samples(path: str | IO[bytes]) -> Iterator[tuple[str, dict[str, bytes]]]:
    """Consecutive members with the same key form a sample (streamed, one sample in memory).
    ``path`` is a file name or an open binary file (the Ray engine reads shards as bytes)."""
    key: str | None = None
    members: dict[str, bytes] = {}
    where: dict[str, Any] = {"name": path} if isinstance(path, str) else {"fileobj": path}
    with tarfile.open(mode="r|*", **where) as tar:
        for info in tar:
            if not info.isfile():
                continue
            k, ext = _split_member(info.name)
            if k != key and key is not None:
                yield key, members
                members = {}
            key = k
            f = tar.extractfile(info)
            members[ext] = f.read() if f is not None else b""
    if key is not None:
        yield key, members


# --- the local engine's reader ----------------------------------------------------------------


def _table_batches(path: str, corpus: Corpus) -> Iterator[dict[str, list[Any]]]:
    columns = [c for c in (corpus.id_column, corpus.text_column, corpus.image_column) if c]
    if corpus.table_format == "parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(TABLE_BATCH_ROWS, columns=columns):
            yield batch.to_pydict()
    elif corpus.table_format == "csv":
        import pyarrow as pa
        import pyarrow.csv as pcsv

        types = {c: pa.string() for c in columns}
        reader = pcsv.open_csv(path, convert_options=pcsv.ConvertOptions(
            include_columns=columns, column_types=types))
        for batch in reader:
            yield batch.to_pydict()
    else:
        rows: dict[str, list[Any]] = {c: [] for c in columns}
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                record = json.loads(line)
                for c in columns:
                    rows[c].append(record.get(c))
                if len(rows[columns[0]]) >= TABLE_BATCH_ROWS:
                    yield rows
                    rows = {c: [] for c in columns}
        if rows[columns[0]]:
            yield rows


def iter_items(corpus: Corpus) -> Iterator[Item]:
    """Every item of the corpus, in a stable order, streamed."""
    if corpus.kind == "images":
        for path in corpus.files:
            yield image_file_item(path, corpus.root)
    elif corpus.kind == "table":
        for path in corpus.files:
            for rows in _table_batches(path, corpus):
                yield from table_items(rows, corpus, path)
    else:
        for path in corpus.files:
            for key, members in iter_tar_samples(path):
                yield from webdataset_items(key, members, corpus)


def batched(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Consecutive lists of ``size`` items (the last may be shorter)."""
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
