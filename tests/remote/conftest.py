"""Fixtures for the remote encoder tests: a scripted fake API on 127.0.0.1 and encoders
pointed at it with tiny backoff (the suite must stay fast)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jina_clip.remote import RemoteJinaCLIP

from .fake_jina_api import FakeJinaAPI


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JINA_API_KEY", raising=False)
    monkeypatch.delenv("JINAAI_API_KEY", raising=False)


@pytest.fixture
def api() -> Iterator[FakeJinaAPI]:
    server = FakeJinaAPI().start()
    yield server
    server.stop()


@pytest.fixture
def make_encoder(api: FakeJinaAPI) -> Iterator[Callable[..., RemoteJinaCLIP]]:
    made: list[RemoteJinaCLIP] = []

    def make(model: str = "jina-clip-v1", **kwargs: Any) -> RemoteJinaCLIP:
        options: dict[str, Any] = {
            "base_url": api.url, "timeout": 5.0, "backoff_base": 0.01, "backoff_max": 0.05,
            **kwargs,
        }
        encoder = RemoteJinaCLIP(model, **options)
        made.append(encoder)
        return encoder

    yield make
    for encoder in made:
        encoder.close()


class Twin:
    """Calls ``encode_*`` (sync) or ``aencode_*`` under ``asyncio.run`` (async), so every
    fault test runs against both twins."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __call__(self, encoder: RemoteJinaCLIP, method: str, *args: Any, **kwargs: Any) -> Any:
        if self.mode == "sync":
            return getattr(encoder, method)(*args, **kwargs)
        return asyncio.run(getattr(encoder, "a" + method)(*args, **kwargs))


@pytest.fixture(params=["sync", "async"])
def twin(request: pytest.FixtureRequest) -> Twin:
    return Twin(request.param)
