"""jina-clip-v2's text tower: XLM-RoBERTa with rotary attention, post-LN, exact GELU, mean pool.

Module names follow the official checkpoint under ``text_model.transformer.roberta.``; the
LoRA-parametrized weights of the checkpoint (``X.parametrizations.weight.original`` plus
``lora_A`` / ``lora_B``) become plain ``X.weight`` here, merged once by the loader
(:mod:`.lora`), so a forward pass costs what an unadapted one does.

Attention runs through our kernel on CPU (:mod:`.short_attention`: O(L) memory, padded keys
skipped), elsewhere through ``scaled_dot_product_attention`` a block of queries at a time, so
no ``[B, H, L, L]`` score tensor of a long text ever exists (the official torch path holds one
per layer, 4.3 GB in fp32 at 8,192 tokens).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import short_attention
from .config import XLMRobertaConfig
from .linear import Linear, layer_packing
from .text_tower import Embeddings, mean_pool  # Embeddings: word + token-type row 0, as v1

__all__ = ["DEFAULT_SCORE_BUDGET", "XLMRobertaTextModel", "text_rotary_tables"]

#: Largest attention block in elements (B * H * queries * L): 64 MB of fp32 scores.
DEFAULT_SCORE_BUDGET = 16 * 1024 * 1024
#: Rows the MLP handles at a time (its [rows, 4096] activation stays at 16 MB in fp32).
MLP_ROW_CHUNK = 1024


def text_rotary_tables(
    length: int, head_dim: int, base: float, device: torch.device | str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [length, head_dim] fp32 for split-halves (NeoX) rotary: each table is the
    32 angle columns twice, ``[c0 .. c31, c0 .. c31]``. Same expressions as flash-attn's
    ``RotaryEmbedding`` (fp32 positions, ``1 / base ** (arange(0, d, 2) / d)``)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32,
                                            device=device) / head_dim))
    positions = torch.arange(length, dtype=torch.float32, device=device)
    angles = torch.outer(positions, inv_freq)
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x * cos + rotate_half(x) * sin with rotate_half (a, b) -> (-b, a) on the two halves."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-second, first], dim=-1) * sin


class RotarySelfAttention(nn.Module):
    """Fused QKV ("(three h d)" rows), rotary on q and k, softmax(q k^T / sqrt(d)) v."""

    def __init__(self, cfg: XLMRobertaConfig) -> None:
        super().__init__()
        self.num_heads, self.head_dim = cfg.num_attention_heads, cfg.head_dim
        self.Wqkv = Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.out_proj = Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(
        self,
        x: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor],
        key_mask: torch.Tensor | None,
        budget: int,
        lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``key_mask``: [B, 1, 1, L] True = keep, or ``None`` without padding; ``lengths``:
        the real tokens per text when the padding is all at the end (the kernel's form)."""
        B, L, _ = x.shape
        qkv = self.Wqkv(x).view(B, L, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, L, D]
        cos, sin = rotary
        fast = (short_attention.attention(  # our kernel on CPU, rotary applied inside
            q, k, v, lengths=lengths, rotary=short_attention.Rotary(cos, sin, 0, False))
            if key_mask is None or lengths is not None else None)
        if fast is not None:
            return self.out_proj(fast.transpose(1, 2).reshape(B, L, -1))
        q = _rotate(q.float(), cos, sin).to(v.dtype)
        k = _rotate(k.float(), cos, sin).to(v.dtype)
        chunk = max(1, min(L, budget // max(1, B * self.num_heads * L)))
        if chunk >= L:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        else:
            out = torch.empty_like(q)
            for start in range(0, L, chunk):
                out[:, :, start:start + chunk] = F.scaled_dot_product_attention(
                    q[:, :, start:start + chunk], k, v, attn_mask=key_mask)
        return self.out_proj(out.transpose(1, 2).reshape(B, L, -1))


class Mlp(nn.Module):
    """fc2(GELU_erf(fc1(x))), ``MLP_ROW_CHUNK`` rows at a time (rows are independent)."""

    def __init__(self, cfg: XLMRobertaConfig) -> None:
        super().__init__()
        self.fc1 = Linear(cfg.hidden_size, cfg.intermediate_size)
        self.fc2 = Linear(cfg.intermediate_size, cfg.hidden_size)

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        if flat.shape[0] <= MLP_ROW_CHUNK:
            return self._rows(x)
        out = flat.new_empty(flat.shape[0], self.fc2.out_features)
        for start in range(0, flat.shape[0], MLP_ROW_CHUNK):
            out[start:start + MLP_ROW_CHUNK] = self._rows(flat[start:start + MLP_ROW_CHUNK])
        return out.view(*x.shape[:-1], -1)


class Block(nn.Module):
    """Post-LN: x = norm1(x + attn(x)); x = norm2(x + mlp(x))."""

    def __init__(self, cfg: XLMRobertaConfig) -> None:
        super().__init__()
        self.mixer = RotarySelfAttention(cfg)
        self.norm1 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.mlp = Mlp(cfg)
        self.norm2 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor],
                key_mask: torch.Tensor | None, budget: int,
                lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm1(x + self.mixer(x, rotary, key_mask, budget, lengths))
        return self.norm2(x + self.mlp(x))


class Encoder(nn.Module):
    def __init__(self, cfg: XLMRobertaConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_hidden_layers))


class XLMRobertaModel(nn.Module):
    """Token ids -> contextual token states [B, L, hidden]."""

    def __init__(self, cfg: XLMRobertaConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embeddings = Embeddings(cfg)
        self.emb_ln = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.encoder = Encoder(cfg)
        #: Element budget of one attention block; tests lower it to exercise chunking.
        self.score_budget = DEFAULT_SCORE_BUDGET

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.emb_ln(self.embeddings(input_ids))
        keep = attention_mask.bool()
        # Padded keys get exp(-inf) = 0 weight (the official -10000 gives exp(-1e4) = 0 in
        # fp32 too); without padding no mask, so SDPA may take its fused kernel.
        key_mask = None if bool(keep.all()) else keep[:, None, None, :]
        tracing = torch.jit.is_tracing() or torch.compiler.is_compiling()
        lengths = (None if key_mask is None or keep.device.type != "cpu" or tracing
                   else short_attention.right_padded_lengths(~keep))
        rotary = text_rotary_tables(input_ids.shape[1], self.config.head_dim,
                                    self.config.rotary_emb_base, device=input_ids.device)
        # Over 2,048 tokens, one layer's packed copies at a time (and none kept from before):
        # an 8k text of v2's fp32 tower peaked ~1.2 GB higher with every layer's copies.
        layer_scope = layer_packing(self, input_ids.numel())
        for layer in self.encoder.layers:
            with layer_scope():
                x = layer(x, rotary, key_mask, self.score_budget, lengths)
        return x


class Transformer(nn.Module):
    """Holds ``roberta`` so that parameter names match ``text_model.transformer.roberta.*``."""

    def __init__(self, cfg: XLMRobertaConfig) -> None:
        super().__init__()
        self.roberta = XLMRobertaModel(cfg)


class XLMRobertaTextModel(nn.Module):
    """XLM-RoBERTa + mean pooling over every unpadded token (``<s>`` and ``</s>`` included)."""

    def __init__(self, cfg: XLMRobertaConfig) -> None:
        super().__init__()
        self.transformer = Transformer(cfg)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return mean_pool(self.transformer.roberta(input_ids, attention_mask), attention_mask)
