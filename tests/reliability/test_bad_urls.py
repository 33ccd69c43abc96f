"""Image URLs that fail: 404, a server that never answers, one that drips, redirect loops,
huge announced or streamed bodies, HTML instead of an image, a closed port.

Every server here listens on 127.0.0.1 (the only address tests may reach). The local encoder
fetches them; the server fetches them only with ``allow_private_urls`` (its guard refuses
loopback by default, which the remote encoder test checks)."""

from __future__ import annotations

import contextlib
import http.server
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest

from jina_clip import (
    ImageDecodeError,
    ImageFetchError,
    ImageTooLargeError,
    InputRejectedError,
    JinaCLIP,
)
from jina_clip.images import ImageLimits
from jina_clip.server import ServerSettings, create_app

from ..loopback import serve_http
from ..server.conftest import FakeEncoder
from .conftest import png_bytes

TIMEOUT = 0.5
CAP = 20_000
PNG = png_bytes((40, 30), seed=2)


class Handler(http.server.BaseHTTPRequestHandler):
    """One route per failure."""

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        if "Content_Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path
        if path == "/ok.png":
            self._send(200, PNG, Content_Type="image/png")
        elif path == "/missing.png":
            self._send(404, b"not found", Content_Type="text/plain")
        elif path == "/loop-a":
            self._send(302, Location="/loop-b")
        elif path == "/loop-b":
            self._send(302, Location="/loop-a")
        elif path == "/self":
            self._send(301, Location="/self")
        elif path == "/huge-announced":
            self._send(200, b"", Content_Type="image/png", Content_Length=str(10**12))
        elif path == "/huge-streamed":  # no Content-Length: the body runs until close
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(100):
                    self.wfile.write(b"\x89PNG" + b"\0" * 4092)
            self.close_connection = True
        elif path == "/drip":  # headers at once, then one byte every 0.1 s
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(1000):
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(0.1)
        elif path == "/page.html":
            self._send(200, b"<html><body>Sorry</body></html>", Content_Type="text/html")
        else:
            self._send(500)


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    with serve_http(Handler) as url:
        yield url


