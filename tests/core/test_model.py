"""The native model against a naive float64 implementation of the math, on the tiny checkpoint."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch

from jina_clip.errors import ModelLoadError
from jina_clip.model import JinaCLIPModel, alibi_slopes, rope_tables
from jina_clip.model.alibi import DEFAULT_MASK_BUDGET, AlibiMask, query_chunk_size

CLS, SEP = 101, 102


def _load_reference():  # tests/core may or may not be a package: load the file by path
    path = pathlib.Path(__file__).with_name("reference_model.py")
    spec = importlib.util.spec_from_file_location("jina_clip_reference_model", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.NaiveJinaCLIP


@pytest.fixture(scope="module")
def model(tiny_checkpoint: pathlib.Path) -> JinaCLIPModel:
    return JinaCLIPModel.from_pretrained(tiny_checkpoint)


@pytest.fixture(scope="module")
def naive(tiny_checkpoint: pathlib.Path):
    return _load_reference()(tiny_checkpoint)


def _ids(lengths: list[int], seed: int = 0, vocab: int = 400) -> torch.Tensor:
    """Right-padded [B, max(lengths)] batch of random texts framed by [CLS] ... [SEP]."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for row, n in enumerate(lengths):
        out[row, :n] = torch.randint(104, vocab, (n,), generator=g)
        out[row, 0], out[row, n - 1] = CLS, SEP
    return out


# --- parity -----------------------------------------------------------------------------------


def test_text_matches_naive_reference_with_padding(model, naive) -> None:
    ids = _ids([37, 5, 64, 2])
    got = model.encode_text(ids, ids != 0)
    want = naive.text(ids)
    assert got.shape == (4, model.text_dim)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    assert (got[0] - got[1]).abs().max() > 0.1  # not degenerate


def test_image_matches_naive_reference(model, naive) -> None:
    pixels = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    got = model.encode_image(pixels)
    want = naive.image(pixels)
    assert got.shape == (2, model.image_dim)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    assert (got[0] - got[1]).abs().max() > 0.1


def test_text_alone_equals_text_in_padded_batch(model) -> None:
    batch = _ids([9, 120, 300], seed=3)
    alone = batch[:1, :9]
    together = model.encode_text(batch, batch != 0)[0]
    single = model.encode_text(alone, alone != 0)[0]
    torch.testing.assert_close(together, single, atol=1e-5, rtol=0)


def test_all_padding_row_gives_no_nan(model) -> None:
    ids = _ids([12, 1])
    ids[1] = 0
    out = model.encode_text(ids, ids != 0)
    assert torch.isfinite(out).all()
    single = model.encode_text(ids[:1], ids[:1] != 0)
    torch.testing.assert_close(out[:1], single, atol=1e-5, rtol=0)


def test_wrong_image_size_is_refused(model) -> None:
    with pytest.raises(ValueError, match="224"):
        model.encode_image(torch.zeros(1, 3, 256, 256))


def test_properties(model) -> None:
    assert model.image_size == 224
    assert model.text_dim == model.image_dim == 96
    assert isinstance(model.logit_scale, torch.nn.Parameter)
    assert math.isclose(float(model.logit_scale), math.log(1 / 0.07), rel_tol=1e-6)
    assert not model.training


# --- ALiBi ------------------------------------------------------------------------------------


def test_alibi_slopes_match_reference_lists() -> None:
    want12 = [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625,
              0.70710678, 0.35355339, 0.17677670, 0.08838835]
    assert alibi_slopes(12) == pytest.approx(want12, abs=1e-8)
    assert alibi_slopes(8) == [2.0 ** -(i + 1) for i in range(8)]
    assert alibi_slopes(6) == pytest.approx([0.25, 0.0625, 0.015625, 0.00390625,
                                             0.5, 0.125], abs=1e-12)


