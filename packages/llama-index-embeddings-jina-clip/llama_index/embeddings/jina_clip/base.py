"""`JinaCLIPEmbedding`: LlamaIndex's `MultiModalEmbedding` over the jina-clip core.

A thin adapter. Configuration, the local-vs-API rule, batching, retries, image loading and
errors all live in :mod:`jina_clip`; this module maps LlamaIndex's method names onto
:class:`jina_clip.JinaCLIP`, caps concurrent async batches, and turns arrays into lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from typing_extensions import Self

from jina_clip.integration import (
    DEFAULT_API_MODEL,
    DEFAULT_LOCAL_MODEL,
    QUERY_TASK,
    ImageInput,
    InputError,
    LazyEncoderSettings,
)
from llama_index.core.base.embeddings.base import Embedding
from llama_index.core.bridge.pydantic import (
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from llama_index.core.embeddings import MultiModalEmbedding
from llama_index.core.schema import BaseNode, ImageNode, ImageType, MetadataMode

from ._runtime import batch_scope, reindexed, warnings_numbered_for_caller

__all__ = ["DEFAULT_EMBED_BATCH_SIZE", "QUERY_TASK", "JinaCLIPEmbedding"]

#: Inputs per LlamaIndex batch. LlamaIndex's default (10) starves a local model's batches.
DEFAULT_EMBED_BATCH_SIZE = 32


class JinaCLIPEmbedding(MultiModalEmbedding, LazyEncoderSettings):
    """jina-clip embeddings for LlamaIndex: texts and images in one vector space.

    Every jina-clip field (``model``, ``backend``, ``device``, ..., ``api_key``) is a field of
    :class:`jina_clip.JinaCLIPSettings`, inherited, validated and documented there and shared
    with the other jina-clip integrations. One instance serves as both ``embed_model`` and
    ``image_embed_model`` of a ``MultiModalVectorStoreIndex``.

    **Local or API.** With no arguments the model runs on this machine (``jinaai/jina-clip-v1``;
    no ``trust_remote_code``). Jina's paid API is called only when asked for: ``backend="api"``,
    or an explicit ``api_key`` or ``base_url`` (the rule is
    :meth:`JinaCLIPSettings.resolved_backend`). A key that merely sits in ``JINA_API_KEY`` never
    switches a default object to the API.

    **Lazy.** The encoder (model weights or HTTP clients) is built on first use, once per
    object; changing a jina-clip field afterwards drops it and the next call builds a new one.

    **Serialization.** ``to_dict()`` / ``to_json()`` never contain ``api_key`` (neither does the
    repr); they record the resolved ``backend`` so that ``from_dict()`` restores the same one,
    reading the key from the environment or from ``from_dict(data, api_key=...)``.

    **Async.** Native: the core's ``aencode_*``. LlamaIndex starts every async batch at once;
    at most ``max_concurrency`` of them run at a time per object and event loop.
    """

    model_config = ConfigDict(
        extra="forbid",
        validate_assignment=True,
        protected_namespaces=(),
        arbitrary_types_allowed=True,
    )

    embed_batch_size: int = Field(
        default=DEFAULT_EMBED_BATCH_SIZE,
        gt=0,
        le=2048,
        description="Inputs per LlamaIndex batch, i.e. per call to the jina-clip encoder "
        "(which splits it further by `batch_size`). Async batches run at most "
        "`max_concurrency` at a time.",
    )

    @classmethod
    def class_name(cls) -> str:
        return "JinaCLIPEmbedding"

    @model_validator(mode="after")
    def _derive_model_name(self) -> Self:
        if "model_name" not in self.model_fields_set:
            default = DEFAULT_LOCAL_MODEL if self.resolved_backend() == "local" else (
                DEFAULT_API_MODEL
            )
            # Straight into __dict__: an assignment would re-run this validator.
            self.__dict__["model_name"] = self.model or default
        return self

    # --- serialization --------------------------------------------------------------------

    @model_serializer(mode="wrap")
    def custom_model_dump(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        data = handler(self)
        data.pop("api_key", None)
        if "backend" in data:
            data["backend"] = self.resolved_backend()  # survives the key being left out
        data["class_name"] = self.class_name()
        return data

    def __getstate__(self) -> dict[str, Any]:
        # Pickles (e.g. IngestionPipeline workers) keep the key but pin the backend: re-created
        # with every field explicit, an environment key would otherwise switch to the API.
        state = super().__getstate__()
        state["__dict__"] = {**state["__dict__"], "backend": self.resolved_backend()}
        return state

    def to_payload(self) -> dict[str, Any]:
        return {**super().to_payload(), "backend": self.resolved_backend()}

    # --- the encoder ----------------------------------------------------------------------

    @property
    def dimension(self) -> int:
        """Length of every vector (builds the encoder)."""
        return self.encoder.dimension

    # --- texts ----------------------------------------------------------------------------

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._texts([query], task=QUERY_TASK)[0]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._atexts([query], task=QUERY_TASK))[0]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._texts([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._atexts([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._texts(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._atexts(texts)

    def get_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        with batch_scope(texts):
            return super().get_text_embedding_batch(texts, show_progress, **kwargs)

    async def aget_text_embedding_batch(
        self, texts: list[str], show_progress: bool = False, **kwargs: Any
    ) -> list[Embedding]:
        with batch_scope(texts):
            return await super().aget_text_embedding_batch(texts, show_progress, **kwargs)

    # --- images ---------------------------------------------------------------------------

    def _get_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return self._images([img_file_path])[0]

    async def _aget_image_embedding(self, img_file_path: ImageType) -> Embedding:
        return (await self._aimages([img_file_path]))[0]

    def _get_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        return self._images(img_file_paths)

    async def _aget_image_embeddings(self, img_file_paths: list[ImageType]) -> list[Embedding]:
        return await self._aimages(img_file_paths)

    def get_image_embedding_batch(
        self, img_file_paths: list[ImageType], show_progress: bool = False
    ) -> list[Embedding]:
        with batch_scope(img_file_paths):
            return super().get_image_embedding_batch(img_file_paths, show_progress)

    async def aget_image_embedding_batch(
        self, img_file_paths: list[ImageType], show_progress: bool = False
    ) -> list[Embedding]:
        with batch_scope(img_file_paths):
            return await super().aget_image_embedding_batch(img_file_paths, show_progress)

    # --- nodes (IngestionPipeline) ----------------------------------------------------------

    def __call__(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        """Embed nodes: image nodes by their image, the others by their text."""
        images, texts = _split(nodes)
        if images:
            progress = kwargs.get("show_progress", False)
            vectors = self.get_image_embedding_batch([i for _, i in images], progress)
            _assign(images, vectors)
        if texts:
            vectors = self.get_text_embedding_batch([t for _, t in texts], **kwargs)
            _assign(texts, vectors)
        return nodes

    async def acall(self, nodes: Sequence[BaseNode], **kwargs: Any) -> Sequence[BaseNode]:
        """Async twin of :meth:`__call__`."""
        images, texts = _split(nodes)
        if images:
            progress = kwargs.get("show_progress", False)
            vectors = await self.aget_image_embedding_batch([i for _, i in images], progress)
            _assign(images, vectors)
        if texts:
            vectors = await self.aget_text_embedding_batch([t for _, t in texts], **kwargs)
            _assign(texts, vectors)
        return nodes

    # --- the calls into the core ------------------------------------------------------------

    def _texts(self, texts: list[str], task: str | None = None) -> list[Embedding]:
        try:
            with warnings_numbered_for_caller(texts):
                return _lists(self.encoder.encode_text(texts, task=task))
        except InputError as error:
            raise reindexed(error, texts) from None

    async def _atexts(self, texts: list[str], task: str | None = None) -> list[Embedding]:
        encoder = await self._aencoder()
        async with self._lazy.semaphore(self.max_concurrency):
            try:
                with warnings_numbered_for_caller(texts):
                    return _lists(await encoder.aencode_text(texts, task=task))
            except InputError as error:
                raise reindexed(error, texts) from None

    def _images(self, images: list[ImageType]) -> list[Embedding]:
        try:
            return _lists(self.encoder.encode_image(images))
        except InputError as error:
            raise reindexed(error, images) from None

    async def _aimages(self, images: list[ImageType]) -> list[Embedding]:
        encoder = await self._aencoder()
        async with self._lazy.semaphore(self.max_concurrency):
            try:
                return _lists(await encoder.aencode_image(images))
            except InputError as error:
                raise reindexed(error, images) from None


def _lists(vectors: np.ndarray) -> list[Embedding]:
    return vectors.tolist()  # Python floats, row i for input i


def _split(
    nodes: Sequence[BaseNode],
) -> tuple[list[tuple[BaseNode, ImageInput]], list[tuple[BaseNode, str]]]:
    """Image nodes with an image (base64 ``image``, then ``image_path``, then ``image_url``,
    LlamaIndex's own order) and the other nodes with their embedding text."""
    images: list[tuple[BaseNode, ImageInput]] = []
    texts: list[tuple[BaseNode, str]] = []
    for node in nodes:
        image = _node_image(node)
        if image is not None:
            images.append((node, image))
        else:
            texts.append((node, node.get_content(metadata_mode=MetadataMode.EMBED)))
    return images, texts


def _node_image(node: BaseNode) -> ImageInput | None:
    if not isinstance(node, ImageNode):
        return None
    # URLs go to the core as URLs: fetched asynchronously with limits, or sent to the API.
    return node.image or node.image_path or node.image_url


def _assign(pairs: Sequence[tuple[BaseNode, Any]], vectors: list[Embedding]) -> None:
    for (node, _), vector in zip(pairs, vectors, strict=True):
        node.embedding = vector
