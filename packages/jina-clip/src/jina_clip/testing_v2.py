"""A tiny random jina-clip-v2 checkpoint in the official on-disk layout, for tests and demos.

Same files, config schema and tensor key names as ``jinaai/jina-clip-v2`` (LoRA-parametrized
text weights included), only small: the state dict is written here from the official key
list (``jina-clip-v2-state-dict.tsv``), independently of the model code, so a naming slip in
the model fails the strict load. The tokenizer is a real XLM-R-style Unigram ``tokenizer.json``
(``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3, Metaspace) over a small multi-script vocabulary.

Magnitudes follow the real model where the math is sensitive to them: word embeddings and the
vision stem are small (std ~0.02), so both towers' first LayerNorm epsilon (1e-5 text, 1e-6
vision) visibly changes the output, and the LoRA deltas are as large as the weights.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import string

from .testing import _REMOTE, TINY_WORDS, _write_json, tiny_state_dict, write_preprocessor_config

__all__ = ["V2_SPECIAL_TOKENS", "tiny_v2_pieces", "write_tiny_v2_checkpoint"]

V2_SPECIAL_TOKENS = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
_QUERY_INSTRUCTION = "Represent the query for retrieving evidence documents: "
#: Characters of several scripts, so multilingual test texts tokenize without <unk>.
_SCRIPTS = (
    string.ascii_letters + string.digits + string.punctuation
    + "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯ"
    + "αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ"
    + "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年日本語文字画像猫犬"
    + "ابتثجحخدذرسشصضطظعغفقكلمنهوي"
    + "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसहािीुूेैोौं्"
    + "éèêàâçôûüöäßñ"
)


def tiny_v2_pieces() -> list[tuple[str, float]]:
    """(piece, log-probability) of the tiny Unigram model, specials first, ``<mask>`` last
    (as in XLM-R): whole words with the ``▁`` word-start marker, then single characters."""
    pieces = [(token, 0.0) for token in V2_SPECIAL_TOKENS]
    seen = set(V2_SPECIAL_TOKENS)
    words = [*TINY_WORDS, *(w.split()[0] for w in [_QUERY_INSTRUCTION.lower()])]
    candidates = [("▁", -3.0)]
    candidates += [(f"▁{w}", -5.0 - len(w) * 0.01) for w in words]
    candidates += [(w, -6.0) for w in _QUERY_INSTRUCTION.replace(":", "").split()]
    candidates += [(f"▁{c}", -9.0) for c in _SCRIPTS] + [(c, -10.0) for c in _SCRIPTS]
    for piece, score in candidates:
        if piece not in seen:
            seen.add(piece)
            pieces.append((piece, score))
    pieces.append(("<mask>", 0.0))
    return pieces


def _write_tokenizer(directory: pathlib.Path, baked_max_length: int) -> int:
    """tokenizer.json (+ config files); returns the vocabulary size."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
    )

    pieces = tiny_v2_pieces()
    tok = Tokenizer(models.Unigram(pieces, unk_id=V2_SPECIAL_TOKENS["<unk>"]))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tok.add_special_tokens([
        *(AddedToken(t, special=True) for t in V2_SPECIAL_TOKENS),
        AddedToken("<mask>", lstrip=True, special=True),
    ])
    # Real checkpoints may ship tokenizer.json with these set; our wrapper must undo them.
    tok.enable_truncation(max_length=baked_max_length)
    tok.enable_padding(pad_id=1, pad_token="<pad>", length=baked_max_length)
    tok.save(str(directory / "tokenizer.json"))
    specials = {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>",
                "mask_token": "<mask>", "pad_token": "<pad>", "sep_token": "</s>",
                "unk_token": "<unk>"}
    _write_json(directory / "special_tokens_map.json", specials)
    _write_json(directory / "tokenizer_config.json", {
        **specials, "clean_up_tokenization_spaces": True, "model_max_length": 8194,
        "tokenizer_class": "XLMRobertaTokenizer"})
    return len(pieces)


