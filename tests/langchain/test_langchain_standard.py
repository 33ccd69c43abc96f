"""LangChain's standard embeddings tests (langchain-tests), for both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from langchain_jina_clip import JinaCLIPEmbeddings


class TestJinaCLIPEmbeddingsUnit(EmbeddingsUnitTests):
    """Construction only: nothing is loaded, so the default (hub) model is fine here."""

    @property
    def embeddings_class(self) -> type[JinaCLIPEmbeddings]:
        return JinaCLIPEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return {"JINA_API_KEY": "jina_test"}, {}, {"api_key": "jina_test"}


class TestJinaCLIPEmbeddingsUnitAPI(EmbeddingsUnitTests):
    """Construction with the API backend: no request is made until the first call."""

    @property
    def embeddings_class(self) -> type[JinaCLIPEmbeddings]:
        return JinaCLIPEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"backend": "api", "api_key": "jina_test", "model": "jina-clip-v2"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        return {"JINAAI_API_KEY": "jina_alt"}, {"backend": "api"}, {"api_key": "jina_alt"}


class _IntegrationOnOurBackends(EmbeddingsIntegrationTests):
    """The standard integration suite; subclasses pick the backend through ``_params``."""

    _embedding_model_params: dict[str, Any]

    @pytest.fixture
    async def model(self) -> AsyncIterator[JinaCLIPEmbeddings]:
        """The standard fixture, closed after the test on the test's own event loop (so an
        async HTTP client does not outlive its loop)."""
        embeddings = self.embeddings_class(**self.embedding_model_params)
        yield embeddings
        await embeddings.aclose()

    @property
    def embeddings_class(self) -> type[JinaCLIPEmbeddings]:
        return JinaCLIPEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return self._embedding_model_params


class TestJinaCLIPEmbeddingsLocal(_IntegrationOnOurBackends):
    """The local backend on the tiny checkpoint (its path comes from a fixture)."""

    @pytest.fixture(autouse=True)
    def _params(self, tiny_params: dict[str, Any]) -> None:
        self._embedding_model_params = tiny_params


class TestJinaCLIPEmbeddingsAPI(_IntegrationOnOurBackends):
    """The API backend against our own server on 127.0.0.1 (fixture ``api_server_url``)."""

    @pytest.fixture(autouse=True)
    def _params(self, api_params: dict[str, Any]) -> None:
        self._embedding_model_params = api_params
