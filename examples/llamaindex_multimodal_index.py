"""A LlamaIndex multimodal index with jina-clip: one model, one vector space for texts and images.

    python examples/llamaindex_multimodal_index.py                 # jinaai/jina-clip-v1 (hub)
    python examples/llamaindex_multimodal_index.py --model DIR     # a local checkpoint directory
    python examples/llamaindex_multimodal_index.py --tiny          # tiny random checkpoint
    JINA_CLIP_EXAMPLES_TINY=1 python examples/llamaindex_multimodal_index.py   # the same, for CI
    python examples/llamaindex_multimodal_index.py --folder my_docs --query "a red bicycle"
    python examples/llamaindex_multimodal_index.py --api           # Jina's API (needs JINA_API_KEY)

Without --folder, the project's sample pictures (examples/images/) and texts (examples/docs/)
are indexed.
The tiny checkpoint is random: it shows the pipeline, not meaningful rankings.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _model.py, also when imported by path

from _model import ModelChoice, add_model_arguments
from _samples import DOCS_DIR, image_paths

from llama_index.core import Settings, SimpleDirectoryReader
from llama_index.core.indices import MultiModalVectorStoreIndex
from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import Document, ImageDocument, ImageNode
from llama_index.embeddings.jina_clip import JinaCLIPEmbedding

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


class PictureReader(BaseReader):
    """Pictures as image documents (llama-index-readers-file's ImageReader does the same)."""

    def load_data(self, file: Path, extra_info: dict | None = None) -> list[Document]:
        return [ImageDocument(image_path=str(file), metadata=dict(extra_info or {}))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_model_arguments(parser)
    parser.add_argument("--folder", type=Path, help="folder of texts and pictures")
    parser.add_argument("--query", action="append", default=[], help="text query")
    args = parser.parse_args()
    choice = ModelChoice.from_args(args)
    print(choice.describe())

    clip = JinaCLIPEmbedding(**choice.plugin_kwargs(), show_progress=False)
    Settings.embed_model = clip  # nothing falls back to a default (OpenAI) model
    Settings.llm = None

    extractors = dict.fromkeys(PICTURE_SUFFIXES, PictureReader())
    if args.folder is None:
        files = [*image_paths(), *sorted(DOCS_DIR.glob("*.txt"))]
        reader = SimpleDirectoryReader(input_files=[str(f) for f in files],
                                       file_extractor=extractors)
    else:
        reader = SimpleDirectoryReader(str(args.folder), file_extractor=extractors)
    documents = reader.load_data()
    # ONE model for texts and images: both live in the same vector space.
    index = MultiModalVectorStoreIndex.from_documents(
        documents, embed_model=clip, image_embed_model=clip
    )
    retriever = index.as_retriever(similarity_top_k=2, image_similarity_top_k=2)
    print(f"{clip.model_name} ({clip.resolved_backend()}), {len(documents)} documents\n")

    for query in args.query or ["a red circle", "a cat", "a sailing boat on the sea"]:
        print(f"query: {query!r}")
        for hit in retriever.retrieve(query):
            kind = "image" if isinstance(hit.node, ImageNode) else "text "
            print(f"  {kind} {hit.score:6.3f}  {Path(hit.node.metadata['file_path']).name}")
    probe = next(d for d in documents if isinstance(d, ImageDocument))
    print(f"\nimages like {Path(probe.image_path).name}:")
    for hit in retriever.image_to_image_retrieve(probe.image_path):
        print(f"  image {hit.score:6.3f}  {Path(hit.node.metadata['file_path']).name}")
    clip.close()

if __name__ == "__main__":
    main()
