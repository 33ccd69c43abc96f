"""`LazyEncoder`: the encoder an integration object builds on first use, once.

Framework objects (LangChain ``Embeddings``, LlamaIndex ``MultiModalEmbedding``) are cheap
configuration that gets copied, pickled and sent to worker processes; the encoder behind them
(model weights, HTTP clients, threads) must be built lazily, exactly once per object, and never
shared by copies. Both plugins hold one of these in a private attribute.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable
from typing import Any

from pydantic import PrivateAttr
from typing_extensions import Self

from .base import JinaCLIP
from .settings import JinaCLIPSettings

__all__ = ["LazyEncoder", "LazyEncoderSettings"]


class LazyEncoder:
    """Holds at most one encoder, built by ``get(build)`` the first time (thread-safe)."""

    __slots__ = ("_encoder", "_lock", "_semaphores")

    def __init__(self) -> None:
        self._encoder: JinaCLIP | None = None
        self._lock = threading.Lock()
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()

    @property
    def built(self) -> bool:
        return self._encoder is not None

    def get(self, build: Callable[[], JinaCLIP]) -> JinaCLIP:
        """The encoder, built by ``build()`` the first time (once, even under threads)."""
        encoder = self._encoder
        if encoder is None:
            with self._lock:
                encoder = self._encoder
                if encoder is None:
                    encoder = self._encoder = build()
        return encoder

    async def aget(self, build: Callable[[], JinaCLIP]) -> JinaCLIP:
        """:meth:`get` for async code: a first build (loading a model) runs off the loop."""
        encoder = self._encoder
        if encoder is not None:
            return encoder
        return await asyncio.to_thread(self.get, build)

    def take(self) -> JinaCLIP | None:
        """Detach and return the encoder (None if none was built); the caller closes it."""
        with self._lock:
            encoder, self._encoder = self._encoder, None
        return encoder

    def semaphore(self, limit: int) -> asyncio.Semaphore:
        """This event loop's semaphore of ``limit`` slots (asyncio primitives belong to one
        loop), for integrations whose framework fires all async batches at once."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(limit)
        return semaphore

    # Copies and pickles start empty: an encoder is never shared between objects or sent to
    # another process; each builds its own from its own settings.
    def __copy__(self) -> LazyEncoder:
        return LazyEncoder()

    def __deepcopy__(self, memo: dict[int, Any]) -> LazyEncoder:
        return LazyEncoder()

    def __reduce__(self) -> tuple[type[LazyEncoder], tuple[()]]:
        return LazyEncoder, ()

    def __repr__(self) -> str:
        return f"<encoder {'built' if self.built else 'not built'}>"


class LazyEncoderSettings(JinaCLIPSettings):
    """:class:`JinaCLIPSettings` plus the encoder they describe, built on first use.

    The base of both plugin classes: ``encoder`` builds once (thread-safe; ``_aencoder`` keeps a
    first model load off the event loop), assigning a field drops the encoder built from the
    old settings, copies and pickles start without one, and ``close`` releases it (the object
    stays usable).
    """

    _lazy: LazyEncoder = PrivateAttr(default_factory=LazyEncoder)

    @property
    def encoder(self) -> JinaCLIP:
        """The core encoder these settings describe; built on first access, then reused."""
        return self._lazy.get(self.build)

    async def _aencoder(self) -> JinaCLIP:
        return await self._lazy.aget(self.build)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in JinaCLIPSettings.model_fields:
            # Drop (not close: another thread may still use it) the encoder built from the old
            # settings; the next call builds one from the new settings.
            self._lazy.take()

    def __copy__(self) -> Self:
        clone = super().__copy__()
        clone._lazy = LazyEncoder()
        return clone

    def close(self) -> None:
        """Release the encoder (model memory, HTTP connections, threads). Idempotent; the
        next call builds a new one."""
        encoder = self._lazy.take()
        if encoder is not None:
            encoder.close()

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        encoder = self._lazy.take()
        if encoder is not None:
            await encoder.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
