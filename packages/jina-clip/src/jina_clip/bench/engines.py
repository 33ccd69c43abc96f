"""The engines ``jina-clip bench --peers`` compares: ours (fp32, bf16, int8) and the same
weights exported to ONNX (:mod:`jina_clip.export`) run by ONNX Runtime (fp32, dynamic int8)
and OpenVINO (fp32, bf16).

Every engine gets the same inputs through the same front end (our tokenizer, our image
decoding and preprocessing), so the rows compare the model runtimes. Peers run texts the
way their users do: batches of up to 32 in input order, each padded to its longest text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..images.preprocess import ImagePreprocessor
from ..images.sources import load_image
from ..text import TextTokenizer

__all__ = ["PEER_BATCH", "Engine", "onnx_engine", "openvino_engine", "ours_engine", "ours_settings",
           "padded"]

#: Texts or images per peer model call.
PEER_BATCH = 32


@dataclass
class Engine:
    """One runtime at one precision: raw (unnormalized) vectors for texts and image files."""

    name: str
    encode_text: Callable[[Sequence[str]], np.ndarray]
    encode_image: Callable[[Sequence[str]], np.ndarray] | None = None
    close: Callable[[], None] = lambda: None


def ours_settings(name: str) -> tuple[str, str | None]:
    """``(dtype, quantize)`` of our engine ``name``: ``ours-fp32``, ``-bf16`` or ``-int8``."""
    precision = name.split("-")[1]
    return ("bfloat16" if precision == "bf16" else "float32",
            "int8" if precision == "int8" else None)


def ours_engine(name: str, checkpoint: Path) -> Engine:
    """Our :class:`~jina_clip.LocalJinaCLIP`; ``name`` is ``ours-fp32``, ``-bf16`` or ``-int8``."""
    from ..local import LocalJinaCLIP

    dtype, quantize = ours_settings(name)
    enc = LocalJinaCLIP(checkpoint, device="cpu", dtype=dtype, quantize=quantize)

    def text(texts: Sequence[str]) -> np.ndarray:
        return enc.encode_text(list(texts), normalize=False)

    def image(files: Sequence[str]) -> np.ndarray:
        return enc.encode_image(list(files), normalize=False)

    # int8 quantises the text tower only: its images would be our fp32 again
    return Engine(name, text, None if quantize else image, enc.close)


def padded(rows: Sequence[Sequence[int]], pad: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """int64 ``input_ids`` and ``attention_mask`` for token rows, padded to the longest."""
    ids = np.full((len(rows), max(map(len, rows))), pad, dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    return ids, (ids != pad).astype(np.int64)


class _Front:
    """Our tokenizer and image preprocessing, in numpy, for an engine that runs the graphs."""

    def __init__(self, checkpoint: Path) -> None:
        self.tokenizer = TextTokenizer.from_dir(checkpoint)
        self.pre = ImagePreprocessor.from_config(checkpoint / "preprocessor_config.json")
        mean, std = np.asarray(self.pre.mean, np.float32), np.asarray(self.pre.std, np.float32)
        self._scale, self._shift = 1 / (255 * std), mean / std

    def text_batches(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        rows = self.tokenizer.encode(list(texts))
        return [padded(rows[i : i + PEER_BATCH], self.tokenizer.pad_id)
                for i in range(0, len(rows), PEER_BATCH)]

    def pixel_batches(self, files: Sequence[str]) -> list[np.ndarray]:
        out = []
        for start in range(0, len(files), PEER_BATCH):
            u8 = np.stack([self.pre.to_uint8(load_image(f, index=start + i).convert("RGB"))
                           for i, f in enumerate(files[start : start + PEER_BATCH])])
            px = u8.astype(np.float32) * self._scale - self._shift  # (x/255 - mean) / std
            out.append(np.ascontiguousarray(px.transpose(0, 3, 1, 2)))
        return out


def onnx_engine(name: str, checkpoint: Path, text_model: Path,
                vision_model: Path | None) -> Engine:
    """ONNX Runtime's CPU provider with its default (full) graph optimisations."""
    import onnxruntime as ort

    front = _Front(checkpoint)
    text = ort.InferenceSession(str(text_model), providers=["CPUExecutionProvider"])
    vision = (ort.InferenceSession(str(vision_model), providers=["CPUExecutionProvider"])
              if vision_model else None)

    def encode_text(texts: Sequence[str]) -> np.ndarray:
        return np.concatenate([
            text.run(["text_embeds"], {"input_ids": ids, "attention_mask": mask})[0]
            for ids, mask in front.text_batches(texts)])

    def encode_image(files: Sequence[str]) -> np.ndarray:
        assert vision is not None
        return np.concatenate([vision.run(["image_embeds"], {"pixel_values": px})[0]
                               for px in front.pixel_batches(files)])

    return Engine(name, encode_text, encode_image if vision else None)


def openvino_engine(name: str, checkpoint: Path, text_model: Path, vision_model: Path,
                    precision: str) -> Engine:
    """OpenVINO's CPU plugin reading the ONNX files, latency hint, ``precision`` ``f32`` or
    ``bf16`` (its default on CPUs with native bf16)."""
    import openvino as ov

    front = _Front(checkpoint)
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
    text = core.compile_model(str(text_model), "CPU", config)
    vision = core.compile_model(str(vision_model), "CPU", config)
    text_out, vision_out = text.output("text_embeds"), vision.output("image_embeds")

    def encode_text(texts: Sequence[str]) -> np.ndarray:
        return np.concatenate([
            text({"input_ids": ids, "attention_mask": mask})[text_out]
            for ids, mask in front.text_batches(texts)])

    def encode_image(files: Sequence[str]) -> np.ndarray:
        return np.concatenate([vision({"pixel_values": px})[vision_out]
                               for px in front.pixel_batches(files)])

    return Engine(name, encode_text, encode_image)
