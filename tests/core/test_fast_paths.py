"""The CPU fast paths (oneDNN packed linear, row-chunked GEGLU) compute what the plain ops do."""

from __future__ import annotations

import copy
import importlib.util
import pathlib
import pickle
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from jina_clip.model import JinaCLIPModel
from jina_clip.model import linear as linear_module
from jina_clip.model.linear import Linear, onednn_available, row_bucket

CLS, SEP = 101, 102


def _naive(checkpoint: pathlib.Path):
    path = pathlib.Path(__file__).with_name("reference_model.py")
    spec = importlib.util.spec_from_file_location("jina_clip_reference_model_fast", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.NaiveJinaCLIP(checkpoint)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(1, 16), (3, 5), (64,), (2, 64), (0, 4), (300,)])
def test_linear_equals_f_linear(bias: bool, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    layer = Linear(48, 80, bias=bias)
    x = torch.randn(*shape, 48)
    with torch.inference_mode():
        got = layer(x)
        want = F.linear(x, layer.weight, layer.bias)
    assert got.shape == want.shape and got.is_contiguous()
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_onednn_path_is_used_and_follows_weight_changes() -> None:
    if not onednn_available():
        pytest.skip("this torch build has no oneDNN packed-linear ops")
    torch.manual_seed(1)
    layer = Linear(32, 16)
    x = torch.randn(32, 40).t()  # a non-contiguous view; 40 rows: oneDNN, not skinny
    assert not x.is_contiguous()
    with torch.inference_mode():
        first = layer(x)
    assert "_onednn_weight" in layer.__dict__  # the packed path ran
    torch.testing.assert_close(first, F.linear(x, layer.weight, layer.bias), atol=1e-5, rtol=0)
    with torch.no_grad():
        layer.weight.mul_(2.0)  # in place: the packed copy must be rebuilt
        torch.testing.assert_close(
            layer(x), F.linear(x, layer.weight, layer.bias), atol=1e-5, rtol=0
        )
    clone = copy.deepcopy(layer)
    assert "_onednn_weight" not in clone.__dict__
    restored = pickle.loads(pickle.dumps(layer))
    with torch.inference_mode():
        torch.testing.assert_close(restored(x), layer(x), atol=0, rtol=0)


def test_model_loaded_under_inference_mode_runs(tiny_checkpoint: pathlib.Path) -> None:
    """Weights created under ``torch.inference_mode`` keep no version counter; the packed
    weight cache must not need one (this crashed once)."""
    from jina_clip.local import LocalJinaCLIP

    normal = LocalJinaCLIP(tiny_checkpoint, device="cpu", dtype="float32")
    with torch.inference_mode():
        inside = LocalJinaCLIP(tiny_checkpoint, device="cpu", dtype="float32")
    assert next(inside.model.parameters()).is_inference()
    texts = ["a dog on a bridge", "the sun at dusk over the sea"]
    torch.testing.assert_close(torch.from_numpy(inside.encode_text(texts)),
                               torch.from_numpy(normal.encode_text(texts)), atol=1e-6, rtol=0)


def test_row_buckets_pad_little_and_stay_few() -> None:
    buckets = [row_bucket(m) for m in range(1, 20_001)]
    assert all(b >= m for m, b in zip(range(1, 20_001), buckets, strict=True))
    assert all(b % 8 == 0 for b in buckets)
    assert max(b / m for m, b in zip(range(65, 20_001), buckets[64:], strict=True)) <= 1.125
    assert buckets == sorted(buckets)  # monotone
    assert len(set(buckets)) <= 80  # ~8 per doubling: oneDNN keeps state per distinct shape
    assert [row_bucket(m) for m in (1, 16, 17, 64, 128, 2048, 8192)] == [8, 16, 24, 64, 128,
                                                                          2048, 8192]


def test_vision_rows_run_unpadded_text_rows_bucketed(
    tiny_checkpoint: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A vision batch has one row count per batch size (batch x tokens), so its linears skip
    the bucket's padding (a copy and up to 12.5 % more arithmetic); text lengths vary, so the
    text tower's linears keep their buckets."""
    if not onednn_available():
        pytest.skip("no packed linears in this torch build")
    model = JinaCLIPModel.from_pretrained(tiny_checkpoint)
    padded: list[tuple[int, int]] = []
    real = linear_module._padded_rows

    def spy(flat: torch.Tensor, rows: int) -> torch.Tensor:
        padded.append((flat.shape[0], rows))
        return real(flat, rows)

    monkeypatch.setattr(linear_module, "_padded_rows", spy)
    pixels = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    ids = torch.randint(104, 300, (3, 37), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        fast = model.encode_image(pixels)  # 3 x 197 = 591 rows: its bucket would be 640
        assert padded == []
        model.encode_text(ids, ids != 0)  # 111 rows -> 112
        assert padded and all(p == (111, 112) for p in padded)
    torch.testing.assert_close(fast, _naive(tiny_checkpoint).image(pixels).float(), atol=1e-5,
                               rtol=0)


def test_many_row_counts_do_not_grow_memory_without_bound() -> None:
    """oneDNN keeps ~0.6-2.5 MB per distinct input shape for the process's life; before row
    bucketing, 300 row counts through a 768x3072 layer grew RSS by ~700 MB."""
    if not onednn_available():
        pytest.skip("this torch build has no oneDNN packed-linear ops")
    code = (
        "import torch\n"
        "from jina_clip.model.linear import Linear\n"
        "def rss():\n"
        "    with open('/proc/self/status') as f:\n"
        "        return next(int(l.split()[1]) for l in f if l.startswith('VmRSS')) // 1024\n"
        "layer = Linear(768, 3072)\n"
        "with torch.inference_mode():\n"
        "    layer(torch.randn(300, 768))\n"
        "    start = rss()\n"
        "    for rows in range(1, 301):\n"
        "        layer(torch.randn(rows, 768))\n"
        "print(rss() - start)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert int(done.stdout.strip()) < 200, done.stdout  # MiB


def test_linear_keeps_autograd() -> None:
    layer = Linear(8, 4)
    x = torch.randn(2, 8, requires_grad=True)
    layer(x).sum().backward()
    assert x.grad is not None and layer.weight.grad is not None


def test_onednn_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JINA_CLIP_ONEDNN", "0")
    onednn_available.cache_clear()
    try:
        assert not onednn_available()
        layer = Linear(8, 4)
        with torch.inference_mode():
            layer(torch.randn(3, 8))
        assert not any(slot in layer.__dict__ for slot in linear_module._SLOTS)
    finally:
        monkeypatch.delenv("JINA_CLIP_ONEDNN")
        onednn_available.cache_clear()


def test_row_chunked_mlp_matches_unchunked_and_reference(tiny_checkpoint) -> None:
    model = JinaCLIPModel.from_pretrained(tiny_checkpoint)
    g = torch.Generator().manual_seed(3)
    ids = torch.zeros(3, 90, dtype=torch.long)
    for row, n in enumerate([90, 41, 7]):
        ids[row, :n] = torch.randint(104, 400, (n,), generator=g)
        ids[row, 0], ids[row, n - 1] = CLS, SEP
    layers = model.text_model.transformer.encoder.layers
    with torch.inference_mode():
        whole = model.encode_text(ids, ids != 0)
        for layer in layers:
            layer.mlp.row_chunk = 37  # 270 rows -> 8 chunks, the last one partial
        chunked = model.encode_text(ids, ids != 0)
    torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=0)
    torch.testing.assert_close(chunked, _naive(tiny_checkpoint).text(ids), atol=1e-5, rtol=0)
