"""Export-friendly forwards of our native towers: one static graph for any batch and length.

The native text tower picks attention blocks and MLP row chunks in Python from the input's
length (bounded memory), and its linears call private oneDNN ops; neither can be written to
ONNX with dynamic axes. These wrappers run the *same modules and weights* through one
straight-line graph: the full ``[B, H, L, L]`` ALiBi mask built from the input's shape, no
row chunking, and plain ``F.linear`` (``jina_clip.model.linear`` switches to it while a
graph is being traced). The math per token is that of the native model, so the vectors agree
to fp32 rounding (tested against ONNX Runtime).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..model import JinaCLIPModel

__all__ = ["TextGraph", "VisionGraph"]


class _FullAlibi:
    """The ``attend`` interface of :class:`~jina_clip.model.alibi.AlibiMask`, with the whole
    mask built from tensor shapes (no Python-side length logic to freeze into the graph)."""

    def __init__(self, slopes: torch.Tensor, attention_mask: torch.Tensor, dtype: torch.dtype):
        length = attention_mask.shape[1]
        pos = torch.arange(length, device=attention_mask.device)
        distance = (pos[:, None] - pos[None, :]).abs().to(torch.float32)  # [L, L]
        bias = (distance.unsqueeze(0) * (-slopes)[:, None, None]).to(dtype)  # [H, L, L]
        pad = (attention_mask == 0)[:, None, None, :]  # [B, 1, 1, L]
        self.mask = bias.unsqueeze(0).masked_fill(pad, torch.finfo(dtype).min / 2)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask)


def _geglu(mlp: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The text MLP without row chunking or in-place ops (which the tracer cannot record)."""
    gated, plain = mlp.gated_layers(x).split(mlp.intermediate_size, dim=-1)
    return mlp.wo(mlp.act(gated) * plain)


def _l2(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x.float(), dim=-1)


class TextGraph(nn.Module):
    """``input_ids``, ``attention_mask`` [B, L] int64 -> ``text_embeds`` [B, D] (mean-pooled,
    not normalized, like :meth:`JinaCLIPModel.encode_text`) and ``l2norm_text_embeddings``."""

    def __init__(self, model: JinaCLIPModel) -> None:
        super().__init__()
        self.text = model.text_model
        bert = self.text.transformer
        self.register_buffer(
            "slopes", torch.tensor(bert._slopes, dtype=torch.float32), persistent=False)

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        bert = self.text.transformer
        x = bert.emb_ln(bert.embeddings(input_ids))
        mask = _FullAlibi(self.slopes, attention_mask, x.dtype)
        for layer in bert.encoder.layers:
            x = layer.norm1(x + layer.mixer(x, mask))
            x = layer.norm2(x + _geglu(layer.mlp, x))
        weights = attention_mask.to(torch.float32).unsqueeze(-1)
        summed = (x.float() * weights).sum(dim=1)
        counts = weights.sum(dim=1).clamp(min=1e-9)
        pooled = summed / counts
        return pooled, _l2(pooled)


class VisionGraph(nn.Module):
    """``pixel_values`` [B, 3, S, S] normalized -> ``image_embeds`` [B, D] (CLS, not
    normalized) and ``l2norm_image_embeddings``."""

    def __init__(self, model: JinaCLIPModel) -> None:
        super().__init__()
        self.vision = model.vision_model

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.vision(pixel_values).float()
        return out, _l2(out)
