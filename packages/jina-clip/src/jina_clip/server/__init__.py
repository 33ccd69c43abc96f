"""``jina-clip serve``: a self-hostable server speaking Jina's Embeddings API.

>>> from jina_clip.server import ServerSettings, create_app
>>> app = create_app(encoder, ServerSettings(api_key="secret"))   # any JinaCLIP

Needs the ``server`` extra (FastAPI, uvicorn). The ``openai`` client works against it too.
"""

from __future__ import annotations

from .app import create_app
from .config import ServerSettings
from .guard import AddressGuard, check_url
from .runner import ServerThread, build_encoder, serve
from .transport import GuardedTransport

__all__ = ["AddressGuard", "GuardedTransport", "ServerSettings",
           "ServerThread", "build_encoder", "check_url", "create_app", "serve"]
