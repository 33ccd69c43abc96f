"""Shared fixtures: a tiny random jina-clip checkpoint in the official layout."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from jina_clip import JinaCLIP

#: Name under which the ``api_server_url`` server serves the tiny checkpoint.
TINY_API_MODEL = "jina-clip-tiny"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Directory with config.json, model.safetensors, tokenizer files and
    preprocessor_config.json, written once per test session (see jina_clip.testing)."""
    from jina_clip.testing import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny-jina-clip"))


@pytest.fixture(scope="session")
def tiny_v2_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A tiny random jina-clip-v2 checkpoint in the official layout (jina_clip.testing)."""
    from jina_clip.testing import write_tiny_v2_checkpoint

    return write_tiny_v2_checkpoint(tmp_path_factory.mktemp("tiny-jina-clip-v2"))


@pytest.fixture(scope="session")
def api_server_url(tiny_checkpoint: pathlib.Path) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:PORT/v1``) of our own server (``jina-clip serve``) running
    the tiny checkpoint on a background thread, for API-backend tests of the remote encoder and
    the plugins. Loopback only; shut down at the end of the session.

    The model is served as ``TINY_API_MODEL`` ("jina-clip-tiny"): its vectors are not 768-d, so
    it must not pose as jina-clip-v1 (the client checks the dimension of known models)."""
    from jina_clip.server import ServerSettings, ServerThread, build_encoder, create_app

    settings = ServerSettings(
        model=str(tiny_checkpoint), device="cpu", served_model_name=TINY_API_MODEL
    )
    encoder = build_encoder(settings)
    try:
        with ServerThread(create_app(encoder, settings)) as url:
            yield f"{url}/v1"
    finally:
        encoder.close()


@pytest.fixture(scope="session")
def tiny_params(tiny_checkpoint: pathlib.Path) -> dict[str, Any]:
    """Plugin parameters for the local backend on the tiny checkpoint."""
    return {"model": str(tiny_checkpoint), "device": "cpu", "backend": "local"}


@pytest.fixture(scope="session")
def tiny_v2_params(tiny_v2_checkpoint: pathlib.Path) -> dict[str, Any]:
    """Plugin parameters for the local backend on the tiny jina-clip-v2 checkpoint."""
    return {"model": str(tiny_v2_checkpoint), "device": "cpu", "backend": "local"}


#: Backends the plugin suites run on: fixture giving the plugin parameters of each.
PLUGIN_BACKENDS = {"local": "tiny_params", "local-v2": "tiny_v2_params", "api": "api_params"}


@pytest.fixture(scope="session")
def api_params(api_server_url: str) -> dict[str, Any]:
    """Plugin parameters for the API backend against our own server (``api_server_url``)."""
    return {"base_url": api_server_url, "model": TINY_API_MODEL, "max_retries": 0}


@pytest.fixture(scope="session")
def core_encoder(tiny_checkpoint: pathlib.Path) -> Iterator[JinaCLIP]:
    """The core encoder built directly (not through a plugin): the reference answers."""
    from jina_clip import JinaCLIP

    encoder = JinaCLIP.local(str(tiny_checkpoint), device="cpu")
    yield encoder
    encoder.close()
