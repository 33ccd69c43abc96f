"""Configuration, laziness, serialization, async concurrency cap and errors of
`JinaCLIPEmbedding` (fake encoders where the model does not matter)."""

from __future__ import annotations

import asyncio
import json
import pickle
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from jina_clip import ImageNotFoundError, JinaCLIP, JinaCLIPSettings, TextInputError
from llama_index.embeddings.jina_clip import QUERY_TASK, JinaCLIPEmbedding

SECRET = "jina_test_secret_0123456789"


class FakeEncoder(JinaCLIP):
    """Counts calls and concurrent async calls; row i is [i-th input's length, 1, 0, ...]."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay
        self.tasks: list[str | None] = []
        self.in_flight = 0
        self.peak = 0

    dimension = 4  # type: ignore[assignment]
    model_name = "fake"  # type: ignore[assignment]

    def _rows(self, items: Sequence[Any]) -> np.ndarray:
        return np.array([[len(str(x)), 1, 0, 0] for x in items], dtype=np.float32)

    def _encode_text(self, texts: Sequence[str], call: Any):
        self.tasks.append(call.task)
        return self._rows(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def _encode_image(self, images: Sequence[Any], call: Any):
        return self._rows(images)

    async def _count(self, items: Sequence[Any]) -> np.ndarray:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            return self._rows(items)
        finally:
            self.in_flight -= 1

    async def _aencode_text(self, texts: Sequence[str], call: Any):
        self.tasks.append(call.task)
        return await self._count(texts)

    async def _aencode_image(self, images: Sequence[Any], call: Any):
        return await self._count(images)


class Faked(JinaCLIPEmbedding):
    """`JinaCLIPEmbedding` whose `build()` returns a fake encoder and counts the builds."""

    def build(self) -> JinaCLIP:
        time.sleep(0.05)  # widen the window for racing threads
        _BUILDS.append(self)
        return FakeEncoder()


_BUILDS: list[JinaCLIPEmbedding] = []


# --- configuration ----------------------------------------------------------------------------


def test_fields_are_the_core_settings_fields():
    settings_fields = JinaCLIPSettings.model_fields
    for name, info in settings_fields.items():
        assert JinaCLIPEmbedding.model_fields[name].description == info.description
        assert info.description, name
    assert isinstance(JinaCLIPEmbedding(), JinaCLIPSettings)
    assert JinaCLIPEmbedding.class_name() == "JinaCLIPEmbedding"
    assert JinaCLIPEmbedding().embed_batch_size == 32
    with pytest.raises(ValidationError):
        JinaCLIPEmbedding(max_concurrency=0)
    with pytest.raises(ValidationError):
        JinaCLIPEmbedding(not_a_field=1)


def test_backend_rule_and_model_name(monkeypatch):
    monkeypatch.setenv("JINA_API_KEY", SECRET)
    default = JinaCLIPEmbedding()
    assert default.resolved_backend() == "local"  # an environment key never switches
    assert default.model_name == "jinaai/jina-clip-v1"
    assert default.api_key is not None  # ... but it is read
    explicit = JinaCLIPEmbedding(api_key=SECRET)
    assert (explicit.resolved_backend(), explicit.model_name) == ("api", "jina-clip-v1")
    assert JinaCLIPEmbedding(base_url="http://127.0.0.1:9/v1").resolved_backend() == "api"
    assert JinaCLIPEmbedding(model="some/dir").model_name == "some/dir"


# --- laziness ---------------------------------------------------------------------------------


def test_constructing_loads_nothing(tmp_path):
    embed = JinaCLIPEmbedding(model=str(tmp_path / "does-not-exist"), local_files_only=True)
    assert "not built" in repr(embed._lazy)
    JinaCLIPEmbedding(backend="api", api_key=SECRET)  # no HTTP client, no request


def test_encoder_built_once_under_threads():
    _BUILDS.clear()
    embed = Faked()
    threads = [threading.Thread(target=embed.get_text_embedding, args=("x",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(_BUILDS) == 1
    embed.normalize = False  # configuration changed: a new encoder next time
    embed.get_text_embedding("x")
    assert len(_BUILDS) == 2


def test_query_task_only_for_queries():
    embed = Faked()
    embed.get_query_embedding("q")
    embed.get_text_embedding("d")
    embed.get_text_embedding_batch(["a", "b"])
    asyncio.run(embed.aget_query_embedding("q"))
    assert embed.encoder.tasks == [QUERY_TASK, None, None, QUERY_TASK]  # type: ignore[attr-defined]


# --- async concurrency cap --------------------------------------------------------------------


@pytest.mark.parametrize("num_workers", [None, 16])
async def test_async_batches_are_capped(num_workers):
    embed = Faked(embed_batch_size=5, max_concurrency=3, num_workers=num_workers)
    texts = [f"text {i}" for i in range(100)]
    vectors = await embed.aget_text_embedding_batch(texts)
    fake: FakeEncoder = embed.encoder  # type: ignore[assignment]
    assert fake.peak == 3  # 20 batches, never more than 3 in flight
    assert [v[0] for v in vectors] == [len(t) for t in texts]  # order kept
    fake.peak = 0
    images = [f"img-{i}.png" for i in range(40)]
    vectors = await embed.aget_image_embedding_batch(images)
    assert fake.peak == 3
    assert [v[0] for v in vectors] == [len(i) for i in images]


async def test_cap_follows_max_concurrency():
    embed = Faked(embed_batch_size=1, max_concurrency=1)
    await embed.aget_text_embedding_batch(["a"] * 6)
    assert embed.encoder.peak == 1  # type: ignore[attr-defined]


# --- serialization ----------------------------------------------------------------------------


def test_round_trip_never_contains_the_key(monkeypatch):
    monkeypatch.delenv("JINA_API_KEY", raising=False)
    monkeypatch.delenv("JINAAI_API_KEY", raising=False)
    embed = JinaCLIPEmbedding(
        api_key=SECRET, base_url="http://127.0.0.1:9/v1", dimensions=64, timeout=5.0,
        embed_batch_size=7, max_concurrency=2,
    )
    for text in (embed.to_json(), json.dumps(embed.to_dict()), repr(embed), str(embed),
                 embed.model_dump_json(), str(embed.model_dump()), str(embed.to_payload())):
        assert SECRET not in text
    data = embed.to_dict()
    assert "api_key" not in data and data["class_name"] == "JinaCLIPEmbedding"
    assert data["backend"] == "api"  # resolved: the round trip keeps the backend
    again = JinaCLIPEmbedding.from_json(embed.to_json())
    assert again.resolved_backend() == "api" and again.api_key is None
    for name in JinaCLIPSettings.model_fields:
        if name not in ("api_key", "backend"):
            assert getattr(again, name) == getattr(embed, name), name
    assert again.embed_batch_size == 7 and again.model_name == embed.model_name
    with_key = JinaCLIPEmbedding.from_dict(data, api_key=SECRET)
    assert with_key.api_key.get_secret_value() == SECRET  # type: ignore[union-attr]


def test_local_round_trip_stays_local_with_an_environment_key(monkeypatch, tiny_params):
    monkeypatch.setenv("JINA_API_KEY", SECRET)
    embed = JinaCLIPEmbedding(model=tiny_params["model"])
    assert SECRET not in embed.to_json()
    assert JinaCLIPEmbedding.from_json(embed.to_json()).resolved_backend() == "local"
    clone = pickle.loads(pickle.dumps(embed))
    assert clone.resolved_backend() == "local"  # every field explicit now, backend pinned
    assert "not built" in repr(clone._lazy)


# --- errors -----------------------------------------------------------------------------------


@pytest.fixture
def small_batches(backend_params: dict[str, Any]) -> JinaCLIPEmbedding:
    return JinaCLIPEmbedding(**backend_params, embed_batch_size=2)


def test_bad_image_names_its_index(small_batches, corpus):
    images = [str(corpus / f"picture-{i}.png") for i in range(4)]
    images.insert(3, str(corpus / "missing.png"))
    with pytest.raises(ImageNotFoundError) as caught:
        small_batches.get_image_embedding_batch(images)
    assert caught.value.index == 3 and "input 3:" in str(caught.value)


async def test_bad_image_names_its_index_async(small_batches, corpus):
    images = [str(corpus / f"picture-{i}.png") for i in range(5)]
    images[4] = str(corpus / "missing.png")
    with pytest.raises(ImageNotFoundError) as caught:
        await small_batches.aget_image_embedding_batch(images)
    assert caught.value.index == 4


def test_bad_text_names_its_index(small_batches):
    with pytest.raises(TextInputError) as caught:
        small_batches.get_text_embedding_batch(["a", "b", "c", None])  # type: ignore[list-item]
    assert caught.value.index == 3


def test_truncation_warnings_name_positions_in_the_whole_list(tiny_checkpoint) -> None:
    """LlamaIndex cuts the caller's list into batches; the core's TruncationWarning must still
    number inputs as the caller does (like the errors), sync and async."""
    from jina_clip import TruncationWarning

    long = "word " * 40  # 42 tokens
    texts = ["a", "b", "c", long, "e", long + "word"]
    with JinaCLIPEmbedding(model=str(tiny_checkpoint), backend="local", device="cpu",
                           max_length=16, embed_batch_size=2) as li:
        for run in (lambda: li.get_text_embedding_batch(texts),
                    lambda: asyncio.run(li.aget_text_embedding_batch(texts))):
            with pytest.warns(TruncationWarning) as record:
                assert len(run()) == len(texts)
            cut = [w.message for w in record if isinstance(w.message, TruncationWarning)]
            named = sorted(i for warning in cut for i in warning.indices)
            assert named == [3, 5], named
            assert any("input 5 (43 tokens)" in str(warning) for warning in cut)
