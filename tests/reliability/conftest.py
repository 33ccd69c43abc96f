"""Shared fixtures of the reliability tests: the encoders under test, and bad inputs made in
code (Pillow, struct), never downloaded. Generic on purpose: several test modules use them."""

from __future__ import annotations

import base64
import io
import pathlib
import struct
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from PIL import Image

from ..conftest import TINY_API_MODEL

if TYPE_CHECKING:
    from jina_clip import JinaCLIP


# --- encoders ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def local_encoder(tiny_checkpoint: pathlib.Path) -> Iterator[JinaCLIP]:
    """The local encoder on the tiny checkpoint, default options (truncate=None)."""
    from jina_clip import JinaCLIP

    encoder = JinaCLIP.local(str(tiny_checkpoint), device="cpu")
    yield encoder
    encoder.close()


@pytest.fixture(scope="session")
def remote_encoder(api_server_url: str) -> Iterator[JinaCLIP]:
    """The remote encoder against our own server (127.0.0.1), no retries, default options."""
    from jina_clip import JinaCLIP

    encoder = JinaCLIP.remote(TINY_API_MODEL, base_url=api_server_url, max_retries=0)
    yield encoder
    encoder.close()


@pytest.fixture(params=["local", "remote"])
def encoder(request: pytest.FixtureRequest) -> JinaCLIP:
    """Each encoder in turn: the same bad input must give the same kind of answer."""
    return request.getfixturevalue(f"{request.param}_encoder")


# --- images made in code ------------------------------------------------------------------------


def encoded(image: Image.Image, fmt: str = "PNG", **save: Any) -> bytes:
    """``image`` saved as ``fmt`` in memory."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def noise(size: tuple[int, int] = (40, 30), seed: int = 0, mode: str = "RGB") -> Image.Image:
    """A random image (distinct seeds give distinct vectors)."""
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "CMYK": 4}.get(mode)
    shape = (size[1], size[0], channels) if channels else (size[1], size[0])
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode=mode)


def png_bytes(size: tuple[int, int] = (40, 30), seed: int = 0) -> bytes:
    return encoded(noise(size, seed))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A ~60-byte PNG whose header claims ``width`` × ``height`` RGB pixels: a decompression
    bomb must be refused from the header, before any pixel is decoded."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b""))


def unit_rows(vectors: np.ndarray) -> bool:
    """Every row finite, non-zero and L2-normalized."""
    norms = np.linalg.norm(vectors, axis=1)
    return bool(np.all(np.isfinite(vectors)) and np.allclose(norms, 1.0, atol=1e-4))
