"""Shared fixtures: a tiny random jina-clip checkpoint in the official layout."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest

#: Name under which the ``api_server_url`` server serves the tiny checkpoint.
TINY_API_MODEL = "jina-clip-tiny"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Directory with config.json, model.safetensors, tokenizer files and
    preprocessor_config.json, written once per test session (see jina_clip.testing)."""
    from jina_clip.testing import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny-jina-clip"))


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
