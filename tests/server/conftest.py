"""Fixtures for the server tests: a deterministic fake encoder and an ASGI client."""

from __future__ import annotations

import base64
import errno
import hashlib
import io
import ipaddress
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from jina_clip import JinaCLIP
from jina_clip.server import ServerSettings, create_app

DIM = 16
PUBLIC = "93.184.216.34"  # a public address, only ever handed out by the fake resolver


class FakeEncoder(JinaCLIP):
    """Vectors derived from a hash of the text / the image pixels; records every call."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.text_calls: list[list[str]] = []
        self.image_calls: list[int] = []
        self.lock = threading.Lock()

    @property
    def dimension(self) -> int:
        return DIM

    @property
    def model_name(self) -> str:
        return "fake"

    @staticmethod
    def text_vector(text: str) -> np.ndarray:
        digest = hashlib.sha256(text.encode()).digest()[:DIM]
        return np.frombuffer(digest, dtype=np.uint8).astype(np.float32) - 127.5

    @staticmethod
    def image_vector(image: Image.Image) -> np.ndarray:
        pixels = np.asarray(image.convert("RGB").resize((4, 4)), dtype=np.float32)
        flat = pixels.reshape(-1)[:DIM]
        return flat - 100.0

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(t.split()) + 2 for t in texts]

    def _encode_text(self, texts: Sequence[str], call: Any) -> np.ndarray:
        texts = list(texts)
        with self.lock:
            self.text_calls.append(texts)
        time.sleep(self.delay)
        if any(t == "BOOM" for t in texts):
            raise RuntimeError("the model exploded")
        return np.stack([self.text_vector(t) for t in texts])

    def _encode_image(self, images: Sequence[Any], call: Any) -> np.ndarray:
        with self.lock:
            self.image_calls.append(len(images))
        time.sleep(self.delay)
        return np.stack([self.image_vector(im) for im in images])

    async def _aencode_text(self, texts: Sequence[str], call: Any) -> np.ndarray:
        raise NotImplementedError

    async def _aencode_image(self, images: Sequence[Any], call: Any) -> np.ndarray:
        raise NotImplementedError


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def png_bytes(size: tuple[int, int] = (32, 24), color: tuple[int, int, int] = (200, 100, 50)
              ) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def png_b64(**kw: Any) -> str:
    return base64.b64encode(png_bytes(**kw)).decode()


def fake_resolver(table: dict[str, list[str]]) -> Callable[[str, int], list[str]]:
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


@pytest.fixture
def encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def make_client() -> Any:
    """``make_client(encoder, **settings) -> httpx.AsyncClient`` on the app, no network."""
    apps: list[Any] = []
    clients: list[httpx.AsyncClient] = []

    def make(enc: JinaCLIP, resolver: Any = None, **settings: Any) -> httpx.AsyncClient:
        kwargs = {"resolver": resolver} if resolver else {}
        app = create_app(enc, ServerSettings(**settings), **kwargs)
        apps.append(app)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        clients.append(client)
        return client

    yield make
    for app in apps:
        app.state.server.model_pool.shutdown(wait=False, cancel_futures=True)
        app.state.server.image_pool.shutdown(wait=False, cancel_futures=True)


@pytest.fixture
async def client(encoder: FakeEncoder, make_client: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(encoder) as c:
        yield c


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make any DNS lookup of a name, or any connect() to a non-loopback address, fail (and
    record it), so a broken guard shows up as a failing test, never as traffic leaving the
    machine. Returns the list of blocked attempts; tests assert it stays empty."""
    blocked: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and name != "localhost":
            try:
                ipaddress.ip_address(name)
            except ValueError:
                blocked.append(f"dns {name}")
                raise socket.gaierror(socket.EAI_NONAME, f"test blocked DNS for {name}") from None
        return real_getaddrinfo(host, *args, **kw)

    def allowed(address: Any) -> bool:
        if not isinstance(address, tuple):
            return True  # unix sockets
        try:
            return ipaddress.ip_address(str(address[0]).split("%")[0]).is_loopback
        except ValueError:
            return False

    def connect(self: socket.socket, address: Any) -> Any:
        if not allowed(address):
            blocked.append(f"connect {address}")
            raise ConnectionRefusedError(f"test blocked a connection to {address}")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if not allowed(address):
            blocked.append(f"connect {address}")
            return errno.ECONNREFUSED
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    return blocked
