"""`JinaCLIP`: the one interface behind which the local model and the remote API live.

Both implementations share this contract, so code written against one runs against the other:

* ``encode_text(texts)`` / ``encode_image(images)`` return a float32 ``np.ndarray`` of shape
  ``(len(inputs), dimension)``, row ``i`` for input ``i``; L2-normalized unless
  ``normalize=False``.
* An empty list returns shape ``(0, dimension)``.
* Every input gets exactly one row, in order, or the call raises a typed
  :class:`~jina_clip.errors.InputError` naming the input's index. Nothing is dropped, reordered
  or zero-filled. Texts over the token limit are cut with a
  :class:`~jina_clip.errors.TruncationWarning` (``truncate=None``, the default), cut silently
  (``truncate=True``) or refused with :class:`~jina_clip.errors.TextTooLongError`
  (``truncate=False``).
* ``aencode_text`` / ``aencode_image`` are the async twins; they never block the event loop.
* ``count_tokens(texts)`` says how many tokens each text costs (the model's tokenizer
  locally, Jina's published estimate over the API).

Per-call keyword arguments override the defaults given to the constructor; ``None`` (the
default of every one) means "the constructor's setting". So a per-call ``truncate=None``
keeps the encoder's ``truncate``, it does not switch to cut-with-warning. The per-call
options (validated by :class:`~jina_clip.options.CallOptions`):

* ``batch_size``: inputs per model batch (local) or per request (API).
* ``normalize``: L2-normalize each vector.
* ``dimensions``: keep the first ``dimensions`` components (Matryoshka), then normalize;
  the API is sent ``dimensions`` where the model takes it.
* ``show_progress``: a tqdm bar over batches.
* texts only: ``max_length`` (local; the API has none), ``truncate`` and ``task``
  (``"retrieval.query"`` for search queries, None for documents; jina-clip-v1 ignores it).
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any, ClassVar, Union

import numpy as np

from .defaults import DEFAULT_API_MODEL, DEFAULT_LOCAL_MODEL
from .errors import ImageInputError, TextInputError
from .options import CallOptions

if TYPE_CHECKING:
    from PIL import Image

    from .local.encoder import LocalJinaCLIP
    from .remote.encoder import RemoteJinaCLIP

__all__ = ["ImageInput", "JinaCLIP", "check_images", "check_texts"]

#: Everything accepted as one image. A ``str`` is classified as a data URI, an http(s) URL,
#: a ``file://`` URL, a path to an existing file, or raw base64, in that order (see
#: :mod:`jina_clip.images.sources`).
ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], "Image.Image"]


def check_texts(texts: Sequence[str]) -> list[str]:
    """Validate the ``texts`` argument: a sequence of ``str``. A bare string is refused
    because iterating it would embed each character."""
    if isinstance(texts, (str, bytes)):
        raise TextInputError(
            "expected a list of texts, got a single string; wrap it in a list: [text]"
        )
    try:
        items = list(texts)
    except TypeError:
        raise TextInputError(
            f"expected a list of texts, got {type(texts).__name__}"
        ) from None
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TextInputError(f"expected str, got {type(text).__name__}", index=i)
    return items


def check_images(images: Sequence[ImageInput]) -> list[ImageInput]:
    """Validate the ``images`` argument: a sequence (not a bare single image)."""
    if isinstance(images, (str, bytes, bytearray, memoryview, os.PathLike)) or hasattr(
        images, "read"
    ) or _is_pil(images):
        raise ImageInputError(
            "expected a list of images, got a single image; wrap it in a list: [image]"
        )
    try:
        return list(images)
    except TypeError:
        raise ImageInputError(
            f"expected a list of images, got {type(images).__name__}"
        ) from None


def _is_pil(obj: object) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a hard dependency
        return False
    return isinstance(obj, Image.Image)


class JinaCLIP(ABC):
    """A jina-clip encoder: text and images into one vector space.

    Build one with :meth:`local` (PyTorch, on this machine) or :meth:`remote` (Jina's
    Embeddings API, or any server speaking it, such as ``jina-clip serve``).
    """

    # --- factories ----------------------------------------------------------------------------

    @staticmethod
    def local(
        model: str | os.PathLike[str] = DEFAULT_LOCAL_MODEL, **kwargs: Any
    ) -> LocalJinaCLIP:
        """Run the model on this machine. ``model`` is a Hugging Face hub id or a local
        directory in the official layout. See :class:`~jina_clip.local.LocalJinaCLIP`."""
        from .local.encoder import LocalJinaCLIP

        return LocalJinaCLIP(model, **kwargs)

    @staticmethod
    def remote(model: str = DEFAULT_API_MODEL, **kwargs: Any) -> RemoteJinaCLIP:
        """Call Jina's Embeddings API (or a compatible server at ``base_url``). See
        :class:`~jina_clip.remote.RemoteJinaCLIP`."""
        from .remote.encoder import RemoteJinaCLIP

        return RemoteJinaCLIP(model, **kwargs)

    # --- the contract -------------------------------------------------------------------------

    @property
    @abstractmethod
    def dimension(self) -> int:
        """Length of every returned vector."""

    @property
    @abstractmethod
    def model_name(self) -> str:
        """The model this encoder runs or calls (hub id, directory or API model name)."""

    @property
    def task_instructions(self) -> dict[str, str]:
        """The text each ``task`` prepends to a text before it is embedded here (jina-clip-v2
        run locally: ``retrieval.query``'s instruction). Empty when this encoder prepends
        nothing itself (jina-clip-v1; the API, which applies ``task`` server-side)."""
        return {}

    @property
    def matryoshka_dimensions(self) -> tuple[int, ...]:
        """The ``dimensions`` this encoder's model was trained at (jina-clip-v2 run locally);
        any other value is refused. Empty when every width up to :attr:`dimension` is
        accepted here (jina-clip-v1; the API, which checks ``dimensions`` server-side)."""
        return ()

    #: Validates one call's keywords (the remote encoder's adds the API's own limits).
    call_options: ClassVar[type[CallOptions]] = CallOptions

    def encode_text(
        self,
        texts: Sequence[str],
        *,
        max_length: int | None = None,
        normalize: bool | None = None,
        batch_size: int | None = None,
        show_progress: bool | None = None,
        task: str | None = None,
        truncate: bool | None = None,
        dimensions: int | None = None,
    ) -> np.ndarray:
        """Embed texts. Returns float32 ``(len(texts), dimension)`` (``dimensions`` wide when
        given)."""
        call = self.call_options(max_length=max_length, normalize=normalize,
                                 batch_size=batch_size, show_progress=show_progress,
                                 task=task, truncate=truncate, dimensions=dimensions)
        return self._encode_text(texts, call)

    def encode_image(
        self,
        images: Sequence[ImageInput],
        *,
        normalize: bool | None = None,
        batch_size: int | None = None,
        show_progress: bool | None = None,
        dimensions: int | None = None,
    ) -> np.ndarray:
        """Embed images. Returns float32 ``(len(images), dimension)`` (``dimensions`` wide when
        given)."""
        call = self.call_options(normalize=normalize, batch_size=batch_size,
                                 show_progress=show_progress, dimensions=dimensions)
        return self._encode_image(images, call)

    async def aencode_text(
        self,
        texts: Sequence[str],
        *,
        max_length: int | None = None,
        normalize: bool | None = None,
        batch_size: int | None = None,
        show_progress: bool | None = None,
        task: str | None = None,
        truncate: bool | None = None,
        dimensions: int | None = None,
    ) -> np.ndarray:
        """Async twin of :meth:`encode_text`."""
        call = self.call_options(max_length=max_length, normalize=normalize,
                                 batch_size=batch_size, show_progress=show_progress,
                                 task=task, truncate=truncate, dimensions=dimensions)
        return await self._aencode_text(texts, call)

    async def aencode_image(
        self,
        images: Sequence[ImageInput],
        *,
        normalize: bool | None = None,
        batch_size: int | None = None,
        show_progress: bool | None = None,
        dimensions: int | None = None,
    ) -> np.ndarray:
        """Async twin of :meth:`encode_image`."""
        call = self.call_options(normalize=normalize, batch_size=batch_size,
                                 show_progress=show_progress, dimensions=dimensions)
        return await self._aencode_image(images, call)

    # What each encoder implements: the four calls with their keywords validated. A warning
    # raised in them needs one more stack level than the public method's caller.

    @abstractmethod
    def _encode_text(self, texts: Sequence[str], call: CallOptions) -> np.ndarray:
        """:meth:`encode_text`, its keywords validated."""

    @abstractmethod
    def _encode_image(self, images: Sequence[ImageInput], call: CallOptions) -> np.ndarray:
        """:meth:`encode_image`, its keywords validated."""

    @abstractmethod
    async def _aencode_text(self, texts: Sequence[str], call: CallOptions) -> np.ndarray:
        """:meth:`aencode_text`, its keywords validated."""

    @abstractmethod
    async def _aencode_image(self, images: Sequence[ImageInput], call: CallOptions) -> np.ndarray:
        """:meth:`aencode_image`, its keywords validated."""

    @abstractmethod
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text, special tokens included, before any truncation: exact locally,
        Jina's published estimate (about 1.1 per word) over the API."""

    # --- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (HTTP clients, worker pools). Idempotent."""

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        self.close()

    def __enter__(self) -> JinaCLIP:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> JinaCLIP:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def empty(self, dimensions: int | None = None) -> np.ndarray:
        """The result for an empty input list (``dimensions``: a per-call width)."""
        return np.zeros((0, dimensions or self.dimension), dtype=np.float32)
