"""The jina-clip-v2 text baseline: what the official ``trust_remote_code`` model does on CPU.

Same weights as the optimised model (read from its modules), computed the way the official
non-flash path does: the LoRA-parametrized weights are rebuilt on every forward
(``W + B·A·alpha/rank`` for every Linear and for the 250,002 x 1,024 word embedding; here with
zero factors of the real rank, so the result is unchanged and the cost is the official one),
einsum attention with a full ``[B, 16, L, L]`` fp32 score tensor per layer and ``-10000`` on
padded keys, rotary in plain torch, ``F.linear``, under ``torch.no_grad``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..model import JinaCLIPModel, XLMRobertaConfig

__all__ = ["baseline_text_v2"]


def _rebuilt(module: nn.Module, rank: int) -> torch.Tensor:
    """``W + (B @ A) * scale`` with zero rank-``rank`` factors, as the official forward does."""
    cached = module.__dict__.get("_baseline_lora")
    if cached is None:
        rows, cols = module.weight.shape
        zero_a = torch.zeros(rank, cols, device=module.weight.device)
        zero_b = torch.zeros(rows, rank, device=module.weight.device)
        module.__dict__["_baseline_lora"] = cached = (zero_a, zero_b)
    return module.weight + torch.matmul(cached[1], cached[0]) * 1.0


@torch.no_grad()
def baseline_text_v2(
    model: JinaCLIPModel, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    cfg = model.config.text
    assert isinstance(cfg, XLMRobertaConfig)
    roberta = model.text_model.transformer.roberta  # type: ignore[union-attr]
    r = cfg.lora_rank
    heads, eps = cfg.num_attention_heads, cfg.layer_norm_eps
    emb = roberta.embeddings
    x = F.embedding(input_ids, _rebuilt(emb.word_embeddings, r))
    x = x + _rebuilt(emb.token_type_embeddings, r)[0]
    x = F.layer_norm(x, x.shape[-1:], roberta.emb_ln.weight, roberta.emb_ln.bias, eps)
    B, L, C = x.shape
    D = C // heads
    inv_freq = 1.0 / (cfg.rotary_emb_base ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
    freqs = torch.outer(torch.arange(L, dtype=torch.float32), inv_freq).to(x.device)
    cos = torch.cat([freqs.cos(), freqs.cos()], -1)[:, None, :]
    sin = torch.cat([freqs.sin(), freqs.sin()], -1)[:, None, :]

    def rotary(t: torch.Tensor) -> torch.Tensor:
        a, b = t.chunk(2, -1)
        return t * cos + torch.cat([-b, a], -1) * sin

    pad = torch.full((B, L), -10000.0, device=x.device).masked_fill_(attention_mask.bool(), 0.0)
    for layer in roberta.encoder.layers:
        att, mlp = layer.mixer, layer.mlp
        qkv = F.linear(x, _rebuilt(att.Wqkv, r), att.Wqkv.bias).view(B, L, 3, heads, D)
        q, k, v = rotary(qkv[:, :, 0]), rotary(qkv[:, :, 1]), qkv[:, :, 2]
        scores = torch.einsum("bthd,bshd->bhts", q, k * (1.0 / math.sqrt(D)))
        attn = (scores + pad[:, None, None, :]).softmax(-1)
        ctx = torch.einsum("bhts,bshd->bthd", attn, v).reshape(B, L, C)
        x = layer.norm1(x + F.linear(ctx, _rebuilt(att.out_proj, r), att.out_proj.bias))
        h = F.gelu(F.linear(x, _rebuilt(mlp.fc1, r), mlp.fc1.bias))
        x = layer.norm2(x + F.linear(h, _rebuilt(mlp.fc2, r), mlp.fc2.bias))
    w = attention_mask.unsqueeze(-1).float()
    return (x * w).sum(1) / w.sum(1)
