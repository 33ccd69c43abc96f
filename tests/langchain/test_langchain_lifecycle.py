"""Construction, the backend rule, laziness, the secret key, copies and closing.

The encoder factories are replaced by a recording fake, so these tests prove what is built,
when and with which arguments, without loading a model or opening a connection.
"""

from __future__ import annotations

import asyncio
import copy
import json
import pickle
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from pydantic import SecretStr, ValidationError

from jina_clip import JinaCLIP
from langchain_jina_clip import JinaCLIPEmbeddings

SECRET = "jina_super_secret_value_123"


class FakeEncoder(JinaCLIP):
    """Records calls; returns constant vectors."""

    def __init__(self, kind: str, model: str, **kwargs: Any) -> None:
        self.kind, self.name, self.kwargs = kind, model, kwargs
        self.calls: list[tuple[str, Any]] = []
        self.closed = False

    @property
    def dimension(self) -> int:
        return 4

    @property
    def model_name(self) -> str:
        return self.name

    def _vectors(self, n: int) -> np.ndarray:
        return np.full((n, 4), 0.5, dtype=np.float32)

    def _encode_text(self, texts: Sequence[str], call: Any) -> np.ndarray:
        self.calls.append(("text", call.task))
        return self._vectors(len(texts))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    def _encode_image(self, images: Sequence[Any], call: Any) -> np.ndarray:
        self.calls.append(("image", None))
        return self._vectors(len(images))

    async def _aencode_text(self, texts: Sequence[str], call: Any) -> np.ndarray:
        self.calls.append(("atext", call.task))
        return self._vectors(len(texts))

    async def _aencode_image(self, images: Sequence[Any], call: Any) -> np.ndarray:
        self.calls.append(("aimage", None))
        return self._vectors(len(images))

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[FakeEncoder]:
    """Every encoder the factories build, in order (JinaCLIP.local / .remote are faked)."""
    encoders: list[FakeEncoder] = []

    def factory(kind: str) -> Any:
        def make(model: str, **kwargs: Any) -> FakeEncoder:
            time.sleep(0.02)  # widen the race window for the once-only test
            encoders.append(FakeEncoder(kind, str(model), **kwargs))
            return encoders[-1]

        return staticmethod(make)

    monkeypatch.setattr(JinaCLIP, "local", factory("local"))
    monkeypatch.setattr(JinaCLIP, "remote", factory("remote"))
    for name in ("JINA_API_KEY", "JINAAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return encoders


def test_no_arg_construction_is_lazy_and_local_despite_env_key(
    built: list[FakeEncoder], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JINA_API_KEY", SECRET)
    embeddings = JinaCLIPEmbeddings()
    assert built == []  # nothing loaded, nothing connected
    assert embeddings.api_key == SecretStr(SECRET)  # read, but ...
    assert embeddings.resolved_backend() == "local"  # ... never switches to the paid API
    embeddings.embed_query("hello")
    assert [(e.kind, e.name) for e in built] == [("local", "jinaai/jina-clip-v1")]
    assert built[0].kwargs["device"] == "auto"
    embeddings.embed_documents(["a", "b"])
    embeddings.embed_image(["x.png"])
    assert len(built) == 1  # built once, reused


@pytest.mark.parametrize(
    "params",
    [
        {"backend": "api"},
        {"api_key": "jina_x"},
        {"jina_api_key": "jina_x"},
        {"base_url": "http://127.0.0.1:9/v1"},
    ],
)
def test_api_only_when_asked(built: list[FakeEncoder], params: dict[str, Any]) -> None:
    embeddings = JinaCLIPEmbeddings(**params)
    assert built == []
    embeddings.embed_documents(["a"])
    assert [(e.kind, e.name) for e in built] == [("remote", "jina-clip-v1")]
    assert built[0].kwargs["base_url"] == params.get("base_url", "https://api.jina.ai/v1")


def test_backend_local_overrides_explicit_key(built: list[FakeEncoder]) -> None:
    embeddings = JinaCLIPEmbeddings(api_key="jina_x", backend="local", model="some/dir")
    embeddings.embed_documents(["a"])
    assert [(e.kind, e.name) for e in built] == [("local", "some/dir")]


def test_jina_api_key_alias() -> None:
    embeddings = JinaCLIPEmbeddings(jina_api_key=SECRET)
    assert embeddings.api_key == SecretStr(SECRET)
    assert "api_key" in embeddings.model_fields_set
    with pytest.raises(ValidationError, match="not both"):
        JinaCLIPEmbeddings(jina_api_key="jina_a", api_key="jina_b")


def test_fields_are_documented_and_validated() -> None:
    fields = JinaCLIPEmbeddings.model_fields
    for name in (
        "model", "backend", "device", "dtype", "batch_size", "max_length", "truncate",
        "normalize", "dimensions", "api_key", "base_url", "timeout", "max_retries",
        "max_concurrency", "show_progress", "revision", "cache_dir", "local_files_only",
    ):
        assert fields[name].description, name
    with pytest.raises(ValidationError):
        JinaCLIPEmbeddings(batch_size=0)
    with pytest.raises(ValidationError):
        JinaCLIPEmbeddings(not_a_field=1)  # type: ignore[call-arg]


@pytest.mark.parametrize("how", ["api_key", "jina_api_key", "env"])
def test_key_never_leaks(
    built: list[FakeEncoder], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    if how == "env":
        monkeypatch.setenv("JINA_API_KEY", SECRET)
        embeddings = JinaCLIPEmbeddings(backend="api")
    else:
        embeddings = JinaCLIPEmbeddings(**{how: SECRET})
    embeddings.embed_query("built")  # also with a live encoder attached
    assert built[0].kwargs["api_key"].get_secret_value() == SECRET  # the core gets it
    for text in (
        repr(embeddings),
        str(embeddings),
        str(embeddings.model_dump()),
        embeddings.model_dump_json(),
        json.dumps(embeddings.model_dump(mode="json")),
        repr(embeddings.model_copy()),
    ):
        assert SECRET not in text


def test_encoder_built_once_across_threads(built: list[FakeEncoder]) -> None:
    embeddings = JinaCLIPEmbeddings()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: embeddings.embed_query(str(i)), range(64)))
    assert len(built) == 1


async def test_encoder_built_once_under_async(built: list[FakeEncoder]) -> None:
    embeddings = JinaCLIPEmbeddings()
    await asyncio.gather(*(embeddings.aembed_query(str(i)) for i in range(16)))
    assert len(built) == 1
    assert {c[0] for c in built[0].calls} == {"atext"}  # the core's native async path


async def test_query_task_and_native_async(built: list[FakeEncoder]) -> None:
    embeddings = JinaCLIPEmbeddings()
    embeddings.embed_query("q")
    embeddings.embed_documents(["d"])
    embeddings.embed_images([b"i"])
    await embeddings.aembed_query("q")
    await embeddings.aembed_documents(["d"])
    await embeddings.aembed_image(["i"])
    await embeddings.aembed_images(["i"])
    assert built[0].calls == [
        ("text", "retrieval.query"),
        ("text", None),
        ("image", None),
        ("atext", "retrieval.query"),
        ("atext", None),
        ("aimage", None),
        ("aimage", None),
    ]


def test_changing_settings_rebuilds(built: list[FakeEncoder]) -> None:
    embeddings = JinaCLIPEmbeddings()
    embeddings.embed_query("a")
    embeddings.dimensions = 8
    embeddings.embed_query("b")
    assert [e.kwargs["dimensions"] for e in built] == [None, 8]
    with pytest.raises(ValidationError):
        embeddings.dimensions = 0  # validate_assignment still applies


def test_copies_get_their_own_encoder(built: list[FakeEncoder]) -> None:
    embeddings = JinaCLIPEmbeddings()
    embeddings.embed_query("a")
    for clone in (
        embeddings.model_copy(update={"dimensions": 2}),
        copy.copy(embeddings),
        copy.deepcopy(embeddings),
        pickle.loads(pickle.dumps(embeddings)),
    ):
        clone.embed_query("b")
    assert len(built) == 5
    assert built[1].kwargs["dimensions"] == 2
    assert not built[0].closed


async def test_close_and_context_managers(built: list[FakeEncoder]) -> None:
    embeddings = JinaCLIPEmbeddings()
    embeddings.close()  # nothing built: a no-op
    assert built == []
    with embeddings:
        embeddings.embed_query("a")
    assert built[0].closed
    embeddings.embed_query("b")  # usable again: a fresh encoder
    assert len(built) == 2 and not built[1].closed
    async with embeddings:
        await embeddings.aembed_query("c")
    assert built[1].closed


def test_concurrent_first_use_from_threads_and_loop(built: list[FakeEncoder]) -> None:
    embeddings = JinaCLIPEmbeddings()
    barrier = threading.Barrier(2)

    def sync_side() -> None:
        barrier.wait()
        embeddings.embed_query("t")

    async def async_side() -> None:
        barrier.wait()
        await embeddings.aembed_query("a")

    thread = threading.Thread(target=sync_side)
    thread.start()
    asyncio.run(async_side())
    thread.join()
    assert len(built) == 1
