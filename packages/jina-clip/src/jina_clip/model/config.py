"""config.json of a jina-clip checkpoint, parsed into dataclasses.

The official config does not spell out the text tower: ``text_config`` names a hub repo
(``jinaai/jina-bert-flash-implementation`` for v1, ``jinaai/jina-embeddings-v3`` for v2) whose
config is used, overridden by ``hf_model_config_kwargs``. We do the same with that repo's
values baked in below (JinaBERT-v2-base's defaults, jina-embeddings-v3's config.json), so
loading never needs that repo (or its remote code). v2 is recognised by that repo name.

Every option that would change the architecture and that we do not implement is refused with
a :class:`~jina_clip.errors.ModelLoadError`, instead of being silently ignored.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pathlib
from collections.abc import Mapping
from typing import Any

from ..errors import ModelLoadError

log = logging.getLogger("jina_clip.model")

__all__ = ["JinaCLIPConfig", "TextConfig", "VisionConfig", "XLMRobertaConfig"]

#: Options of the JinaBERT config that only matter for training or for kernels we replace.
_TEXT_IGNORED = frozenset({
    "use_flash_attn", "hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range",
    "classifier_dropout", "fused_bias_fc", "fused_dropout_add_ln", "dense_seq_output",
    "last_layer_subset", "num_loras", "torch_dtype", "gradient_checkpointing",
    "max_position_embeddings", "model_max_length", "emb_pooler", "_name_or_path",
    "architectures", "auto_map", "model_type",
    "transformers_version", "use_cache", "layer_norm_type",
})
#: Vision options that only matter for training (dropout, drop path) or for kernels.
_VISION_IGNORED = frozenset({
    "model_type", "patch_dropout", "drop_path_rate", "x_attention", "xattn", "fused_layer_norm",
    "transformers_version", "_name_or_path",
})
#: Top-level keys we read or that carry no architecture.
_TOP_IGNORED = frozenset({
    "_name_or_path", "architectures", "auto_map", "initializer_factor", "logit_scale_init_value",
    "model_type", "projection_dim", "torch_dtype", "transformers_version", "use_text_flash_attn",
    "use_vision_xformers", "text_config", "vision_config", "add_projections",
    "matryoshka_dimensions", "truncate_dim", "transformers.js_config",
})

#: Architecture options accepted only with the value we implement.
_TEXT_DEFAULT_ONLY: dict[str, tuple[Any, ...]] = {
    "position_embedding_type": ("alibi",),
    "mlp_type": ("glu", "geglu"),
    "feed_forward_type": ("glu", "geglu"),
    "use_qk_norm": (False, None),
    "window_size": ([-1, -1], (-1, -1)),
}
_VISION_DEFAULT_ONLY: dict[str, tuple[Any, ...]] = {
    "ls_init_value": (None,),
    "proj_type": (None, "identity"),
    "global_average_pool": (False, None),
    "use_mean_pooling": (False, None),
    "use_rms_norm": (False, None),
}


def _is_default(table: Mapping[str, tuple[Any, ...]], key: str, value: Any) -> bool:
    return key in table and value in table[key]


def _note_unknown(where: str, keys: list[str]) -> None:
    """Keys we do not know are logged, not refused: saved Hugging Face configs carry many
    generic fields (generation defaults, label maps, ...) that do not shape the model. Every
    option that does change the weights' layout is caught by the strict key/shape check of
    the checkpoint anyway; options that change the math without changing keys are validated
    explicitly above."""
    if keys:
        log.warning("config.json %s: ignoring unknown keys %s", where, ", ".join(sorted(keys)))


def _field_values(
    cfg: Mapping[str, Any],
    *,
    fields: set[str],
    ignored: frozenset[str],
    default_only: Mapping[str, tuple[Any, ...]],
    where: str,
) -> dict[str, Any]:
    """The values of ``fields`` in ``cfg``. Options in ``default_only`` must have a value we
    implement (else refused); keys neither known nor ignored are logged."""
    values: dict[str, Any] = {}
    unknown = []
    for key, value in cfg.items():
        if key in fields:
            values[key] = value
        elif key in default_only:
            if not _is_default(default_only, key, value):
                raise _refuse(f"{where} option {key}={value!r}")
        elif key not in ignored:
            unknown.append(key)
    _note_unknown(where, unknown)
    return values


def _refuse(what: str) -> ModelLoadError:
    return ModelLoadError(
        f"unsupported checkpoint: {what}. This native implementation covers jina-clip-v1 "
        "(JinaBERT-v2 text tower) and jina-clip-v2 (XLM-RoBERTa text tower from "
        "jina-embeddings-v3), both with an EVA02 vision tower and no projections."
    )


def _check_text_head(cfg: Mapping[str, Any]) -> None:
    """Both text towers: mean pooling and no projection, as implemented."""
    if cfg.get("pooler_type", "mean_pooler") != "mean_pooler":
        raise _refuse(f"text pooler_type {cfg.get('pooler_type')!r}")
    if cfg.get("proj_type") not in (None, "identity"):
        raise _refuse(f"text proj_type {cfg.get('proj_type')!r}")


def _check_text_embed_dim(cfg: Mapping[str, Any], hidden_size: int) -> None:
    """Without a projection the text embedding is the pooled hidden state."""
    embed_dim = cfg.get("embed_dim", hidden_size)
    if embed_dim != hidden_size:
        raise _refuse(f"text embed_dim {embed_dim} != hidden_size {hidden_size} "
                      "without a projection")


@dataclasses.dataclass(frozen=True)
class TextConfig:
    """JinaBERT v2 (ALiBi, post-LN, GEGLU). Defaults are jina-bert-flash-implementation's."""

    vocab_size: int = 30528
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    type_vocab_size: int = 2
    pad_token_id: int = 0
    pooler_type: str = "mean_pooler"

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_clip_text_config(cls, cfg: Mapping[str, Any]) -> TextConfig:
        name = str(cfg.get("hf_model_name_or_path") or "")
        if "jina-bert" not in name:
            raise _refuse(f"text tower {name!r} (only JinaBERT-v2 is implemented)")
        _check_text_head(cfg)
        values = _field_values(
            cfg.get("hf_model_config_kwargs") or {},
            fields={f.name for f in dataclasses.fields(cls)} - {"pooler_type"},
            ignored=_TEXT_IGNORED,
            default_only=_TEXT_DEFAULT_ONLY,
            where="text_config.hf_model_config_kwargs",
        )
        config = cls(**values)
        if config.hidden_act not in ("gelu", "gelu_new", "gelu_pytorch_tanh"):
            raise _refuse(f"text hidden_act {config.hidden_act!r}")
        if config.hidden_size % config.num_attention_heads:
            raise ModelLoadError("text hidden_size is not divisible by num_attention_heads")
        _check_text_embed_dim(cfg, config.hidden_size)
        return config


