"""Long inputs keep the text tower's packed oneDNN weights for one layer at a time: no packed
copies stay on the modules (the memory that kept one 8,192-token fp32 text over 1.6 GiB),
the packed GEMMs still run, and the vectors do not change."""

from __future__ import annotations

import pathlib

import pytest
import torch

from jina_clip.model import JinaCLIPModel, linear
from jina_clip.model.linear import Linear, onednn_available, transient_packing


def _packed_layers(model: JinaCLIPModel) -> int:
    return sum(_has_copy(m) for m in model.text_model.modules() if isinstance(m, Linear))


def _has_copy(layer: torch.nn.Module) -> bool:
    """Whether ``layer`` keeps a packed copy (oneDNN's or, for <= 16 rows, the skinny one)."""
    return any(slot in layer.__dict__ for slot in linear._SLOTS)


def _ids(length: int) -> torch.Tensor:
    ids = torch.randint(104, 400, (1, length), generator=torch.Generator().manual_seed(1))
    ids[0, 0], ids[0, -1] = 101, 102
    return ids


@pytest.fixture
def needs_onednn() -> None:
    if not onednn_available():
        pytest.skip("no oneDNN packed linears in this torch build")


@pytest.mark.usefixtures("needs_onednn")
def test_a_long_text_keeps_no_packed_copies(
    tiny_checkpoint: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _ids(300)
    short = JinaCLIPModel.from_pretrained(tiny_checkpoint)
    with torch.inference_mode():
        want = short.encode_text(ids, ids != 0)  # 300 rows <= the limit: packed, kept
    assert _packed_layers(short) > 0
    monkeypatch.setattr(linear, "PACKED_ROWS_LIMIT", 299)  # 300 tokens are now "long"
    scoped: list[bool] = []
    real_slots = linear._slots
    monkeypatch.setattr(linear, "_slots", lambda owner, *a: scoped.append(
        real_slots(owner, *a) is not owner.__dict__) or real_slots(owner, *a))
    long = JinaCLIPModel.from_pretrained(tiny_checkpoint)
    with torch.inference_mode():
        got = long.encode_text(ids, ids != 0)
    assert scoped and all(scoped)  # every text linear packed, into a layer's scope
    assert _packed_layers(long) == 0
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


@pytest.mark.usefixtures("needs_onednn")
def test_transient_packing_is_scoped() -> None:
    layer, other = Linear(8, 4), Linear(8, 4)
    x = torch.randn(3, 8)
    with torch.inference_mode():
        with pytest.raises(RuntimeError), transient_packing():
            torch.testing.assert_close(layer(x), torch.nn.functional.linear(
                x, layer.weight, layer.bias), atol=1e-6, rtol=0)
            layer(x)
            scope = linear._transient.get()
            assert scope is not None and list(scope) == [id(layer)]  # packed once, here
            assert not _has_copy(layer)
            raise RuntimeError
        assert linear._transient.get() is None  # reset despite the error
        other(x)
        with transient_packing(), transient_packing(False):
            layer(x)
        assert _has_copy(layer)  # inactive scope: packed on the module
        with transient_packing():
            other(x)
            assert not linear._transient.get()  # a module with a packed copy keeps using it


@pytest.mark.usefixtures("needs_onednn")
def test_a_long_text_releases_the_copies_short_inputs_kept(
    tiny_checkpoint: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that served short queries and then embeds a long text holds one layer's
    packed copies during it, not every layer's; the next short input packs again."""
    model = JinaCLIPModel.from_pretrained(tiny_checkpoint)
    short, long = _ids(40), _ids(300)
    with torch.inference_mode():
        model.encode_text(short, short != 0)
        assert _packed_layers(model) > 0
        want = model.encode_text(long, long != 0)  # packed, kept
        monkeypatch.setattr(linear, "PACKED_ROWS_LIMIT", 299)
        got = model.encode_text(long, long != 0)
        assert _packed_layers(model) == 0
        monkeypatch.undo()
        model.encode_text(short, short != 0)
        assert _packed_layers(model) > 0
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
