"""Fixtures for the LlamaIndex plugin: one `JinaCLIPEmbedding` per backend (the tiny local
checkpoint; our own API server on it), the core encoder as the reference, and a folder of
pictures and text files."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

from jina_clip import JinaCLIP
from llama_index.core import Settings
from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import Document, ImageDocument
from llama_index.embeddings.jina_clip import JinaCLIPEmbedding

from ..conftest import PLUGIN_BACKENDS

TEXTS = {
    "bridge.txt": "The old stone bridge crosses the river at dusk.",
    "pasta.txt": "Boil the pasta for nine minutes, then add the tomato sauce.",
    "quantum.txt": "Quantum entanglement links the states of two distant particles.",
    "jazz.txt": "A saxophone solo opened the late night jazz concert.",
    "glacier.txt": "The glacier has retreated two kilometres in forty years.",
}
#: Candidate queries; the tests use those with a clear margin under the (random) tiny model.
QUERIES = [
    "a red circle", "the blue sea", "green forest trees", "yellow sunflower field",
    "quantum physics lecture", "cooking pasta recipe", "mountain hiking trail",
    "jazz music night", "a stone bridge", "ice and snow", "a city at night", "a black cat",
]


@pytest.fixture(autouse=True)
def _no_default_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No OpenAI / CLIP / default model may ever be resolved: only `JinaCLIPEmbedding`
    instances pass LlamaIndex's resolvers, and only an explicitly disabled LLM (None)."""
    from llama_index.core.embeddings import utils as embed_utils
    from llama_index.core.llms import utils as llm_utils

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setattr(Settings, "_embed_model", None)
    monkeypatch.setattr(Settings, "_llm", None)
    original_embed, original_llm = embed_utils.resolve_embed_model, llm_utils.resolve_llm

    def embed_guard(embed_model: Any = None, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(embed_model, JinaCLIPEmbedding):
            raise AssertionError(f"a non-jina-clip embedding model was resolved: {embed_model!r}")
        return original_embed(embed_model, *args, **kwargs)

    def llm_guard(llm: Any = "default", *args: Any, **kwargs: Any) -> Any:
        if llm is not None:
            raise AssertionError(f"an LLM was resolved: {llm!r}")
        return original_llm(llm, *args, **kwargs)

    for module in (
        "llama_index.core.embeddings.utils",
        "llama_index.core.settings",
        "llama_index.core.indices.multi_modal.base",
    ):
        monkeypatch.setattr(f"{module}.resolve_embed_model", embed_guard)
    for module in ("llama_index.core.llms.utils", "llama_index.core.settings",
                   "llama_index.core.indices.base"):
        monkeypatch.setattr(f"{module}.resolve_llm", llm_guard)
    yield


@pytest.fixture(scope="module", params=list(PLUGIN_BACKENDS))
def backend_params(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.getfixturevalue(PLUGIN_BACKENDS[request.param])


@pytest.fixture(scope="module")
def embed_model(backend_params: dict[str, Any]) -> Iterator[JinaCLIPEmbedding]:
    """One `JinaCLIPEmbedding` per backend, shared by a test module."""
    model = JinaCLIPEmbedding(**backend_params)
    yield model
    model.close()


class PictureReader(BaseReader):
    """A picture file as an `ImageDocument` (what llama-index-readers-file's ImageReader
    returns without captioning; that package is not a dependency here)."""

    def load_data(self, file: pathlib.Path, extra_info: dict | None = None) -> list[Document]:
        return [ImageDocument(image_path=str(file), metadata=dict(extra_info or {}))]


@pytest.fixture(scope="session")
def file_extractor() -> dict[str, BaseReader]:
    """`SimpleDirectoryReader(..., file_extractor=...)` for PNG pictures."""
    return {".png": PictureReader()}


def draw_picture(seed: int) -> Image.Image:
    """A distinct 64x64 picture: a coloured background with a random block pattern."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, 3, dtype=np.uint8)
    pixels = np.broadcast_to(base, (64, 64, 3)).copy()
    blocks = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    pixels[::2] = np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))[::2]
    return Image.fromarray(pixels)


@pytest.fixture(scope="session")
def queries() -> list[str]:
    return list(QUERIES)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A folder with 5 PNG pictures and 5 text files."""
    folder = tmp_path_factory.mktemp("corpus")
    for i in range(5):
        draw_picture(i).save(folder / f"picture-{i}.png")
    for name, text in TEXTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def core_encoder(request: pytest.FixtureRequest, backend_params: Any) -> Iterator[Any]:
    """The core encoder the backend under test wraps (tiny v2 for ``local-v2``, else tiny
    v1): the reference answers."""
    v2 = str(request.getfixturevalue("tiny_v2_checkpoint"))
    name = "tiny_v2_checkpoint" if backend_params.get("model") == v2 else "tiny_checkpoint"
    encoder = JinaCLIP.local(str(request.getfixturevalue(name)), device="cpu")
    yield encoder
    encoder.close()
