"""The local backend: jina-clip run with our own PyTorch model (imports torch)."""

from .encoder import DEFAULT_MAX_LENGTH, LocalJinaCLIP

__all__ = ["DEFAULT_MAX_LENGTH", "LocalJinaCLIP"]
