from __future__ import annotations

import numpy as np
import pytest

from jina_clip.postprocess import finalize


def test_truncate_then_normalize() -> None:
    v = np.array([[3.0, 4.0, 12.0]], dtype=np.float64)
    out = finalize(v, dimensions=2, normalize=True)
    assert out.dtype == np.float32 and out.shape == (1, 2)
    np.testing.assert_allclose(out, [[0.6, 0.8]], rtol=1e-6)


def test_zero_row_stays_finite() -> None:
    out = finalize(np.zeros((2, 4)), dimensions=None, normalize=True)
    assert np.all(np.isfinite(out)) and not out.any()


def test_errors() -> None:
    with pytest.raises(ValueError):
        finalize(np.zeros((1, 4)), dimensions=5, normalize=True)
    with pytest.raises(ValueError):
        finalize(np.zeros(4), dimensions=None, normalize=True)
