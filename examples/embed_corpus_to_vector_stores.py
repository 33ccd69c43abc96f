"""Embed a corpus once with `jina-clip embed`, then load the vectors into LangChain (Chroma)
and LlamaIndex without embedding anything again: only the queries are embedded.

    python examples/embed_corpus_to_vector_stores.py                 # jinaai/jina-clip-v1 (hub)
    python examples/embed_corpus_to_vector_stores.py --tiny          # tiny random checkpoint
    JINA_CLIP_EXAMPLES_TINY=1 python examples/embed_corpus_to_vector_stores.py   # the same, CI
    python examples/embed_corpus_to_vector_stores.py --output runs/samples  # keep the parquet

The corpus is the project's sample pictures (examples/images/, a folder) and texts
(examples/docs/, written here as a JSONL table with an id column). On the command line the
embedding step is

    jina-clip embed examples/images --output OUT/images
    jina-clip embed texts.jsonl --output OUT/texts          # columns: id, text

Vectors and ids live in the same parquet rows, so the stores are filled by id: each row's id
leads back to its file. The model that answers queries must be the one in manifest.json.
The tiny checkpoint is random: it shows the pipeline, not meaningful rankings.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _model.py, also when imported by path

import chromadb
from _model import ModelChoice, add_model_arguments
from _samples import IMAGES_DIR, documents
from langchain_chroma import Chroma

from jina_clip.embed import EmbedOptions, embed_corpus, iter_embeddings, read_manifest
from jina_clip.settings import JinaCLIPSettings
from langchain_jina_clip import JinaCLIPEmbeddings
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.embeddings.jina_clip import JinaCLIPEmbedding


def embed_samples(choice: ModelChoice, out: Path) -> tuple[Path, Path, dict[str, str]]:
    """The pictures (a folder) and the texts (a JSONL table) → two output folders."""
    settings = JinaCLIPSettings(**choice.plugin_kwargs())
    options = EmbedOptions(encoder=settings, resume=True)  # rerunning skips finished ids
    texts = documents()
    table = out / "texts.jsonl"
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text("".join(json.dumps({"id": name, "text": body}) + "\n"
                             for name, body in texts.items()), encoding="utf-8")
    for source, folder in ((IMAGES_DIR, out / "images"), (table, out / "texts")):
        report = embed_corpus(source, folder, options)
        print(f"{source.name}: {report.embedded} embedded, {report.failed} failed -> {folder}")
    return out / "images", out / "texts", texts


def chroma_from_output(
    folders: list[Path], texts: dict[str, str], embeddings: JinaCLIPEmbeddings
) -> Chroma:
    """A LangChain Chroma store filled with the stored vectors (chromadb's own ``add`` takes
    them as they are); ``embeddings`` only embeds queries."""
    client = chromadb.EphemeralClient()
    collection = client.get_or_create_collection("corpus", metadata={"hnsw:space": "cosine"})
    for folder in folders:
        for batch in iter_embeddings(folder):
            collection.add(
                ids=[f"{m}:{i}" for i, m in zip(batch.ids, batch.modalities, strict=True)],
                embeddings=batch.vectors,
                documents=[texts.get(i, i) for i in batch.ids],  # a picture's text: its id
                metadatas=[{"source": i, "modality": m}
                           for i, m in zip(batch.ids, batch.modalities, strict=True)],
            )
    return Chroma(client=client, collection_name="corpus", embedding_function=embeddings)


def llamaindex_from_output(
    folders: list[Path], texts: dict[str, str], embed_model: JinaCLIPEmbedding
) -> VectorStoreIndex:
    """A LlamaIndex index of nodes that carry their stored vector: nodes with an
    ``embedding`` are not embedded again; ``embed_model`` only embeds queries."""
    nodes = []
    for folder in folders:
        for batch in iter_embeddings(folder):
            for item_id, modality, vector in zip(batch.ids, batch.modalities, batch.vectors,
                                                 strict=True):
                nodes.append(TextNode(id_=f"{modality}:{item_id}",
                                      text=texts.get(item_id, item_id),
                                      embedding=vector.tolist(),
                                      metadata={"source": item_id, "modality": modality}))
    return VectorStoreIndex(nodes, embed_model=embed_model)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_model_arguments(parser)
    parser.add_argument("--output", type=Path, default=None,
                        help="where the parquet goes (default: a temporary folder)")
    parser.add_argument("--query", default="a red circle")
    args = parser.parse_args()
    choice = ModelChoice.from_args(args)
    print(choice.describe())
    with tempfile.TemporaryDirectory() as tmp:
        out = args.output or Path(tmp)
        images, text_folder, texts = embed_samples(choice, out)
        manifest = read_manifest(images)
        print(f"manifest: model {manifest['model']}, dimension {manifest['dimension']}, "
              f"normalized {manifest['normalized']}")
        folders = [images, text_folder]

        store = chroma_from_output(folders, texts, JinaCLIPEmbeddings(**choice.plugin_kwargs()))
        print(f"LangChain Chroma: {len(store.get()['ids'])} stored vectors, none re-embedded")
        for doc in store.similarity_search(args.query, k=3):
            print(f"  langchain hit: {doc.metadata['modality']} {doc.metadata['source']}")

        embed_model = JinaCLIPEmbedding(**choice.plugin_kwargs(), show_progress=False)
        Settings.llm = None
        index = llamaindex_from_output(folders, texts, embed_model)
        print(f"LlamaIndex: {len(index.docstore.docs)} nodes, none re-embedded")
        for hit in index.as_retriever(similarity_top_k=3).retrieve(args.query):
            print(f"  llamaindex hit: {hit.node.metadata['modality']} "
                  f"{hit.node.metadata['source']} ({hit.score:.3f})")


if __name__ == "__main__":
    main()
