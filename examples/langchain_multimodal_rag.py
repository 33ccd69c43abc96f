"""Multimodal RAG with LangChain: texts and images in ONE Chroma collection, one embedding model.

    python examples/langchain_multimodal_rag.py                  # jinaai/jina-clip-v1, local
    python examples/langchain_multimodal_rag.py --model DIR      # a local checkpoint directory
    python examples/langchain_multimodal_rag.py --tiny           # tiny random checkpoint (offline)
    JINA_CLIP_EXAMPLES_TINY=1 python examples/langchain_multimodal_rag.py   # the same, for CI
    python examples/langchain_multimodal_rag.py --api            # Jina's API (needs JINA_API_KEY)
    python examples/langchain_multimodal_rag.py --question "Which shape is green?"

The knowledge base is a few notes and pictures drawn on the fly. The chain is LCEL:

    question -> {top-k texts, top-k images} (one Chroma collection, metadata filter per modality)
             -> chat prompt (texts as text, images as data-URI image parts) -> chat model -> str

The chat model is ``ChatOpenAI`` when ``langchain-openai`` is installed and ``OPENAI_API_KEY``
is set (``OPENAI_MODEL`` picks the model, default gpt-4o-mini) and the tiny switch is off;
otherwise a fake model that says it was given the context, so the pipeline runs anywhere.
The tiny checkpoint is random: with it the retrieval is meaningless (it only shows the pipeline).
The notebook ``notebooks/01_langchain_multimodal_rag.ipynb`` walks through the same pipeline
on the project's sample pictures and texts, and shows the pictures it retrieves.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _model.py, also when imported by path

from _model import ModelChoice, add_model_arguments
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel, RunnablePassthrough
from PIL import Image, ImageDraw

from langchain_jina_clip import JinaCLIPEmbeddings

NOTES = [
    "The red circle is the logo of the sunrise bakery.",
    "The blue square marks the entrance of the swimming pool.",
    "The green triangle is the sign of the mountain trail.",
    "Opening hours are from eight in the morning to six in the evening.",
]

PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer the question using only the notes and pictures provided."),
        MessagesPlaceholder("context"),
        ("human", "{question}"),
    ]
)


def draw_pictures(folder: Path) -> list[str]:
    """Three PNG files matching the notes; returns their paths."""
    shapes = {
        "red-circle": lambda d: d.ellipse((48, 48, 208, 208), fill=(220, 30, 30)),
        "blue-square": lambda d: d.rectangle((56, 56, 200, 200), fill=(30, 60, 220)),
        "green-triangle": lambda d: d.polygon([(128, 40), (220, 210), (36, 210)], fill=(30, 170, 60)),  # noqa: E501
    }
    paths = []
    for name, draw in shapes.items():
        image = Image.new("RGB", (256, 256), "white")
        draw(ImageDraw.Draw(image))
        path = folder / f"{name}.png"
        image.save(path)
        paths.append(str(path))
    return paths


def build_index(
    embeddings: JinaCLIPEmbeddings,
    texts: Sequence[str],
    image_paths: Sequence[str],
    collection_name: str | None = None,
) -> Chroma:
    """One in-memory Chroma collection holding texts and images (``Chroma.add_images`` calls
    ``embeddings.embed_image``); each item's ``modality`` is in its metadata."""
    store = Chroma(
        collection_name=collection_name or f"jina-clip-{uuid.uuid4().hex[:8]}",
        embedding_function=embeddings,
        collection_metadata={"hnsw:space": "cosine"},
    )
    store.add_texts(list(texts), metadatas=[{"modality": "text"} for _ in texts])
    store.add_images(
        list(image_paths), metadatas=[{"modality": "image", "source": p} for p in image_paths]
    )
    return store


def context_messages(inputs: dict[str, Any]) -> dict[str, Any]:
    """Retrieved documents as one human message: notes as text parts, images (stored by
    ``add_images`` as base64 PNG/JPEG) as data-URI image parts."""
    parts: list[str | dict[str, Any]] = [{"type": "text", "text": "Notes and pictures:"}]
    for doc in inputs["texts"]:
        parts.append({"type": "text", "text": f"- {doc.page_content}"})
    for doc in inputs["images"]:
        mime = "image/jpeg" if doc.page_content.startswith("/9j/") else "image/png"
        parts.append(
            {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{doc.page_content}"}}
        )
    return {"question": inputs["question"], "context": [HumanMessage(content=parts)]}


def build_chain(store: Chroma, chat_model: BaseChatModel, k: int = 2) -> Runnable[str, str]:
    """question -> top-k texts and top-k images -> prompt -> chat model -> answer string.

    Texts and images are retrieved separately (a metadata filter on the same collection)
    because text queries score texts above images even with a trained CLIP model (the
    "modality gap"); this way the model always gets both kinds of context."""

    def retriever(modality: str) -> Runnable[str, list[Document]]:
        return store.as_retriever(search_kwargs={"k": k, "filter": {"modality": modality}})

    return (
        RunnableParallel(
            question=RunnablePassthrough(), texts=retriever("text"), images=retriever("image")
        )
        | RunnableLambda(context_messages)
        | PROMPT
        | chat_model
        | StrOutputParser()
    )


def default_chat_model(offline: bool = False) -> BaseChatModel:
    """ChatOpenAI if it is installed and configured (and not ``offline``); a fake chat model
    otherwise."""
    if os.environ.get("OPENAI_API_KEY") and not offline:
        try:
            from langchain_openai import ChatOpenAI
        except ImportError:
            pass
        else:
            return ChatOpenAI(model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"))
    return FakeListChatModel(
        responses=["(fake chat model: install langchain-openai and set OPENAI_API_KEY "
                   "for a real answer) I was given the notes and pictures above."]
    )


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_model_arguments(parser)
    parser.add_argument("--question", default="Which sign shows the mountain trail?")
    parser.add_argument("--k", type=int, default=2, help="texts and images to retrieve, each")
    args = parser.parse_args(argv)
    choice = ModelChoice.from_args(args)
    print(choice.describe())

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with JinaCLIPEmbeddings(**choice.plugin_kwargs()) as embeddings:
            store = build_index(embeddings, NOTES, draw_pictures(folder))
            for modality in ("text", "image"):
                for doc in store.similarity_search(
                    args.question, k=args.k, filter={"modality": modality}
                ):
                    shown = doc.page_content if modality == "text" else doc.metadata["source"]
                    print(f"retrieved {modality:5}: {shown}")
            chain = build_chain(store, default_chat_model(offline=choice.tiny), k=args.k)
            answer = chain.invoke(args.question)
            store.delete_collection()
    print("\nQ:", args.question)
    print("A:", answer)
    return answer


if __name__ == "__main__":
    main()
