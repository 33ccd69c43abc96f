"""A tiny random jina-clip checkpoint in the official on-disk layout, for tests.

The real checkpoint (891 MB) cannot be downloaded in CI, so tests run the whole loading path
(config parsing, strict key/shape check, tokenizer, preprocessor config) on a checkpoint that
has the same file names, config schema and tensor key names, only with small dimensions and
random weights. The state dict is written from the official key list here, independently of
the model code, so a naming slip in the model fails the strict load instead of being hidden.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import string

__all__ = ["TINY_WORDS", "tiny_state_dict", "write_tiny_checkpoint", "write_tiny_v2_checkpoint"]

#: Common English words given whole-word entries, so typical text does not fall apart into
#: single letters (it would still tokenize, via the letter and ``##letter`` entries).
_WORDS = """
the of and to in is was for on that with as by at from it an be this are or his which her
had not have but were they one their all she been has more there when who will would can
its also we after two first other into new time up some out them these only people than
many then may most over such so no made about years like him year state well used through
where any our between could what while city world during school did both three your how
work each part later under since called because very before life house same back known
good day way even must long should however water family war night great high small big
little old young man woman child dog cat bird fish tree sun moon sky sea river road car
bridge dusk dawn light dark red green blue yellow black white photo picture image text
sentence word query document search find show look see hello world test example sample
model embedding vector language vision image animal food eat drink run walk play happy
sad love like want need know think make take give get go come say tell ask use try call
keep let put mean seem help talk turn start might begin open close read write learn
"""
TINY_WORDS: list[str] = _WORDS.split()

_REMOTE = "jinaai/jina-clip-implementation--"  # auto_map target (never executed)
_SPECIAL = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}


def _tiny_vocab() -> list[str]:
    """BERT-style vocab: [PAD]=0, [unused*], [UNK]=100, [CLS]=101, [SEP]=102, [MASK]=103, then
    every printable ASCII character, its ``##`` continuation form and the common words."""
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [c for c in string.printable if not c.isspace() and not c.isupper()]
    seen = set(vocab)
    for token in [*chars, *(f"##{c}" for c in chars), *TINY_WORDS]:
        if token not in seen:
            seen.add(token)
            vocab.append(token)
    for name, idx in _SPECIAL.items():
        assert vocab[idx] == name
    return vocab


def _write_tokenizer(directory: pathlib.Path, vocab: list[str], baked_max_length: int) -> None:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", _SPECIAL["[CLS]"]), ("[SEP]", _SPECIAL["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    # Real checkpoints ship tokenizer.json with these sections set; our wrapper must undo them.
    tok.enable_truncation(max_length=baked_max_length)
    tok.enable_padding(pad_id=0, pad_token="[PAD]", length=baked_max_length)
    tok.save(str(directory / "tokenizer.json"))
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    specials = {
        "cls_token": "[CLS]",
        "mask_token": "[MASK]",
        "pad_token": "[PAD]",
        "sep_token": "[SEP]",
        "unk_token": "[UNK]",
    }
    _write_json(directory / "special_tokens_map.json", specials)
    _write_json(
        directory / "tokenizer_config.json",
        {
            **specials,
            "clean_up_tokenization_spaces": True,
            "do_lower_case": True,
            "model_max_length": 8192,
            "strip_accents": None,
            "tokenize_chinese_chars": True,
            "tokenizer_class": "BertTokenizer",
        },
    )


