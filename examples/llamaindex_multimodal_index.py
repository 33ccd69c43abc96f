"""A LlamaIndex multimodal index with jina-clip: one model, one vector space for texts and images.

    python examples/llamaindex_multimodal_index.py                 # jinaai/jina-clip-v1 (hub)
    python examples/llamaindex_multimodal_index.py --model DIR     # a local checkpoint directory
    python examples/llamaindex_multimodal_index.py --tiny          # tiny random checkpoint
    python examples/llamaindex_multimodal_index.py --folder my_docs --query "a red bicycle"
    python examples/llamaindex_multimodal_index.py --api           # Jina's API (needs JINA_API_KEY)

Without --folder, a folder of three drawn pictures and three short texts is made on the fly.
The tiny checkpoint is random: it shows the pipeline, not meaningful rankings.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from llama_index.core import Settings, SimpleDirectoryReader
from llama_index.core.indices import MultiModalVectorStoreIndex
from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import Document, ImageDocument, ImageNode
from llama_index.embeddings.jina_clip import JinaCLIPEmbedding

TEXTS = {
    "circles.txt": "Circles have no corners; a red one is a common warning sign.",
    "squares.txt": "A square has four equal sides and four right angles.",
    "forests.txt": "Green forests cover about a third of the land on Earth.",
}
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


class PictureReader(BaseReader):
    """Pictures as image documents (llama-index-readers-file's ImageReader does the same)."""

    def load_data(self, file: Path, extra_info: dict | None = None) -> list[Document]:
        return [ImageDocument(image_path=str(file), metadata=dict(extra_info or {}))]


def make_folder(folder: Path) -> None:
    """Three drawn pictures and three texts."""
    shapes = {
        "red-circle.png": lambda d: d.ellipse((48, 48, 208, 208), fill=(220, 30, 30)),
        "blue-square.png": lambda d: d.rectangle((56, 56, 200, 200), fill=(30, 60, 220)),
        "green-tree.png": lambda d: d.polygon([(128, 30), (210, 200), (46, 200)], fill="green"),
    }
    for name, draw in shapes.items():
        image = Image.new("RGB", (256, 256), "white")
        draw(ImageDraw.Draw(image))
        image.save(folder / name)
    for name, text in TEXTS.items():
        (folder / name).write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--model", default=None, help="hub id or directory")
    parser.add_argument("--tiny", action="store_true", help="tiny random checkpoint (offline)")
    parser.add_argument("--api", action="store_true", help="use Jina's Embeddings API")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--folder", type=Path, help="folder of texts and pictures")
    parser.add_argument("--query", action="append", default=[], help="text query")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder
        if folder is None:
            folder = Path(tmp) / "docs"
            folder.mkdir()
            make_folder(folder)
        if args.api:
            clip = JinaCLIPEmbedding(backend="api", model=args.model)
        else:
            model = args.model
            if args.tiny:
                from jina_clip.testing import write_tiny_checkpoint

                model = str(write_tiny_checkpoint(Path(tmp) / "tiny-jina-clip"))
            clip = JinaCLIPEmbedding(model=model, device=args.device, show_progress=False)
        Settings.embed_model = clip  # nothing falls back to a default (OpenAI) model
        Settings.llm = None

        reader = SimpleDirectoryReader(
            str(folder), file_extractor=dict.fromkeys(PICTURE_SUFFIXES, PictureReader())
        )
        documents = reader.load_data()
        # ONE model for texts and images: both live in the same vector space.
        index = MultiModalVectorStoreIndex.from_documents(
            documents, embed_model=clip, image_embed_model=clip
        )
        retriever = index.as_retriever(similarity_top_k=2, image_similarity_top_k=2)
        print(f"{clip.model_name} ({clip.resolved_backend()}), {len(documents)} documents\n")

        for query in args.query or ["a red circle", "a green tree", "four right angles"]:
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