#: jina-embeddings-v3's config.json (the repo jina-clip-v2's ``text_config`` names), baked in so
#: that loading never needs that repo: the official code starts from these values and applies
#: ``hf_model_config_kwargs`` on top. Note ``rotary_emb_base`` 20000 (the config class default
#: is 10000) and ``lora_alpha`` 1 (jina-clip-v2 overrides it with 4).
JINA_EMBEDDINGS_V3_CONFIG: dict[str, Any] = {
    "vocab_size": 250002,
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-05,
    "type_vocab_size": 1,
    "pad_token_id": 1,
    "position_embedding_type": "rotary",
    "rotary_emb_base": 20000.0,
    "lora_adaptations": [
        "retrieval.query", "retrieval.passage", "separation", "classification", "text-matching",
    ],
    "task_instructions": {
        "retrieval.query": "Represent the query for retrieving evidence documents: ",
        "retrieval.passage": "Represent the document for retrieval: ",
        "separation": "",
        "classification": "",
        "text-matching": "",
    },
    "lora_rank": 4,
    "lora_alpha": 1,
}
#: XLM-RoBERTa options that only matter for training, kernels, caching or other heads.
_XLMR_IGNORED = frozenset({
    "use_flash_attn", "hidden_dropout_prob", "attention_probs_dropout_prob", "initializer_range",
    "classifier_dropout", "torch_dtype", "max_position_embeddings", "_name_or_path",
    "architectures", "auto_map", "model_type", "transformers_version", "use_cache",
    "use_reentrant", "output_past", "bos_token_id", "eos_token_id", "load_trained_adapters",
    "lora_dropout_p", "lora_main_params_trainable", "matryoshka_dimensions", "truncate_dim",
})
_XLMR_DEFAULT_ONLY: dict[str, tuple[Any, ...]] = {
    "position_embedding_type": ("rotary",),
    "emb_pooler": (None,),
}


