"""Opt-in int8 dynamic quantisation of the text tower for CPU inference.

A short query is bound by streaming ~340 MB of fp32 text-tower weights through small-M
GEMMs; int8 weights with VNNI kernels cut that several-fold (see docs/performance.md). It
changes the numerics (cosine to the fp32 vectors ~0.99+, not 1e-5), so it is never on by
default. The vision tower stays fp32: its attention reads ``q_proj.weight`` directly, and
images are compute-bound where int8 dynamic quantisation helps less.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..model import JinaCLIPModel
from ..model.linear import Linear

__all__ = ["QUANTIZE_MODES", "quantize_text_tower"]

QUANTIZE_MODES = ("int8",)


def quantize_text_tower(model: JinaCLIPModel, mode: str) -> None:
    """Replace the text tower's linear layers by dynamically quantised int8 ones, in place."""
    if mode not in QUANTIZE_MODES:
        raise ValueError(f"unknown quantize mode {mode!r}; use one of {QUANTIZE_MODES}")
    from torch.ao.nn.quantized import dynamic as nnqd
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    for module in model.text_model.modules():
        if isinstance(module, Linear):  # from_float accepts exact nn.Linear only; the oneDNN
            module.__class__ = nn.Linear  # fp32 path is moot once the weights are int8
    with warnings.catch_warnings():  # torch.ao points at torchao; the eager API still works
        warnings.simplefilter("ignore")
        quantize_dynamic(model.text_model, {nn.Linear: default_dynamic_qconfig},
                         dtype=torch.qint8, mapping={nn.Linear: nnqd.Linear}, inplace=True)
