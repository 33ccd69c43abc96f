"""jina-clip-v2's native model against a float64 reference written from the math, on the tiny
v2 checkpoint; strict loading; the LoRA merge; every entry of the reference's sensitivity
table (shared/reference/jina-clip-v2.md, section 6) shown to break parity."""

from __future__ import annotations

import importlib.util
import json
import pathlib
import shutil
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from jina_clip.errors import CheckpointMismatchError, ModelLoadError
from jina_clip.model import JinaCLIPConfig, JinaCLIPModel, XLMRobertaConfig, xlmr_tower
from jina_clip.model import lora as lora_module

OFFICIAL_CONFIG = pathlib.Path(__file__).parent / "data" / "jina-clip-v2-config.json"
TOL = 1e-5


def _load_reference():
    path = pathlib.Path(__file__).with_name("reference_model_v2.py")
    spec = importlib.util.spec_from_file_location("jina_clip_reference_model_v2", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


ref = _load_reference()


@pytest.fixture(scope="module")
def model(tiny_v2_checkpoint: pathlib.Path) -> JinaCLIPModel:
    return JinaCLIPModel.from_pretrained(tiny_v2_checkpoint)


@pytest.fixture(scope="module")
def naive(tiny_v2_checkpoint: pathlib.Path):
    return ref.NaiveJinaCLIPV2(tiny_v2_checkpoint)


def _ids(lengths: list[int], seed: int = 0, vocab: int = 300) -> torch.Tensor:
    """Right-padded (pad id 1) batch of random texts framed by <s> (0) ... </s> (2)."""
    g = torch.Generator().manual_seed(seed)
    out = torch.ones(len(lengths), max(lengths), dtype=torch.long)
    for row, n in enumerate(lengths):
        out[row, :n] = torch.randint(4, vocab, (n,), generator=g)
        out[row, 0], out[row, n - 1] = 0, 2
    return out


def _text(model: JinaCLIPModel, ids: torch.Tensor) -> torch.Tensor:
    return model.encode_text(ids, ids != 1)


def _pixels(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 100, 100, generator=torch.Generator().manual_seed(seed))


# --- parity -----------------------------------------------------------------------------------


def test_text_matches_reference_with_padding(model, naive) -> None:
    ids = _ids([37, 5, 90, 3])
    got, want = _text(model, ids), naive.text(ids)
    assert got.shape == (4, 64) and got.dtype == torch.float32
    torch.testing.assert_close(got, want, atol=TOL, rtol=0)
    assert (got[0] - got[1]).abs().max() > 0.1


def test_image_matches_reference(model, naive) -> None:
    px = _pixels(2)
    got, want = model.encode_image(px), naive.image(px)
    torch.testing.assert_close(got, want, atol=TOL, rtol=0)
    assert (got[0] - got[1]).abs().max() > 0.1


def test_padding_and_batch_invariance(model) -> None:
    ids = _ids([9, 120, 33], seed=3)
    together = _text(model, ids)
    for row, n in enumerate([9, 120, 33]):
        alone = _text(model, ids[row : row + 1, :n])[0]
        torch.testing.assert_close(together[row], alone, atol=TOL, rtol=0)
    px = _pixels(3, seed=4)
    batch = model.encode_image(px)
    torch.testing.assert_close(batch[1], model.encode_image(px[1:2])[0], atol=TOL, rtol=0)


def test_order_is_kept(model) -> None:
    ids = _ids([12, 40, 7], seed=5)
    flipped = _text(model, ids.flip(0))
    torch.testing.assert_close(_text(model, ids), flipped.flip(0), atol=TOL, rtol=0)


def test_long_text_attention_is_chunked_and_bounded(model, naive, monkeypatch) -> None:
    """Over the score budget, queries run in blocks: no call sees a [B, H, L, L] score
    tensor, and the result is unchanged."""
    roberta = model.text_model.transformer.roberta
    ids = _ids([300, 180], seed=6)
    full = _text(model, ids)
    budget = 4 * 300 * 64  # 64 queries of 300 keys for 4 heads
    sizes: list[int] = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None):
        sizes.append(q.shape[0] * q.shape[1] * q.shape[2] * k.shape[2])
        return real(q, k, v, attn_mask=attn_mask)

    monkeypatch.setattr(roberta, "score_budget", budget // 2)
    monkeypatch.setattr(xlmr_tower.F, "scaled_dot_product_attention", spy)
    chunked = _text(model, ids)
    assert sizes and max(sizes) <= budget // 2
    torch.testing.assert_close(chunked, full, atol=TOL, rtol=0)
    torch.testing.assert_close(chunked, naive.text(ids), atol=TOL, rtol=0)


# --- the sensitivity table: each mistake must break parity by far ------------------------------

MISTAKES = {
    "rotary base 10000 (the config class default)": ("text", ref.Mistakes(rotary_base=10000.0)),
    "text LayerNorm eps 1e-6": ("text", ref.Mistakes(text_eps=1e-6)),
    "text LayerNorm eps 1e-12 (v1's)": ("text", ref.Mistakes(text_eps=1e-12)),
    "vision LayerNorm eps 1e-5": ("image", ref.Mistakes(vision_eps=1e-5)),
    "LoRA scale 0.25 (alpha 1)": ("text", ref.Mistakes(lora_scale=0.25)),
    "no LoRA": ("text", ref.Mistakes(no_lora=True)),
    "vision RoPE without interpolation": ("image", ref.Mistakes(vision_rope_plain_positions=True)),
    "pad id 0 (v1's)": ("text", ref.Mistakes(pad_id=0)),
    "mean pooling without <s> and </s>": ("text", ref.Mistakes(pool_without_specials=True)),
    "tanh GELU": ("text", ref.Mistakes(tanh_gelu=True)),
    "text rotary on adjacent pairs": ("text", ref.Mistakes(text_rotary_interleaved=True)),
    "vision RoPE on split halves": ("image", ref.Mistakes(vision_rope_split_halves=True)),
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_each_sensitivity_table_mistake_breaks_parity(model, tiny_v2_checkpoint, name) -> None:
    """The model matches the correct reference within TOL and is > 10 x TOL away from the
    reference with this one mistake: the parity test above would catch the mistake."""
    tower, mistakes = MISTAKES[name]
    wrong = ref.NaiveJinaCLIPV2(tiny_v2_checkpoint, mistakes)
    if tower == "text":
        ids = _ids([60, 11, 25], seed=7)
        got, bad = _text(model, ids), wrong.text(ids)
    else:
        px = _pixels(2, seed=8)
        got, bad = model.encode_image(px), wrong.image(px)
    assert (got - bad).abs().max().item() > 10 * TOL, name


def test_official_values_are_baked_in() -> None:
    """What the v2 config.json does not say comes from jina-embeddings-v3's config."""
    config = JinaCLIPConfig.from_file(OFFICIAL_CONFIG)
    text = config.text
    assert isinstance(text, XLMRobertaConfig) and config.is_v2
    assert text.rotary_emb_base == 20000.0
    assert text.lora_scaling == 1.0 and text.lora_task_index == 0
    assert text.layer_norm_eps == 1e-5 and config.vision.layer_norm_eps == 1e-6
    assert text.pad_token_id == 1
    assert config.vision.intp_freq and config.vision.rope_seq_len == 36
    assert config.matryoshka_dimensions == (32, 64, 128, 256, 512, 768, 1024)
    assert config.task_instructions == {
        "retrieval.query": "Represent the query for retrieving evidence documents: "}
    inv = xlmr_tower.text_rotary_tables(2, 64, text.rotary_emb_base)[0]
    assert inv[1, 31].item() == pytest.approx(torch.tensor(20000.0 ** (-62 / 64)).cos().item())


def test_official_config_builds_the_official_layout() -> None:
    """999 tensors, 865,278,477 values: jina-clip-v2-state-dict.tsv, built on meta."""
    config = JinaCLIPConfig.from_file(OFFICIAL_CONFIG)
    with torch.device("meta"):
        model = JinaCLIPModel(config)
    layout = model.checkpoint_layout()
    assert len(layout) == 999
    total = 0
    for shape in layout.values():
        n = 1
        for d in shape:
            n *= d
        total += n
    assert total == 865_278_477
    tsv = OFFICIAL_CONFIG.with_name("jina-clip-v2-state-dict.tsv")
    rows = [line.split("\t") for line in tsv.read_text().splitlines()[1:]]
    official = {k: tuple(json.loads(s.replace("(", "[").replace(")", "]").replace(",]", "]")))
                for k, s, *_ in rows}
    assert layout == official


# --- loading ----------------------------------------------------------------------------------


def _copy(checkpoint: pathlib.Path, dest: pathlib.Path, edit) -> pathlib.Path:
    directory = shutil.copytree(checkpoint, dest)
    state = load_file(str(directory / "model.safetensors"))
    edit(state)
    save_file(state, str(directory / "model.safetensors"))
    return directory


def test_strict_load_names_missing_unexpected_and_misshaped_keys(tiny_v2_checkpoint, tmp_path):
    lora_b = ("text_model.transformer.roberta.encoder.layers.1.mlp.fc2"
              ".parametrizations.weight.0.lora_B")
    original = "text_model.transformer.roberta.emb_ln.weight"

    def edit(state):
        del state[lora_b]
        state["text_model.transformer.roberta.encoder.layers.0.mlp.fc1.weight"] = torch.ones(1)
        state[original] = torch.ones(3)

    directory = _copy(tiny_v2_checkpoint, tmp_path / "bad", edit)
    with pytest.raises(CheckpointMismatchError) as info:
        JinaCLIPModel.from_pretrained(directory)
    message = str(info.value)
    assert lora_b in message and original in message
    assert "layers.0.mlp.fc1.weight" in message


def test_lora_is_merged_once_at_load_and_never_rebuilt(tiny_v2_checkpoint, monkeypatch) -> None:
    calls = []
    real = lora_module.merge_lora

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    import jina_clip.model.clip_model as clip_model

    monkeypatch.setattr(clip_model, "merge_lora", counting)
    model = JinaCLIPModel.from_pretrained(tiny_v2_checkpoint)
    assert len(calls) == 2 + 4 * 2  # two embeddings + Wqkv, out_proj, fc1, fc2 per layer
    assert not any("lora" in name or "parametrizations" in name
                   for name in model.state_dict())

    def refuse(*args, **kwargs):
        raise AssertionError("LoRA rebuilt during a forward pass")

    monkeypatch.setattr(clip_model, "merge_lora", refuse)
    monkeypatch.setattr(lora_module, "merge_lora", refuse)
    weight = model.text_model.transformer.roberta.encoder.layers[0].mixer.Wqkv.weight
    before = weight.clone()
    ids = _ids([20, 9])
    _text(model, ids)
    _text(model, ids)
    assert torch.equal(weight, before)


def test_no_default_lora_task_means_plain_weights(tiny_v2_checkpoint, tmp_path) -> None:
    directory = shutil.copytree(tiny_v2_checkpoint, tmp_path / "nolora")
    config = json.loads((directory / "config.json").read_text())
    config["text_config"]["default_lora_task"] = None
    (directory / "config.json").write_text(json.dumps(config))
    model = JinaCLIPModel.from_pretrained(directory)
    ids = _ids([30, 8], seed=9)
    want = ref.NaiveJinaCLIPV2(directory, ref.Mistakes(no_lora=True)).text(ids)
    torch.testing.assert_close(_text(model, ids), want, atol=TOL, rtol=0)


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda c: c["text_config"]["hf_model_config_kwargs"].update(
            position_embedding_type="absolute"), "position_embedding_type"),
        (lambda c: c["text_config"]["hf_model_config_kwargs"].update(hidden_act="relu"),
         "hidden_act"),
        (lambda c: c["text_config"].update(default_lora_task="separation"), "default_lora_task"),
        (lambda c: c["text_config"].update(default_instruction_task="retrieval.query"),
         "default_instruction_task"),
        (lambda c: c["text_config"]["hf_model_config_kwargs"].update(emb_pooler="cls"),
         "emb_pooler"),
        (lambda c: c["text_config"].update(pooler_type="cls_pooler"), "pooler_type"),
        (lambda c: c["vision_config"].update(intp_freq=False), "rope"),
    ],
)
def test_unsupported_v2_options_are_refused(tiny_v2_checkpoint, tmp_path, edit, needle) -> None:
    directory = shutil.copytree(tiny_v2_checkpoint, tmp_path / "cfg")
    config = json.loads((directory / "config.json").read_text())
    edit(config)
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=needle):
        JinaCLIPModel.from_pretrained(directory)


