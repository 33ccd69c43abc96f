"""Shared fixtures: a tiny random jina-clip checkpoint in the official layout."""

from __future__ import annotations

import pathlib

import pytest


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """Directory with config.json, model.safetensors, tokenizer files and
    preprocessor_config.json, written once per test session (see jina_clip.testing)."""
    from jina_clip.testing import write_tiny_checkpoint

    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny-jina-clip"))
