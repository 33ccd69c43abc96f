"""LlamaIndex integration for jina-clip: one embedding space for text and images.

>>> from llama_index.embeddings.jina_clip import JinaCLIPEmbedding
>>> embed_model = JinaCLIPEmbedding()                       # local jinaai/jina-clip-v1
>>> embed_model.get_query_embedding("a red bicycle")        # doctest: +SKIP
>>> embed_model.get_image_embedding("photos/bike.jpg")      # doctest: +SKIP
"""

from __future__ import annotations

from .base import QUERY_TASK, JinaCLIPEmbedding

__version__ = "0.1.0"

__all__ = ["QUERY_TASK", "JinaCLIPEmbedding", "__version__"]
