"""End to end over real sockets, loopback only: uvicorn on 127.0.0.1, the official ``openai``
client, and image URLs served by a local http server. Names are answered by fake resolvers, and
``loopback_only`` makes any real DNS lookup or non-loopback connection fail."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from jina_clip.errors import ImageFetchError, UnsafeURLError
from jina_clip.images.sources import ImageSource
from jina_clip.server import ServerSettings, ServerThread, create_app
from jina_clip.server.decode import ImageLoader
from jina_clip.server.guard import AddressGuard
from jina_clip.server.inputs import ParsedImage
from tests.loopback import serve_http

from .conftest import PUBLIC, FakeEncoder, fake_resolver, png_bytes, unit

pytestmark = pytest.mark.usefixtures("loopback_only")

PNG = png_bytes(size=(300, 200), color=(10, 200, 30))


#: (path, Host header) of every request the loopback image server received
HITS: list[tuple[str, str]] = []


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        HITS.append((self.path, self.headers.get("Host", "")))
        if self.path == "/cat.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)
        elif self.path == "/hop":
            self.send_response(302)
            self.send_header("Location", "/cat.png")
            self.end_headers()
        elif self.path == "/to-internal":
            self.send_response(302)
            self.send_header("Location", "http://internal.test/cat.png")
            self.end_headers()
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    with serve_http(_Handler) as url:
        yield url


def run(enc: FakeEncoder, **settings: Any) -> ServerThread:
    return ServerThread(create_app(enc, ServerSettings(**settings)))


def post(url: str, input: Any, **kw: Any) -> httpx.Response:
    return httpx.post(f"{url}/v1/embeddings", json={"model": "jina-clip-v1", "input": input},
                      timeout=30, **kw)


def test_loopback_url_refused_by_default(image_server: str) -> None:
    with run(FakeEncoder()) as url:
        r = post(url, ["a text", {"url": f"{image_server}/cat.png"}])
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "unsafe_url"
    assert "input 1" in body["detail"] and "127.0.0.1" in body["detail"]


def test_loopback_url_allowed_with_allow_private_urls(image_server: str) -> None:
    enc = FakeEncoder()
    with run(enc, allow_private_urls=True) as url:
        r = post(url, [{"image": f"{image_server}/cat.png"}, {"url": f"{image_server}/hop"}])
        missing = post(url, ["x", {"image": f"{image_server}/nope.png"}])
    assert r.status_code == 200, r.text
    want = unit(FakeEncoder.image_vector(Image.new("RGB", (300, 200), (10, 200, 30))))
    for d in r.json()["data"]:
        np.testing.assert_allclose(d["embedding"], want, rtol=1e-5)
    assert r.json()["usage"]["total_tokens"] == 2 * (2 * 1) * 1000  # 300x200: 2x1 tiles each
    assert missing.status_code == 422 and "input 1" in missing.json()["detail"]


class LoopbackIsPublic(AddressGuard):
    """Lets 127.0.0.1 (only) stand in for a public host, so the loopback server can play one."""

    def check_ip(self, ip: Any) -> None:
        if str(ip) != "127.0.0.1":
            super().check_ip(ip)


def test_guard_checks_every_redirect_hop(image_server: str) -> None:
    """A URL that passes the guard but redirects somewhere the guard refuses is refused."""
    port = image_server.rsplit(":", 1)[1]
    resolver = Recording({"cdn.test": ["127.0.0.1"], "internal.test": ["10.0.0.5"]})
    loader = ImageLoader(ServerSettings(), LoopbackIsPublic(resolver=resolver))
    try:
        hop = ParsedImage(0, ImageSource("url", f"http://cdn.test:{port}/hop"))
        assert loader.load(hop).size == (300, 200)
        with pytest.raises(ImageFetchError) as info:
            loader.load(ParsedImage(3, ImageSource("url", f"http://cdn.test:{port}/to-internal")))
    finally:
        loader.close()
    assert info.value.index == 3 and "10.0.0.5" in str(info.value)
    assert isinstance(info.value.__cause__, UnsafeURLError)
    assert resolver.calls[-2:] == ["cdn.test", "internal.test"]  # never got to connect


class Recording:
    """Fake resolver recording its calls; ``flips`` answer differently after the first call."""

    def __init__(self, table: dict[str, list[str]],
                 flips: dict[str, list[str]] | None = None) -> None:
        self.table, self.flips = table, flips or {}
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        seen = host in self.calls
        self.calls.append(host)
        if seen and host in self.flips:
            return self.flips[host]
        if host not in self.table:
            raise OSError(f"unknown host {host}")
        return self.table[host]


@pytest.mark.parametrize("item", ["image", "url", "bytes"])
def test_dns_rebinding_through_the_api(image_server: str, item: str) -> None:
    """The pre-check sees a public address, the connection would get loopback: refused, and
    the loopback image server never sees a connection. Legacy ``url``/``bytes`` items too."""
    port = image_server.rsplit(":", 1)[1]
    resolver = Recording({"rebind.test": [PUBLIC]}, flips={"rebind.test": ["127.0.0.1"]})
    before = len(HITS)
    with ServerThread(create_app(FakeEncoder(), ServerSettings(), resolver=resolver)) as url:
        r = post(url, ["text", {item: f"http://rebind.test:{port}/cat.png"}])
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "unsafe_url"
    assert "input 1" in r.json()["detail"] and "127.0.0.1" in r.json()["detail"]
    assert resolver.calls == ["rebind.test", "rebind.test"]
    assert len(HITS) == before


@pytest.mark.parametrize("image", [
    "http://localhost.:{port}/cat.png", "http://127.1:{port}/cat.png",
    "http://[::ffff:127.0.0.1]:{port}/cat.png", "http://x@127.0.0.1:{port}/cat.png",
    "http://0:{port}/cat.png", "http://0x7f000001:{port}/cat.png",
])
def test_loopback_spellings_refused_for_legacy_url_items(image_server: str, image: str) -> None:
    port = image_server.rsplit(":", 1)[1]
    before = len(HITS)
    with run(FakeEncoder()) as url:
        r = post(url, [{"url": image.format(port=port)}])
    assert r.status_code == 422 and r.json()["code"] == "unsafe_url", r.text
    assert len(HITS) == before


def test_allow_private_fetches_a_name_through_the_guard_resolver(image_server: str) -> None:
    """With allow_private_urls, names still resolve through the guard (here a fake name)."""
    port = image_server.rsplit(":", 1)[1]
    resolver = Recording({"images.test": ["127.0.0.1"]})
    app = create_app(FakeEncoder(), ServerSettings(allow_private_urls=True), resolver=resolver)
    with ServerThread(app) as url:
        r = post(url, [{"url": f"http://images.test:{port}/hop"}])
    assert r.status_code == 200, r.text
    assert resolver.calls == ["images.test", "images.test"]  # the request and its redirect
    assert HITS[-2:] == [("/hop", f"images.test:{port}"), ("/cat.png", f"images.test:{port}")]


def test_private_name_refused_without_network() -> None:
    app = create_app(FakeEncoder(), ServerSettings(), resolver=fake_resolver(
        {"intranet.example": [PUBLIC, "10.0.0.5"]}))
    with ServerThread(app) as url:
        r = post(url, [{"image": "http://intranet.example/x.png"}])
    assert r.status_code == 422 and r.json()["code"] == "unsafe_url"
    assert "10.0.0.5" in r.json()["detail"]


def test_openai_client_float_and_default_base64() -> None:
    openai = pytest.importorskip("openai")
    texts = ["a photo of a cat", "a bridge at dusk", "third"]
    want = np.stack([unit(FakeEncoder.text_vector(t)) for t in texts])
    with run(FakeEncoder(), api_key="tok-123") as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="tok-123", max_retries=0)
        default = client.embeddings.create(model="jina-clip-v1", input=texts)  # base64 on wire
        floats = client.embeddings.create(model="jina-clip-v1", input=texts,
                                          encoding_format="float")
        single = client.embeddings.create(model="jina-clip-v1", input="third")
        bad = openai.OpenAI(base_url=f"{url}/v1", api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            bad.embeddings.create(model="jina-clip-v1", input=texts)
        with pytest.raises(openai.BadRequestError):
            client.embeddings.create(model="text-embedding-3-small", input=texts)
    for resp in (default, floats):
        got = np.array([d.embedding for d in sorted(resp.data, key=lambda d: d.index)])
        np.testing.assert_allclose(got, want, rtol=1e-6)
        assert resp.usage.total_tokens == sum(len(t.split()) + 2 for t in texts)
    np.testing.assert_allclose(single.data[0].embedding, want[2], rtol=1e-6)
