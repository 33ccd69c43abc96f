"""`JinaCLIPEmbeddings`: LangChain's `Embeddings` over the jina-clip core.

A thin adapter. Configuration, the local-vs-API rule, batching, retries, image loading and
errors all live in :mod:`jina_clip`; this module maps LangChain's method names onto
:class:`jina_clip.JinaCLIP` and turns arrays into lists of Python floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import model_validator

from jina_clip.integration import QUERY_TASK, ImageInput, LazyEncoderSettings

__all__ = ["QUERY_TASK", "JinaCLIPEmbeddings"]


class JinaCLIPEmbeddings(LazyEncoderSettings, Embeddings):
    """jina-clip embeddings: texts and images in one vector space, for LangChain.

    Every field is a field of :class:`jina_clip.JinaCLIPSettings`, shared with the other
    jina-clip integrations, and means the same there.

    **Local or API.** With no arguments the model runs on this machine (``jinaai/jina-clip-v1``,
    downloaded from the Hugging Face hub and cached on first use; no ``trust_remote_code``).
    Jina's paid Embeddings API is called only when asked for: ``backend="api"``, or an explicit
    ``api_key`` (alias ``jina_api_key``) or ``base_url``. A ``JINA_API_KEY`` /
    ``JINAAI_API_KEY`` that merely sits in the environment is read into ``api_key`` but never
    switches a default object to the API. ``backend="local"`` forces the local model.

    **Lazy.** Constructing the object loads nothing and opens no connection; the encoder is
    built once, on the first embedding call (thread-safe), and reused. Assigning a field or
    copying the object drops the built encoder, so the next call uses the new settings.
    :meth:`close` releases it (the object stays usable); ``with`` / ``async with`` close it.

    **Images.** :meth:`embed_image` (``uris``) is the method vector stores call
    (``Chroma.add_images``, ``similarity_search_by_image``); :meth:`embed_images` takes every
    input the core accepts: paths, ``file://`` / ``http(s)`` URLs, data URIs, base64 strings,
    ``bytes``, file objects such as ``BytesIO``, and PIL images. Text and image vectors share
    one space, so a single instance and a single collection serve both.

    Queries are embedded with ``task="retrieval.query"``; documents and images without a task.
    Every method has a native async twin (``aembed_*``) running the core's async encoder.
    Bad inputs raise the core's typed errors (:class:`jina_clip.TextInputError`,
    :class:`jina_clip.ImageInputError` and subclasses) naming the input's index.

    Setup:
        .. code-block:: bash

            pip install langchain-jina-clip "jina-clip[local]"   # local model
            pip install langchain-jina-clip                      # API only
            export JINA_API_KEY="jina_..."                       # API only

    Example:
        .. code-block:: python

            from langchain_jina_clip import JinaCLIPEmbeddings

            embeddings = JinaCLIPEmbeddings(device="cuda")               # local
            api = JinaCLIPEmbeddings(backend="api", dimensions=512)      # Jina's API

            embeddings.embed_query("a red bicycle")                      # list[float]
            embeddings.embed_documents(["a bike", "a car"])              # list[list[float]]
            embeddings.embed_image(["photos/bike.jpg"])                  # list[list[float]]
            await embeddings.aembed_images([open("cat.png", "rb").read()])
    """

    @model_validator(mode="before")
    @classmethod
    def _accept_jina_api_key(cls, data: Any) -> Any:
        """Accept ``jina_api_key`` (the name other Jina integrations use) for ``api_key``."""
        if isinstance(data, dict) and "jina_api_key" in data:
            data = dict(data)
            key = data.pop("jina_api_key")
            if data.get("api_key") is not None and key is not None:
                raise ValueError("pass either api_key or jina_api_key, not both")
            if key is not None or "api_key" not in data:
                data["api_key"] = key
        return data

    # --- texts --------------------------------------------------------------------------------

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents; one vector (Python floats) per text, in order."""
        return _rows(self.encoder.encode_text(texts))

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query (sent with ``task="retrieval.query"``)."""
        return _rows(self.encoder.encode_text([text], task=QUERY_TASK))[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async twin of :meth:`embed_documents`."""
        encoder = await self._aencoder()
        return _rows(await encoder.aencode_text(texts))

    async def aembed_query(self, text: str) -> list[float]:
        """Async twin of :meth:`embed_query`."""
        encoder = await self._aencoder()
        return _rows(await encoder.aencode_text([text], task=QUERY_TASK))[0]

    # --- images -------------------------------------------------------------------------------

    def embed_image(self, uris: list[str]) -> list[list[float]]:
        """Embed images given as paths or URLs: the method vector stores call
        (``Chroma.add_images``). Accepts every other image input as well."""
        return self.embed_images(uris)

    def embed_images(self, images: Sequence[ImageInput]) -> list[list[float]]:
        """Embed images: paths, URLs, data URIs, base64, bytes, file objects, PIL images."""
        return _rows(self.encoder.encode_image(images))

    async def aembed_image(self, uris: list[str]) -> list[list[float]]:
        """Async twin of :meth:`embed_image`."""
        return await self.aembed_images(uris)

    async def aembed_images(self, images: Sequence[ImageInput]) -> list[list[float]]:
        """Async twin of :meth:`embed_images`."""
        encoder = await self._aencoder()
        return _rows(await encoder.aencode_image(images))


def _rows(vectors: np.ndarray) -> list[list[float]]:
    """Rows of a float array as lists of Python floats (what LangChain and vector stores
    expect; numpy scalars are not JSON-serializable)."""
    return vectors.tolist()
