"""Names every layer agrees on: the default models, the API's address, the query task.

One home, imported by the encoders, the settings, the server and the plugins (through
:mod:`jina_clip.integration`), so that no layer keeps its own copy.
"""

from __future__ import annotations

__all__ = ["DEFAULT_API_MODEL", "DEFAULT_BASE_URL", "DEFAULT_LOCAL_MODEL", "QUERY_TASK"]

#: The hub id the local backend loads when no model is named.
DEFAULT_LOCAL_MODEL = "jinaai/jina-clip-v1"
#: The API model name the remote backend calls when no model is named.
DEFAULT_API_MODEL = "jina-clip-v1"
#: Jina's Embeddings API.
DEFAULT_BASE_URL = "https://api.jina.ai/v1"
#: The ``task`` integrations send with search queries (jina-clip-v2 on the API adapts queries
#: to it; jina-clip-v1 is symmetric and ignores it). Documents and images are sent without one.
QUERY_TASK = "retrieval.query"
