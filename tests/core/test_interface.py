"""Every encoder implements the whole `JinaCLIP` interface: the same per-call options, and
`count_tokens`, so callers (the server, the plugins) never probe what an encoder accepts."""

from __future__ import annotations

import inspect
import pathlib

import pytest

from jina_clip import JinaCLIP
from jina_clip.local.encoder import LocalJinaCLIP
from jina_clip.options import CallOptions
from jina_clip.remote.encoder import RemoteJinaCLIP

METHODS = ("encode_text", "aencode_text", "encode_image", "aencode_image")


def _keywords(fn: object) -> dict[str, object]:
    params = inspect.signature(fn).parameters.values()  # type: ignore[arg-type]
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}


@pytest.mark.parametrize("encoder", [LocalJinaCLIP, RemoteJinaCLIP])
@pytest.mark.parametrize("method", METHODS)
def test_encoders_take_exactly_the_interfaces_options(encoder: type, method: str) -> None:
    """The public methods are the interface's own (declared once, validating the keywords);
    encoders implement the ``_encode_*`` hooks, which receive the validated options."""
    assert getattr(encoder, method) is getattr(JinaCLIP, method)
    assert getattr(encoder, f"_{method}") is not getattr(JinaCLIP, f"_{method}")


def test_each_encoder_validates_calls_with_its_options_model() -> None:
    from jina_clip.remote.options import RemoteCallOptions

    assert LocalJinaCLIP.call_options is CallOptions
    assert RemoteJinaCLIP.call_options is RemoteCallOptions


def test_the_interface_options_are_the_call_options() -> None:
    """Each per-call keyword is declared (and validated) once, in ``CallOptions``."""
    text = _keywords(JinaCLIP.encode_text)
    assert set(text) == set(CallOptions.model_fields)
    assert all(default is None for default in text.values())
    assert set(_keywords(JinaCLIP.encode_image)) == set(text) - {"max_length", "truncate", "task"}


def test_count_tokens_is_abstract() -> None:
    class Partial(JinaCLIP):
        dimension = 4  # type: ignore[assignment]
        model_name = "partial"  # type: ignore[assignment]

        def _encode_text(self, texts, call):  # type: ignore[no-untyped-def, override]
            raise NotImplementedError

        _encode_image = _aencode_text = _aencode_image = _encode_text  # type: ignore[assignment]

    with pytest.raises(TypeError, match="count_tokens"):
        Partial()  # type: ignore[abstract]


def test_task_instructions_are_part_of_the_interface() -> None:
    """The server reads ``encoder.task_instructions`` from any encoder, without probing: empty
    unless the encoder prepends instructions itself (the local v2 model)."""
    assert JinaCLIP.task_instructions.fget(None) == {}  # type: ignore[attr-defined]
    assert RemoteJinaCLIP.task_instructions is JinaCLIP.task_instructions
    assert LocalJinaCLIP.task_instructions is not JinaCLIP.task_instructions


def test_matryoshka_dimensions_are_part_of_the_interface(tiny_v2_checkpoint: pathlib.Path) -> None:
    """The server reads ``encoder.matryoshka_dimensions`` from any encoder, without probing:
    empty unless the encoder itself refuses untrained widths (the local v2 model)."""
    assert JinaCLIP.matryoshka_dimensions.fget(None) == ()  # type: ignore[attr-defined]
    assert RemoteJinaCLIP.matryoshka_dimensions is JinaCLIP.matryoshka_dimensions
    with LocalJinaCLIP(tiny_v2_checkpoint, device="cpu") as enc:
        assert enc.matryoshka_dimensions == (8, 16, 32, 64)
