"""``jina-clip export onnx``: our native model as ``onnx/text_model.onnx`` and
``onnx/vision_model.onnx`` next to the tokenizer and preprocessor files, the layout ONNX
Runtime, OpenVINO, fastembed and transformers.js users expect.

Graphs (see :mod:`.graphs`):

* ``text_model.onnx``: ``input_ids``, ``attention_mask`` int64 ``[batch, sequence]`` ->
  ``text_embeds`` (mean-pooled, not normalized) and ``l2norm_text_embeddings`` float32
  ``[batch, 768]``;
* ``vision_model.onnx``: ``pixel_values`` float32 ``[batch, 3, 224, 224]`` (normalized as
  ``preprocessor_config.json`` says) -> ``image_embeds`` and ``l2norm_image_embeddings``.

Weights are exported in fp32 exactly as loaded (strict safetensors), one file per tower.
"""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UnsupportedModelError
from ..model import CHECKPOINT_FILES, JinaCLIPModel, resolve_checkpoint
from ..model.config import JinaCLIPConfig
from .graphs import TextGraph, VisionGraph

__all__ = ["DEFAULT_OPSET", "OnnxExport", "ensure_exportable", "export_onnx"]

#: ONNX opset of the exported graphs (ONNX Runtime >= 1.16, OpenVINO >= 2023.1 read it).
DEFAULT_OPSET = 18

#: Files copied beside ``onnx/``: everything a tokenizer or image processor needs.
SIDE_FILES = tuple(name for name in CHECKPOINT_FILES if name != "model.safetensors")


@dataclass(frozen=True)
class OnnxExport:
    """Where :func:`export_onnx` wrote the graphs and side files."""

    directory: Path
    text_model: Path
    vision_model: Path
    side_files: tuple[Path, ...]


def ensure_exportable(model: str | os.PathLike[str]) -> Path:
    """The checkpoint directory of ``model``, or :class:`UnsupportedModelError` before any
    work: the graphs (:mod:`.graphs`) trace JinaBERT's ALiBi text tower, which jina-clip-v2's
    XLM-RoBERTa tower is not."""
    directory = Path(resolve_checkpoint(model))
    if JinaCLIPConfig.from_file(directory / "config.json").is_v2:
        raise UnsupportedModelError(
            f"{model}: ONNX export supports jina-clip-v1 checkpoints only, not jina-clip-v2")
    return directory


def export_onnx(
    model: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    towers: tuple[str, ...] = ("text", "vision"),
) -> OnnxExport:
    """Export both towers of the checkpoint ``model`` (hub id or directory) to ONNX under
    ``output`` (created), plus its tokenizer, config and preprocessor files. Needs the
    ``onnx`` and ``onnxscript`` packages (``pip install 'jina-clip[export]'``)."""
    unknown = set(towers) - {"text", "vision"}
    if unknown or not towers:
        raise ValueError(f"towers must be a subset of ('text', 'vision'), got {towers}")
    directory = ensure_exportable(model)
    out = Path(output)
    (out / "onnx").mkdir(parents=True, exist_ok=True)
    clip = JinaCLIPModel.from_pretrained(directory, device="cpu", dtype=torch.float32)
    text_path, vision_path = out / "onnx" / "text_model.onnx", out / "onnx" / "vision_model.onnx"
    if "text" in towers:
        ids = torch.tensor([[101, 1996, 102, 0], [101, 1997, 1998, 102]], dtype=torch.long)
        ids = ids.clamp(max=clip.config.text.vocab_size - 1)
        _export(TextGraph(clip), (ids, (ids != 0).long()), text_path, opset,
                inputs=["input_ids", "attention_mask"],
                outputs=["text_embeds", "l2norm_text_embeddings"],
                dynamic={"input_ids": {0: "batch", 1: "sequence"},
                         "attention_mask": {0: "batch", 1: "sequence"}})
    if "vision" in towers:
        size = clip.image_size
        _export(VisionGraph(clip), (torch.randn(2, 3, size, size),), vision_path, opset,
                inputs=["pixel_values"], outputs=["image_embeds", "l2norm_image_embeddings"],
                dynamic={"pixel_values": {0: "batch"}})
    copied = []
    for name in SIDE_FILES:
        if (directory / name).is_file():
            copied.append(Path(shutil.copyfile(directory / name, out / name)))
    return OnnxExport(out, text_path, vision_path, tuple(copied))


def _export(module: torch.nn.Module, args: tuple[torch.Tensor, ...], path: Path, opset: int, *,
            inputs: list[str], outputs: list[str], dynamic: dict[str, dict[int, str]]) -> None:
    """One tower through the TorchScript-based exporter: plain ops (MatMul, Softmax, Erf,
    LayerNormalization ...) that every ONNX runtime optimises, named dynamic axes."""
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation and tracer notes, not user-facing
        torch.onnx.export(
            module, args, str(path), input_names=inputs, output_names=outputs,
            dynamic_axes={**dynamic, **{name: {0: "batch"} for name in outputs}},
            opset_version=opset, do_constant_folding=True, dynamo=False,
        )
