"""A scripted fake of the Jina Embeddings API on 127.0.0.1, for fault injection.

A raw asyncio HTTP/1.1 server (keep-alive, Content-Length bodies) running on its own thread,
so it can do what a framework would not: stall past a timeout, or drop the socket in the
middle of a response. Each request takes the next action from ``script``; when the script is
empty it gets ``default`` (an :class:`Echo` that embeds the inputs deterministically)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def fake_vector(item: Any, dim: int) -> np.ndarray:
    """The raw (unnormalized) vector the fake returns for one input item."""
    seed = zlib.crc32(json.dumps(item, sort_keys=True).encode())
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32) * 3.0


def expected(items: list[Any], dim: int, *, dimensions: int | None = None,
             normalize: bool = True) -> np.ndarray:
    """What the client must return for ``items``: truncate, then normalize."""
    out = np.stack([fake_vector(item, dim) for item in items])
    if dimensions is not None:
        out = out[:, :dimensions]
    if normalize:
        out = out / np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


@dataclass
class Reply:
    """A fixed response."""

    status: int = 200
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Echo:
    """A correct response for the request; ``mutate`` may corrupt it (tests of validation)."""

    delay: float = 0.0
    shuffle: bool = False
    mutate: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Drop:
    """Send ``partial`` (maybe nothing), then close the socket."""

    partial: bytes = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
        b'{"da'
    )


Action = Reply | Echo | Drop


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class FakeJinaAPI:
    def __init__(self, dim: int = 768) -> None:
        self.dim = dim
        self.script: deque[Action] = deque()
        self.default: Action = Echo()
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    # --- control -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def queue(self, *actions: Action) -> None:
        self.script.extend(actions)

    def start(self) -> FakeJinaAPI:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        future.result(timeout=5)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        current = asyncio.current_task()
        for task in asyncio.all_tasks():
            if task is not current:
                task.cancel()

    # --- HTTP ----------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                with self._lock:
                    self.requests.append(Recorded(method, path, headers, body))
                    action = self.script.popleft() if self.script else self.default
                    self.in_flight += 1
                    self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    keep = await self._respond(action, body, writer)
                finally:
                    with self._lock:
                        self.in_flight -= 1
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def _respond(self, action: Action, body: bytes, writer: asyncio.StreamWriter) -> bool:
        if isinstance(action, Drop):
            writer.write(action.partial)
            await writer.drain()
            return False
        await asyncio.sleep(action.delay)
        headers = {"x-request-id": f"req-{len(self.requests)}", **action.headers}
        if isinstance(action, Echo):
            status, payload = 200, json.dumps(self._echo(json.loads(body), action)).encode()
        else:
            status = action.status
            payload = action.body if action.body is not None else json.dumps(action.json).encode()
        head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(payload)}",
                "Content-Type: application/json"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
        await writer.drain()
        return True

    def _echo(self, request: dict[str, Any], action: Echo) -> dict[str, Any]:
        items = request["input"]
        data = []
        for index, item in enumerate(items):
            vector = fake_vector(item, self.dim)
            if request.get("dimensions"):
                vector = vector[: request["dimensions"]]
            if request.get("normalized", True):
                vector = vector / np.linalg.norm(vector)
            if request.get("embedding_type") == "base64":
                embedding: Any = base64.b64encode(vector.astype("<f4").tobytes()).decode()
            else:
                embedding = vector.tolist()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        if action.shuffle:
            data.reverse()
        images = sum(1 for item in items if "image" in item)
        texts = sum(len(item["text"].split()) for item in items if "text" in item)
        response = {
            "model": request["model"],
            "object": "list",
            "usage": {"total_tokens": texts + 1000 * images, "prompt_tokens": texts,
                      "image_tokens": 1000 * images},
            "data": data,
        }
        return action.mutate(response) if action.mutate else response


def png_bytes(width: int = 8, height: int = 8, *, noise: bool = False, seed: int = 0) -> bytes:
    """A real PNG (random pixels when ``noise``: incompressible, so large)."""
    import io

    from PIL import Image

    if noise:
        pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
        image = Image.fromarray(pixels, "RGB")
    else:
        image = Image.new("RGB", (width, height), (seed % 256, 80, 160))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
