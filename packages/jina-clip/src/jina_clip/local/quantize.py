"""Opt-in int8 dynamic quantisation of the text tower for CPU inference.

A short query is bound by streaming ~340 MB of fp32 text-tower weights through small-M
GEMMs; int8 weights with VNNI kernels cut that several-fold (see docs/performance.md). It
changes the numerics (cosine to the fp32 vectors ~0.99+, not 1e-5), so it is never on by
default. The vision tower stays fp32: its attention reads ``q_proj.weight`` directly, and
images are compute-bound where int8 dynamic quantisation helps less.

Up to 16 rows (a query) run on the skinny int8 kernel (AVX512-VNNI,
:mod:`jina_clip.model.skinny`): the same int8 weights, each row quantised with its own scale
and zero point over the full uint8 range, which is faster than fbgemm's per-call path at these
sizes and closer to fp32 than its 7-bit activations. Larger inputs, and CPUs without VNNI, use
fbgemm.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torch.ao.nn.quantized import dynamic as nnqd

from ..model import JinaCLIPModel, skinny
from ..model.linear import Linear

__all__ = ["QUANTIZE_MODES", "quantize_text_tower"]

QUANTIZE_MODES = ("int8",)


def quantize_text_tower(model: JinaCLIPModel, mode: str) -> None:
    """Replace the text tower's linear layers by dynamically quantised int8 ones, in place."""
    if mode not in QUANTIZE_MODES:
        raise ValueError(f"unknown quantize mode {mode!r}; use one of {QUANTIZE_MODES}")
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    for module in model.text_model.modules():
        if isinstance(module, Linear):  # from_float accepts exact nn.Linear only; the oneDNN
            module.__class__ = nn.Linear  # fp32 path is moot once the weights are int8
    with warnings.catch_warnings():  # torch.ao points at torchao; the eager API still works
        warnings.simplefilter("ignore")
        quantize_dynamic(model.text_model, {nn.Linear: default_dynamic_qconfig},
                         dtype=torch.qint8, mapping={nn.Linear: nnqd.Linear}, inplace=True)
    for module in model.text_model.modules():
        if type(module) is nnqd.Linear:
            module.__class__ = Int8Linear


class Int8Linear(nnqd.Linear):
    """torch's dynamic int8 linear, with inputs of at most 16 rows on the skinny int8 kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // max(x.shape[-1], 1) if x.dim() else 0
        kernels = skinny.kernels() if 0 < rows <= skinny.MAX_ROWS else None
        if kernels is not None and kernels.int8 and x.dtype == torch.float32 and not x.is_cuda:
            packed = self._skinny_weights()
            if packed is not None:
                flat = x.reshape(rows, x.shape[-1]).contiguous()
                out = kernels.matmul_int8(flat, *packed)
                return out.view(*x.shape[:-1], out.shape[-1])
        return super().forward(x)

    def _skinny_weights(self) -> tuple[skinny.Int8Weights, torch.Tensor | None] | None:
        """The int8 weights in the kernel's layout and the fp32 bias, made at first use and
        again after ``set_weight_bias`` (which replaces the packed params); ``None`` for
        weights the kernel does not take (zero points, K not a multiple of 4)."""
        params = self._packed_params._packed_params
        cached = self.__dict__.get("_skinny_int8")
        if cached is None or cached[0] is not params:
            self.__dict__["_skinny_int8"] = cached = (params, self._pack())
        return cached[1]

    def _pack(self) -> tuple[skinny.Int8Weights, torch.Tensor | None] | None:
        weight = self.weight()
        if weight.dtype != torch.qint8 or self.in_features % 4:
            return None
        if weight.qscheme() in (torch.per_tensor_affine, torch.per_tensor_symmetric):
            if weight.q_zero_point() != 0:
                return None
            scale = torch.full((self.out_features,), weight.q_scale())
        elif bool(weight.q_per_channel_zero_points().ne(0).any()):
            return None
        else:
            scale = weight.q_per_channel_scales().float()
        bias = self.bias()
        return (skinny.pack_int8(weight.int_repr(), scale),
                None if bias is None else bias.detach().float().contiguous())
