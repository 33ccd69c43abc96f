"""Fixtures for the LangChain plugin tests: the tiny checkpoint's parameters, an independent
core encoder to compare against, drawn pictures, and the API server (when it exists)."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from jina_clip import JinaCLIP
from langchain_jina_clip import JinaCLIPEmbeddings

from ..conftest import PLUGIN_BACKENDS

#: (file name, background, fill, shape) of the drawn test pictures.
PICTURES = [
    ("red-circle", "white", (220, 30, 30), "ellipse"),
    ("blue-square", "white", (30, 60, 220), "rectangle"),
    ("green-triangle", "white", (30, 170, 60), "triangle"),
    ("yellow-on-black", "black", (240, 220, 20), "ellipse"),
    ("purple-bars", (200, 200, 200), (130, 30, 160), "bars"),
    ("noise", None, None, "noise"),
]


def _draw(background: Any, fill: Any, shape: str) -> Image.Image:
    if shape == "noise":
        # seeded: Pillow's effect_noise differs per run, and so would every ranking
        pixels = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
        return Image.fromarray(pixels, "RGB")
    image = Image.new("RGB", (128, 128), background)
    draw = ImageDraw.Draw(image)
    if shape == "ellipse":
        draw.ellipse((24, 24, 104, 104), fill=fill)
    elif shape == "rectangle":
        draw.rectangle((28, 28, 100, 100), fill=fill)
    elif shape == "triangle":
        draw.polygon([(64, 16), (112, 108), (16, 108)], fill=fill)
    else:
        for x in range(0, 128, 32):
            draw.rectangle((x, 0, x + 15, 127), fill=fill)
    return image


@pytest.fixture(scope="session")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> list[pathlib.Path]:
    """Six small PNG files, visibly different from each other."""
    folder = tmp_path_factory.mktemp("pictures")
    paths = []
    for name, background, fill, shape in PICTURES:
        path = folder / f"{name}.png"
        _draw(background, fill, shape).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module", params=list(PLUGIN_BACKENDS))
def embeddings(request: pytest.FixtureRequest) -> Iterator[JinaCLIPEmbeddings]:
    """One `JinaCLIPEmbeddings` per backend (local tiny v1 and v2 checkpoints; our API server
    on v1)."""
    params = request.getfixturevalue(PLUGIN_BACKENDS[request.param])
    with JinaCLIPEmbeddings(**params) as instance:
        yield instance


@pytest.fixture
async def aclose_api_client(embeddings: JinaCLIPEmbeddings) -> AsyncIterator[None]:
    """For async tests on the shared `embeddings`: close an API encoder's async HTTP client on
    the test's own event loop, before pytest-asyncio closes that loop."""
    yield
    if embeddings.resolved_backend() == "api":
        await embeddings.aclose()


@pytest.fixture(scope="module")
def core_encoder(request: pytest.FixtureRequest, embeddings: Any) -> Iterator[Any]:
    """The core encoder the backend under test wraps (tiny v2 for ``local-v2``, else tiny
    v1): the reference answers."""
    v2 = str(request.getfixturevalue("tiny_v2_checkpoint"))
    name = "tiny_v2_checkpoint" if str(embeddings.model) == v2 else "tiny_checkpoint"
    encoder = JinaCLIP.local(str(request.getfixturevalue(name)), device="cpu")
    yield encoder
    encoder.close()