@pytest.fixture(scope="module")
def silent() -> Iterator[str]:
    """A socket that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/never.png"
    sock.close()


@pytest.fixture(scope="module")
def closed_port() -> str:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}/x.png"


@pytest.fixture(scope="module")
def fetching(tiny_checkpoint: Any) -> Iterator[JinaCLIP]:
    """The local encoder with tight fetch limits."""
    limits = ImageLimits(max_bytes=CAP, fetch_timeout=TIMEOUT, max_redirects=3)
    encoder = JinaCLIP.local(str(tiny_checkpoint), device="cpu", image_limits=limits)
    yield encoder
    encoder.close()


#: route -> (error class, message words)
FAILURES: dict[str, tuple[type[Exception], str]] = {
    "/missing.png": (ImageFetchError, "HTTP 404"),
    "/loop-a": (ImageFetchError, "more than 3 redirects"),
    "/self": (ImageFetchError, "more than 3 redirects"),
    "/huge-announced": (ImageTooLargeError, "Content-Length"),
    "/huge-streamed": (ImageTooLargeError, f"more than the limit of {CAP}"),
    "/page.html": (ImageDecodeError, "not an image"),
}


@pytest.mark.parametrize("route", list(FAILURES))
def test_local_url_failure_names_its_index(fetching: JinaCLIP, site: str, route: str) -> None:
    error, words = FAILURES[route]
    start = time.perf_counter()
    with pytest.raises(error, match=words) as info:
        fetching.encode_image([f"{site}/ok.png", f"{site}{route}"])
    assert info.value.index == 1 and str(info.value).startswith("input 1:")
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("route", ["/missing.png", "/loop-a", "/huge-announced"])
async def test_local_url_failure_async(fetching: JinaCLIP, site: str, route: str) -> None:
    error, words = FAILURES[route]
    with pytest.raises(error, match=words) as info:
        await fetching.aencode_image([f"{site}/ok.png", f"{site}{route}"])
    assert info.value.index == 1


def test_huge_downloads_are_both_fetch_and_size_errors(fetching: JinaCLIP, site: str) -> None:
    for route in ("/huge-announced", "/huge-streamed"):
        with pytest.raises(ImageFetchError) as info:
            fetching.encode_image([f"{site}{route}"])
        assert isinstance(info.value, ImageTooLargeError)


def test_404_keeps_the_status(fetching: JinaCLIP, site: str) -> None:
    with pytest.raises(ImageFetchError) as info:
        fetching.encode_image([f"{site}/missing.png"])
    assert info.value.status_code == 404  # type: ignore[attr-defined]


@pytest.mark.parametrize("which", ["silent", "drip"])
def test_timeout_bounds_the_whole_fetch(fetching: JinaCLIP, silent: str, site: str,
                                        which: str) -> None:
    """A server that never answers, or drips a byte every 0.1 s, is cut at fetch_timeout."""
    url = silent if which == "silent" else f"{site}/drip"
    start = time.perf_counter()
    with pytest.raises(ImageFetchError, match="timed out") as info:
        fetching.encode_image([PNG, url])
    elapsed = time.perf_counter() - start
    assert info.value.index == 1
    assert TIMEOUT * 0.8 < elapsed < TIMEOUT + 2.0


async def test_timeout_async(fetching: JinaCLIP, silent: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ImageFetchError, match="timed out"):
        await fetching.aencode_image([silent])
    assert time.perf_counter() - start < TIMEOUT + 2.0


def test_connection_refused(fetching: JinaCLIP, closed_port: str) -> None:
    with pytest.raises(ImageFetchError, match="failed") as info:
        fetching.encode_image([PNG, closed_port])
    assert info.value.index == 1


def test_a_working_url_gives_the_same_vector_as_its_bytes(fetching: JinaCLIP, site: str) -> None:
    by_url, by_bytes = fetching.encode_image([f"{site}/ok.png", PNG])
    np.testing.assert_allclose(by_url, by_bytes, atol=1e-6)


def test_remote_loopback_url_is_refused_by_our_server(remote_encoder: JinaCLIP,
                                                     site: str) -> None:
    """URLs pass through the client; our server's guard refuses loopback (by design)."""
    with pytest.raises(InputRejectedError) as info:
        remote_encoder.encode_image([PNG, f"{site}/ok.png"])
    assert info.value.index == 1 and info.value.code == "unsafe_url"


# --- the server's fetcher, on loopback with allow_private_urls ----------------------------------


@pytest.fixture
async def private_server() -> Any:
    app = create_app(FakeEncoder(), ServerSettings(
        allow_private_urls=True, fetch_timeout_s=TIMEOUT, max_image_bytes=CAP, max_redirects=3))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        yield client


@pytest.mark.parametrize(
    ("route", "words"),
    [
        ("/missing.png", "HTTP 404"),
        ("/loop-a", "more than 3 redirects"),
        ("/huge-announced", "Content-Length"),
        ("/huge-streamed", "more than the limit"),
        ("/page.html", "not an image"),
    ],
)
async def test_server_fetch_failures_are_422_naming_the_index(private_server: Any, site: str,
                                                              route: str, words: str) -> None:
    response = await private_server.post("/v1/embeddings", json={
        "model": "jina-clip-v1", "input": ["text", {"image": f"{site}{route}"}]})
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("input 1:") and words in response.text


async def test_server_fetch_timeout(private_server: Any, silent: str) -> None:
    start = time.perf_counter()
    response = await private_server.post("/v1/embeddings", json={
        "model": "jina-clip-v1", "input": [{"image": silent}]})
    assert response.status_code == 422 and "timed out" in response.text
    assert time.perf_counter() - start < TIMEOUT + 2.0
