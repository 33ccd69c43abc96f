"""Large request bodies are parsed off the event loop; small ones inline; errors stay 422."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from jina_clip.server import body as body_module

from .conftest import png_b64


@pytest.fixture
def parse_threads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the threads that validated each request body."""
    seen: list[str] = []
    validate = body_module._validate

    def spy(raw: bytes) -> Any:
        seen.append(threading.current_thread().name)
        return validate(raw)

    monkeypatch.setattr(body_module, "_validate", spy)
    return seen


async def test_large_bodies_are_parsed_in_a_worker_thread(
    client: Any, parse_threads: list[str]
) -> None:
    loop_thread = threading.current_thread().name
    small = await client.post("/v1/embeddings", json={"model": "jina-clip-v1", "input": ["a"]})
    texts = ["word " * 60] * (body_module.INLINE_PARSE_BYTES // 250)  # ~300 chars each
    big = await client.post("/v1/embeddings",
                            json={"model": "jina-clip-v1", "input": [*texts, {"image": png_b64()}]})
    assert small.status_code == 200 and big.status_code == 200, big.text
    assert parse_threads[0] == loop_thread  # small: inline, a thread hop would cost more
    assert parse_threads[1] != loop_thread  # large: off the event loop
    assert len(big.json()["data"]) == len(texts) + 1


async def test_a_large_malformed_body_is_still_a_422_without_its_content(client: Any) -> None:
    junk = "x" * (body_module.INLINE_PARSE_BYTES * 2)
    response = await client.post(
        "/v1/embeddings", content=b'{"model": "jina-clip-v1", "input": [{"text": 5}], "pad": "' +
        junk.encode() + b'"}', headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert "input 0" in response.json()["detail"] and junk[:100] not in response.text
