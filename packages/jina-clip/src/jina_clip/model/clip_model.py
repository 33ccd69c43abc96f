"""JinaCLIPModel: the two towers of jina-clip-v1 or -v2 and strict loading from the official
files (v2's LoRA adapters are merged into the text weights once, while loading)."""

from __future__ import annotations

import math
import pathlib

import torch
from torch import nn

from ..errors import ModelLoadError
from .config import JinaCLIPConfig, XLMRobertaConfig
from .loading import SafetensorsReader, check_shapes
from .lora import LORA_A, LORA_B, ORIGINAL, lora_layout, lora_targets, merge_lora
from .text_tower import TextModel
from .vision_tower import EVAVisionTransformer
from .xlmr_tower import XLMRobertaTextModel

#: Where v2's LoRA-parametrized text weights live in the checkpoint.
_V2_TEXT_PREFIX = "text_model.transformer.roberta."

__all__ = ["JinaCLIPModel"]


class JinaCLIPModel(nn.Module):
    """Text tower (JinaBERT v2 for jina-clip-v1, XLM-RoBERTa for v2) and vision tower (EVA02)
    mapping into one space.

    Outputs are *not* normalized; ``logit_scale`` (the CLIP temperature) is kept because it
    is in the checkpoint.
    """

    def __init__(self, config: JinaCLIPConfig) -> None:
        super().__init__()
        self.config = config
        self.text_model: TextModel | XLMRobertaTextModel = (
            XLMRobertaTextModel(config.text) if isinstance(config.text, XLMRobertaConfig)
            else TextModel(config.text))
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

    @property
    def pad_token_id(self) -> int:
        """The id the text tower treats as padding (0 for v1, 1 for v2)."""
        return self.config.text.pad_token_id

    def _lora_modules(self) -> dict[str, nn.Module]:
        """v2: the text modules whose weight the checkpoint stores LoRA-parametrized."""
        if not isinstance(self.config.text, XLMRobertaConfig):
            return {}
        assert isinstance(self.text_model, XLMRobertaTextModel)
        return lora_targets(self.text_model.transformer.roberta, _V2_TEXT_PREFIX)

    def checkpoint_layout(self) -> dict[str, tuple[int, ...]]:
        """Every tensor the official ``model.safetensors`` must hold, with its shape: our state
        dict, except that each LoRA'd v2 weight stands for its three parametrization tensors.
        Works on a meta-device model (999 keys, 865,278,477 values for jina-clip-v2)."""
        layout = {k: tuple(v.shape) for k, v in self.state_dict().items()}
        text = self.config.text
        if isinstance(text, XLMRobertaConfig):
            for name, module in self._lora_modules().items():
                del layout[f"{name}.weight"]
                layout.update(lora_layout(
                    name, module, len(text.lora_adaptations), text.lora_rank))
        return layout

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
        with SafetensorsReader(weights) as reader:
            check_shapes(model.checkpoint_layout(), reader.shapes, source=str(weights))
            state = model._read_state(reader, device=device, dtype=dtype)
        model.load_state_dict(state, strict=True, assign=True)
        del state
        if device.type == "meta":
            model.to(device)
        leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
        if leftover and device.type != "meta":
            raise ModelLoadError(f"tensors left uninitialized after loading: {leftover[:5]}")
        model.requires_grad_(False)
        if device.type != "meta" and not math.isfinite(float(model.logit_scale)):
            raise ModelLoadError(f"{weights}: logit_scale is not finite")
        return model.eval()

    def _read_state(
        self, reader: SafetensorsReader, *, device: torch.device, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        """The state dict, read one tensor at a time and cast as it goes (peak memory: the
        model in ``dtype`` plus one tensor), v2's LoRA adapters merged in fp32 first."""
        target = torch.device("cpu") if device.type == "meta" else device
        lora = self._lora_modules()
        text = self.config.text
        state: dict[str, torch.Tensor] = {}
        for key, current in self.state_dict().items():
            name = key.removesuffix(".weight")
            if key.endswith(".weight") and name in lora:
                assert isinstance(text, XLMRobertaConfig)
                weight = reader.tensor(name + ORIGINAL).to(target)
                task = text.lora_task_index
                if task is not None:  # the adapter every text runs through, merged once
                    weight = merge_lora(
                        weight,
                        reader.tensor(name + LORA_A).to(target),
                        reader.tensor(name + LORA_B).to(target),
                        embedding=isinstance(lora[name], nn.Embedding),
                        task=task,
                        scaling=text.lora_scaling,
                    )
            else:
                weight = reader.tensor(key).to(target)
            if weight.is_floating_point() and current.is_floating_point():
                weight = weight.to(dtype)
            state[key] = weight
        return state
