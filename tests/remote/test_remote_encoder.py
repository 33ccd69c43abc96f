"""The encoder's contract: request fields per model, keys and secrecy, usage, lifecycle."""

from __future__ import annotations

import asyncio
import logging

import httpx
import numpy as np
import pytest
from pydantic import SecretStr

from jina_clip import JinaCLIP, JinaCLIPSettings
from jina_clip.errors import (
    AuthenticationError,
    ImageInputError,
    InputError,
    ResponseValidationError,
    TextInputError,
)
from jina_clip.remote import RemoteJinaCLIP, TokenUsage

from .fake_jina_api import Echo, FakeJinaAPI, Reply, expected, png_bytes

KEY = "jina_supersecretkey_0123456789"


# --- request fields per model -----------------------------------------------------------------


def test_v2_sends_task_for_queries_and_dimensions(api, make_encoder, twin):
    api.dim = 1024
    encoder = make_encoder("jina-clip-v2", dimensions=64)
    assert encoder.dimension == 64
    query = twin(encoder, "encode_text", ["q"], task="retrieval.query")
    docs = twin(encoder, "encode_text", ["d"])
    images = twin(encoder, "encode_image", ["https://example.com/a.png"])
    q_body, d_body, i_body = (r.json for r in api.requests)
    assert q_body["task"] == "retrieval.query" and q_body["dimensions"] == 64
    assert "task" not in d_body and d_body["dimensions"] == 64
    assert "task" not in i_body and i_body["dimensions"] == 64  # images get dimensions too
    assert all(b["normalized"] is True for b in (q_body, d_body, i_body))
    assert query.shape == docs.shape == images.shape == (1, 64)
    np.testing.assert_allclose(query, expected([{"text": "q"}], 1024, dimensions=64), atol=1e-6)


def test_v2_query_alias_and_unknown_task(api, make_encoder):
    api.dim = 1024
    encoder = make_encoder("jina-clip-v2")
    encoder.encode_text(["q"], task="query")
    assert api.requests[0].json["task"] == "retrieval.query"
    with pytest.raises(InputError, match="unknown task"):
        encoder.encode_text(["q"], task="classification")


def test_v1_with_dimensions_truncates_client_side(api, make_encoder, twin):
    encoder = make_encoder("jina-clip-v1", dimensions=32)
    result = twin(encoder, "encode_text", ["a", "b"], task="retrieval.query")
    body = api.requests[0].json
    assert body["normalized"] is False
    assert "dimensions" not in body and "task" not in body
    assert encoder.dimension == 32 and result.shape == (2, 32)
    np.testing.assert_allclose(result, expected([{"text": "a"}, {"text": "b"}], 768,
                                                dimensions=32), atol=1e-6)


def test_normalize_false_returns_raw_vectors(api, make_encoder, twin):
    result = twin(make_encoder(normalize=False), "encode_text", ["a"])
    assert api.requests[0].json["normalized"] is False
    np.testing.assert_allclose(result, expected([{"text": "a"}], 768, normalize=False),
                               atol=1e-5)
    twin(make_encoder(), "encode_text", ["a"], normalize=False)  # per-call override
    assert api.requests[1].json["normalized"] is False


def test_truncate_is_sent(api, make_encoder):
    make_encoder(truncate=True).encode_text(["a"])
    assert api.requests[0].json["truncate"] is True


def test_max_length_is_refused(make_encoder):
    with pytest.raises(ValueError, match="truncate"):
        make_encoder(max_length=512)
    with pytest.raises(ValueError, match="truncate"):
        make_encoder().encode_text(["a"], max_length=77)


def test_unknown_model_learns_its_dimension(api, make_encoder, twin):
    api.dim = 512
    encoder = make_encoder("my-clip")
    assert twin(encoder, "encode_text", ["a", "b"]).shape == (2, 512)
    assert encoder.dimension == 512 and len(api.requests) == 1
    assert "task" not in api.requests[0].json


