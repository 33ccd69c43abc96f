"""A deliberately naive jina-clip-v2 in float64, written from the math in
shared/reference/jina-clip-v2.md, for parity tests. It shares no code with ``jina_clip.model``.

It reads config.json and model.safetensors itself, applies the LoRA adapter the way the
official code does on every forward (``W + B·A·alpha/rank``), computes full einsum attention
with -10000 on padded keys, and builds both RoPE tables by hand.

Every knob of :class:`Mistakes` reproduces one entry of the reference's sensitivity table, so
tests can show that each mistake moves the output far beyond the parity tolerance.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib

import torch
from safetensors.torch import load_file

__all__ = ["Mistakes", "NaiveJinaCLIPV2"]

_V3_DEFAULTS = {"num_attention_heads": 16, "layer_norm_eps": 1e-5, "rotary_emb_base": 20000.0,
                "pad_token_id": 1, "lora_alpha": 1, "lora_rank": 4}


@dataclasses.dataclass(frozen=True)
class Mistakes:
    """The official math with one thing done wrong (all off = correct)."""

    rotary_base: float | None = None  # e.g. 10000 (the config class default)
    text_eps: float | None = None  # e.g. 1e-6 or 1e-12
    vision_eps: float | None = None  # e.g. 1e-5
    lora_scale: float | None = None  # e.g. 0.25 (alpha 1 / rank 4)
    no_lora: bool = False
    vision_rope_plain_positions: bool = False  # positions 0..G-1 instead of interpolated
    pad_id: int | None = None  # e.g. 0 (v1's)
    pool_without_specials: bool = False  # <s> and </s> left out of the mean
    tanh_gelu: bool = False
    text_rotary_interleaved: bool = False  # adjacent pairs instead of split halves
    vision_rope_split_halves: bool = False  # split halves instead of adjacent pairs


def _ln(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def _halves(x: torch.Tensor) -> torch.Tensor:
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


def _pairs(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    out[..., 0::2] = -x[..., 1::2]
    out[..., 1::2] = x[..., 0::2]
    return out


class NaiveJinaCLIPV2:
    def __init__(self, directory: pathlib.Path, mistakes: Mistakes = Mistakes()) -> None:
        self.m = mistakes
        cfg = json.loads((directory / "config.json").read_text())
        kw = {**_V3_DEFAULTS, **cfg["text_config"]["hf_model_config_kwargs"]}
        self.heads = kw["num_attention_heads"]
        self.eps = kw["layer_norm_eps"]
        self.base = float(kw["rotary_emb_base"])
        self.pad = kw["pad_token_id"]
        self.scale = kw["lora_alpha"] / kw["lora_rank"]
        v = cfg["vision_config"]
        self.v_head = v["head_width"]
        self.v_heads = v["width"] // v["head_width"]
        self.patch = v["patch_size"]
        self.grid = v["image_size"] // v["patch_size"]
        self.pt = v["pt_hw_seq_len"]
        raw = load_file(str(directory / "model.safetensors"))
        self.sd = {k: t.double() for k, t in raw.items()}
        self.text_layers = len({k.split(".")[5] for k in self.sd if ".encoder.layers." in k})
        self.v_layers = len({k.split(".")[2] for k in self.sd if ".blocks." in k})

    # --- text ---------------------------------------------------------------------------------

    def _w(self, prefix: str, embedding: bool = False) -> torch.Tensor:
        """The parametrized weight as the official forward rebuilds it (adapter 0)."""
        p = f"{prefix}.parametrizations.weight"
        w = self.sd[f"{p}.original"]
        if self.m.no_lora:
            return w
        a, b = self.sd[f"{p}.0.lora_A"][0], self.sd[f"{p}.0.lora_B"][0]
        scale = self.scale if self.m.lora_scale is None else self.m.lora_scale
        return w + (a @ b if embedding else b @ a) * scale

    def text(self, input_ids: torch.Tensor) -> torch.Tensor:
        """[B, L] ids right-padded with the pad id -> [B, C] mean-pooled, unnormalized."""
        sd, m, H = self.sd, self.m, self.heads
        p = "text_model.transformer.roberta"
        eps = self.eps if m.text_eps is None else m.text_eps
        pad = self.pad if m.pad_id is None else m.pad_id
        keep = input_ids != pad
        B, L = input_ids.shape
        x = self._w(f"{p}.embeddings.word_embeddings", True)[input_ids]
        x = x + self._w(f"{p}.embeddings.token_type_embeddings", True)[0]
        x = _ln(x, sd[f"{p}.emb_ln.weight"], sd[f"{p}.emb_ln.bias"], eps)
        C = x.shape[-1]
        D = C // H
        base = self.base if m.rotary_base is None else m.rotary_base
        inv = base ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
        theta = torch.arange(L, dtype=torch.float64)[:, None] * inv[None, :]  # [L, D/2]
        if m.text_rotary_interleaved:
            theta, rot = theta.repeat_interleave(2, -1), _pairs
        else:
            theta, rot = torch.cat([theta, theta], -1), _halves
        cos, sin = theta.cos()[:, None, :], theta.sin()[:, None, :]  # [L, 1, D]
        bias = torch.where(keep, 0.0, -10000.0).double()[:, None, None, :]
        for i in range(self.text_layers):
            lp = f"{p}.encoder.layers.{i}"
            qkv = x @ self._w(f"{lp}.mixer.Wqkv").T + sd[f"{lp}.mixer.Wqkv.bias"]
            q, k, v = qkv.reshape(B, L, 3, H, D).unbind(2)
            q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
            scores = torch.einsum("bthd,bshd->bhts", q, k * D**-0.5) + bias
            ctx = torch.einsum("bhts,bshd->bthd", scores.softmax(-1), v).reshape(B, L, C)
            att = ctx @ self._w(f"{lp}.mixer.out_proj").T + sd[f"{lp}.mixer.out_proj.bias"]
            x = _ln(x + att, sd[f"{lp}.norm1.weight"], sd[f"{lp}.norm1.bias"], eps)
            h = x @ self._w(f"{lp}.mlp.fc1").T + sd[f"{lp}.mlp.fc1.bias"]
            if m.tanh_gelu:
                h = 0.5 * h * (1 + torch.tanh(math.sqrt(2 / math.pi) * (h + 0.044715 * h**3)))
            else:
                h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))
            h = h @ self._w(f"{lp}.mlp.fc2").T + sd[f"{lp}.mlp.fc2.bias"]
            x = _ln(x + h, sd[f"{lp}.norm2.weight"], sd[f"{lp}.norm2.bias"], eps)
        w = keep.double()
        if m.pool_without_specials:
            w = w * (input_ids != 0) * (input_ids != 2)
        w = w[..., None]
        return ((x * w).sum(1) / w.sum(1)).float()

    # --- vision -------------------------------------------------------------------------------

    def _rope(self) -> tuple[torch.Tensor, torch.Tensor]:
        half = self.v_head // 2
        G = self.grid
        inv = 10000.0 ** (-torch.arange(0, half, 2, dtype=torch.float64) / half)
        if self.m.vision_rope_plain_positions:
            t = torch.arange(G, dtype=torch.float64)
        else:
            t = torch.arange(G, dtype=torch.float64) / G * self.pt
        f = t[:, None] * inv[None, :]  # [G, half/2]
        f = f.repeat_interleave(2, -1) if not self.m.vision_rope_split_halves else torch.cat(
            [f, f], -1)
        table = torch.zeros(G, G, 2 * half, dtype=torch.float64)
        for r in range(G):
            for c in range(G):
                table[r, c, :half], table[r, c, half:] = f[r], f[c]
        table = table.reshape(G * G, 2 * half)
        return table.cos(), table.sin()

    def image(self, pixels: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] normalized pixels -> [B, C] final-normed CLS, unnormalized."""
        sd, H, D, P, G = self.sd, self.v_heads, self.v_head, self.patch, self.grid
        eps = 1e-6 if self.m.vision_eps is None else self.m.vision_eps
        rot = _halves if self.m.vision_rope_split_halves else _pairs
        p = "vision_model"
        B = pixels.shape[0]
        used = pixels.double()[:, :, : G * P, : G * P]  # the conv never sees the remainder
        patches = used.reshape(B, 3, G, P, G, P).permute(0, 2, 4, 1, 3, 5).reshape(B, G * G, -1)
        x = patches @ sd[f"{p}.patch_embed.proj.weight"].flatten(1).T
        x = x + sd[f"{p}.patch_embed.proj.bias"]
        x = torch.cat([sd[f"{p}.cls_token"].expand(B, -1, -1), x], 1) + sd[f"{p}.pos_embed"]
        N, C = x.shape[1:]
        cos, sin = self._rope()

        def ln(t: torch.Tensor, name: str) -> torch.Tensor:
            return _ln(t, sd[f"{name}.weight"], sd[f"{name}.bias"], eps)

        for i in range(self.v_layers):
            bp = f"{p}.blocks.{i}"
            h = ln(x, f"{bp}.norm1")
            q = h @ sd[f"{bp}.attn.q_proj.weight"].T + sd[f"{bp}.attn.q_bias"]
            k = h @ sd[f"{bp}.attn.k_proj.weight"].T
            v = h @ sd[f"{bp}.attn.v_proj.weight"].T + sd[f"{bp}.attn.v_bias"]
            q, k, v = (t.reshape(B, N, H, D).permute(0, 2, 1, 3) for t in (q, k, v))
            q = torch.cat([q[:, :, :1], q[:, :, 1:] * cos + rot(q[:, :, 1:]) * sin], 2)
            k = torch.cat([k[:, :, :1], k[:, :, 1:] * cos + rot(k[:, :, 1:]) * sin], 2)
            att = (torch.einsum("bhnd,bhmd->bhnm", q, k) / math.sqrt(D)).softmax(-1)
            ctx = torch.einsum("bhnm,bhmd->bhnd", att, v).permute(0, 2, 1, 3).reshape(B, N, C)
            x = x + ln(ctx, f"{bp}.attn.inner_attn_ln") @ sd[f"{bp}.attn.proj.weight"].T
            x = x + sd[f"{bp}.attn.proj.bias"]
            h = ln(x, f"{bp}.norm2")
            a = h @ sd[f"{bp}.mlp.w1.weight"].T + sd[f"{bp}.mlp.w1.bias"]
            b = h @ sd[f"{bp}.mlp.w2.weight"].T + sd[f"{bp}.mlp.w2.bias"]
            h = ln(a * torch.sigmoid(a) * b, f"{bp}.mlp.ffn_ln")
            x = x + h @ sd[f"{bp}.mlp.w3.weight"].T + sd[f"{bp}.mlp.w3.bias"]
        return ln(x, f"{p}.norm")[:, 0].float()
