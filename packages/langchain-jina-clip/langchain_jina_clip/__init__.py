"""LangChain integration for jina-clip: one embedding space for text and images.

>>> from langchain_jina_clip import JinaCLIPEmbeddings
>>> embeddings = JinaCLIPEmbeddings()                 # local jinaai/jina-clip-v1
>>> embeddings.embed_query("a red bicycle")           # doctest: +SKIP
>>> embeddings.embed_image(["photos/bike.jpg"])       # doctest: +SKIP
"""

from __future__ import annotations

from .embeddings import JinaCLIPEmbeddings

__version__ = "0.1.0"

__all__ = ["JinaCLIPEmbeddings", "__version__"]