def _v2_text_state(
    *, seed: int, vocab_size: int, hidden: int, layers: int, intermediate: int,
    adaptations: int, rank: int,
) -> dict[str, object]:
    """Text tensors under jina-clip-v2's names (``text_model.transformer.roberta.``...)."""
    import torch

    g = torch.Generator().manual_seed(seed + 1)

    def randn(*shape: int, std: float) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * std

    def lora(prefix: str, rows: int, cols: int, *, std: float, embedding: bool) -> None:
        """original [rows, cols] + LoRA A/B (embedding: A [n, rows, r], B [n, r, cols])."""
        p = f"{prefix}.parametrizations.weight"
        sd[f"{p}.original"] = randn(rows, cols, std=std)
        # |B·A| ~ std: each of the r products ~ std / sqrt(r)
        factor = math.sqrt(std / math.sqrt(rank))
        if embedding:
            sd[f"{p}.0.lora_A"] = randn(adaptations, rows, rank, std=factor)
            sd[f"{p}.0.lora_B"] = randn(adaptations, rank, cols, std=factor)
        else:
            sd[f"{p}.0.lora_A"] = randn(adaptations, rank, cols, std=factor)
            sd[f"{p}.0.lora_B"] = randn(adaptations, rows, rank, std=factor)

    def norm(prefix: str) -> None:
        sd[f"{prefix}.weight"] = 1.0 + randn(hidden, std=0.1)
        sd[f"{prefix}.bias"] = randn(hidden, std=0.1)

    sd: dict[str, torch.Tensor] = {}
    t = "text_model.transformer.roberta"
    lora(f"{t}.embeddings.word_embeddings", vocab_size, hidden, std=0.02, embedding=True)
    lora(f"{t}.embeddings.token_type_embeddings", 1, hidden, std=0.02, embedding=True)
    norm(f"{t}.emb_ln")
    for i in range(layers):
        p = f"{t}.encoder.layers.{i}"
        for name, rows, cols in [("mixer.Wqkv", 3 * hidden, hidden),
                                 ("mixer.out_proj", hidden, hidden),
                                 ("mlp.fc1", intermediate, hidden),
                                 ("mlp.fc2", hidden, intermediate)]:
            # fc1 a little larger, so GELU's inputs reach where erf and tanh GELU differ
            std = (2.0 if name == "mlp.fc1" else 1.0) / math.sqrt(cols)
            lora(f"{p}.{name}", rows, cols, std=std, embedding=False)
            sd[f"{p}.{name}.bias"] = randn(rows, std=0.02)
        norm(f"{p}.norm1")
        norm(f"{p}.norm2")
    return sd


