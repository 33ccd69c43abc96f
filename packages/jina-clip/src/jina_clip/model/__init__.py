"""The native jina-clip model (v1 and v2): config parsing, the towers, hub resolution, loading."""

from __future__ import annotations

from .alibi import alibi_slopes
from .clip_model import JinaCLIPModel
from .config import JinaCLIPConfig, TextConfig, VisionConfig, XLMRobertaConfig
from .hub import CHECKPOINT_FILES, resolve_checkpoint
from .rope import rope_tables

__all__ = [
    "CHECKPOINT_FILES",
    "JinaCLIPConfig",
    "JinaCLIPModel",
    "TextConfig",
    "VisionConfig",
    "XLMRobertaConfig",
    "alibi_slopes",
    "resolve_checkpoint",
    "rope_tables",
]
