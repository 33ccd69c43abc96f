"""Multimodal RAG with LangChain: texts and images in ONE Chroma collection, one embedding model.

    python examples/langchain_multimodal_rag.py                  # jinaai/jina-clip-v1, local
    python examples/langchain_multimodal_rag.py --model DIR      # a local checkpoint directory
    python examples/langchain_multimodal_rag.py --tiny           # tiny random checkpoint (offline)
    JINA_CLIP_EXAMPLES_TINY=1 python examples/langchain_multimodal_rag.py   # the same, for CI
    python examples/langchain_multimodal_rag.py --api            # Jina's API (needs JINA_API_KEY)
    python examples/langchain_multimodal_rag.py --question "Where is the entrance of the pool?"

The knowledge base is the project's sample texts (examples/docs/) and pictures
(examples/images/). The chain is LCEL:

    question -> {top-k texts, top-k images} (one Chroma collection, metadata filter per modality)
             -> chat prompt (texts as text, images as data-URI image parts) -> chat model -> str

The chat model is ``ChatOpenAI`` when ``langchain-openai`` is installed and ``OPENAI_API_KEY``
is set (``OPENAI_MODEL`` picks the model, default gpt-4o-mini) and the tiny switch is off;
otherwise a fake model that says it was given the context, so the pipeline runs anywhere.
The tiny checkpoint is random: with it the retrieval is meaningless (it only shows the pipeline).
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _model import ModelChoice, add_model_arguments
from _samples import documents, image_paths
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel, RunnablePassthrough

from langchain_jina_clip import JinaCLIPEmbeddings

PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "Answer the question using only the notes and pictures provided."),
        MessagesPlaceholder("context"),
        ("human", "{question}"),
    ]
)


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
    parser.add_argument("--question", default="What does the logo of the Sunrise Bakery look like?")
    parser.add_argument("--k", type=int, default=2, help="texts and images to retrieve, each")
    args = parser.parse_args(argv)
    choice = ModelChoice.from_args(args)
    print(choice.describe())

    with JinaCLIPEmbeddings(**choice.plugin_kwargs()) as embeddings:
        pictures = [str(p) for p in image_paths()]
        store = build_index(embeddings, list(documents().values()), pictures)
        for modality in ("text", "image"):
            for doc in store.similarity_search(
                args.question, k=args.k, filter={"modality": modality}
            ):
                shown = (doc.page_content[:90] if modality == "text"
                         else Path(doc.metadata["source"]).name)
                print(f"retrieved {modality:5}: {shown}")
        chain = build_chain(store, default_chat_model(offline=choice.tiny), k=args.k)
        answer = chain.invoke(args.question)
        store.delete_collection()
    print("\nQ:", args.question)
    print("A:", answer)
    return answer

if __name__ == "__main__":
    main()