def test_bfloat16_v2_stays_close(tiny_v2_checkpoint, model) -> None:
    m16 = JinaCLIPModel.from_pretrained(tiny_v2_checkpoint, dtype=torch.bfloat16)
    ids = _ids([40, 6])
    a = m16.encode_text(ids, ids != 1).float()
    assert torch.nn.functional.cosine_similarity(a, _text(model, ids)).min() > 0.99
    px = _pixels(1)
    b = m16.encode_image(px.bfloat16()).float()
    assert torch.nn.functional.cosine_similarity(b, model.encode_image(px)).min() > 0.99


def test_long_inputs_keep_no_packed_weights(model, monkeypatch) -> None:
    """Over PACKED_ROWS_LIMIT tokens the text tower drops the oneDNN packed copies kept from
    short inputs and packs one layer at a time (none are left on the modules afterwards);
    results are unchanged, and the next short input packs again."""
    import jina_clip.model.linear as linear_module

    def kept() -> int:
        return sum(any(slot in m.__dict__ for slot in linear_module._SLOTS)
                   for m in model.text_model.modules())

    ids = _ids([150, 90], seed=10)
    with torch.inference_mode():
        packed = _text(model, ids)
    if not linear_module.onednn_available():
        pytest.skip("no oneDNN packed linears in this torch build")
    assert kept() > 0  # short inputs: copies kept on the modules
    monkeypatch.setattr(linear_module, "PACKED_ROWS_LIMIT", 100)
    with torch.inference_mode():
        long = _text(model, ids)
    assert kept() == 0
    torch.testing.assert_close(long, packed, atol=TOL, rtol=0)
    monkeypatch.undo()
    with torch.inference_mode():
        _text(model, ids)
    assert kept() > 0