def test_alibi_mask_is_symmetric_and_masks_padding() -> None:
    pad = torch.tensor([[False, False, False, True]])
    mask = AlibiMask(torch.tensor([0.5]), pad, torch.float32)
    block = mask.block(0, 4)[0, 0]
    assert block[1, 3] == torch.finfo(torch.float32).min / 2
    assert block[2, 0] == block[0, 2] == -1.0
    assert block[1, 1] == 0.0


def test_chunk_size_respects_budget() -> None:
    assert query_chunk_size(1, 12, 8192, 16 * 2**20) == 170
    assert query_chunk_size(1, 12, 100, 32 * 2**20) == 100
    assert query_chunk_size(64, 12, 8192, 1000) == 1


def test_chunked_attention_equals_unchunked_at_moderate_length(model, naive) -> None:
    ids = _ids([1500, 700], seed=5)
    bert = model.text_model.transformer
    outputs = {}
    try:
        for budget, chunk in [(2 * 6 * 1500 * 1500, 1500), (2 * 6 * 1500 * 97, 97)]:
            bert.mask_budget = budget
            mask = bert.build_mask(ids != 0, torch.float32)
            assert mask.chunk == chunk and mask.chunked == (chunk < 1500)
            outputs[chunk] = model.encode_text(ids, ids != 0)
    finally:
        bert.mask_budget = DEFAULT_MASK_BUDGET
    torch.testing.assert_close(outputs[97], outputs[1500], atol=1e-5, rtol=0)
    torch.testing.assert_close(outputs[97], naive.text(ids), atol=1e-5, rtol=0)


