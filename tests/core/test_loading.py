"""Checkpoint resolution (directory, hub cache, offline) and strict safetensors loading."""

from __future__ import annotations

import pathlib
import shutil

import huggingface_hub.constants
import pytest
import torch
from safetensors.torch import load_file, save_file

from jina_clip.errors import CheckpointMismatchError, ModelLoadError
from jina_clip.model import CHECKPOINT_FILES, JinaCLIPModel, resolve_checkpoint

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def _no_torch_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading must never unpickle anything."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load called: pickled weights must never be loaded")

    monkeypatch.setattr(torch, "load", refuse)


def _fake_hub_cache(checkpoint: pathlib.Path, cache: pathlib.Path, repo: str) -> pathlib.Path:
    """The layout huggingface_hub writes: models--org--name/{refs/main, snapshots/<commit>}."""
    root = cache / f"models--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / COMMIT
    shutil.copytree(checkpoint, snapshot)
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(COMMIT)
    (root / "blobs").mkdir()
    return snapshot


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    # huggingface_hub reads HF_HUB_OFFLINE into constants at import time; set both.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_local_directory_loads_through_the_real_path(tiny_checkpoint: pathlib.Path) -> None:
    directory = resolve_checkpoint(tiny_checkpoint)
    assert directory == tiny_checkpoint
    model = JinaCLIPModel.from_pretrained(directory, device="cpu", dtype=torch.float32)
    ids = torch.tensor([[101, 200, 102]])
    assert model.encode_text(ids, ids != 0).shape == (1, 96)
    assert not any(t.is_meta for t in model.state_dict().values())


def test_pickled_weights_are_ignored(tiny_checkpoint: pathlib.Path, tmp_path) -> None:
    directory = shutil.copytree(tiny_checkpoint, tmp_path / "ckpt")
    (directory / "pytorch_model.bin").write_bytes(b"not a pickle; must never be opened")
    model = JinaCLIPModel.from_pretrained(resolve_checkpoint(directory))
    assert model.text_dim == 96
    assert not any(name.endswith(".bin") for name in CHECKPOINT_FILES)


def test_directory_with_only_pickled_weights_is_refused(tiny_checkpoint, tmp_path) -> None:
    directory = shutil.copytree(tiny_checkpoint, tmp_path / "ckpt")
    (directory / "model.safetensors").rename(directory / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match=r"model\.safetensors"):
        resolve_checkpoint(directory)
    with pytest.raises(ModelLoadError, match=r"model\.safetensors"):
        JinaCLIPModel.from_pretrained(directory)


def test_hub_cache_with_local_files_only(tiny_checkpoint, tmp_path) -> None:
    snapshot = _fake_hub_cache(tiny_checkpoint, tmp_path / "hub", "org/name")
    got = resolve_checkpoint("org/name", cache_dir=str(tmp_path / "hub"), local_files_only=True)
    assert got.resolve() == snapshot.resolve()
    assert JinaCLIPModel.from_pretrained(got).image_size == 224


def test_hub_cache_with_hf_hub_offline(tiny_checkpoint, tmp_path, monkeypatch) -> None:
    _offline(monkeypatch)
    snapshot = _fake_hub_cache(tiny_checkpoint, tmp_path / "hub", "org/name")
    got = resolve_checkpoint("org/name", cache_dir=str(tmp_path / "hub"))
    assert got.resolve() == snapshot.resolve()
    pinned = resolve_checkpoint("org/name", cache_dir=str(tmp_path / "hub"), revision=COMMIT)
    assert pinned.resolve() == snapshot.resolve()


@pytest.mark.parametrize("mode", ["local_files_only", "HF_HUB_OFFLINE"])
def test_missing_repo_offline_says_what_to_do(tmp_path, monkeypatch, mode) -> None:
    kwargs = {"local_files_only": True} if mode == "local_files_only" else {}
    if mode == "HF_HUB_OFFLINE":
        _offline(monkeypatch)
    with pytest.raises(ModelLoadError) as info:
        resolve_checkpoint("org/absent", cache_dir=str(tmp_path / "hub"), **kwargs)
    message = str(info.value)
    assert "org/absent" in message and "cache" in message
    assert "download" in message.lower() and "local checkpoint directory" in message


