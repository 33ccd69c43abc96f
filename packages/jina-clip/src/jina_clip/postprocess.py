"""Post-processing shared by every encoder: Matryoshka truncation, then L2 normalization.

Truncation comes first so that a truncated vector is a unit vector again (what the official
``encode_text(truncate_dim=...)`` and the API's ``dimensions`` do).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["finalize", "l2_normalize", "untrained_dimensions"]


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalization; an all-zero row stays zero instead of becoming NaN."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, np.finfo(np.float32).tiny)


def untrained_dimensions(dimensions: int | None, trained: Sequence[int] | None,
                         model: str) -> str | None:
    """Why ``dimensions`` is refused by a Matryoshka model (jina-clip-v2) trained only at
    ``trained``, or None when it is not (no ``dimensions``, or a model with no such list)."""
    if dimensions is None or not trained or dimensions in trained:
        return None
    return f"dimensions={dimensions} is not one of {model}'s Matryoshka dimensions {list(trained)}"


def finalize(vectors: np.ndarray, *, dimensions: int | None, normalize: bool) -> np.ndarray:
    """Truncate to ``dimensions`` (if given), normalize (if asked), return float32 (N, D)."""
    out = np.asarray(vectors, dtype=np.float32)
    if out.ndim != 2:
        raise ValueError(f"expected a 2-D array of vectors, got shape {out.shape}")
    if dimensions is not None:
        if dimensions > out.shape[1]:
            raise ValueError(
                f"dimensions={dimensions} is larger than the model's {out.shape[1]}"
            )
        out = out[:, :dimensions]
    if normalize:
        out = l2_normalize(out)
    return np.ascontiguousarray(out, dtype=np.float32)
