"""Issue 15, items 2-4 and 7 and ``/metrics``: what outside testing broke, on the app with the
fake encoder (no network beyond 127.0.0.1)."""

from __future__ import annotations

import base64
import http.server
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

from jina_clip.errors import UnsafeURLError
from jina_clip.server import ServerSettings, ServerThread, create_app
from jina_clip.server.guard import AddressGuard
from tests.loopback import serve_http

from .conftest import FakeEncoder, fake_resolver

MODEL = "jina-clip-v1"


async def embed(client: Any, input: Any, **kw: Any) -> Any:
    return await client.post("/v1/embeddings", json={"model": MODEL, "input": input, **kw})


def _png_whose_base64_differs_when_url_safe() -> bytes:
    """A PNG whose standard base64 has '+' or '/' and needs padding, so the URL-safe unpadded
    spelling really is a different string."""
    for seed in range(1000):
        shape = (5 + seed % 7, 3 + seed % 5, 3)
        pixels = np.random.default_rng(seed).integers(0, 255, shape, dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        data = buffer.getvalue()
        text = base64.b64encode(data).decode()
        if ("+" in text or "/" in text) and text.endswith("="):
            return data
    raise AssertionError("no suitable PNG")


PNG = _png_whose_base64_differs_when_url_safe()
STANDARD = base64.b64encode(PNG).decode()
SPELLINGS = {
    "url-safe, unpadded": base64.urlsafe_b64encode(PNG).decode().rstrip("="),
    "url-safe, padded": base64.urlsafe_b64encode(PNG).decode(),
    "standard, unpadded": STANDARD.rstrip("="),
    "MIME line breaks": base64.encodebytes(PNG).decode(),
    "data URI, url-safe unpadded": "data:image/png;base64,"
                                   + base64.urlsafe_b64encode(PNG).decode().rstrip("="),
}


# --- item 2: the server accepts the base64 the client sends --------------------------------


@pytest.mark.parametrize("field", ["image", "bytes", "url"])
@pytest.mark.parametrize("spelling", list(SPELLINGS))
async def test_every_base64_spelling_embeds_like_standard_base64(client: Any, field: str,
                                                                 spelling: str) -> None:
    want = await embed(client, [{"image": STANDARD}])
    assert want.status_code == 200, want.text
    got = await embed(client, [{field: SPELLINGS[spelling]}])
    assert got.status_code == 200, got.text
    assert got.json()["data"][0]["embedding"] == want.json()["data"][0]["embedding"]


def test_our_client_against_our_server_with_url_safe_base64(api_server_url: str,
                                                             tiny_checkpoint: Any) -> None:
    """`JinaCLIP.remote(base_url=<our server>).encode_image([s])` works where `.local` does."""
    from jina_clip import JinaCLIP
    from tests.conftest import TINY_API_MODEL

    spelling = SPELLINGS["url-safe, unpadded"]
    with JinaCLIP.local(str(tiny_checkpoint), device="cpu") as local:
        want = local.encode_image([spelling])
    with JinaCLIP.remote(TINY_API_MODEL, base_url=api_server_url, max_retries=0) as remote:
        got = remote.encode_image([spelling])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# --- item 3: encoding_type is embedding_type's alias -----------------------------------------


async def test_encoding_type_is_an_alias_of_embedding_type(client: Any) -> None:
    want = await embed(client, ["bits"], embedding_type="ubinary")
    got = await embed(client, ["bits"], encoding_type="ubinary")
    assert got.status_code == 200, got.text
    assert got.json()["data"] == want.json()["data"]
    same = await embed(client, ["bits"], encoding_type="ubinary", embedding_type="ubinary")
    assert same.json()["data"] == want.json()["data"]


async def test_encoding_type_and_embedding_type_that_differ_are_422(client: Any) -> None:
    r = await embed(client, ["bits"], encoding_type="ubinary", embedding_type="float")
    assert r.status_code == 422, r.text
    assert "encoding_type" in r.json()["detail"]


# --- item 4: strict scalars ------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("dimensions", True), ("dimensions", "8"), ("dimensions", 8.0), ("normalized", "yes"),
    ("normalized", 1), ("truncate", "true"), ("truncate", 0), ("model", 5), ("task", 1),
])
async def test_loose_scalars_are_422(client: Any, encoder: FakeEncoder, field: str,
                                     value: Any) -> None:
    body = {"model": MODEL, "input": ["a"], field: value}
    r = await client.post("/v1/embeddings", json=body)
    assert r.status_code == 422, (field, value, r.text)
    assert field in r.json()["detail"]
    assert encoder.text_calls == []