def test_cached_snapshot_without_weights_is_refused(tiny_checkpoint, tmp_path) -> None:
    snapshot = _fake_hub_cache(tiny_checkpoint, tmp_path / "hub", "org/name")
    (snapshot / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match=r"model\.safetensors"):
        resolve_checkpoint("org/name", cache_dir=str(tmp_path / "hub"), local_files_only=True)


def test_not_a_directory_nor_repo_id(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="neither"):
        resolve_checkpoint(tmp_path / "nope" / "deeper" / "x")


# --- strict loading ---------------------------------------------------------------------------


def _edited_checkpoint(src: pathlib.Path, dst: pathlib.Path, edit) -> pathlib.Path:
    directory = shutil.copytree(src, dst)
    state = load_file(str(directory / "model.safetensors"))
    edit(state)
    save_file(state, str(directory / "model.safetensors"))
    return directory


MISSING = "vision_model.blocks.1.attn.k_proj.weight"
EXTRA = "text_model.transformer.pooler.dense.weight"
RESHAPED = "text_model.transformer.encoder.layers.0.mixer.Wqkv.weight"


def test_missing_key_is_named(tiny_checkpoint, tmp_path) -> None:
    directory = _edited_checkpoint(tiny_checkpoint, tmp_path / "c", lambda s: s.pop(MISSING))
    with pytest.raises(CheckpointMismatchError) as info:
        JinaCLIPModel.from_pretrained(directory)
    assert info.value.missing == [MISSING]
    assert not info.value.unexpected and not info.value.mismatched
    assert MISSING in str(info.value)


def test_unexpected_key_is_named(tiny_checkpoint, tmp_path) -> None:
    def add(state: dict) -> None:
        state[EXTRA] = torch.zeros(4, 4)

    directory = _edited_checkpoint(tiny_checkpoint, tmp_path / "c", add)
    with pytest.raises(CheckpointMismatchError) as info:
        JinaCLIPModel.from_pretrained(directory)
    assert info.value.unexpected == [EXTRA] and not info.value.missing
    assert EXTRA in str(info.value)


def test_wrong_shape_is_named(tiny_checkpoint, tmp_path) -> None:
    def reshape(state: dict) -> None:
        state[RESHAPED] = state[RESHAPED][:-3].clone()

    directory = _edited_checkpoint(tiny_checkpoint, tmp_path / "c", reshape)
    with pytest.raises(CheckpointMismatchError) as info:
        JinaCLIPModel.from_pretrained(directory)
    assert [m[0] for m in info.value.mismatched] == [RESHAPED]
    _, want, got = info.value.mismatched[0]
    assert want == (288, 96) and got == (285, 96)
    assert RESHAPED in str(info.value)


def test_corrupt_safetensors_is_a_load_error(tiny_checkpoint, tmp_path) -> None:
    directory = shutil.copytree(tiny_checkpoint, tmp_path / "c")
    (directory / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ModelLoadError, match="cannot read"):
        JinaCLIPModel.from_pretrained(directory)


def test_broken_config_is_a_load_error(tiny_checkpoint, tmp_path) -> None:
    directory = shutil.copytree(tiny_checkpoint, tmp_path / "c")
    (directory / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match=r"config\.json"):
        JinaCLIPModel.from_pretrained(directory)


def test_state_dict_keys_match_the_official_naming(tiny_checkpoint) -> None:
    model = JinaCLIPModel.from_pretrained(tiny_checkpoint)
    keys = set(model.state_dict())
    assert "logit_scale" in keys
    assert "text_model.transformer.encoder.layers.1.mlp.gated_layers.weight" in keys
    assert "text_model.transformer.encoder.layers.1.mlp.gated_layers.bias" not in keys
    assert "vision_model.blocks.0.attn.q_bias" in keys
    assert "vision_model.blocks.0.attn.k_proj.bias" not in keys
    assert not any("rope" in k for k in keys)