def _write_json(path: pathlib.Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


def tiny_state_dict(
    *,
    seed: int,
    vocab_size: int,
    text_hidden: int,
    text_layers: int,
    text_intermediate: int,
    vision_width: int,
    vision_layers: int,
    vision_mlp_hidden: int,
    patch_size: int,
    num_patches: int,
    vision_input_std: float = 1.0,
) -> dict[str, object]:
    """Random tensors under the official key names (see jina-clip-v1-state-dict.tsv).

    Linear weights get std 1/sqrt(fan_in) and LayerNorms non-trivial affine parameters, so
    attention is not uniform and outputs differ clearly between inputs.
    ``vision_input_std`` scales the CLS token, position and patch embeddings (small values make
    the first LayerNorm's epsilon matter, as it does in real checkpoints).
    """
    import torch

    g = torch.Generator().manual_seed(seed)

    def randn(*shape: int, std: float) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * std

    def linear(prefix: str, n_out: int, n_in: int, *, bias: bool = True) -> None:
        sd[f"{prefix}.weight"] = randn(n_out, n_in, std=1.0 / math.sqrt(n_in))
        if bias:
            sd[f"{prefix}.bias"] = randn(n_out, std=0.02)

    def norm(prefix: str, n: int) -> None:
        sd[f"{prefix}.weight"] = 1.0 + randn(n, std=0.1)
        sd[f"{prefix}.bias"] = randn(n, std=0.1)

    sd: dict[str, torch.Tensor] = {"logit_scale": torch.tensor(math.log(1 / 0.07))}
    t = "text_model.transformer"
    sd[f"{t}.embeddings.word_embeddings.weight"] = randn(vocab_size, text_hidden, std=1.0)
    sd[f"{t}.embeddings.token_type_embeddings.weight"] = randn(2, text_hidden, std=0.1)
    norm(f"{t}.emb_ln", text_hidden)
    for i in range(text_layers):
        p = f"{t}.encoder.layers.{i}"
        linear(f"{p}.mixer.Wqkv", 3 * text_hidden, text_hidden)
        linear(f"{p}.mixer.out_proj", text_hidden, text_hidden)
        norm(f"{p}.norm1", text_hidden)
        linear(f"{p}.mlp.gated_layers", 2 * text_intermediate, text_hidden, bias=False)
        linear(f"{p}.mlp.wo", text_hidden, text_intermediate)
        norm(f"{p}.norm2", text_hidden)

    v, w = "vision_model", vision_width
    sd[f"{v}.cls_token"] = randn(1, 1, w, std=0.5 * vision_input_std)
    sd[f"{v}.pos_embed"] = randn(1, num_patches + 1, w, std=0.5 * vision_input_std)
    sd[f"{v}.patch_embed.proj.weight"] = randn(
        w, 3, patch_size, patch_size, std=vision_input_std / math.sqrt(3 * patch_size**2))
    sd[f"{v}.patch_embed.proj.bias"] = randn(w, std=0.02)
    for i in range(vision_layers):
        p = f"{v}.blocks.{i}"
        norm(f"{p}.norm1", w)
        sd[f"{p}.attn.q_bias"] = randn(w, std=0.1)
        sd[f"{p}.attn.v_bias"] = randn(w, std=0.1)
        linear(f"{p}.attn.q_proj", w, w, bias=False)
        linear(f"{p}.attn.k_proj", w, w, bias=False)
        linear(f"{p}.attn.v_proj", w, w, bias=False)
        norm(f"{p}.attn.inner_attn_ln", w)
        linear(f"{p}.attn.proj", w, w)
        norm(f"{p}.norm2", w)
        linear(f"{p}.mlp.w1", vision_mlp_hidden, w)
        linear(f"{p}.mlp.w2", vision_mlp_hidden, w)
        norm(f"{p}.mlp.ffn_ln", vision_mlp_hidden)
        linear(f"{p}.mlp.w3", w, vision_mlp_hidden)
    norm(f"{v}.norm", w)
    return {k: t.contiguous() for k, t in sd.items()}


def write_tiny_checkpoint(
    path: str | os.PathLike[str],
    *,
    seed: int = 0,
    text_hidden: int = 96,
    text_layers: int = 2,
    text_heads: int = 6,
    text_intermediate: int = 128,
    vision_width: int = 96,
    vision_layers: int = 2,
    vision_head_width: int = 32,
    mlp_ratio: float = 2.6667,
    patch_size: int = 16,
    image_size: int = 224,
    baked_max_length: int = 512,
    vocab_size: int | None = None,
) -> pathlib.Path:
    """Write a tiny random jina-clip checkpoint in the official layout into ``path``.

    Files: config.json (the real schema; the text tower's sizes go in
    ``hf_model_config_kwargs`` because the real config leaves them to JinaBERT's defaults),
    model.safetensors (official key names), tokenizer.json (a real BERT-uncased WordPiece over
    a small vocab, with truncation and padding baked in as real checkpoints have),
    tokenizer_config.json, special_tokens_map.json, vocab.txt and preprocessor_config.json
    (the real values). The defaults give 6 text heads, so ALiBi's non-power-of-2 rule is used.

    ``vocab_size`` enlarges the word-embedding table beyond the tiny tokenizer's (e.g. 30528,
    the real one) so that a full-size benchmark checkpoint has the real memory footprint;
    the extra rows are never produced by the tokenizer.
    """
    from safetensors.torch import save_file

    if text_hidden != vision_width:
        raise ValueError("without projections the text and image embeddings must match in size")
    directory = pathlib.Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    vocab = _tiny_vocab()
    vocab_size = max(vocab_size or 0, -(-len(vocab) // 64) * 64)  # multiple of 64, like 30528
    grid = image_size // patch_size

    config = {
        "_name_or_path": "jinaai/jina-clip-v1",
        "add_projections": False,
        "architectures": ["JinaCLIPModel"],
        "auto_map": {
            "AutoConfig": _REMOTE + "configuration_clip.JinaCLIPConfig",
            "AutoModel": _REMOTE + "modeling_clip.JinaCLIPModel",
        },
        "initializer_factor": 1.0,
        "logit_scale_init_value": 2.6592,
        "model_type": "jina_clip",
        "projection_dim": text_hidden,
        "text_config": {
            "embed_dim": text_hidden,
            "hf_model_config_kwargs": {
                "use_flash_attn": False,
                "vocab_size": vocab_size,
                "hidden_size": text_hidden,
                "num_hidden_layers": text_layers,
                "num_attention_heads": text_heads,
                "intermediate_size": text_intermediate,
            },
            "hf_model_name_or_path": "jinaai/jina-bert-flash-implementation",
            "model_type": "jina_clip_text",
            "pooler_type": "mean_pooler",
            "proj_bias": False,
            "proj_type": None,
        },
        "torch_dtype": "float32",
        "transformers_version": "4.41.2",
        "use_text_flash_attn": None,
        "use_vision_xformers": None,
        "vision_config": {
            "embed_dim": vision_width,
            "fused_layer_norm": False,
            "head_width": vision_head_width,
            "image_size": image_size,
            "intp_freq": False,
            "layers": vision_layers,
            "ls_init_value": None,
            "mlp_ratio": mlp_ratio,
            "model_type": "jina_clip_vision",
            "naive_swiglu": True,
            "patch_dropout": 0.1,
            "patch_size": patch_size,
            "post_norm": False,
            "proj_type": None,
            "pt_hw_seq_len": grid,
            "qkv_bias": True,
            "rope_embeddings": True,
            "subln": True,
            "width": vision_width,
            "x_attention": False,
        },
    }
    _write_json(directory / "config.json", config)
    state = tiny_state_dict(
        seed=seed,
        vocab_size=vocab_size,
        text_hidden=text_hidden,
        text_layers=text_layers,
        text_intermediate=text_intermediate,
        vision_width=vision_width,
        vision_layers=vision_layers,
        vision_mlp_hidden=int(vision_width * mlp_ratio),
        patch_size=patch_size,
        num_patches=grid * grid,
    )
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    _write_tokenizer(directory, vocab, baked_max_length)
    write_preprocessor_config(directory, image_size)
    return directory


def write_preprocessor_config(directory: pathlib.Path, size: int) -> None:
    """The official preprocessor_config.json (real values; ``size`` is 224 for v1, 512 for
    v2; a tiny checkpoint may use its own image size)."""
    _write_json(
        directory / "preprocessor_config.json",
        {
            "auto_map": {"AutoProcessor": _REMOTE + "processing_clip.JinaCLIPProcessor"},
            "fill_color": 0,
            "image_processor_type": "JinaCLIPImageProcessor",
            "interpolation": "bicubic",
            "mean": [0.48145466, 0.4578275, 0.40821073],
            "processor_class": "JinaCLIPProcessor",
            "resize_mode": "shortest",
            "size": size,
            "std": [0.26862954, 0.26130258, 0.27577711],
        },
    )


def write_tiny_v2_checkpoint(path: str | os.PathLike[str], **kwargs: object) -> pathlib.Path:
    """A tiny random jina-clip-v2 checkpoint (see :mod:`jina_clip.testing_v2`)."""
    from .testing_v2 import write_tiny_v2_checkpoint as write

    return write(path, **kwargs)  # type: ignore[arg-type]
