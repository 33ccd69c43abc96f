"""Issue 15, item 6: clients trickling headers or a body are cut off, with raw sockets on
127.0.0.1 against uvicorn running the app (as ``jina-clip serve`` does)."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from jina_clip.server import ServerSettings, ServerThread, create_app
from jina_clip.server.timeouts import header_timeout_protocol
from tests.serve_process import ServeProcess

from .conftest import FakeEncoder

HEAD = (b"POST /v1/embeddings HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n")


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float | None:
    """Send ``trickle`` a byte every 0.2 s until the server closes the connection; the time it
    took, or None if it stayed open ``seconds``."""
    start = time.monotonic()
    sock.settimeout(0.2)
    sent = 0
    while time.monotonic() - start < seconds:
        try:
            if sent < len(trickle):
                sock.sendall(trickle[sent:sent + 1])
                sent += 1
            data = sock.recv(4096)
            if data == b"" or data.startswith(b"HTTP/1.1 408"):
                return time.monotonic() - start
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - start
    return None


@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_a_connection_trickling_its_headers_is_closed(parser: str) -> None:
    app = create_app(FakeEncoder(), ServerSettings())
    protocol = header_timeout_protocol(1.0, parser)
    with ServerThread(app, http=protocol) as url, _connect(url) as sock:
        took = _closed_within(sock, 10, trickle=HEAD + b"X-Slow: " + b"a" * 200)
    assert took is not None and took < 3, took


def test_an_idle_connection_that_sends_nothing_is_closed() -> None:
    app = create_app(FakeEncoder(), ServerSettings())
    with ServerThread(app, header_timeout_s=1.0) as url, _connect(url) as sock:
        took = _closed_within(sock, 10)
    assert took is not None and took < 3, took


def test_a_trickled_body_gets_408_and_the_connection_closes() -> None:
    app = create_app(FakeEncoder(), ServerSettings(body_timeout_s=1.0))
    with ServerThread(app) as url, _connect(url) as sock:
        sock.sendall(HEAD + b"Content-Length: 1000\r\n\r\n{")
        sock.settimeout(5)
        start = time.monotonic()
        answer = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        took = time.monotonic() - start
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request_timeout" in answer and b"connection: close" in answer.lower()
    assert took < 4, took


def test_hundreds_of_slow_clients_do_not_lock_others_out() -> None:
    app = create_app(FakeEncoder(), ServerSettings())
    with ServerThread(app, header_timeout_s=1.5) as url:
        socks = [_connect(url) for _ in range(300)]
        try:
            for sock in socks:
                sock.sendall(HEAD)  # headers never finished
            ok = httpx.post(f"{url}/v1/embeddings", timeout=10,
                            json={"model": "jina-clip-v1", "input": ["still served"]})
            assert ok.status_code == 200
            time.sleep(3)
            for sock in socks:
                sock.settimeout(2)
                assert sock.recv(10) == b""  # closed by the server
        finally:
            for sock in socks:
                sock.close()


def test_a_kept_alive_connection_must_send_its_next_headers_in_time() -> None:
    app = create_app(FakeEncoder(), ServerSettings())
    body = b'{"model": "jina-clip-v1", "input": ["a"]}'
    with ServerThread(app, header_timeout_s=1.0, timeout_keep_alive=60) as url, \
            _connect(url) as sock:
        sock.sendall(HEAD + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        took = _closed_within(sock, 10, trickle=HEAD)
    assert took is not None and took < 3, took


def test_jina_clip_serve_closes_a_trickling_connection(tiny_checkpoint: object) -> None:
    with ServeProcess(str(tiny_checkpoint), extra=["--header-timeout", "1"]) as server, \
            _connect(server.url) as sock:
        took = _closed_within(sock, 10, trickle=HEAD + b"X-Slow: " + b"a" * 200)
    assert took is not None and took < 3, took
