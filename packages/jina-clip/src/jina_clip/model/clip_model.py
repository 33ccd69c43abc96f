"""JinaCLIPModel: the two towers of jina-clip-v1 and strict loading from the official files."""

from __future__ import annotations

import math
import pathlib

import torch
from torch import nn

from ..errors import ModelLoadError
from .config import JinaCLIPConfig
from .loading import check_state_dict, load_safetensors
from .rope import VisionRotaryEmbedding
from .text_tower import TextModel
from .vision_tower import EVAVisionTransformer

__all__ = ["JinaCLIPModel"]


class JinaCLIPModel(nn.Module):
    """Text tower (JinaBERT v2) and vision tower (EVA02) mapping into one space.

    Outputs are *not* normalized; ``logit_scale`` (the CLIP temperature) is kept because it
    is in the checkpoint.
    """

    def __init__(self, config: JinaCLIPConfig) -> None:
        super().__init__()
        self.config = config
        self.text_model = TextModel(config.text)
        self.vision_model = EVAVisionTransformer(config.vision)
        self.logit_scale = nn.Parameter(torch.tensor(config.logit_scale_init_value))

    @property
    def text_dim(self) -> int:
        return self.config.text.hidden_size

    @property
    def image_dim(self) -> int:
        return self.config.vision.width

    @property
    def image_size(self) -> int:
        return self.config.vision.image_size

    def encode_text(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """[B, L] ids (pad id 0) + [B, L] mask (1 = real token) -> [B, D] mean-pooled, NOT
        normalized. The official code derives the mask from ``input_ids != 0``; callers pass
        exactly that."""
        if input_ids.shape != attention_mask.shape or input_ids.ndim != 2:
            raise ValueError(
                f"input_ids {tuple(input_ids.shape)} and attention_mask "
                f"{tuple(attention_mask.shape)} must both be [B, L]"
            )
        return self.text_model(input_ids, attention_mask)

    def encode_image(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """[B, 3, S, S] normalized pixels -> [B, D] CLS output, NOT normalized."""
        dtype = self.vision_model.patch_embed.proj.weight.dtype
        return self.vision_model(pixel_values.to(dtype))

    def reset_buffers(self, device: torch.device | str) -> None:
        """Recompute the non-persistent buffers (RoPE tables) on ``device``."""
        for module in self.modules():
            if isinstance(module, VisionRotaryEmbedding):
                module.reset_buffers(device)

    @classmethod
    def from_pretrained(
        cls,
        directory: pathlib.Path,
        *,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> JinaCLIPModel:
        """Build from ``config.json`` on the meta device (no random init of the weights), load
        ``model.safetensors`` strictly (:class:`CheckpointMismatchError` lists every missing,
        unexpected or mis-shaped key), then cast, move and switch to eval mode."""
        directory = pathlib.Path(directory)
        config = JinaCLIPConfig.from_file(directory / "config.json")
        weights = directory / "model.safetensors"
        if not weights.is_file():
            raise ModelLoadError(
                f"{weights} not found (only safetensors weights are loaded, never pickles)")
        device = torch.device(device)
        with torch.device("meta"):
            model = cls(config)
        state = load_safetensors(weights, device="cpu" if device.type == "meta" else device)
        check_state_dict(model, state, source=str(weights))
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        model.load_state_dict(state, strict=True, assign=True)
        model.reset_buffers(device)
        model.to(device=device, dtype=dtype)
        leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
        if leftover and device.type != "meta":
            raise ModelLoadError(f"tensors left uninitialized after loading: {leftover[:5]}")
        model.requires_grad_(False)
        if device.type != "meta" and not math.isfinite(float(model.logit_scale)):
            raise ModelLoadError(f"{weights}: logit_scale is not finite")
        return model.eval()
