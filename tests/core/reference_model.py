"""A deliberately naive jina-clip-v1, written straight from the math, for parity tests.

It shares no code with ``jina_clip.model``: it reads config.json and model.safetensors itself,
uses einsum attention with the full ``[H, L, L]`` ALiBi bias the official torch path keeps per
layer (plus -10000 on padded keys, as the official code adds), and applies RoPE with an
explicit pairwise loop-free rotation. Slow and memory-hungry on purpose; fp32 only.
"""

from __future__ import annotations

import json
import math
import pathlib

import torch
from safetensors.torch import load_file

__all__ = ["NaiveJinaCLIP"]


def _layer_norm(x: torch.Tensor, sd: dict[str, torch.Tensor], prefix: str, eps: float):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * sd[f"{prefix}.weight"] + sd[f"{prefix}.bias"]


def _linear(x: torch.Tensor, sd: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    out = x @ sd[f"{prefix}.weight"].T
    bias = sd.get(f"{prefix}.bias")
    return out if bias is None else out + bias


def _fairseq_slopes(n: int) -> list[float]:
    def pow2(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        return [start * start**i for i in range(n)]

    if math.log2(n).is_integer():
        return pow2(n)
    c = 2 ** math.floor(math.log2(n))
    return pow2(c) + _fairseq_slopes(2 * c)[0::2][: n - c]


class NaiveJinaCLIP:
    def __init__(self, directory: pathlib.Path) -> None:
        cfg = json.loads((directory / "config.json").read_text())
        kw = cfg["text_config"].get("hf_model_config_kwargs", {})
        self.text_heads = kw.get("num_attention_heads", 12)
        self.text_inter = kw.get("intermediate_size", 3072)
        v = cfg["vision_config"]
        self.v_head_dim = v["head_width"]
        self.v_heads = v["width"] // v["head_width"]
        self.patch = v["patch_size"]
        self.grid = v["image_size"] // v["patch_size"]
        self.pt = v["pt_hw_seq_len"]
        self.intp = v["intp_freq"]
        weights = load_file(str(directory / "model.safetensors"))
        self.sd = {k: t.double() for k, t in weights.items()}  # float64: a trustworthy oracle
        self.text_layers = len({k.split(".")[4] for k in self.sd if ".encoder.layers." in k})
        self.v_layers = len({k.split(".")[2] for k in self.sd if ".blocks." in k})

    # --- text ---------------------------------------------------------------------------------

    def text(self, input_ids: torch.Tensor) -> torch.Tensor:
        """[B, L] ids, pad = 0 (mask derived from ids like the official code) -> [B, C]."""
        sd, H = self.sd, self.text_heads
        p = "text_model.transformer"
        B, L = input_ids.shape
        keep = input_ids != 0
        x = sd[f"{p}.embeddings.word_embeddings.weight"][input_ids]
        x = x + sd[f"{p}.embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, sd, f"{p}.emb_ln", 1e-12)
        C = x.shape[-1]
        D = C // H
        slopes = torch.tensor(_fairseq_slopes(H), dtype=torch.float64)
        pos = torch.arange(L)
        alibi = -slopes[:, None, None] * (pos[None, :] - pos[:, None]).abs()  # [H, L, L]
        pad = torch.where(keep, 0.0, -10000.0).double()[:, None, None, :]  # [B, 1, 1, L]
        for i in range(self.text_layers):
            lp = f"{p}.encoder.layers.{i}"
            qkv = _linear(x, sd, f"{lp}.mixer.Wqkv")  # [B, L, 3C]
            q, k, v = (qkv[..., j * C:(j + 1) * C].reshape(B, L, H, D) for j in range(3))
            scores = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(D) + alibi + pad
            attn = scores.softmax(-1)
            ctx = torch.einsum("bhts,bshd->bthd", attn, v).reshape(B, L, C)
            x = _layer_norm(x + _linear(ctx, sd, f"{lp}.mixer.out_proj"), sd, f"{lp}.norm1", 1e-12)
            y = x @ sd[f"{lp}.mlp.gated_layers.weight"].T
            gated, plain = y[..., : self.text_inter], y[..., self.text_inter:]
            gelu = 0.5 * gated * (1 + torch.erf(gated / math.sqrt(2)))
            h = _linear(gelu * plain, sd, f"{lp}.mlp.wo")
            x = _layer_norm(x + h, sd, f"{lp}.norm2", 1e-12)
        w = keep.double()[..., None]
        return ((x * w).sum(1) / w.sum(1)).float()

    # --- vision -------------------------------------------------------------------------------

    def _rope(self) -> tuple[torch.Tensor, torch.Tensor]:
        half = self.v_head_dim // 2
        n = self.grid if self.intp else self.pt
        inv = 1.0 / (10000 ** (torch.arange(0, half, 2).double() / half))
        t = torch.arange(n).double() / n * self.pt
        f = torch.einsum("i,j->ij", t, inv)
        f = torch.stack([f, f], dim=-1).reshape(n, half)  # f0 f0 f1 f1 ...
        table = torch.zeros(n, n, 2 * half, dtype=torch.float64)
        for r in range(n):
            for c in range(n):
                table[r, c, :half] = f[r]
                table[r, c, half:] = f[c]
        table = table.reshape(n * n, 2 * half)
        return table.cos(), table.sin()

    @staticmethod
    def _rot(x: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        out[..., 0::2] = -x[..., 1::2]
        out[..., 1::2] = x[..., 0::2]
        return out

    def image(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] -> [B, C] CLS after the final norm."""
        sd, H, D = self.sd, self.v_heads, self.v_head_dim
        p = "vision_model"
        pixels = pixels.double()
        B = pixels.shape[0]
        P, G = self.patch, self.grid
        # patchify by hand: [B, 3, G, P, G, P] -> [B, G*G, 3*P*P]
        patches = pixels.reshape(B, 3, G, P, G, P).permute(0, 2, 4, 1, 3, 5).reshape(B, G * G, -1)
        w = sd[f"{p}.patch_embed.proj.weight"].flatten(1)  # [C, 3*P*P]
        x = patches @ w.T + sd[f"{p}.patch_embed.proj.bias"]
        x = torch.cat([sd[f"{p}.cls_token"].expand(B, -1, -1), x], 1) + sd[f"{p}.pos_embed"]
        N, C = x.shape[1], x.shape[2]
        cos, sin = self._rope()
        for i in range(self.v_layers):
            bp = f"{p}.blocks.{i}"
            h = _layer_norm(x, sd, f"{bp}.norm1", 1e-6)
            q = h @ sd[f"{bp}.attn.q_proj.weight"].T + sd[f"{bp}.attn.q_bias"]
            k = h @ sd[f"{bp}.attn.k_proj.weight"].T
            v = h @ sd[f"{bp}.attn.v_proj.weight"].T + sd[f"{bp}.attn.v_bias"]
            q, k, v = (t.reshape(B, N, H, D).permute(0, 2, 1, 3) for t in (q, k, v))
            q = torch.cat([q[:, :, :1], q[:, :, 1:] * cos + self._rot(q[:, :, 1:]) * sin], 2)
            k = torch.cat([k[:, :, :1], k[:, :, 1:] * cos + self._rot(k[:, :, 1:]) * sin], 2)
            attn = (torch.einsum("bhnd,bhmd->bhnm", q, k) / math.sqrt(D)).softmax(-1)
            ctx = torch.einsum("bhnm,bhmd->bhnd", attn, v).permute(0, 2, 1, 3).reshape(B, N, C)
            ctx = _layer_norm(ctx, sd, f"{bp}.attn.inner_attn_ln", 1e-6)
            x = x + _linear(ctx, sd, f"{bp}.attn.proj")
            h = _layer_norm(x, sd, f"{bp}.norm2", 1e-6)
            a, b = _linear(h, sd, f"{bp}.mlp.w1"), _linear(h, sd, f"{bp}.mlp.w2")
            h = _layer_norm(a * torch.sigmoid(a) * b, sd, f"{bp}.mlp.ffn_ln", 1e-6)
            x = x + _linear(h, sd, f"{bp}.mlp.w3")
        return _layer_norm(x, sd, f"{p}.norm", 1e-6)[:, 0].float()
