"""JinaBERT v2 text tower: ALiBi attention, post-LayerNorm blocks, GEGLU MLP, mean pooling.

Module and parameter names follow the official checkpoint
(``text_model.transformer.encoder.layers.{i}.mixer.Wqkv`` ...), so the state dict loads as is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import gated
from .alibi import DEFAULT_MASK_BUDGET, AlibiMask, alibi_slopes
from .config import TextConfig
from .linear import Linear, layer_packing

__all__ = ["MLP_ROW_CHUNK", "JinaBertModel", "TextModel", "mean_pool"]

#: Rows (tokens) the GEGLU MLP processes at a time. Its [rows, 2 * intermediate] activation
#: is 24 KB per row in fp32: 1,024 rows keep it at 24 MB, under glibc's 32 MB mmap threshold,
#: so the buffer is recycled from the heap instead of being page-faulted in afresh for every
#: layer (much slower GEMMs; measured in docs/performance.md, "Row-chunked, in-place GEGLU"),
#: and an 8,192-token text never holds the 200 MB full-length activation.
MLP_ROW_CHUNK = 1024


def _gelu(name: str):  # type: ignore[no-untyped-def]
    if name == "gelu":
        return F.gelu  # exact (erf)
    return lambda x: F.gelu(x, approximate="tanh")


class Embeddings(nn.Module):
    """Word + token-type embeddings; no position embeddings (ALiBi replaces them)."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size,
                                            padding_idx=cfg.pad_token_id)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        # token type is always 0 for single texts
        return self.word_embeddings(input_ids) + self.token_type_embeddings.weight[0]


class AlibiSelfAttention(nn.Module):
    """Fused QKV projection, layout "(three h d)": rows [Q | K | V], heads contiguous."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.num_heads, self.head_dim = cfg.num_attention_heads, cfg.head_dim
        self.Wqkv = Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.out_proj = Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, x: torch.Tensor, mask: AlibiMask) -> torch.Tensor:
        B, L, _ = x.shape
        qkv = self.Wqkv(x).view(B, L, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, L, D]
        out = mask.attend(q, k, v)  # [B, H, L, D]
        return self.out_proj(out.transpose(1, 2).reshape(B, L, -1))


class GEGLU(nn.Module):
    """gated_layers -> [a | b]; wo(GELU(a) * b). GELU is on the first half.

    Rows are processed ``row_chunk`` at a time (see :data:`MLP_ROW_CHUNK`); every row's
    result is independent of the others, so chunking changes nothing but memory traffic.
    """

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.intermediate_size = cfg.intermediate_size
        self.gated_layers = Linear(cfg.hidden_size, 2 * cfg.intermediate_size, bias=False)
        self.wo = Linear(cfg.intermediate_size, cfg.hidden_size)
        self.act = _gelu(cfg.hidden_act)
        self.row_chunk = MLP_ROW_CHUNK

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        gate, plain = self.gated_layers(x).split(self.intermediate_size, dim=-1)
        if self.act is F.gelu:  # one pass on CPU where the kernel runs
            fused = gated.gelu_mul(gate, plain)
            if fused is not None:
                return self.wo(fused)
        hidden = self.act(gate)
        # in place: one [rows, intermediate] buffer less (GELU's backward needs its input,
        # not its output, so this is autograd-safe too)
        return self.wo(hidden.mul_(plain))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        rows = flat.shape[0]
        if rows <= self.row_chunk:
            return self._rows(flat).view(*x.shape[:-1], self.wo.out_features)
        out = flat.new_empty(rows, self.wo.out_features)
        for start in range(0, rows, self.row_chunk):
            out[start : start + self.row_chunk] = self._rows(flat[start : start + self.row_chunk])
        return out.view(*x.shape[:-1], self.wo.out_features)


class Block(nn.Module):
    """Post-LN: x = norm1(x + attn(x)); x = norm2(x + mlp(x))."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.mixer = AlibiSelfAttention(cfg)
        self.norm1 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.mlp = GEGLU(cfg)
        self.norm2 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor, mask: AlibiMask) -> torch.Tensor:
        x = self.norm1(x + self.mixer(x, mask))
        return self.norm2(x + self.mlp(x))


class Encoder(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.num_hidden_layers))


class JinaBertModel(nn.Module):
    """Token ids -> contextual token states [B, L, hidden]."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.config = cfg
        self.embeddings = Embeddings(cfg)
        self.emb_ln = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.encoder = Encoder(cfg)
        #: Element budget of one attention mask block (see :mod:`.alibi`); tests lower it.
        self.mask_budget = DEFAULT_MASK_BUDGET
        self._slopes = tuple(alibi_slopes(cfg.num_attention_heads))

    def build_mask(self, attention_mask: torch.Tensor, dtype: torch.dtype) -> AlibiMask:
        slopes = torch.tensor(self._slopes, dtype=torch.float32, device=attention_mask.device)
        return AlibiMask(slopes, ~attention_mask.bool(), dtype, budget=self.mask_budget)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.emb_ln(self.embeddings(input_ids))  # [B, L, C]
        mask = self.build_mask(attention_mask, x.dtype)
        layer_scope = layer_packing(self, input_ids.numel())  # long: one layer's packed copies
        for layer in self.encoder.layers:
            with layer_scope():
                x = layer(x, mask)
        return x


class TextModel(nn.Module):
    """JinaBERT + mean pooling over real tokens ([CLS] and [SEP] included)."""

    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.transformer = JinaBertModel(cfg)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return mean_pool(self.transformer(input_ids, attention_mask), attention_mask)


def mean_pool(states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """[B, L, C] token states -> [B, C], the mean over the tokens ``attention_mask`` keeps
    (both text towers).

    Sum and divide in fp32, then cast back: in fp16 a sum over thousands of tokens overflows
    to inf, and fp16/bf16 cannot hold every token count exactly. (In fp32 this is the same
    computation as before.)"""
    weights = attention_mask.to(states.dtype).unsqueeze(-1)  # [B, L, 1]
    summed = (states * weights).sum(dim=1, dtype=torch.float32)  # [B, C]
    counts = attention_mask.sum(dim=1, keepdim=True, dtype=torch.float32)  # [B, 1]
    return (summed / counts.clamp(min=1e-9)).to(states.dtype)