_LONG_TEXT_SCRIPT = textwrap.dedent("""
    import json, sys, torch
    from jina_clip.model import JinaCLIPModel

    def status_kib(field):  # VmHWM is this process's peak RSS; unlike ru_maxrss it is not
        with open("/proc/self/status") as fh:  # inherited from the forking parent
            return next(int(ln.split()[1]) for ln in fh if ln.startswith(field + ":"))

    torch.manual_seed(0)
    model = JinaCLIPModel.from_pretrained(sys.argv[1])
    short = torch.randint(104, 400, (1, 64)); short[0, 0] = 101; short[0, -1] = 102
    model.encode_text(short, short != 0)  # warm up allocators and kernels
    ids = torch.randint(104, 400, (1, 8192)); ids[0, 0] = 101; ids[0, -1] = 102
    chunked = model.text_model.transformer.build_mask(ids != 0, torch.float32).chunked
    before = status_kib("VmRSS")
    with torch.inference_mode():
        out = model.encode_text(ids, ids != 0)
    delta = (status_kib("VmHWM") - before) * 1024
    print(json.dumps({"chunked": chunked, "finite": bool(torch.isfinite(out).all()),
                      "shape": list(out.shape), "delta": delta}))
""")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_8192_token_text_runs_in_bounded_memory(tiny_checkpoint: pathlib.Path) -> None:
    """A full [H, L, L] fp32 bias for 6 heads at 8,192 tokens alone is 1.6 GB; the chunked
    path must stay far below that (fresh process so the peak RSS is this call's)."""
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    proc = subprocess.run(
        [sys.executable, "-c", _LONG_TEXT_SCRIPT, str(tiny_checkpoint)],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["chunked"] and result["finite"] and result["shape"] == [1, 96]
    assert result["delta"] < 600 * 2**20, f"peak RSS grew by {result['delta'] / 2**20:.0f} MiB"


# --- RoPE -------------------------------------------------------------------------------------


def test_rope_table_values() -> None:
    cos, sin = rope_tables(64, 14, 14)
    assert cos.shape == (196, 64) and cos.dtype == torch.float32
    assert cos[14, 0].item() == pytest.approx(math.cos(1.0), abs=1e-6)  # row 1, col 0
    assert cos[14, 1].item() == pytest.approx(0.5403, abs=1e-4)
    assert torch.all(cos[::14, 32:] == 1.0)  # column-0 tokens: column angles are 0
    assert torch.all(sin[::14, 32:] == 0.0)
    # pairs share a frequency (interleaved): dims 2k and 2k+1 are equal
    torch.testing.assert_close(cos[:, 0::2], cos[:, 1::2])
    # token 1 (row 0, col 1), dim 34: second frequency of the column half, 10000^(-2/32)
    assert cos[1, 34].item() == pytest.approx(math.cos(10000 ** (-2 / 32)), abs=1e-6)


def test_rope_interpolated_positions() -> None:
    cos, _ = rope_tables(64, 28, 14)  # intp_freq: a 28-grid squeezed onto 14 positions
    assert cos[28, 0].item() == pytest.approx(math.cos(0.5), abs=1e-6)


def test_rope_buffers_are_computed_after_meta_load_and_survive_casts(model) -> None:
    rope = model.vision_model.rope
    want_cos, want_sin = rope_tables(32, 14, 14)
    assert not rope.cos.is_meta
    torch.testing.assert_close(rope.cos, want_cos, atol=0, rtol=0)
    torch.testing.assert_close(rope.sin, want_sin, atol=0, rtol=0)
    assert "vision_model.rope.cos" not in model.state_dict()


def test_bfloat16_model_keeps_fp32_tables_and_stays_close(tiny_checkpoint) -> None:
    m16 = JinaCLIPModel.from_pretrained(tiny_checkpoint, dtype=torch.bfloat16)
    m32 = JinaCLIPModel.from_pretrained(tiny_checkpoint)
    assert m16.vision_model.rope.cos.dtype == torch.float32
    assert m16.text_model.transformer.emb_ln.weight.dtype == torch.bfloat16
    ids = _ids([20, 7])
    a = m16.encode_text(ids, ids != 0).float()
    b = m32.encode_text(ids, ids != 0)
    assert torch.nn.functional.cosine_similarity(a, b).min() > 0.99
    px = torch.randn(1, 3, 224, 224)
    c = m16.encode_image(px).float()
    d = m32.encode_image(px)
    assert torch.nn.functional.cosine_similarity(c, d).min() > 0.99


# --- config refusals --------------------------------------------------------------------------


def _with_config(src: pathlib.Path, dst: pathlib.Path, edit) -> pathlib.Path:
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    edit(cfg)
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda c: c.update(add_projections=True), "add_projections"),
        (lambda c: c["vision_config"].update(post_norm=True), "post_norm"),
        (lambda c: c["vision_config"].update(global_average_pool=True), "global_average_pool"),
        (lambda c: c["text_config"].update(
            hf_model_name_or_path="FacebookAI/xlm-roberta-large"), "xlm-roberta-large"),
        (lambda c: c["text_config"]["hf_model_config_kwargs"].update(use_qk_norm=True),
         "use_qk_norm"),
        (lambda c: c["text_config"].update(pooler_type="cls_pooler"), "cls_pooler"),
        (lambda c: c["vision_config"].update(pt_hw_seq_len=16), "rope"),
    ],
)
def test_unsupported_config_is_refused(tiny_checkpoint, tmp_path, edit, needle) -> None:
    directory = _with_config(tiny_checkpoint, tmp_path / "ckpt", edit)
    with pytest.raises(ModelLoadError, match=needle):
        JinaCLIPModel.from_pretrained(directory)


REAL_CONFIG = {
    "add_projections": False, "model_type": "jina_clip", "projection_dim": 768,
    "logit_scale_init_value": 2.6592, "initializer_factor": 1.0, "torch_dtype": "float32",
    "use_text_flash_attn": None, "use_vision_xformers": None,
    "text_config": {
        "embed_dim": 768, "hf_model_config_kwargs": {"use_flash_attn": False},
        "hf_model_name_or_path": "jinaai/jina-bert-flash-implementation",
        "model_type": "jina_clip_text", "pooler_type": "mean_pooler", "proj_bias": False,
        "proj_type": None,
    },
    "vision_config": {
        "embed_dim": 768, "width": 768, "layers": 12, "head_width": 64, "image_size": 224,
        "patch_size": 16, "mlp_ratio": 2.6667, "naive_swiglu": True, "subln": True,
        "rope_embeddings": True, "pt_hw_seq_len": 14, "intp_freq": False, "qkv_bias": True,
        "post_norm": False, "ls_init_value": None, "patch_dropout": 0.1, "proj_type": None,
        "x_attention": False, "fused_layer_norm": False, "drop_path_rate": 0.0,
        "model_type": "jina_clip_vision",
    },
}
OFFICIAL_KEYS = pathlib.Path("/work/shared/reference/jina-clip-v1-state-dict.tsv")