def test_unknown_model_probes_dimension_once(api, make_encoder):
    api.dim = 256
    encoder = make_encoder("my-clip")
    assert encoder.dimension == 256
    assert encoder.dimension == 256
    assert encoder.encode_text([]).shape == (0, 256)
    assert len(api.requests) == 1


async def test_unknown_model_async_empty_probes_without_blocking(api, make_encoder):
    api.dim = 128
    result = await make_encoder("my-clip").aencode_image([])
    assert result.shape == (0, 128)


def test_unknown_model_inconsistent_dimension_is_caught(api, make_encoder):
    api.dim = 512
    encoder = make_encoder("my-clip")
    encoder.encode_text(["a"])
    api.dim = 256
    with pytest.raises(ResponseValidationError):
        encoder.encode_text(["b"])


def test_empty_input_sends_nothing(api, make_encoder, twin):
    encoder = make_encoder()
    assert twin(encoder, "encode_text", []).shape == (0, 768)
    assert twin(encoder, "encode_image", []).shape == (0, 768)
    assert api.requests == []


def test_bad_inputs_are_refused_with_index(api, make_encoder, twin):
    encoder = make_encoder()
    with pytest.raises(TextInputError):
        twin(encoder, "encode_text", "a bare string")
    with pytest.raises(TextInputError) as info:
        twin(encoder, "encode_text", ["ok", 3])
    assert info.value.index == 1
    with pytest.raises(ImageInputError) as info:
        twin(encoder, "encode_image", ["https://example.com/a.png", b"not an image"])
    assert info.value.index == 1
    assert api.requests == []


def test_constructor_validation(api):
    for bad in ({"batch_size": 0}, {"batch_size": 4096}, {"max_concurrency": 0},
                {"timeout": 0}, {"max_retries": -1}, {"max_request_bytes": 10},
                {"dimensions": 0}):
        with pytest.raises(ValueError):
            RemoteJinaCLIP(base_url=api.url, **bad)
    with pytest.raises(ValueError, match="larger"):
        RemoteJinaCLIP("jina-clip-v1", base_url=api.url, dimensions=1024)


# --- keys and secrecy -------------------------------------------------------------------------


def test_official_url_without_key_fails_before_any_request():
    with pytest.raises(AuthenticationError, match="JINA_API_KEY"):
        RemoteJinaCLIP()
    with pytest.raises(AuthenticationError):
        JinaCLIP.remote("jina-clip-v2", base_url="https://api.jina.ai/v1/")


def test_self_hosted_server_needs_no_key(api, make_encoder):
    make_encoder().encode_text(["a"])
    assert "authorization" not in api.requests[0].headers


@pytest.mark.parametrize("env", ["JINA_API_KEY", "JINAAI_API_KEY"])
def test_key_from_environment(api, make_encoder, monkeypatch, env):
    monkeypatch.setenv(env, KEY)
    make_encoder().encode_text(["a"])
    assert api.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert RemoteJinaCLIP().base_url == "https://api.jina.ai/v1"  # official URL: key found


def test_explicit_key_wins_and_default_headers_are_sent(api, make_encoder, monkeypatch):
    monkeypatch.setenv("JINA_API_KEY", "jina_env_key")
    make_encoder(api_key=SecretStr(KEY), default_headers={"X-Team": "search"}).encode_text(["a"])
    headers = api.requests[0].headers
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["x-team"] == "search"
    assert headers["user-agent"].startswith("jina-clip/")
    assert headers["content-type"] == "application/json"