@dataclasses.dataclass(frozen=True)
class XLMRobertaConfig:
    """jina-clip-v2's text tower: XLM-RoBERTa with rotary attention (split-halves), post-LN,
    exact GELU, LoRA adapters merged at load, mean pooling. Defaults are jina-embeddings-v3's
    config (:data:`JINA_EMBEDDINGS_V3_CONFIG`), overridden by ``hf_model_config_kwargs``."""

    vocab_size: int = 250002
    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-5
    type_vocab_size: int = 1
    pad_token_id: int = 1
    rotary_emb_base: float = 20000.0
    lora_adaptations: tuple[str, ...] = ("retrieval.query",)
    task_instructions: tuple[tuple[str, str], ...] = ()
    lora_rank: int = 4
    lora_alpha: float = 4.0
    #: The adapter every text goes through (``text_config.default_lora_task``); None: none.
    default_lora_task: str | None = "retrieval.query"
    pooler_type: str = "mean_pooler"

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @property
    def lora_scaling(self) -> float:
        """``alpha / rank`` as in the official ``LoRAParametrization`` (1.0 for v2)."""
        return self.lora_alpha / self.lora_rank

    @property
    def lora_task_index(self) -> int | None:
        if self.default_lora_task is None:
            return None
        return self.lora_adaptations.index(self.default_lora_task)

    @property
    def instructions(self) -> dict[str, str]:
        """Task name -> the instruction the official ``encode_text(task=...)`` prepends."""
        return dict(self.task_instructions)

    @classmethod
    def from_clip_text_config(cls, cfg: Mapping[str, Any]) -> XLMRobertaConfig:
        _check_text_head(cfg)
        if cfg.get("default_instruction_task") is not None:
            raise _refuse("text default_instruction_task "
                          f"{cfg.get('default_instruction_task')!r}")
        merged = {**JINA_EMBEDDINGS_V3_CONFIG, **(cfg.get("hf_model_config_kwargs") or {})}
        values = _field_values(
            merged,
            fields={f.name for f in dataclasses.fields(cls)} - {"pooler_type",
                                                                "default_lora_task"},
            ignored=_XLMR_IGNORED,
            default_only=_XLMR_DEFAULT_ONLY,
            where="text_config (jina-embeddings-v3 + hf_model_config_kwargs)",
        )
        adaptations = values.get("lora_adaptations")
        instructions = values.get("task_instructions") or {}
        if not isinstance(adaptations, list | tuple) or not adaptations:
            raise _refuse(f"text lora_adaptations {adaptations!r}")
        if not isinstance(instructions, dict) or set(instructions) - set(adaptations):
            raise _refuse("text task_instructions must name only lora_adaptations")
        values["lora_adaptations"] = tuple(adaptations)
        values["task_instructions"] = tuple(sorted(instructions.items()))
        values["rotary_emb_base"] = float(values["rotary_emb_base"])
        values["lora_alpha"] = float(values["lora_alpha"])
        config = cls(**values, default_lora_task=cfg.get("default_lora_task"))
        if config.default_lora_task is not None and (
                config.default_lora_task not in config.lora_adaptations):
            raise _refuse(f"text default_lora_task {config.default_lora_task!r} is not one of "
                          f"lora_adaptations {list(config.lora_adaptations)}")
        if config.hidden_act != "gelu":
            raise _refuse(f"text hidden_act {config.hidden_act!r} (only exact GELU)")
        if config.hidden_size % config.num_attention_heads or config.head_dim % 2:
            raise ModelLoadError("text hidden_size / num_attention_heads must be an even int")
        if config.lora_rank < 1:
            raise _refuse(f"text lora_rank {config.lora_rank}")
        _check_text_embed_dim(cfg, config.hidden_size)
        return config


