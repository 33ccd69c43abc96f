"""The baseline: what users of the official jina-clip torch code get, in fp32 as shipped
(jina-clip-v2's text tower: :mod:`.baseline_v2`).

It runs on the *same* weights as the optimised model (it reads the modules of a loaded
:class:`JinaCLIPModel`, so no second copy is held), but computes the way the official
non-flash path does:

* text: one explicit ``[1, H, L, L]`` fp32 ALiBi bias for the forward plus a ``-10000``
  padding bias, added to einsum attention scores in every layer (the official
  ``SelfAttention`` when flash-attn is absent); plain ``F.linear``; GEGLU with a fresh
  ``[rows, 2 x 3072]`` activation; texts in input order, fixed batches of 32 (the official
  ``encode_text`` default), padded to the batch's longest text, under ``torch.no_grad``;
* images: EVA02 with naive ``softmax(q k^T) v`` attention (xformers absent), Pillow decode
  and resize one image after another in the calling thread, one batch of up to 32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ..images.sources import load_image
from ..model import JinaCLIPModel, alibi_slopes

if TYPE_CHECKING:
    from ..local import LocalJinaCLIP

__all__ = ["baseline_encode_images", "baseline_encode_texts", "baseline_image", "baseline_text"]

#: The official ``encode_text`` / ``encode_image`` default batch size.
OFFICIAL_BATCH = 32


@torch.no_grad()
def baseline_text(
    model: JinaCLIPModel, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    if model.config.is_v2:
        from .baseline_v2 import baseline_text_v2

        return baseline_text_v2(model, input_ids, attention_mask)
    bert = model.text_model.transformer
    heads = bert.config.num_attention_heads
    x = bert.emb_ln(bert.embeddings(input_ids))
    B, L, C = x.shape
    D = C // heads
    slopes = torch.tensor(alibi_slopes(heads), dtype=torch.float32, device=x.device)
    pos = torch.arange(L, device=x.device)
    alibi = (-slopes[:, None, None] * (pos[None, :] - pos[:, None]).abs()).unsqueeze(0)
    pad = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
    for layer in bert.encoder.layers:
        att, mlp = layer.mixer, layer.mlp
        qkv = F.linear(x, att.Wqkv.weight, att.Wqkv.bias).view(B, L, 3, heads, D)
        q, k, v = qkv.unbind(2)
        scores = torch.einsum("bthd,bshd->bhts", q, k * (1.0 / math.sqrt(D)))
        attn = (scores + alibi + pad).softmax(-1)
        ctx = torch.einsum("bhts,bshd->bthd", attn, v).reshape(B, L, C)
        x = layer.norm1(x + F.linear(ctx, att.out_proj.weight, att.out_proj.bias))
        gated, plain = F.linear(x, mlp.gated_layers.weight).split(mlp.intermediate_size, -1)
        h = F.linear(F.gelu(gated) * plain, mlp.wo.weight, mlp.wo.bias)
        x = layer.norm2(x + h)
    w = attention_mask.unsqueeze(-1).float()
    return (x * w).sum(1) / w.sum(1)


def _rot(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    return torch.stack((-x2, x1), -1).flatten(-2)


@torch.no_grad()
def baseline_image(model: JinaCLIPModel, pixels: torch.Tensor) -> torch.Tensor:
    vis = model.vision_model
    x = vis.patch_embed(pixels)
    x = torch.cat([vis.cls_token.expand(x.shape[0], -1, -1), x], 1) + vis.pos_embed
    cos, sin = vis.rope.tables(pixels.device)
    for blk in vis.blocks:
        a = blk.attn
        h = blk.norm1(x)
        B, N, _ = h.shape
        q = F.linear(h, a.q_proj.weight, a.q_bias).view(B, N, a.num_heads, -1).transpose(1, 2)
        k = F.linear(h, a.k_proj.weight).view(B, N, a.num_heads, -1).transpose(1, 2)
        v = F.linear(h, a.v_proj.weight, a.v_bias).view(B, N, a.num_heads, -1).transpose(1, 2)
        q = torch.cat([q[:, :, :1], q[:, :, 1:] * cos + _rot(q[:, :, 1:]) * sin], 2)
        k = torch.cat([k[:, :, :1], k[:, :, 1:] * cos + _rot(k[:, :, 1:]) * sin], 2)
        attn = ((q * a.head_dim**-0.5) @ k.transpose(-2, -1)).softmax(-1)
        ctx = (attn @ v).transpose(1, 2).reshape(B, N, -1)
        x = x + a.proj(a.inner_attn_ln(ctx))
        h = blk.norm2(x)
        m = blk.mlp
        x = x + m.w3(m.ffn_ln(F.silu(m.w1(h)) * m.w2(h)))
    return vis.norm(x)[:, 0]


def baseline_encode_texts(
    enc: LocalJinaCLIP, texts: Sequence[str], batch: int = OFFICIAL_BATCH
) -> np.ndarray:
    """Texts the official way: input order, fixed batches, padded to each batch's longest."""
    out = []
    device = enc.device
    for start in range(0, len(texts), batch):
        rows = enc.tokenize(texts[start : start + batch], truncate=False)
        width = max(map(len, rows))
        pad = enc.tokenizer.pad_id  # 0 for v1, 1 for v2
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        ids = ids.to(device)
        out.append(baseline_text(enc.model, ids, (ids != pad).long()).float().cpu().numpy())
    return np.concatenate(out)


def baseline_encode_images(
    enc: LocalJinaCLIP, images: Sequence[str], batch: int = OFFICIAL_BATCH
) -> np.ndarray:
    """Images the official way: decoded and resized one after another in this thread."""
    out = []
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        pixels = torch.stack(
            [enc.preprocessor(load_image(p, index=start + i)) for i, p in enumerate(chunk)]
        ).to(enc.device, enc.dtype)
        out.append(baseline_image(enc.model, pixels).float().cpu().numpy())
    return np.concatenate(out)
