"""Soak: 10,000 mixed inputs (texts of many lengths and scripts; images as raw base64, data
URIs and bytes) through `RemoteJinaCLIP` pointed at a proxy that fails 10 % of requests
(429 with and without Retry-After, 500/502/503, connections dropped before the request body
or half-way through the response). Every vector must equal the local encoder's for its input,
in order, none lost or duplicated; the async twins get the same check on 2,000 inputs.

The model work is deduplicated: a few hundred distinct inputs, repeated in a shuffled order,
so the local reference is computed once per distinct input while every one of the 10,000
positions is still checked."""

from __future__ import annotations

import asyncio
import base64
import io
import math
import random
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from jina_clip import JinaCLIP
from jina_clip.testing import TINY_WORDS

from ..conftest import TINY_API_MODEL
from .faults import FAULTS, FaultProxy

TEXT_BATCH, IMAGE_BATCH = 32, 8
#: Per-request failure odds are 0.1; 10 retries make a lost request a 1e-11 event.
RETRY = {"max_retries": 10, "backoff_base": 0.001, "backoff_max": 0.01, "timeout": 30.0}
EXTRA = ["naïve café", "東京の夜景", "🙂 emoji 🚲", "Ünïcödé ß", "tab\tand\nnewline", "  padded  "]


@dataclass
class Corpus:
    """Distinct texts and images, and a shuffled stream of (kind, key) over them."""

    texts: list[str]
    images: list[str | bytes]
    stream: list[tuple[str, int]]


def _text(rng: random.Random) -> str:
    roll = rng.random()
    n = rng.randint(1, 6) if roll < 0.7 else rng.randint(7, 30) if roll < 0.97 else 120
    words = [rng.choice(TINY_WORDS) for _ in range(n)]
    if rng.random() < 0.1:
        words.insert(rng.randrange(len(words) + 1), rng.choice(EXTRA))
    return " ".join(words)


def _image(rng: random.Random, i: int) -> str | bytes:
    size = (rng.randint(6, 80), rng.randint(6, 80))
    mode = rng.choice(["RGB", "L", "RGBA"])
    fmt = "JPEG" if mode != "RGBA" and i % 3 == 0 else "PNG"
    pixels = np.frombuffer(rng.randbytes(size[0] * size[1] * len(mode)), dtype=np.uint8)
    img = Image.frombytes(mode, size, pixels.tobytes())
    buf = io.BytesIO()
    img.save(buf, fmt)
    data = buf.getvalue()
    form = i % 3  # the three ways a user hands over image bytes
    if form == 0:
        return data
    b64 = base64.b64encode(data).decode()
    return b64 if form == 1 else f"data:image/{fmt.lower()};base64,{b64}"


def make_corpus(n: int, *, seed: int, texts: int = 300, images: int = 48,
                image_share: float = 0.15) -> Corpus:
    rng = random.Random(seed)
    distinct_texts = list(dict.fromkeys(_text(rng) for _ in range(texts)))
    distinct_images = [_image(rng, i) for i in range(images)]
    n_images = int(n * image_share)
    stream = [("image", i % images) for i in range(n_images)]
    stream += [("text", i % len(distinct_texts)) for i in range(n - n_images)]
    rng.shuffle(stream)
    return Corpus(distinct_texts, distinct_images, stream)


@dataclass
class Reference:
    texts: np.ndarray
    images: np.ndarray

    def expected(self, stream: list[tuple[str, int]]) -> np.ndarray:
        return np.stack([(self.texts if k == "text" else self.images)[i] for k, i in stream])


def reference(corpus: Corpus, local: JinaCLIP) -> Reference:
    return Reference(local.encode_text(corpus.texts), local.encode_image(corpus.images))


def chunks(stream: list[tuple[str, int]], size: int) -> list[list[tuple[str, int]]]:
    return [stream[i:i + size] for i in range(0, len(stream), size)]


def split(chunk: list[tuple[str, int]]) -> tuple[list[int], list[int]]:
    """Positions of the texts and of the images in a chunk."""
    text_pos = [p for p, (k, _) in enumerate(chunk) if k == "text"]
    image_pos = [p for p, (k, _) in enumerate(chunk) if k == "image"]
    return text_pos, image_pos


