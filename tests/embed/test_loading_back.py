"""Loading an output folder into LangChain and LlamaIndex (the example's functions) stores
the parquet vectors as they are: the embedding classes are never asked to embed a document."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from jina_clip.embed import EmbedOptions, embed_corpus, iter_embeddings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "embed_corpus_to_vector_stores.py"


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("examples_embed_corpus", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class _QueryOnly:
    """Embeds queries with the real encoder; refuses documents (they must come from disk)."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder

    def embed_query(self, text: str) -> list[float]:
        return self.encoder.encode_text([text])[0].tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise AssertionError("a stored document was embedded again")


def test_vectors_go_into_chroma_and_llamaindex_unchanged(
    text_tables: dict[str, Path], tiny_checkpoint: Path, core_encoder: Any, tmp_path: Path
) -> None:
    from langchain_core.embeddings import Embeddings

    from llama_index.core.embeddings import MockEmbedding

    example = _example()
    embed_corpus(text_tables["parquet"], tmp_path, EmbedOptions(
        id_column="doc_id", text_column="body"), clip=core_encoder)
    stored = {i: v for b in iter_embeddings(tmp_path) for i, v in zip(b.ids, b.vectors,
                                                                       strict=True)}

    class QueryOnly(_QueryOnly, Embeddings):
        pass

    store = example.chroma_from_output([tmp_path], {}, QueryOnly(core_encoder))
    got = store.get(include=["embeddings", "metadatas"])
    by_id = {m["source"]: np.asarray(e) for m, e in zip(got["metadatas"], got["embeddings"],
                                                        strict=True)}
    assert by_id.keys() == stored.keys()
    np.testing.assert_allclose(np.stack([by_id[i] for i in stored]),
                               np.stack(list(stored.values())), atol=1e-6)
    assert store.similarity_search("a red car", k=1)

    class NoDocuments(MockEmbedding):
        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            raise AssertionError("a stored node was embedded again")

    index = example.llamaindex_from_output([tmp_path], {}, NoDocuments(embed_dim=96))
    assert len(index.docstore.docs) == len(stored)
    with pytest.raises(AssertionError):  # the guard itself works
        NoDocuments(embed_dim=96).get_text_embedding_batch(["x"])
