"""The multimodal RAG chain of examples/langchain_multimodal_rag.py, end to end with a fake
chat model: retriever -> prompt -> chat model -> StrOutputParser over one Chroma collection.
The test asserts that the retrieved texts and images (computed independently with the core
encoder) reached the chat model's messages."""

from __future__ import annotations

import base64
import importlib.util
import pathlib
import sys
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import BaseMessage

from jina_clip import JinaCLIP
from langchain_jina_clip import JinaCLIPEmbeddings

EXAMPLE = pathlib.Path(__file__).parents[2] / "examples" / "langchain_multimodal_rag.py"


@pytest.fixture(scope="module")
def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("langchain_multimodal_rag", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class CaptureMessages(BaseCallbackHandler):
    """Records the messages every chat model call receives."""

    def __init__(self) -> None:
        self.calls: list[list[BaseMessage]] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        self.calls.extend(messages)


def _parts(messages: list[BaseMessage]) -> tuple[list[str], list[str]]:
    """(all text, all image URLs) found in the messages' content."""
    texts, images = [], []
    for message in messages:
        content = message.content
        for part in [content] if isinstance(content, str) else content:
            if isinstance(part, str):
                texts.append(part)
            elif part.get("type") == "text":
                texts.append(part["text"])
            elif part.get("type") == "image_url":
                images.append(part["image_url"]["url"])
    return texts, images


def _read(paths: list[str]) -> list[bytes]:
    return [pathlib.Path(p).read_bytes() for p in paths]


def _top(scores: np.ndarray, k: int) -> list[int]:
    return [int(i) for i in np.argsort(-scores)[:k]]


async def test_rag_chain_end_to_end(
    example: ModuleType,
    tiny_params: dict[str, Any],
    core_encoder: JinaCLIP,
    tmp_path: pathlib.Path,
) -> None:
    notes: list[str] = example.NOTES
    image_paths: list[str] = example.draw_pictures(tmp_path)
    question = "Which sign shows the mountain trail?"
    k = 2

    # The expected context, independently: brute-force cosine with the core encoder.
    query = core_encoder.encode_text([question])[0]
    expected_notes = [notes[i] for i in _top(core_encoder.encode_text(notes) @ query, k)]
    expected_images = [image_paths[i] for i in _top(core_encoder.encode_image(image_paths) @ query, k)]  # noqa: E501

    chat = FakeListChatModel(responses=["The green triangle."])
    capture = CaptureMessages()
    with JinaCLIPEmbeddings(**tiny_params) as embeddings:
        store = example.build_index(embeddings, notes, image_paths)
        chain = example.build_chain(store, chat, k=k)
        answer = chain.invoke(question, config={"callbacks": [capture]})
        answer_async = await chain.ainvoke(question, config={"callbacks": [capture]})
        store.delete_collection()

    assert answer == answer_async == "The green triangle."  # StrOutputParser -> str
    assert len(capture.calls) == 2
    for messages in capture.calls:
        texts, images = _parts(messages)
        joined = "\n".join(texts)
        assert question in joined
        for note in notes:
            assert (note in joined) == (note in expected_notes)
        sent = sorted(base64.b64decode(url.split(",", 1)[1]) for url in images)
        assert sent == sorted(_read(expected_images))
        assert all(url.startswith("data:image/png;base64,") for url in images)


def test_example_runs_offline_with_the_fake_model(
    example: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    answer = example.main(["--tiny", "--device", "cpu", "--question", "Where is the pool?"])
    assert "fake chat model" in answer
    out = capsys.readouterr().out
    assert "Q: Where is the pool?" in out and "retrieved image" in out