def planned_requests(parts: list[list[tuple[str, int]]]) -> int:
    """Requests the client must get one success for: one per batch of each call."""
    total = 0
    for chunk in parts:
        text_pos, image_pos = split(chunk)
        total += math.ceil(len(text_pos) / TEXT_BATCH) + math.ceil(len(image_pos) / IMAGE_BATCH)
    return total


def check_proxy(proxy: FaultProxy, requests: int, *, every_kind: bool = True) -> None:
    """Each planned request succeeded exactly once (none lost, none sent again after it
    succeeded); the faults were retried; the fault rate is about what was asked."""
    counts = proxy.counts
    assert counts["upstream_error"] == 0, counts  # our server itself never failed
    assert counts["ok"] == requests, counts
    total = sum(counts.values())
    assert proxy.injected > 0
    assert 0.05 < proxy.injected / total < 0.18, counts
    if every_kind:  # (a short run may draw too few faults to see all seven)
        assert all(counts[f] > 0 for f in FAULTS), counts


def gather(corpus: Corpus, chunk: list[tuple[str, int]]
           ) -> tuple[list[int], list[str], list[int], list[str | bytes]]:
    text_pos, image_pos = split(chunk)
    return (text_pos, [corpus.texts[chunk[p][1]] for p in text_pos],
            image_pos, [corpus.images[chunk[p][1]] for p in image_pos])


@pytest.mark.slow
def test_soak_10k_mixed_inputs_through_faults(api_server_url: str,
                                              core_encoder: JinaCLIP) -> None:
    corpus = make_corpus(10_000, seed=11)
    parts = chunks(corpus.stream, 1000)
    dim = core_encoder.dimension
    got = np.full((len(corpus.stream), dim), np.nan, dtype=np.float32)
    proxy = FaultProxy(api_server_url.removesuffix("/v1"), rate=0.1, seed=1234)
    with proxy as url, JinaCLIP.remote(TINY_API_MODEL, base_url=f"{url}/v1",
                                       max_concurrency=4, **RETRY) as remote:
        offset = 0
        for chunk in parts:
            text_pos, texts, image_pos, images = gather(corpus, chunk)
            t = remote.encode_text(texts, batch_size=TEXT_BATCH)
            im = remote.encode_image(images, batch_size=IMAGE_BATCH)
            assert t.shape == (len(texts), dim) and im.shape == (len(images), dim)
            got[[offset + p for p in text_pos]] = t
            got[[offset + p for p in image_pos]] = im
            offset += len(chunk)
    assert offset == len(corpus.stream) == 10_000
    np.testing.assert_allclose(got, reference(corpus, core_encoder).expected(corpus.stream),
                               atol=1e-5)
    check_proxy(proxy, planned_requests(parts))


@pytest.mark.slow
async def test_soak_async_twins_through_faults(api_server_url: str,
                                               core_encoder: JinaCLIP) -> None:
    """The async path, with several calls in flight at once on one encoder."""
    corpus = make_corpus(2_000, seed=12, texts=120, images=24)
    parts = chunks(corpus.stream, 250)
    dim = core_encoder.dimension
    proxy = FaultProxy(api_server_url.removesuffix("/v1"), rate=0.1, seed=99)
    with proxy as url:
        remote = JinaCLIP.remote(TINY_API_MODEL, base_url=f"{url}/v1", max_concurrency=6,
                                 **RETRY)
        try:
            async def one(chunk: list[tuple[str, int]]) -> np.ndarray:
                text_pos, texts, image_pos, images = gather(corpus, chunk)
                t, im = await asyncio.gather(
                    remote.aencode_text(texts, batch_size=TEXT_BATCH),
                    remote.aencode_image(images, batch_size=IMAGE_BATCH))
                out = np.full((len(chunk), dim), np.nan, dtype=np.float32)
                out[text_pos], out[image_pos] = t, im
                return out

            results = await asyncio.gather(*(one(c) for c in parts))
        finally:
            await remote.aclose()
    got = np.concatenate(results)
    assert got.shape == (2_000, dim)
    np.testing.assert_allclose(got, reference(corpus, core_encoder).expected(corpus.stream),
                               atol=1e-5)
    check_proxy(proxy, planned_requests(parts), every_kind=False)
