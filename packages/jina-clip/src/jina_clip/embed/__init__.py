"""Corpus embedding: ``jina-clip embed INPUT --output DIR`` and its Python API.

:func:`embed_corpus` reads a folder/glob of images, a parquet/CSV/JSONL table or webdataset
shards, and writes ``embeddings/*.parquet``, ``errors/*.parquet`` and ``manifest.json``, with
the local engine (pyarrow, ``jina-clip[embed]``) or Ray Data (``jina-clip[ray]``). Importing
this package imports neither pyarrow nor Ray nor torch.
"""

from .api import EmbedReport, embed_corpus
from .options import EmbedOptions
from .reader import EmbeddingBatch, iter_embeddings, read_manifest
from .sources import CorpusError

__all__ = [
    "CorpusError",
    "EmbedOptions",
    "EmbedReport",
    "EmbeddingBatch",
    "embed_corpus",
    "iter_embeddings",
    "read_manifest",
]
