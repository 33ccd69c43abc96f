"""Long inputs run the text tower's linears unpacked: no oneDNN packed copies are made (the
memory that kept one 8,192-token fp32 text over 1.6 GiB), and the vectors do not change."""

from __future__ import annotations

import pathlib

import pytest
import torch

from jina_clip.model import JinaCLIPModel, text_tower
from jina_clip.model.linear import Linear, onednn_available, plain_linears


def _packed_layers(model: JinaCLIPModel) -> int:
    return sum("_onednn_weight" in m.__dict__ for m in model.text_model.modules()
               if isinstance(m, Linear))


def _ids(length: int) -> torch.Tensor:
    ids = torch.randint(104, 400, (1, length), generator=torch.Generator().manual_seed(1))
    ids[0, 0], ids[0, -1] = 101, 102
    return ids


def test_a_long_text_makes_no_packed_copies(
    tiny_checkpoint: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not onednn_available():
        pytest.skip("no oneDNN packed linears in this torch build")
    ids = _ids(300)
    short = JinaCLIPModel.from_pretrained(tiny_checkpoint)
    with torch.inference_mode():
        want = short.encode_text(ids, ids != 0)  # 300 rows <= the limit: packed
    assert _packed_layers(short) > 0
    monkeypatch.setattr(text_tower, "PACKED_ROWS_LIMIT", 299)  # 300 tokens are now "long"
    long = JinaCLIPModel.from_pretrained(tiny_checkpoint)
    with torch.inference_mode():
        got = long.encode_text(ids, ids != 0)
    assert _packed_layers(long) == 0
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_plain_linears_is_scoped() -> None:
    if not onednn_available():
        pytest.skip("no oneDNN packed linears in this torch build")
    layer = Linear(8, 4)
    x = torch.randn(3, 8)
    with torch.inference_mode():
        with pytest.raises(RuntimeError), plain_linears():
            layer(x)
            assert "_onednn_weight" not in layer.__dict__
            raise RuntimeError
        with plain_linears(False):
            layer(x)
    assert "_onednn_weight" in layer.__dict__  # packed again once outside
