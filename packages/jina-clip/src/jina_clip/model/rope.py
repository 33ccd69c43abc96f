"""2-D rotary position embedding of EVA02 (``VisionRotaryEmbeddingFast``).

Each head dim is split in two halves: the first rotates with the patch's row, the second with
its column. Frequencies are repeated pairwise (f0 f0 f1 f1 ...) and rotation acts on adjacent
pairs (2m, 2m+1): the *interleaved* convention, not the split-halves one of LLaMA.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["VisionRotaryEmbedding", "apply_rope", "rope_tables", "rotate_half_interleaved"]


def rope_tables(
    head_dim: int,
    seq_len: int,
    pt_seq_len: int,
    theta: float = 10000.0,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables, each [seq_len**2, head_dim] fp32, patches in row-major order.

    Positions are ``arange(seq_len) / seq_len * pt_seq_len``: with ``intp_freq`` a grid that
    differs from the pre-training one is squeezed onto the pre-training positions (EVA).
    Computed on the CPU with the official expression order (``1 / theta**x``), then moved, so
    the tables are bit-identical to the official ones on every device.
    """
    axis_dim = head_dim // 2  # per spatial axis
    inv_freq = 1.0 / (theta ** (torch.arange(0, axis_dim, 2, device="cpu").float() / axis_dim))
    t = torch.arange(seq_len, device="cpu") / seq_len * pt_seq_len
    freqs = torch.outer(t, inv_freq).repeat_interleave(2, dim=-1)  # [S, axis_dim]
    rows = freqs[:, None, :].expand(seq_len, seq_len, axis_dim)
    cols = freqs[None, :, :].expand(seq_len, seq_len, axis_dim)
    angles = torch.cat([rows, cols], dim=-1).reshape(seq_len * seq_len, head_dim)
    return angles.cos().to(device), angles.sin().to(device)


def rotate_half_interleaved(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)."""
    x = x.unflatten(-1, (-1, 2))
    x1, x2 = x.unbind(-1)
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


class VisionRotaryEmbedding(nn.Module):
    """The tower's cos/sin tables, handed to every attention layer's forward (as timm's EVA
    does with ``rope.get_embed()``).

    The tables are not in the checkpoint and are no buffers: they are computed from the config
    in fp32 on first use on a device and cached per device, so a meta-device build, ``.to()``
    or a cast to bf16 never touches them (no lossy round trip, nothing left uninitialized).
    """

    def __init__(self, head_dim: int, seq_len: int, pt_seq_len: int, theta: float = 10000.0):
        super().__init__()
        self.head_dim, self.seq_len, self.pt_seq_len, self.theta = (
            head_dim, seq_len, pt_seq_len, theta)
        self._tables: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def tables(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin), each [seq_len**2, head_dim] fp32 on ``device``."""
        device = torch.device(device)
        if device not in self._tables:
            self._tables[device] = rope_tables(
                self.head_dim, self.seq_len, self.pt_seq_len, self.theta, device=device)
        return self._tables[device]

    @property
    def cos(self) -> torch.Tensor:
        return self.tables()[0]

    @property
    def sin(self) -> torch.Tensor:
        return self.tables()[1]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate [B, H, N, head_dim] patch-token queries or keys; fp32 math, same dtype out."""
    out = x.float() * cos + rotate_half_interleaved(x.float()) * sin
    return out.to(x.dtype)
