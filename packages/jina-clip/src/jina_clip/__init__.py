"""jina-clip: one embedding space for text and images.

>>> from jina_clip import JinaCLIP
>>> clip = JinaCLIP.local("jinaai/jina-clip-v1")      # or JinaCLIP.remote(api_key=...)
>>> clip.encode_text(["a bridge at dusk"]).shape
(1, 768)

Importing this package does not import torch; only the local encoder does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import errors
from ._version import __version__
from .base import ImageInput, JinaCLIP
from .errors import *  # noqa: F403 - every public exception, listed once in errors.__all__
from .settings import JinaCLIPSettings

if TYPE_CHECKING:
    from .local import LocalJinaCLIP
    from .remote import RemoteJinaCLIP, TokenUsage

#: Imported on first access, so that ``import jina_clip`` stays light (no torch, no httpx).
_LAZY = {
    "LocalJinaCLIP": ".local",
    "RemoteJinaCLIP": ".remote",
    "TokenUsage": ".remote",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: The public API. Plugins use :mod:`jina_clip.integration` as well; every other module is
#: internal (docs/architecture.md).
__all__ = [
    "ImageInput",
    "JinaCLIP",
    "JinaCLIPSettings",
    "LocalJinaCLIP",
    "RemoteJinaCLIP",
    "TokenUsage",
    "__version__",
    *errors.__all__,
]