def test_real_config_builds_the_official_architecture() -> None:
    """Built on the meta device (no memory): 222,647,041 parameters like model.safetensors,
    and, where the reference key list is available, exactly its keys and shapes."""
    from jina_clip.model import JinaCLIPConfig

    with torch.device("meta"):
        model = JinaCLIPModel(JinaCLIPConfig.from_dict(REAL_CONFIG))
    state = model.state_dict()
    assert sum(t.numel() for t in state.values()) == 222_647_041
    assert len(state) == 395
    if OFFICIAL_KEYS.is_file():
        rows = [ln.split("\t") for ln in OFFICIAL_KEYS.read_text().splitlines()[1:] if ln]
        official = {k: tuple(int(d) for d in s.strip("()").split(",") if d.strip())
                    for k, s, _ in rows}
        assert {k: tuple(t.shape) for k, t in state.items()} == official


def test_text_tower_defaults_are_jinabert_v2_base(tiny_checkpoint, tmp_path) -> None:
    from jina_clip.model import JinaCLIPConfig

    def real_text_config(cfg: dict) -> None:
        cfg["text_config"]["hf_model_config_kwargs"] = {"use_flash_attn": False}
        cfg["text_config"]["embed_dim"] = 768

    directory = _with_config(tiny_checkpoint, tmp_path / "ckpt", real_text_config)
    raw = json.loads((directory / "config.json").read_text())
    raw["vision_config"].update(width=768, embed_dim=768, head_width=64, pt_hw_seq_len=14)
    config = JinaCLIPConfig.from_dict(raw)
    t = config.text
    assert (t.vocab_size, t.hidden_size, t.num_hidden_layers, t.num_attention_heads,
            t.intermediate_size, t.layer_norm_eps, t.hidden_act) == (
        30528, 768, 12, 12, 3072, 1e-12, "gelu")
    assert config.vision.mlp_hidden == 2048 and config.vision.num_heads == 12


def test_mean_pooling_sums_in_fp32_so_fp16_cannot_overflow(model, monkeypatch) -> None:
    """A long fp16 text: summing token states in fp16 overflowed to inf (then NaN after
    normalization); pooling now accumulates in fp32 and casts the mean back."""
    from jina_clip.model.text_tower import TextModel

    tower = TextModel.__new__(TextModel)  # only forward's pooling is under test
    torch.nn.Module.__init__(tower)
    states = torch.full((1, 200, 4), 1000.0, dtype=torch.float16)  # sum 200,000 > fp16 max
    tower.transformer = lambda ids, mask: states  # type: ignore[assignment]
    mask = torch.ones(1, 200, dtype=torch.long)
    out = tower(torch.ones(1, 200, dtype=torch.long), mask)
    assert out.dtype == torch.float16
    assert torch.equal(out, torch.full((1, 4), 1000.0, dtype=torch.float16))


def test_fp32_mean_pooling_is_unchanged(model) -> None:
    """The fp32 path is bit-identical to the plain float formula."""
    ids = _ids([12, 5, 30])
    mask = (ids != 0).long()
    states = model.text_model.transformer(ids, mask)
    w = mask.to(states.dtype).unsqueeze(-1)
    expected = (states * w).sum(dim=1) / w.sum(dim=1).clamp(min=1e-9)
    assert torch.equal(model.text_model(ids, mask), expected)
