"""One long text through a peer runtime, in a fresh process so the peak memory is its own.

    python -m jina_clip.bench.peer_long ENGINE CHECKPOINT ONNX_DIR TOKENS

ENGINE is ``ort-fp32``, ``ort-int8``, ``openvino-fp32`` or ``openvino-bf16``. Prints one JSON
object: ``peak`` (bytes, the process's ``VmHWM``), ``seconds`` (the model call) and ``finite``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from ..testing import TINY_WORDS
from ..text import TextTokenizer
from .engines import Engine, onnx_engine, openvino_engine, ours_engine
from .long_text import peak_rss

__all__ = ["long_ids", "make_peer"]


def long_ids(tokenizer: TextTokenizer, tokens: int, seed: int = 7) -> list[int]:
    """[CLS] + ``tokens - 2`` whole-word ids + [SEP] (the same kind of text as ours gets)."""
    words = [row[1] for row in tokenizer.encode(TINY_WORDS) if len(row) == 3]
    rng = np.random.default_rng(seed)
    return [tokenizer.cls_id, *rng.choice(words, tokens - 2).tolist(), tokenizer.sep_id]


def make_peer(engine: str, checkpoint: Path, onnx_dir: Path, vision: bool = True) -> Engine:
    """An engine by name: ours (``ours-fp32``, ...) on ``checkpoint``, or a peer on the
    graphs exported under ``onnx_dir``."""
    if engine in ("ours-fp32", "ours-bf16", "ours-int8"):
        return ours_engine(engine, checkpoint)
    text, image = onnx_dir / "onnx/text_model.onnx", onnx_dir / "onnx/vision_model.onnx"
    if engine == "ort-fp32":
        return onnx_engine(engine, checkpoint, text, image if vision else None)
    if engine == "ort-int8":
        return onnx_engine(engine, checkpoint, onnx_dir / "onnx/text_model_int8.onnx", None)
    if engine in ("openvino-fp32", "openvino-bf16"):
        return openvino_engine(engine, checkpoint, text, image, engine.split("-")[1]
                               .replace("fp32", "f32"))
    raise ValueError(f"unknown peer engine {engine!r}")


def main(argv: list[str]) -> None:
    engine, checkpoint, onnx_dir, tokens = argv
    peer = make_peer(engine, Path(checkpoint), Path(onnx_dir), vision=False)
    tokenizer = TextTokenizer.from_dir(Path(checkpoint))
    ids = long_ids(tokenizer, int(tokens))
    text = tokenizer._tok.decode(ids, skip_special_tokens=True)
    start = time.perf_counter()
    out = peer.encode_text([text])
    seconds = time.perf_counter() - start
    print(json.dumps({"peak": peak_rss(), "seconds": seconds,
                      "finite": bool(np.isfinite(out).all() and np.abs(out).sum() > 0)}))


if __name__ == "__main__":
    main(sys.argv[1:])