@dataclasses.dataclass(frozen=True)
class VisionConfig:
    """EVA02 ViT (pre-LN, 2-D RoPE, sub-LN, SwiGLU).

    Defaults are those of the official ``JinaCLIPVisionConfig``, so a key missing from
    config.json means what it means there (jina-clip-v1's config spells out the non-default
    values: mlp_ratio 2.6667, SwiGLU, sub-LN, RoPE).
    """

    width: int = 768
    layers: int = 12
    head_width: int = 64
    image_size: int = 224
    patch_size: int = 16
    mlp_ratio: float = 4.0
    naive_swiglu: bool = False
    subln: bool = False
    rope_embeddings: bool = False
    pt_hw_seq_len: int = 16
    intp_freq: bool = False
    qkv_bias: bool = True
    post_norm: bool = False
    embed_dim: int = 768
    layer_norm_eps: float = 1e-6
    rope_theta: float = 10000.0

    @property
    def num_heads(self) -> int:
        return self.width // self.head_width

    @property
    def grid_size(self) -> int:
        """Patches per side. The stride-``patch_size`` conv ignores the remainder: at 512 px
        with 14-px patches (jina-clip-v2) 36 patches cover pixels 0-503."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    @property
    def mlp_hidden(self) -> int:
        return int(self.width * self.mlp_ratio)

    @property
    def rope_seq_len(self) -> int:
        """Rope table side: the patch grid with ``intp_freq``, else ``pt_hw_seq_len`` (EVA)."""
        return self.grid_size if self.intp_freq else self.pt_hw_seq_len

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> VisionConfig:
        values = _field_values(
            cfg,
            fields={f.name for f in dataclasses.fields(cls)} - {"layer_norm_eps", "rope_theta"},
            ignored=_VISION_IGNORED,
            default_only=_VISION_DEFAULT_ONLY,
            where="vision_config",
        )
        config = cls(**values)
        checks = [
            (not config.rope_embeddings, "vision without rope_embeddings"),
            (not config.naive_swiglu, "vision packed SwiGLU (naive_swiglu false)"),
            (not config.subln, "vision without sub-LN"),
            (not config.qkv_bias, "vision qkv_bias false"),
            (config.post_norm, "vision post_norm true"),
            (config.embed_dim != config.width, "vision embed_dim != width without a projection"),
            (config.width % config.head_width != 0, "vision width not divisible by head_width"),
            (config.head_width % 4 != 0, "vision head_width not divisible by 4 (2-D RoPE)"),
            (config.rope_seq_len != config.grid_size,
             "rope table size (pt_hw_seq_len without intp_freq) != patch grid"),
        ]
        for failed, what in checks:
            if failed:
                raise _refuse(what)
        return config


@dataclasses.dataclass(frozen=True)
class JinaCLIPConfig:
    """The whole model: text tower, vision tower, and the (unused) CLIP temperature."""

    text: TextConfig | XLMRobertaConfig
    vision: VisionConfig
    logit_scale_init_value: float = 2.6592
    matryoshka_dimensions: tuple[int, ...] | None = None
    #: Default Matryoshka truncation (the official ``encode_*`` use it when no
    #: ``truncate_dim`` is passed); None for jina-clip-v1.
    truncate_dim: int | None = None

    @property
    def is_v2(self) -> bool:
        """jina-clip-v2 (XLM-RoBERTa text tower) rather than jina-clip-v1 (JinaBERT)."""
        return isinstance(self.text, XLMRobertaConfig)

    @property
    def task_instructions(self) -> dict[str, str]:
        """Tasks ``encode_text(task=...)`` accepts and the instruction each prepends (the
        official ``encode_text`` knows the text tower's ``task_instructions``); empty for v1."""
        return self.text.instructions if isinstance(self.text, XLMRobertaConfig) else {}

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any]) -> JinaCLIPConfig:
        if cfg.get("model_type", "jina_clip") != "jina_clip":
            raise _refuse(f"model_type {cfg.get('model_type')!r}")
        if cfg.get("add_projections", False):
            raise _refuse("add_projections true")
        _note_unknown("", [key for key in cfg if key not in _TOP_IGNORED])
        if "text_config" not in cfg or "vision_config" not in cfg:
            raise ModelLoadError("config.json lacks text_config or vision_config")
        text_cfg = cfg["text_config"]
        if "jina-embeddings-v3" in str(text_cfg.get("hf_model_name_or_path") or ""):
            text: TextConfig | XLMRobertaConfig = XLMRobertaConfig.from_clip_text_config(text_cfg)
        else:
            text = TextConfig.from_clip_text_config(text_cfg)
        vision = VisionConfig.from_dict(cfg["vision_config"])
        if text.hidden_size != vision.width:
            raise _refuse(f"text dim {text.hidden_size} != image dim {vision.width}")
        dims = cfg.get("matryoshka_dimensions")
        if dims and any(not isinstance(d, int) or not 1 <= d <= text.hidden_size for d in dims):
            raise _refuse(f"matryoshka_dimensions {dims!r}")
        return cls(
            text=text,
            vision=vision,
            logit_scale_init_value=float(cfg.get("logit_scale_init_value", 2.6592)),
            matryoshka_dimensions=tuple(dims) if dims else None,
            truncate_dim=int(cfg["truncate_dim"]) if cfg.get("truncate_dim") else None,
        )

    @classmethod
    def from_file(cls, path: str | pathlib.Path) -> JinaCLIPConfig:
        path = pathlib.Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelLoadError(f"{path} not found: not a jina-clip checkpoint") from None
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"cannot read {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise ModelLoadError(f"{path} is not a JSON object")
        return cls.from_dict(raw)