# --- item 7: SSRF refusals name what was refused ---------------------------------------------


@pytest.mark.parametrize(("url", "named", "not_named"), [
    ("http://[::1]/", "(::1)", "0.0.0.1"),
    ("http://[::]/", "(::)", "0.0.0.0"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:7f00:1, which carries the IPv4 address 127.0.0.1",
     None),
    ("http://[64:ff9b::a00:1]/", "which carries the IPv4 address 10.0.0.1", None),
])
def test_ipv6_refusals_name_the_address_given(url: str, named: str,
                                              not_named: str | None) -> None:
    with pytest.raises(UnsafeURLError) as info:
        AddressGuard(resolver=fake_resolver({})).check_url(url)
    assert named in str(info.value), str(info.value)
    if not_named:
        assert not_named not in str(info.value)


class _Redirects(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.path.removeprefix("/to/"))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def redirector() -> Iterator[str]:
    with serve_http(_Redirects) as url:
        yield url


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.1/x",
                                    "ftp://127.0.0.1/x.png", "data:image/png;base64,iVBORw0KGgo="])
def test_redirects_to_other_schemes_are_unsafe_url(redirector: str, target: str) -> None:
    with ServerThread(create_app(FakeEncoder(), ServerSettings(allow_private_urls=True))) as url:
        import httpx

        r = httpx.post(f"{url}/v1/embeddings", timeout=30, json={
            "model": MODEL, "input": ["a", {"image": f"{redirector}/to/{target}"}]})
    assert r.status_code == 422, r.text
    body = r.json()
    scheme = target.split(":", 1)[0]
    assert body["code"] == "unsafe_url", body
    assert body["detail"].startswith("input 1: refused to fetch")
    assert f"not {scheme}:" in body["detail"], body


@pytest.mark.parametrize("field", ["image", "url", "bytes"])
@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.png",
                                 "gopher://example.com/"])
async def test_non_http_urls_in_a_request_are_unsafe_url_too(client: Any, field: str,
                                                             url: str) -> None:
    r = await embed(client, ["a", {field: url}])
    assert r.status_code == 422 and r.json()["code"] == "unsafe_url", r.text
    assert r.json()["detail"].startswith(f"input 1: {url.split(':')[0]}:// URLs are not")


# --- /metrics -------------------------------------------------------------------------------


async def test_metrics_count_requests_errors_inputs_and_batches(client: Any) -> None:
    assert (await embed(client, ["a", "b", {"image": STANDARD}])).status_code == 200
    assert (await embed(client, [], )).status_code == 422
    assert (await client.get("/no-such-route")).status_code == 404
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    for line in [
        'jina_clip_requests_total{route="/v1/embeddings",status="200"} 1.0',
        'jina_clip_requests_total{route="/v1/embeddings",status="422"} 1.0',
        'jina_clip_requests_total{route="other",status="404"} 1.0',
        'jina_clip_errors_total{code="validation_error"} 1.0',
        'jina_clip_errors_total{code="not_found"} 1.0',
        'jina_clip_inputs_embedded_total{modality="text"} 2.0',
        'jina_clip_inputs_embedded_total{modality="image"} 1.0',
        'jina_clip_queue_depth{batcher="text"} 0.0',
        'jina_clip_batch_items_count{batcher="text"} 1.0',
        'jina_clip_batch_items_sum{batcher="text"} 2.0',
        'jina_clip_batch_items_sum{batcher="image"} 1.0',
        'jina_clip_model_seconds_count{batcher="image"} 1.0',
        'jina_clip_queue_seconds_count{batcher="text"} 1.0',
    ]:
        assert line in text, line


async def test_metrics_need_the_api_key_when_one_is_set(encoder: FakeEncoder,
                                                        make_client: Any) -> None:
    async with make_client(encoder, api_key="k") as c:
        assert (await c.get("/metrics")).status_code == 401
        ok = await c.get("/metrics", headers={"Authorization": "Bearer k"})
        assert ok.status_code == 200
        assert 'jina_clip_errors_total{code="unauthorized"} 1.0' in ok.text