def test_key_never_leaks(api, make_encoder, caplog, twin):
    caplog.set_level(logging.DEBUG)
    encoder = make_encoder(api_key=KEY, max_retries=2)
    assert KEY not in repr(encoder) and KEY not in str(encoder)
    assert repr(encoder) == f"RemoteJinaCLIP(model='jina-clip-v1', base_url='{api.url}')"
    api.queue(Reply(429, json={"detail": "slow"}), Reply(500, json={"detail": "x"}))
    twin(encoder, "encode_text", ["a"])  # retries are logged
    assert "retrying" in caplog.text
    errors = []
    for reply in (Reply(401, json={"detail": "bad key"}), Reply(200, body=b"garbage")):
        api.queue(reply)
        with pytest.raises(Exception) as info:
            twin(encoder, "encode_text", ["a"])
        errors.append(info.value)
    api.default = Echo(delay=1.0)
    with pytest.raises(Exception) as info:
        twin(make_encoder(api_key=KEY, timeout=0.05, max_retries=1), "encode_text", ["a"])
    errors.append(info.value)
    for err in errors:
        chain = [err, err.__cause__, err.__context__]
        text = " ".join(f"{e!s} {e!r} {getattr(e, 'body', '')}" for e in chain if e)
        assert KEY not in text
    assert KEY not in caplog.text


# --- usage and cost -------------------------------------------------------------------------


def test_usage_is_summed_per_call_and_in_total(api, make_encoder, twin):
    encoder = make_encoder(batch_size=2)
    twin(encoder, "encode_text", ["one two", "three", "four five six"])  # 2 requests
    assert encoder.last_usage == TokenUsage(total_tokens=6, prompt_tokens=6, image_tokens=0)
    twin(encoder, "encode_image", ["https://example.com/a.png"])
    assert encoder.last_usage == TokenUsage(1000, 0, 1000)
    assert encoder.total_usage == TokenUsage(1006, 6, 1000)


def test_usage_of_a_failed_call_is_still_counted(api, make_encoder):
    api.queue(Echo(), Reply(401, json={"detail": "x"}))
    encoder = make_encoder(batch_size=1, max_concurrency=1)
    with pytest.raises(AuthenticationError):
        encoder.encode_text(["a b", "c"])
    assert encoder.last_usage.total_tokens == 2 == encoder.total_usage.total_tokens


def test_usage_is_thread_safe(api, make_encoder):
    encoder = make_encoder(batch_size=1, max_concurrency=5)
    encoder.encode_text(["w"] * 40)
    assert encoder.total_usage.total_tokens == 40


def test_estimate_tokens(make_encoder, tmp_path):
    encoder = make_encoder()
    assert encoder.estimate_tokens(texts=["one two three", "four"]) == 4 + 2
    path = tmp_path / "photo.png"
    path.write_bytes(png_bytes(750, 500))
    assert encoder.estimate_tokens(images=[path]) == 12_000
    assert encoder.estimate_tokens(images=[png_bytes(224, 224), (225, 1)]) == 1000 + 2000
    assert encoder.estimate_tokens(texts=["a"], images=[str(path)]) == 2 + 12_000
    with pytest.raises(ImageInputError, match="does not download"):
        encoder.estimate_tokens(images=["https://example.com/a.png"])
    v2 = make_encoder("jina-clip-v2")
    assert v2.estimate_tokens(texts=["a b"]) == 3
    with pytest.raises(ValueError, match="no published image token rule"):
        v2.estimate_tokens(images=[(10, 10)])


# --- lifecycle ----------------------------------------------------------------------------


def test_user_clients_are_used_and_not_closed(api):
    sync_client, async_client = httpx.Client(), httpx.AsyncClient()
    encoder = RemoteJinaCLIP(base_url=api.url, http_client=sync_client,
                             async_http_client=async_client)
    encoder.encode_text(["a"])

    async def go():
        await encoder.aencode_text(["b"])
        await encoder.aclose()
        assert not async_client.is_closed
        await async_client.aclose()

    asyncio.run(go())
    encoder.close()
    assert not sync_client.is_closed
    sync_client.close()
    assert len(api.requests) == 2


def test_own_clients_are_closed(api):
    with RemoteJinaCLIP(base_url=api.url) as encoder:
        encoder.encode_text(["a"])
        client = encoder._client
    assert client is not None and client.is_closed

    async def go():
        async with RemoteJinaCLIP(base_url=api.url) as encoder:
            await encoder.aencode_text(["a"])
            client = encoder._async_clients[asyncio.get_running_loop()]
        assert client.is_closed

    asyncio.run(go())


