"""``jina-clip export onnx``: the exported graphs, run by ONNX Runtime and OpenVINO, give our
vectors for any batch and length (dynamic axes), and the side files come along."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import torch

from jina_clip import cli
from jina_clip.export import export_onnx
from jina_clip.local import LocalJinaCLIP

ort = pytest.importorskip("onnxruntime")

#: fp32 rounding between two engines' kernel orders (documented in docs/performance.md).
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def exported(tiny_checkpoint: pathlib.Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("onnx")
    assert cli.main(["export", "onnx", "--model", str(tiny_checkpoint), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def enc(tiny_checkpoint: pathlib.Path) -> LocalJinaCLIP:
    return LocalJinaCLIP(tiny_checkpoint, device="cpu", dtype="float32")


def _padded(enc: LocalJinaCLIP, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    rows = enc.tokenize(texts)
    ids = np.zeros((len(rows), max(map(len, rows))), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
    return ids, (ids != 0).astype(np.int64)


def test_layout_has_both_graphs_and_the_side_files(exported: pathlib.Path) -> None:
    for name in ("onnx/text_model.onnx", "onnx/vision_model.onnx", "tokenizer.json",
                 "preprocessor_config.json", "config.json"):
        assert (exported / name).is_file(), name
    assert not (exported / "model.safetensors").exists()


@pytest.mark.parametrize("texts", [
    ["hello world"],
    ["a photo of a red dog on the road near the river at dusk", "cat", "the big old tree"],
    [" ".join(["water"] * 300), "short"],  # a longer sequence than the export example
])
def test_ort_text_vectors_equal_ours(exported: pathlib.Path, enc: LocalJinaCLIP,
                                     texts: list[str]) -> None:
    session = ort.InferenceSession(str(exported / "onnx/text_model.onnx"))
    ids, mask = _padded(enc, texts)
    raw, unit = session.run(["text_embeds", "l2norm_text_embeddings"],
                            {"input_ids": ids, "attention_mask": mask})
    np.testing.assert_allclose(raw, enc.encode_text(texts, normalize=False), atol=TOLERANCE)
    np.testing.assert_allclose(unit, enc.encode_text(texts), atol=TOLERANCE)


@pytest.mark.parametrize("batch", [1, 3])
def test_ort_image_vectors_equal_ours(exported: pathlib.Path, enc: LocalJinaCLIP,
                                      batch: int) -> None:
    session = ort.InferenceSession(str(exported / "onnx/vision_model.onnx"))
    size = enc.model.image_size
    pixels = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))
    raw, unit = session.run(None, {"pixel_values": pixels.numpy()})
    with torch.inference_mode():
        ours = enc.model.encode_image(pixels).numpy()
    np.testing.assert_allclose(raw, ours, atol=TOLERANCE)
    np.testing.assert_allclose(unit, ours / np.linalg.norm(ours, axis=1, keepdims=True),
                               atol=TOLERANCE)


def test_openvino_reads_the_text_graph(exported: pathlib.Path, enc: LocalJinaCLIP) -> None:
    ov = pytest.importorskip("openvino")
    compiled = ov.Core().compile_model(str(exported / "onnx/text_model.onnx"), "CPU",
                                       {"INFERENCE_PRECISION_HINT": "f32"})
    texts = ["the sun and the moon", "a dog"]
    ids, mask = _padded(enc, texts)
    out = compiled({"input_ids": ids, "attention_mask": mask})[compiled.output("text_embeds")]
    np.testing.assert_allclose(out, enc.encode_text(texts, normalize=False), atol=1e-4)


def test_unknown_tower_is_refused(tiny_checkpoint: pathlib.Path, tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="towers"):
        export_onnx(tiny_checkpoint, tmp_path, towers=("audio",))