def write_tiny_v2_checkpoint(
    path: str | os.PathLike[str],
    *,
    seed: int = 0,
    hidden: int = 64,
    text_layers: int = 2,
    text_heads: int = 4,
    text_intermediate: int = 96,
    vision_layers: int = 2,
    vision_head_width: int = 16,
    mlp_ratio: float = 2.6667,
    patch_size: int = 14,
    image_size: int = 100,
    pt_hw_seq_len: int = 4,
    baked_max_length: int = 512,
    vocab_size: int | None = None,
    matryoshka_dimensions: tuple[int, ...] = (8, 16, 32, 64),
    dtype: str = "float32",
) -> pathlib.Path:
    """Write a tiny random jina-clip-v2 checkpoint in the official layout into ``path``.

    Files: config.json (the real v2 schema; the text sizes go in ``hf_model_config_kwargs``
    over the baked jina-embeddings-v3 values, the rest is the real v2 config: LoRA rank 4,
    alpha 4, the ``retrieval.query`` adapter and instruction), model.safetensors (official
    key names, LoRA parametrizations included), tokenizer.json and its config files, and
    preprocessor_config.json. Defaults: 100-px images with 14-px patches (a 7x7 grid, the
    last 2 pixels unseen, like 512/14) and RoPE positions interpolated from a 4-grid, as v2
    interpolates 36 onto 16. ``vocab_size`` enlarges the embedding table (rows never used).
    ``dtype="bfloat16"`` stores the tensors as the real file does (1.73 GB at full size).
    """
    from safetensors.torch import save_file

    directory = pathlib.Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    tokens = _write_tokenizer(directory, baked_max_length)
    vocab_size = max(vocab_size or 0, tokens)
    grid = image_size // patch_size
    config = json.loads(json.dumps(_V2_CONFIG))  # deep copy
    config["projection_dim"] = hidden
    config["matryoshka_dimensions"] = list(matryoshka_dimensions)
    text = config["text_config"]
    text["embed_dim"] = hidden
    text["hf_model_config_kwargs"].update({
        "vocab_size": vocab_size, "hidden_size": hidden, "num_hidden_layers": text_layers,
        "num_attention_heads": text_heads, "intermediate_size": text_intermediate})
    config["vision_config"].update({
        "embed_dim": hidden, "width": hidden, "layers": vision_layers,
        "head_width": vision_head_width, "image_size": image_size, "patch_size": patch_size,
        "pt_hw_seq_len": pt_hw_seq_len, "mlp_ratio": mlp_ratio})
    _write_json(directory / "config.json", config)

    state = tiny_state_dict(
        seed=seed, vocab_size=8, text_hidden=hidden, text_layers=0, text_intermediate=8,
        vision_width=hidden, vision_layers=vision_layers,
        vision_mlp_hidden=int(hidden * mlp_ratio), patch_size=patch_size,
        num_patches=grid * grid, vision_input_std=0.04)
    state = {k: v for k, v in state.items() if not k.startswith("text_model.")}
    state.update(_v2_text_state(
        seed=seed, vocab_size=vocab_size, hidden=hidden, layers=text_layers,
        intermediate=text_intermediate, adaptations=1, rank=4))
    import torch

    cast = getattr(torch, dtype)
    for key in list(state):  # cast one tensor at a time: a full-size state is 3.5 GB in fp32
        state[key] = state[key].to(cast).contiguous()  # type: ignore[union-attr]
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    write_preprocessor_config(directory, image_size)
    return directory


#: jina-clip-v2's config.json (shared/reference/jina-clip-v2/config.json), sizes overridden
#: by :func:`write_tiny_v2_checkpoint`.
_V2_CONFIG: dict[str, object] = {
    "_name_or_path": "jinaai/jina-clip-v2",
    "add_projections": False,
    "architectures": ["JinaCLIPModel"],
    "auto_map": {
        "AutoConfig": _REMOTE + "configuration_clip.JinaCLIPConfig",
        "AutoModel": _REMOTE + "modeling_clip.JinaCLIPModel",
    },
    "initializer_factor": 1.0,
    "logit_scale_init_value": 2.6592,
    "matryoshka_dimensions": [32, 64, 128, 256, 512, 768, 1024],
    "model_type": "jina_clip",
    "projection_dim": 1024,
    "text_config": {
        "default_instruction_task": None,
        "default_lora_task": "retrieval.query",
        "embed_dim": 1024,
        "hf_model_config_kwargs": {
            "load_trained_adapters": False,
            "lora_adaptations": ["retrieval.query"],
            "lora_alpha": 4,
            "lora_dropout_p": 0.0,
            "lora_main_params_trainable": False,
            "lora_rank": 4,
            "task_instructions": {"retrieval.query": _QUERY_INSTRUCTION},
            "use_flash_attn": True,
        },
        "hf_model_name_or_path": "jinaai/jina-embeddings-v3",
        "model_type": "jina_clip_text",
        "pooler_type": "mean_pooler",
        "proj_bias": False,
        "proj_type": None,
    },
    "torch_dtype": "bfloat16",
    "transformers.js_config": {"use_external_data_format": {"model.onnx": True}},
    "truncate_dim": None,
    "use_text_flash_attn": None,
    "use_vision_xformers": None,
    "vision_config": {
        "embed_dim": 1024,
        "fused_layer_norm": False,
        "head_width": 64,
        "image_size": 512,
        "intp_freq": True,
        "layers": 24,
        "ls_init_value": None,
        "mlp_ratio": 2.6667,
        "model_type": "jina_clip_vision",
        "naive_swiglu": True,
        "patch_dropout": 0.1,
        "patch_size": 14,
        "post_norm": False,
        "proj_type": None,
        "pt_hw_seq_len": 16,
        "qkv_bias": True,
        "rope_embeddings": True,
        "subln": True,
        "width": 1024,
        "x_attention": True,
    },
}
