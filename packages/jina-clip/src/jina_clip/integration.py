"""The integration surface: everything a framework plugin may import from jina_clip.

The LangChain and LlamaIndex packages import :mod:`jina_clip` (the public API) and this
module, nothing else; ``tests/test_plugin_imports.py`` fails when a plugin reaches into
another module. Everything here is kept stable for the plugins; the modules behind it are
internal and may change (see ``docs/architecture.md``).

* :class:`LazyEncoderSettings`: the base of every plugin class (the settings' fields, and
  the encoder built from them on first use).
* :class:`JinaCLIPSettings`, :class:`JinaCLIP`, :data:`ImageInput`: the settings, the
  encoder interface, what one image may be.
* :func:`input_positions`: number inputs in warnings as the caller's list does, when the
  plugin splits that list into several encoder calls.
* :data:`QUERY_TASK`, :data:`DEFAULT_LOCAL_MODEL`, :data:`DEFAULT_API_MODEL`: the names every
  integration shares.
"""

from __future__ import annotations

from .base import ImageInput, JinaCLIP
from .defaults import DEFAULT_API_MODEL, DEFAULT_LOCAL_MODEL, QUERY_TASK
from .errors import InputError
from .lazy import LazyEncoderSettings
from .positions import input_positions
from .settings import JinaCLIPSettings

__all__ = [
    "DEFAULT_API_MODEL",
    "DEFAULT_LOCAL_MODEL",
    "QUERY_TASK",
    "ImageInput",
    "InputError",
    "JinaCLIP",
    "JinaCLIPSettings",
    "LazyEncoderSettings",
    "input_positions",
]
