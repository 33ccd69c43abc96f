"""POST /v1/embeddings, /v1/models, /health: schema variants, outputs, errors, auth."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from PIL import Image

from jina_clip.wire import EmbeddingResponse, decode_base64_embedding

from .conftest import DIM, FakeEncoder, png_b64, unit

MODEL = "jina-clip-v1"


async def embed(client: Any, input: Any, **kw: Any) -> Any:
    return await client.post("/v1/embeddings", json={"model": MODEL, "input": input, **kw})


def vectors(body: dict[str, Any]) -> np.ndarray:
    resp = EmbeddingResponse.model_validate(body)
    assert [d.index for d in resp.data] == list(range(len(resp.data)))
    return np.array([d.embedding for d in resp.data], dtype=np.float32)


def image_vec(size: tuple[int, int] = (32, 24), color: tuple[int, int, int] = (200, 100, 50)):
    return unit(FakeEncoder.image_vector(Image.new("RGB", size, color)))


def assert_error(r: Any, status: int, *words: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"detail", "code", "request_id"}
    assert isinstance(body["detail"], str) and body["code"]
    assert body["request_id"] == r.headers["x-request-id"]
    for w in words:
        assert w in body["detail"], body["detail"]
    return body


async def test_single_string(client: Any) -> None:
    r = await embed(client, "hello world")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"model", "object", "usage", "data"}
    assert body["model"] == MODEL and body["object"] == "list"
    assert body["usage"] == {"total_tokens": 4, "prompt_tokens": 4}
    assert body["data"][0]["object"] == "embedding"
    np.testing.assert_allclose(vectors(body)[0], unit(FakeEncoder.text_vector("hello world")),
                               rtol=1e-6)


async def test_mixed_items_keep_their_positions(client: Any) -> None:
    red, blue = png_b64(color=(255, 0, 0)), png_b64(color=(0, 0, 255), size=(450, 300))
    items = ["plain", {"text": "boxed"}, {"image": red}, {"bytes": blue},
             {"image": "data:image/png;base64," + red}, "last"]
    r = await embed(client, items)
    assert r.status_code == 200, r.text
    got = vectors(r.json())
    want = [unit(FakeEncoder.text_vector("plain")), unit(FakeEncoder.text_vector("boxed")),
            image_vec(color=(255, 0, 0)), image_vec((450, 300), (0, 0, 255)),
            image_vec(color=(255, 0, 0)), unit(FakeEncoder.text_vector("last"))]
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-5, atol=1e-6)
    # texts: 3 + 3 + 3 tokens; images: 1 + 6 + 1 tiles of 1000 tokens
    assert r.json()["usage"]["total_tokens"] == 9 + 8000


@pytest.mark.parametrize("field", ["embedding_type", "encoding_format"])
async def test_base64_output_matches_float(client: Any, field: str) -> None:
    floats = vectors((await embed(client, ["a", "b"])).json())
    r = await embed(client, ["a", "b"], **{field: "base64"})
    data = r.json()["data"]
    assert all(isinstance(d["embedding"], str) for d in data)
    got = np.stack([decode_base64_embedding(d["embedding"]) for d in data])
    np.testing.assert_array_equal(got, floats)


async def test_several_embedding_types_give_an_object_per_vector(client: Any) -> None:
    floats = vectors((await embed(client, ["a", "b"])).json())
    r = await embed(client, ["a", "b"], embedding_type=["float", "base64", "float", "ubinary"])
    assert r.status_code == 200, r.text
    resp = EmbeddingResponse.model_validate(r.json())
    for d, want in zip(resp.data, floats, strict=True):
        assert isinstance(d.embedding, dict) and list(d.embedding) == ["float", "base64",
                                                                       "ubinary"]
        np.testing.assert_allclose(d.embedding["float"], want, rtol=1e-6)
        np.testing.assert_array_equal(decode_base64_embedding(d.embedding["base64"]), want)
        assert r.json()["data"][d.index]["embedding"]["ubinary"] == np.packbits(want > 0).tolist()


async def test_one_element_or_repeated_embedding_type_is_the_plain_shape(client: Any) -> None:
    for kind in (["base64"], ["base64", "base64"]):
        data = (await embed(client, ["a"], embedding_type=kind)).json()["data"]
        assert isinstance(data[0]["embedding"], str), kind
    assert_error(await embed(client, ["a"], embedding_type=[]), 422, "embedding_type")


async def test_binary_and_ubinary_pack_sign_bits(client: Any) -> None:
    v = unit(FakeEncoder.text_vector("bits"))
    packed = np.packbits(v > 0)
    r = await embed(client, ["bits"], embedding_type="ubinary")
    assert r.json()["data"][0]["embedding"] == packed.tolist()
    r = await embed(client, ["bits"], embedding_type=["binary"])
    assert r.json()["data"][0]["embedding"] == (packed.astype(int) - 128).tolist()
    assert len(packed) == DIM // 8


async def test_dimensions_and_normalized(client: Any) -> None:
    raw = FakeEncoder.text_vector("x")
    got = vectors((await embed(client, ["x"], dimensions=8)).json())[0]
    np.testing.assert_allclose(got, unit(raw[:8]), rtol=1e-6)
    got = vectors((await embed(client, ["x"], normalized=False)).json())[0]
    np.testing.assert_allclose(got, raw, rtol=1e-6)


async def test_task_accepted_for_v1(client: Any) -> None:
    a = vectors((await embed(client, ["q"], task="retrieval.query")).json())
    b = vectors((await embed(client, ["q"])).json())
    np.testing.assert_array_equal(a, b)
    assert_error(await embed(client, ["q"], task="summarize"), 422, "task")


async def test_unknown_model_is_400(client: Any) -> None:
    r = await client.post("/v1/embeddings", json={"model": "jina-clip-v9", "input": ["a"]})
    assert assert_error(r, 400, "jina-clip-v9")["code"] == "invalid_model"


async def test_too_many_inputs_is_400(encoder: FakeEncoder, make_client: Any) -> None:
    client = make_client(encoder, max_inputs=3)
    r = await embed(client, ["a"] * 4)
    assert_error(r, 400, "larger than the largest allowed size 3")
    assert encoder.text_calls == []


async def test_request_larger_than_the_queue_is_400_not_503(encoder: FakeEncoder,
                                                            make_client: Any) -> None:
    """503 + Retry-After tells clients to retry; a request that can never fit must not."""
    client = make_client(encoder, max_queue=3)
    r = await embed(client, ["a"] * 4)
    assert assert_error(r, 400, "split")["code"] == "too_many_inputs"
    assert "retry-after" not in r.headers
    assert (await embed(client, ["a"] * 3)).status_code == 200


@pytest.mark.parametrize(
    ("input", "words"),
    [
        ([], ["empty"]),
        (["ok", {"image": "bm90IGFuIGltYWdl"}], ["input 1", "decode"]),
        (["ok", {"image": "file:///etc/passwd"}], ["input 1", "file://"]),
        ([{"image": "/etc/passwd"}], ["input 0", "base64"]),
        ([{"url": "ftp://example.com/a.png"}], ["input 0", "ftp://"]),
        ([{"image": "/etc/passwd"}], ["input 0", "paths are not accepted"]),
        ([{"image": "data:image/png,rawbytes"}], ["input 0", "decode"]),
        ([{"text": 5}], ["input 0", "{\"text\": str}"]),
        (["a", {"video": "x"}], ["input 1"]),
    ],
)
async def test_bad_input_is_422_naming_index(client: Any, encoder: FakeEncoder, input: Any,
                                             words: list[str]) -> None:
    assert_error(await embed(client, input), 422, *words)
    assert encoder.text_calls == [] and encoder.image_calls == []


async def test_image_byte_and_pixel_limits(encoder: FakeEncoder, make_client: Any) -> None:
    client = make_client(encoder, max_image_bytes=1000, max_image_pixels=10_000)
    big = base64.b64encode(b"\0" * 2000).decode()
    assert_error(await embed(client, [{"image": big}]), 422, "input 0", "1000 bytes")
    wide = png_b64(size=(200, 100))  # small file, 20,000 pixels
    assert_error(await embed(client, ["t", {"image": wide}]), 422, "input 1", "pixels")


async def test_text_too_long(encoder: FakeEncoder, make_client: Any) -> None:
    client = make_client(encoder, max_text_tokens=5)
    long = "one two three four five six"  # 8 tokens with CLS/SEP
    r = await embed(client, ["short", long])
    assert assert_error(r, 422, "input 1", "8 tokens", "truncate")["code"] == "invalid_input"
    assert encoder.text_calls == []
    r = await embed(client, ["short", long], truncate=True)
    assert r.status_code == 200
    assert r.json()["usage"]["total_tokens"] == 3 + 5


async def test_dimensions_too_large_is_422(client: Any) -> None:
    assert_error(await embed(client, ["a"], dimensions=DIM + 1), 422, "dimensions")


async def test_unexpected_encoder_error_is_500(client: Any) -> None:
    r = await embed(client, ["BOOM"])
    body = assert_error(r, 500)
    assert "exploded" not in body["detail"]  # internals are logged, not returned


async def test_unknown_route_and_method(client: Any) -> None:
    assert_error(await client.get("/v1/nothing"), 404)
    assert_error(await client.get("/v1/embeddings"), 405)


async def test_body_limit_413(encoder: FakeEncoder, make_client: Any) -> None:
    client = make_client(encoder, max_body_bytes=1000)
    assert (await embed(client, ["x" * 500])).status_code == 200
    r = await embed(client, ["x" * 2000])
    assert_error(r, 413, "1000 bytes")

    async def stream():  # no Content-Length: the cap applies while reading
        yield b'{"model": "jina-clip-v1", "input": ["'
        for _ in range(100):
            yield b"x" * 100
        yield b'"]}'

    r = await client.post("/v1/embeddings", content=stream(),
                          headers={"content-type": "application/json"})
    assert_error(r, 413)
    assert encoder.text_calls == [["x" * 500]]


async def test_auth(encoder: FakeEncoder, make_client: Any) -> None:
    client = make_client(encoder, api_key="s3cret-token")
    r = await embed(client, ["a"])
    assert assert_error(r, 401)["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    r = await client.post("/v1/embeddings", json={"model": MODEL, "input": ["a"]},
                          headers={"Authorization": "Bearer wrong"})
    assert_error(r, 401)
    assert "s3cret" not in r.text
    assert_error(await client.get("/v1/models"), 401)
    ok = {"Authorization": "Bearer s3cret-token"}
    r = await client.post("/v1/embeddings", json={"model": MODEL, "input": ["a"]}, headers=ok)
    assert r.status_code == 200
    assert (await client.get("/v1/models", headers=ok)).status_code == 200
    assert (await client.get("/health")).status_code == 200  # probes need no key


async def test_auth_off_by_default(client: Any) -> None:
    r = await client.post("/v1/embeddings", json={"model": MODEL, "input": ["a"]},
                          headers={"Authorization": "Bearer anything"})
    assert r.status_code == 200


async def test_models_and_health(client: Any) -> None:
    r = await client.get("/v1/models")
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list" and body["data"][0]["id"] == MODEL
    assert body["data"][0]["object"] == "model"
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    assert r.json()["queue_depth"] == {"text": 0, "image": 0}


async def test_request_id_echoed_or_generated(client: Any) -> None:
    r = await client.get("/health", headers={"x-request-id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await embed(client, [])
    assert r.headers["x-request-id"] and r.json()["request_id"] == r.headers["x-request-id"]
    r = await client.post("/v1/embeddings", json={"model": "nope", "input": ["a"]},
                          headers={"x-request-id": "mine-1"})
    assert r.json()["request_id"] == "mine-1"
    r = await client.get("/health", headers={"x-request-id": "bad id\twith junk"})
    assert r.headers["x-request-id"] != "bad id\twith junk"


async def test_served_model_name(encoder: FakeEncoder, make_client: Any) -> None:
    client = make_client(encoder, served_model_name="my-clip")
    r = await client.post("/v1/embeddings", json={"model": "my-clip", "input": "a"})
    assert r.status_code == 200 and r.json()["model"] == "my-clip"


async def test_auth_is_checked_before_the_body_is_parsed(encoder: FakeEncoder,
                                                         make_client: Any) -> None:
    """An unauthenticated client gets 401 whatever it sends (not a 422 from parsing its
    body), and the schema is not served to it either; /health stays open."""
    client = make_client(encoder, api_key="s3cret-token")
    r = await client.post("/v1/embeddings", content=b"{not json",
                          headers={"content-type": "application/json"})
    assert assert_error(r, 401)["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    assert_error(await client.get("/openapi.json"), 401)
    ok = {"Authorization": "bearer  s3cret-token "}
    r = await client.post("/v1/embeddings", content=b"{not json",
                          headers={**ok, "content-type": "application/json"})
    assert_error(r, 422)
    assert (await client.get("/health")).status_code == 200
    assert encoder.text_calls == []


async def test_response_is_built_off_the_event_loop(client: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Formatting and JSON-rendering thousands of vectors takes ~1 s: not on the loop."""
    import threading

    from fastapi.responses import JSONResponse

    import jina_clip.server.app as app_module

    loop_thread = threading.get_ident()
    seen: list[tuple[str, bool]] = []
    real_format, real_render = app_module._format, JSONResponse.render

    def format_(vectors: Any, kind: str) -> Any:
        seen.append(("format", threading.get_ident() == loop_thread))
        return real_format(vectors, kind)

    def render(self: Any, content: Any) -> bytes:
        if isinstance(content, dict) and "data" in content:
            seen.append(("render", threading.get_ident() == loop_thread))
        return real_render(self, content)

    monkeypatch.setattr(app_module, "_format", format_)
    monkeypatch.setattr(JSONResponse, "render", render)
    r = await embed(client, ["a", "b"])
    assert r.status_code == 200
    assert seen == [("format", False), ("render", False)]


async def test_inputs_are_parsed_off_the_event_loop(client: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding inline base64 images of a 32 MB body must not stall the event loop."""
    import threading

    import jina_clip.server.app as app_module

    loop_thread = threading.get_ident()
    seen: list[bool] = []
    real_parse = app_module.parse_input

    def parse(*args: Any, **kwargs: Any) -> Any:
        seen.append(threading.get_ident() == loop_thread)
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(app_module, "parse_input", parse)
    r = await embed(client, ["a", {"image": png_b64()}])
    assert r.status_code == 200
    assert seen == [False]
