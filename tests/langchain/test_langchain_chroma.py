"""A real vector store calling `embed_image`: texts and images in ONE in-memory Chroma
collection, one `JinaCLIPEmbeddings`.

The tiny checkpoint has random weights, so which caption is "right" for which picture is
meaningless; the expected answers are computed independently with the core encoder (brute-force
cosine over the same inputs), and the queries are the ones with the clearest margin.
"""

from __future__ import annotations

import pathlib
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from langchain_chroma import Chroma

from jina_clip import JinaCLIP
from jina_clip.integration import QUERY_TASK
from langchain_jina_clip import JinaCLIPEmbeddings

TEXTS = [
    "a red circle",
    "a blue square",
    "a green triangle",
    "a yellow ball at night",
    "purple stripes",
    "random noise",
    "the river at dawn",
    "a dog in the park",
    "a cat on a car",
    "hello world",
    "the old bridge",
    "water and sky",
]
#: Below this cosine gap between the best and second-best candidate, a "right answer" would
#: be too fragile to assert.
MIN_MARGIN = 0.01


@pytest.fixture(scope="module")
def store(embeddings: JinaCLIPEmbeddings, pictures: list[pathlib.Path]) -> Iterator[Chroma]:
    store = Chroma(
        collection_name=f"test-{uuid.uuid4().hex[:12]}",
        embedding_function=embeddings,
        collection_metadata={"hnsw:space": "cosine"},
    )
    store.add_texts(TEXTS, metadatas=[{"modality": "text", "text": t} for t in TEXTS])
    store.add_images(
        [str(p) for p in pictures],
        metadatas=[{"modality": "image", "source": str(p)} for p in pictures],
    )
    yield store
    store.delete_collection()


def _clearest(queries: np.ndarray, targets: np.ndarray) -> tuple[int, int, float]:
    """(query index, its nearest target, margin over the runner-up) for the query whose
    nearest target wins by the largest cosine margin."""
    scores = queries @ targets.T
    ordered = np.sort(scores, axis=1)
    margins = ordered[:, -1] - ordered[:, -2]
    q = int(np.argmax(margins))
    return q, int(np.argmax(scores[q])), float(margins[q])


def test_store_holds_texts_and_images_with_vectors(store: Chroma) -> None:
    data = store.get(include=["embeddings", "metadatas"])
    modalities = [m["modality"] for m in data["metadatas"]]
    assert modalities.count("text") == len(TEXTS) and modalities.count("image") == 6
    vectors = np.asarray(data["embeddings"])
    assert vectors.shape[0] == len(TEXTS) + 6
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)  # every image embedded


def test_text_query_finds_the_right_image(
    store: Chroma,
    embeddings: JinaCLIPEmbeddings,
    core_encoder: JinaCLIP,
    pictures: list[pathlib.Path],
) -> None:
    # queries go in as queries (v2: the retrieval.query instruction and adapter), as
    # embed_query and similarity_search send them
    query_vectors = core_encoder.encode_text(TEXTS, task=QUERY_TASK)
    image_vectors = core_encoder.encode_image([str(p) for p in pictures])
    q, expected, margin = _clearest(query_vectors, image_vectors)
    assert margin > MIN_MARGIN
    image_only = {"modality": "image"}
    by_vector = store.similarity_search_by_vector(
        embeddings.embed_query(TEXTS[q]), k=1, filter=image_only
    )
    by_text = store.similarity_search(TEXTS[q], k=1, filter=image_only)
    for found in (by_vector, by_text):
        assert found[0].metadata["source"] == str(pictures[expected])


def test_image_finds_its_nearest_text(
    store: Chroma, core_encoder: JinaCLIP, pictures: list[pathlib.Path]
) -> None:
    text_vectors = core_encoder.encode_text(TEXTS)
    image_vectors = core_encoder.encode_image([str(p) for p in pictures])
    i, expected, margin = _clearest(image_vectors, text_vectors)
    assert margin > MIN_MARGIN
    found = store.similarity_search_by_image(str(pictures[i]), k=1, filter={"modality": "text"})
    assert found[0].page_content == TEXTS[expected]


def test_image_bytes_find_the_image_stored_by_path(
    store: Chroma, embeddings: JinaCLIPEmbeddings, pictures: list[pathlib.Path]
) -> None:
    for picture in pictures:
        [vector] = embeddings.embed_images([picture.read_bytes()])
        [(doc, score)] = store.similarity_search_by_vector_with_relevance_scores(vector, k=1)
        assert doc.metadata["source"] == str(picture)
        assert score == pytest.approx(0.0, abs=1e-4)  # cosine distance to itself


def test_unfiltered_ranking_matches_brute_force(
    store: Chroma,
    embeddings: JinaCLIPEmbeddings,
    core_encoder: JinaCLIP,
    pictures: list[pathlib.Path],
) -> None:
    """Texts and images are ranked together, as the core's cosine ranks them."""
    items = [*TEXTS, *(str(p) for p in pictures)]
    everything = np.vstack(
        [core_encoder.encode_text(TEXTS), core_encoder.encode_image(items[len(TEXTS):])]
    )
    query = str(pictures[3])
    scores = everything @ core_encoder.encode_image([query])[0]
    top = np.argsort(-scores)[:3]
    assert all(scores[top[j]] - scores[top[j + 1]] > 1e-3 for j in range(2))
    found = store.similarity_search_by_vector(embeddings.embed_image([query])[0], k=3)
    keys = [d.metadata.get("source") or d.metadata["text"] for d in found]
    assert keys == [items[j] for j in top]
