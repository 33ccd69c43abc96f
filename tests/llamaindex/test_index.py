"""`MultiModalVectorStoreIndex` over a folder of pictures and texts, with ONE
`JinaCLIPEmbedding` as both `embed_model` and `image_embed_model`. The tiny checkpoint is
random, so every expected answer is computed independently: brute-force cosine with the core
encoder over the same inputs, using queries whose best match wins by a clear margin."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from jina_clip import JinaCLIP
from llama_index.core import SimpleDirectoryReader
from llama_index.core.indices import MultiModalVectorStoreIndex
from llama_index.core.schema import ImageDocument, ImageNode, MetadataMode, NodeWithScore
from llama_index.embeddings.jina_clip import QUERY_TASK, JinaCLIPEmbedding

MARGIN = 0.01


def _name(hit: NodeWithScore) -> str:
    return pathlib.Path(hit.node.metadata["file_path"]).name


def _best_query(queries: np.ndarray, targets: np.ndarray) -> tuple[int, int]:
    """(query index, target index) of the query whose top target wins by the widest margin."""
    scores = queries @ targets.T
    ordered = np.sort(scores, axis=1)
    margins = ordered[:, -1] - ordered[:, -2]
    q = int(np.argmax(margins))
    assert margins[q] > MARGIN, f"no query with a clear margin: {margins}"
    return q, int(np.argmax(scores[q]))


@pytest.fixture(scope="module")
def documents(corpus: pathlib.Path, file_extractor: dict) -> list:
    return SimpleDirectoryReader(str(corpus), file_extractor=file_extractor).load_data()


@pytest.fixture(scope="module")
def expected(documents: list, core_encoder: JinaCLIP, queries: list[str]) -> dict[str, str]:
    """The answers, computed with the core encoder alone."""
    images = [d for d in documents if isinstance(d, ImageDocument)]
    texts = [d for d in documents if not isinstance(d, ImageDocument)]
    assert len(images) == 5 and len(texts) == 5
    image_vectors = core_encoder.encode_image([d.image_path for d in images])
    text_vectors = core_encoder.encode_text(
        [d.get_content(metadata_mode=MetadataMode.EMBED) for d in texts]
    )
    query_vectors = core_encoder.encode_text(queries, task=QUERY_TASK)
    q_image, best_image = _best_query(query_vectors, image_vectors)
    q_text, best_text = _best_query(query_vectors, text_vectors)
    return {
        "image_query": queries[q_image],
        "image_answer": pathlib.Path(images[best_image].image_path).name,
        "text_query": queries[q_text],
        "text_answer": pathlib.Path(texts[best_text].metadata["file_path"]).name,
        "probe_image": images[3].image_path,
        "probe_answer": pathlib.Path(images[3].image_path).name,
    }


@pytest.fixture(scope="module")
def index(documents: list, embed_model: JinaCLIPEmbedding) -> MultiModalVectorStoreIndex:
    return MultiModalVectorStoreIndex.from_documents(
        documents, embed_model=embed_model, image_embed_model=embed_model
    )


def test_one_vector_space(index: MultiModalVectorStoreIndex, embed_model: JinaCLIPEmbedding):
    assert index._embed_model is embed_model
    assert index.image_embed_model is embed_model


def test_sync_retrieval(index: MultiModalVectorStoreIndex, expected: dict[str, str]):
    retriever = index.as_retriever(similarity_top_k=1, image_similarity_top_k=1)
    (hit,) = retriever.text_to_image_retrieve(expected["image_query"])
    assert _name(hit) == expected["image_answer"]
    hits = retriever.image_to_image_retrieve(expected["probe_image"])
    assert _name(hits[0]) == expected["probe_answer"]
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)
    hits = retriever.retrieve(expected["text_query"])
    texts = [h for h in hits if not isinstance(h.node, ImageNode)]
    assert [_name(h) for h in texts] == [expected["text_answer"]]


async def test_async_retrieval(index: MultiModalVectorStoreIndex, expected: dict[str, str]):
    retriever = index.as_retriever(similarity_top_k=1, image_similarity_top_k=1)
    (hit,) = await retriever.atext_to_image_retrieve(expected["image_query"])
    assert _name(hit) == expected["image_answer"]
    hits = await retriever.aimage_to_image_retrieve(expected["probe_image"])
    assert _name(hits[0]) == expected["probe_answer"]
    hits = await retriever.aretrieve(expected["text_query"])
    texts = [h for h in hits if not isinstance(h.node, ImageNode)]
    assert [_name(h) for h in texts] == [expected["text_answer"]]


def test_async_build_matches_sync(
    documents: list, index: MultiModalVectorStoreIndex, embed_model: JinaCLIPEmbedding
):
    """Building with use_async=True (the async batch paths) stores the same vectors."""
    async_index = MultiModalVectorStoreIndex.from_documents(
        documents, embed_model=embed_model, image_embed_model=embed_model, use_async=True
    )
    for store_name in ("vector_store", "image_vector_store"):
        sync_data = getattr(index, store_name).data.embedding_dict
        async_data = getattr(async_index, store_name).data.embedding_dict
        assert len(sync_data) == len(async_data) > 0
        by_doc = {_doc_of(index, k): v for k, v in sync_data.items()}
        for key, vector in async_data.items():
            np.testing.assert_allclose(vector, by_doc[_doc_of(async_index, key)], atol=1e-5)


def _doc_of(index: MultiModalVectorStoreIndex, node_id: str) -> str:
    return index.docstore.get_node(node_id).metadata["file_path"]
