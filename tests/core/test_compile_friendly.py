"""The text tower traces as one graph under ``torch.compile`` for short inputs: the packed
oneDNN path steps aside (``_tracing`` is checked first) and no per-layer packing scope is
entered, so a user's ``torch.compile(model.text_model)`` gets one graph, not 12+ fragments."""

from __future__ import annotations

import pathlib

import pytest
import torch
import torch._dynamo

from jina_clip.model import JinaCLIPModel


@pytest.mark.timeout(300)
def test_text_tower_has_no_graph_breaks(tiny_checkpoint: pathlib.Path) -> None:
    model = JinaCLIPModel.from_pretrained(tiny_checkpoint)
    ids = torch.randint(104, 400, (2, 12), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    torch._dynamo.reset()
    with torch.no_grad():
        want = model.text_model(ids, mask)
        explained = torch._dynamo.explain(model.text_model)(ids, mask)
        got = torch.compile(model.text_model, backend="eager")(ids, mask)
    torch._dynamo.reset()
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
