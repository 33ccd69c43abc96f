"""EVA02 vision tower: patch embedding, pre-LN blocks with 2-D RoPE, sub-LN, SwiGLU, CLS output.

Names follow the official checkpoint (``vision_model.blocks.{i}.attn.q_proj`` ...).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import gated, short_attention
from .config import VisionConfig
from .linear import Linear, linear
from .rope import VisionRotaryEmbedding, apply_rope

__all__ = ["EVAVisionTransformer"]


class PatchEmbed(nn.Module):
    """Stride-``patch_size`` conv; pixels beyond the last whole patch are never seen (8 px
    per axis at 512 px with 14-px patches, as in the official PatchEmbed)."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch_size, stride=cfg.patch_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.proj(pixels).flatten(2).transpose(1, 2)  # [B, N, C], row-major patches


class Attention(nn.Module):
    """q/v biases (no k bias), RoPE on patch tokens only, sub-LN before the output projection."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.num_heads, self.head_dim = cfg.num_heads, cfg.head_width
        inner = cfg.num_heads * cfg.head_width
        self.q_proj = Linear(cfg.width, inner, bias=False)
        self.k_proj = Linear(cfg.width, inner, bias=False)
        self.v_proj = Linear(cfg.width, inner, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(inner))
        self.v_bias = nn.Parameter(torch.zeros(inner))
        self.inner_attn_ln = nn.LayerNorm(inner, eps=cfg.layer_norm_eps)
        self.proj = Linear(inner, cfg.width)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        return x.view(B, N, self.num_heads, self.head_dim).transpose(1, 2)  # [B, H, N, D]

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """``rope``: the tower's (cos, sin) tables for the patch tokens."""
        cos, sin = rope
        q = self._heads(linear(x, self.q_proj.weight, self.q_bias, self.q_proj))
        k = self._heads(self.k_proj(x))
        v = self._heads(linear(x, self.v_proj.weight, self.v_bias, self.v_proj))
        # our kernel on CPU, RoPE applied inside (patch tokens only: from token 1)
        out = short_attention.attention(
            q, k, v, rotary=short_attention.Rotary(cos, sin, 1, True))  # [B, H, N, D]
        if out is None:
            q = torch.cat([q[:, :, :1], apply_rope(q[:, :, 1:], cos, sin)], dim=2)  # CLS as is
            k = torch.cat([k[:, :, :1], apply_rope(k[:, :, 1:], cos, sin)], dim=2)
            out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).flatten(2)  # [B, N, H*D]
        return self.proj(self.inner_attn_ln(out))


class SwiGLU(nn.Module):
    """w3(ffn_ln(SiLU(w1 x) * w2 x))."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        hidden = cfg.mlp_hidden
        self.w1 = Linear(cfg.width, hidden)
        self.w2 = Linear(cfg.width, hidden)
        self.ffn_ln = nn.LayerNorm(hidden, eps=cfg.layer_norm_eps)
        self.w3 = Linear(hidden, cfg.width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.w1(x), self.w2(x)
        hidden = gated.silu_mul(gate.flatten(0, -2), up.flatten(0, -2))  # one pass on CPU
        hidden = F.silu(gate) * up if hidden is None else hidden.view_as(gate)
        return self.w3(self.ffn_ln(hidden))


class Block(nn.Module):
    """Pre-LN: x = x + attn(norm1(x)); x = x + mlp(norm2(x))."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.attn = Attention(cfg)
        self.norm2 = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        self.mlp = SwiGLU(cfg)

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), rope)
        return x + self.mlp(self.norm2(x))


class EVAVisionTransformer(nn.Module):
    """[B, 3, S, S] normalized pixels -> [B, width] final-normed CLS token."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.config = cfg
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.num_patches + 1, cfg.width))
        self.rope = VisionRotaryEmbedding(
            cfg.head_width, cfg.rope_seq_len, cfg.pt_hw_seq_len, cfg.rope_theta)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.width, eps=cfg.layer_norm_eps)
        for module in self.blocks.modules():  # batch x tokens: few row counts, run as they are
            if isinstance(module, Linear):
                module.exact_rows = True

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        size = self.config.image_size
        if pixel_values.ndim != 4 or tuple(pixel_values.shape[1:]) != (3, size, size):
            raise ValueError(
                f"expected pixel_values of shape [B, 3, {size}, {size}], got "
                f"{tuple(pixel_values.shape)}; resize and crop images to {size}x{size} first"
            )
        x = self.patch_embed(pixel_values)  # [B, N, C]
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.pos_embed  # [B, 1 + N, C]
        rope = self.rope.tables(x.device)
        for block in self.blocks:
            x = block(x, rope)
        return self.norm(x)[:, 0]
