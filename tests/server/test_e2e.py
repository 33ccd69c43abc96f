"""End to end over real sockets, loopback only: uvicorn on 127.0.0.1, the official ``openai``
client, and image URLs served by a local http server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from jina_clip.errors import ImageFetchError
from jina_clip.server import ServerSettings, ServerThread, create_app
from jina_clip.server.decode import ImageLoader
from jina_clip.server.guard import make_url_guard
from jina_clip.server.inputs import ImageSource

from .conftest import PUBLIC, FakeEncoder, fake_resolver, png_bytes, unit

PNG = png_bytes(size=(300, 200), color=(10, 200, 30))


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
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
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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


def test_guard_checks_every_redirect_hop(image_server: str) -> None:
    """A URL that passes the guard but redirects somewhere the guard refuses is refused."""
    seen: list[str] = []
    strict = make_url_guard(resolver=fake_resolver({}))

    def guard(u: str) -> None:
        seen.append(u)
        if not u.endswith("/hop"):  # stands in for "public first hop, private target"
            strict(u)

    loader = ImageLoader(ServerSettings(), guard)
    try:
        with pytest.raises(ImageFetchError) as info:
            loader.load(ImageSource(3, url=f"{image_server}/hop"))
    finally:
        loader.close()
    assert info.value.index == 3
    assert seen == [f"{image_server}/hop", f"{image_server}/cat.png"]


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