def test_async_works_across_event_loops(api, make_encoder):
    encoder = make_encoder()
    for _ in range(3):
        assert asyncio.run(encoder.aencode_text(["a"])).shape == (1, 768)
    encoder.close()


def test_one_encoder_serves_event_loops_in_several_threads_at_once(api, make_encoder):
    """Each loop gets its own AsyncClient: a second loop (in another thread) neither replaces
    nor closes the client a first loop is still using."""
    import threading

    encoder = make_encoder()
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []
    clients: list[object] = []

    async def work() -> None:
        barrier.wait()  # all loops run their calls at the same time
        for _ in range(3):
            assert (await encoder.aencode_text(["a", "b"])).shape == (2, 768)
        clients.append(encoder._async_clients[asyncio.get_running_loop()])

    def thread_main() -> None:
        try:
            asyncio.run(work())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=thread_main) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len({id(c) for c in clients}) == 3  # one client per loop
    encoder.close()


def test_show_progress(api, make_encoder, capsys):
    make_encoder(batch_size=1, show_progress=True).encode_text(["a", "b", "c"])
    assert "3/3" in capsys.readouterr().err


def test_settings_build_a_remote_encoder(api):
    settings = JinaCLIPSettings(base_url=api.url, api_key=KEY, dimensions=16, max_retries=0)
    encoder = settings.build()
    assert isinstance(encoder, RemoteJinaCLIP)
    assert encoder.encode_text(["a"]).shape == (1, 16)
    assert api.requests[0].headers["authorization"] == f"Bearer {KEY}"
    encoder.close()


def test_server_on_other_port_is_independent():
    other = FakeJinaAPI(dim=768).start()
    try:
        with RemoteJinaCLIP(base_url=other.url + "/") as encoder:
            encoder.encode_text(["a"])
        assert other.requests[0].path == "/v1/embeddings"
    finally:
        other.stop()


# --- per-call options -------------------------------------------------------------------------


def test_per_call_dimensions_v1_client_side_v2_on_the_wire(api, make_encoder, twin):
    v1 = make_encoder("jina-clip-v1")
    result = twin(v1, "encode_text", ["a"], dimensions=16)
    body = api.requests[-1].json
    assert "dimensions" not in body and body["normalized"] is False
    np.testing.assert_allclose(result, expected([{"text": "a"}], 768, dimensions=16), atol=1e-6)
    assert v1.dimension == 768 and twin(v1, "encode_image", [], dimensions=16).shape == (0, 16)
    with pytest.raises(ValueError, match="larger"):
        v1.encode_text(["a"], dimensions=1024)
    api.dim = 1024
    v2 = make_encoder("jina-clip-v2")
    images = twin(v2, "encode_image", ["https://example.com/a.png"], dimensions=32)
    assert api.requests[-1].json["dimensions"] == 32 and images.shape == (1, 32)


def test_per_call_truncate_is_sent_and_none_keeps_the_constructors(api, make_encoder, twin):
    strict = make_encoder(truncate=False)
    twin(strict, "encode_text", ["a"], truncate=True)
    twin(strict, "encode_text", ["a"], truncate=None)
    assert [r.json["truncate"] for r in api.requests] == [True, False]


def test_count_tokens_is_jinas_published_estimate(make_encoder):
    encoder = make_encoder()
    assert encoder.count_tokens(["one two three", "", "x " * 100]) == [4, 0, 110]
    with pytest.raises(TextInputError):
        encoder.count_tokens("a bare string")


def test_option_errors_never_repeat_the_key(api):
    """A refused option fails validation of the whole options model; pydantic would put the
    raw input (with the key) in the message."""
    for bad in ({"dimensions": 1024}, {"max_length": 77}, {"timeout": 0}):
        with pytest.raises(ValueError) as info:
            RemoteJinaCLIP("jina-clip-v1", base_url=api.url, api_key=KEY, **bad)
        assert "jina_" not in str(info.value) and KEY[:12] not in str(info.value)
    with pytest.raises(ValueError) as info:
        JinaCLIPSettings(api_key=KEY, max_length=4)
    assert "jina_" not in str(info.value)
