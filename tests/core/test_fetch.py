"""UrlFetcher against a local HTTP server on 127.0.0.1: status errors, size cap
(streaming stops), redirects (guarded on every hop, bounded), timeouts, non-image content."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

import httpx
import numpy as np
import pytest
from PIL import Image

from jina_clip.errors import (
    ImageDecodeError,
    ImageFetchError,
    ImageTooLargeError,
    UnsafeURLError,
)
from jina_clip.images import (
    ImageDownloadTooLargeError,
    ImageLimits,
    UrlFetcher,
    load_image,
)
from tests.loopback import serve_http


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (200, 100, 50)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()


@dataclass
class Server:
    base: str
    #: bytes of the endless route actually written before the client hung up
    streamed: list[int] = field(default_factory=list)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    state = Server(base="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            path = self.path
            if path == "/img.png":
                self._send(200, PNG, "image/png")
            elif path == "/octet":
                self._send(200, PNG, "application/octet-stream")
            elif path == "/html":
                self._send(200, b"<html>not an image</html>", "text/html; charset=utf-8")
            elif path == "/garbage":
                self._send(200, b"\x00\x01binary garbage", "application/octet-stream")
            elif path == "/missing":
                self._send(404, b"nope", "text/plain")
            elif path == "/boom":
                self._send(500, b"oops", "text/plain")
            elif path == "/redirect":
                self._redirect("/img.png")
            elif path.startswith("/hops/"):  # /hops/3 -> /hops/2 -> ... -> /img.png
                left = int(path.rsplit("/", 1)[1])
                self._redirect(f"/hops/{left - 1}" if left > 1 else "/img.png")
            elif path == "/loop":
                self._redirect("/loop")
            elif path == "/to-ftp":
                self._redirect("ftp://127.0.0.1/x.png")
            elif path == "/to-file":
                self._redirect("file:///etc/passwd")
            elif path == "/to-data":
                self._redirect("data:image/png;base64,iVBORw0KGgo=")
            elif path == "/no-location":
                self.send_response(302)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/endless":  # chunked, no Content-Length, never ends on its own
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = 0
                chunk = b"\x89PNG" + b"\0" * 4092
                try:
                    while sent < 50_000_000:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        sent += len(chunk)
                except OSError:
                    pass
                state.streamed.append(sent)
                self.close_connection = True
            elif path == "/big-declared":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", "999999999")
                self.end_headers()
                self.close_connection = True
            elif path == "/slow":
                time.sleep(2.0)
                self._send(200, PNG, "image/png")
            elif path == "/drip":  # headers at once, then one byte every 0.2 s
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PNG)))
                self.end_headers()
                try:
                    for byte in PNG:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.2)
                except OSError:
                    pass
                self.close_connection = True
            else:
                self._send(404, b"", "text/plain")

        def log_message(self, *args: object) -> None:
            pass

    with serve_http(Handler) as base:
        state.base = base
        yield state


FAST = ImageLimits(fetch_timeout=0.5)


# --- sync ------------------------------------------------------------------------------------


def test_fetch_returns_body(server: Server):
    with UrlFetcher() as fetcher:
        assert fetcher.fetch(f"{server.base}/img.png", index=0) == PNG
        assert fetcher.fetch(f"{server.base}/octet", index=0) == PNG  # type not trusted either way


@pytest.mark.parametrize(("route", "status"), [("/missing", 404), ("/boom", 500)])
def test_non_2xx_status(server: Server, route: str, status: int):
    with UrlFetcher() as fetcher, pytest.raises(ImageFetchError, match=f"HTTP {status}") as info:
        fetcher.fetch(f"{server.base}{route}", index=4)
    assert info.value.index == 4
    assert info.value.status_code == status  # type: ignore[attr-defined]


def test_non_image_content(server: Server):
    with pytest.raises(ImageDecodeError, match="text/html") as info:
        load_image(f"{server.base}/html", index=2)
    assert info.value.index == 2
    with pytest.raises(ImageDecodeError, match="not an image"):
        load_image(f"{server.base}/garbage", index=2)


def test_download_stops_at_the_cap(server: Server):
    limits = ImageLimits(max_bytes=100_000)
    before = len(server.streamed)
    with UrlFetcher(limits=limits) as fetcher, pytest.raises(ImageDownloadTooLargeError) as info:
        fetcher.fetch(f"{server.base}/endless", index=6)
    assert info.value.index == 6
    assert isinstance(info.value, ImageFetchError)
    assert isinstance(info.value, ImageTooLargeError)
    # the server noticed the hang-up long before its 50 MB were out
    deadline = time.monotonic() + 5
    while len(server.streamed) == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.streamed[-1] < 10_000_000


def test_declared_size_over_cap_is_refused_without_reading(server: Server):
    limits = ImageLimits(max_bytes=1000)
    with UrlFetcher(limits=limits) as fetcher, pytest.raises(ImageTooLargeError, match="Length"):
        fetcher.fetch(f"{server.base}/big-declared", index=0)


def test_redirects_are_followed_and_guarded(server: Server):
    seen: list[str] = []
    with UrlFetcher(url_guard=seen.append) as fetcher:
        assert fetcher.fetch(f"{server.base}/hops/3", index=0) == PNG
    assert seen == [
        f"{server.base}/hops/3",
        f"{server.base}/hops/2",
        f"{server.base}/hops/1",
        f"{server.base}/img.png",
    ]


def test_guard_refusal_on_redirect_becomes_fetch_error(server: Server):
    def guard(url: str) -> None:
        if url.endswith("/img.png"):
            raise UnsafeURLError("resolves to a private address")

    with UrlFetcher(url_guard=guard) as fetcher, pytest.raises(ImageFetchError) as info:
        fetcher.fetch(f"{server.base}/redirect", index=5)
    assert info.value.index == 5
    assert "private address" in str(info.value)
    assert isinstance(info.value.__cause__, UnsafeURLError)


def test_guard_is_called_before_the_first_request():
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=PNG)

    def refuse(url: str) -> None:
        raise UnsafeURLError("loopback")

    transport = httpx.MockTransport(handler)
    fetcher = UrlFetcher(url_guard=refuse, transport=transport)
    with fetcher, pytest.raises(ImageFetchError, match="loopback"):
        fetcher.fetch("http://127.0.0.1:1/x.png", index=0)
    assert requests == []


@pytest.mark.parametrize("route", ["/to-file", "/to-data", "/to-ftp"])
def test_redirect_to_another_scheme_is_refused_before_the_guard(server: Server, route: str):
    seen: list[str] = []
    fetcher = UrlFetcher(url_guard=seen.append)
    # one refusal, ours (httpx would fail on a data: URI with its own text), caused by an
    # UnsafeURLError, so that the server answers unsafe_url
    with fetcher, pytest.raises(ImageFetchError, match=r"only http and https URLs are fetched, "
                                                       r"not (file|data|ftp):") as info:
        fetcher.fetch(f"{server.base}{route}", index=7)
    assert info.value.index == 7 and isinstance(info.value.__cause__, UnsafeURLError)
    assert seen == [f"{server.base}{route}"]  # the non-http target never reached the guard


def _refusing_transport(handler_calls: list[str]) -> httpx.MockTransport:
    """Stands in for a guarded transport refusing at connect time."""

    def handler(request: httpx.Request) -> httpx.Response:
        handler_calls.append(str(request.url))
        raise UnsafeURLError("it resolves to a non-public address (127.0.0.1)")

    return httpx.MockTransport(handler)


def test_transport_refusal_becomes_fetch_error():
    calls: list[str] = []
    fetcher = UrlFetcher(transport=_refusing_transport(calls), url_guard=lambda url: None)
    with fetcher, pytest.raises(ImageFetchError, match="non-public") as info:
        fetcher.fetch("http://rebind.test/x.png", index=3)
    assert info.value.index == 3
    assert isinstance(info.value.__cause__, UnsafeURLError)
    assert calls == ["http://rebind.test/x.png"]


def test_trust_env_is_passed_to_the_client():
    with UrlFetcher(trust_env=False) as fetcher:
        assert fetcher._client.trust_env is False
    with UrlFetcher() as fetcher:
        assert fetcher._client.trust_env is True


def test_redirect_limits(server: Server):
    with UrlFetcher(limits=ImageLimits(max_redirects=3)) as fetcher:
        with pytest.raises(ImageFetchError, match="more than 3 redirects") as info:
            fetcher.fetch(f"{server.base}/loop", index=1)
        assert info.value.index == 1
        assert fetcher.fetch(f"{server.base}/hops/3", index=0) == PNG  # exactly 3 is fine
        with pytest.raises(ImageFetchError, match="more than 3 redirects"):
            fetcher.fetch(f"{server.base}/hops/4", index=0)
        with pytest.raises(ImageFetchError, match="only http and https"):
            fetcher.fetch(f"{server.base}/to-ftp", index=0)
        with pytest.raises(ImageFetchError, match="Location"):
            fetcher.fetch(f"{server.base}/no-location", index=0)
    fetcher = UrlFetcher(limits=ImageLimits(max_redirects=0))
    with fetcher, pytest.raises(ImageFetchError, match="redirects"):
        fetcher.fetch(f"{server.base}/redirect", index=0)


def test_timeouts(server: Server):
    with UrlFetcher(limits=FAST) as fetcher:
        start = time.monotonic()
        with pytest.raises(ImageFetchError, match="timed out") as info:
            fetcher.fetch(f"{server.base}/slow", index=3)
        assert info.value.index == 3
        # a server dripping bytes never trips a per-read timeout; the total deadline cuts it
        with pytest.raises(ImageFetchError, match="timed out"):
            fetcher.fetch(f"{server.base}/drip", index=3)
    assert time.monotonic() - start < 3.0


def test_connection_refused():
    with socket.socket() as sock:  # bind then release: nothing listens on this port
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with UrlFetcher() as fetcher, pytest.raises(ImageFetchError, match="failed") as info:
        fetcher.fetch(f"http://127.0.0.1:{port}/x.png", index=8)
    assert info.value.index == 8


def test_load_image_uses_given_fetcher(server: Server):
    seen: list[str] = []
    with UrlFetcher(url_guard=seen.append) as fetcher:
        image = load_image(f"{server.base}/img.png", index=0, fetcher=fetcher)
    assert seen == [f"{server.base}/img.png"]
    assert np.asarray(image)[0, 0].tolist() == [200, 100, 50]


def test_passed_client_is_not_closed(server: Server):
    client = httpx.Client()
    with UrlFetcher(client=client) as fetcher:
        fetcher.fetch(f"{server.base}/img.png", index=0)
    assert not client.is_closed
    client.close()
    with pytest.raises(ValueError):
        UrlFetcher(client=httpx.Client(), transport=httpx.MockTransport(lambda r: None))


# --- async -----------------------------------------------------------------------------------

