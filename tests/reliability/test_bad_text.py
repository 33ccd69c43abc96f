"""Bad text input on every layer: empty list, empty / whitespace strings, None, non-strings,
bytes, a bare string, and texts over the token limit under the three ``truncate`` modes.

8,192-token texts cost seconds each on CPU, so the model runs use a small ``max_length``; the
8,192 default itself is checked on the tokenizer (no model run) and, over the API, on the fake
Jina API (which embeds nothing)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from jina_clip import (
    BadRequestError,
    InputError,
    InputRejectedError,
    JinaCLIP,
    TextInputError,
    TextTooLongError,
    TruncationWarning,
    cli,
)
from langchain_jina_clip import JinaCLIPEmbeddings
from llama_index.embeddings.jina_clip import JinaCLIPEmbedding

from ..remote.fake_jina_api import Echo, FakeJinaAPI, Reply
from .conftest import unit_rows

LONG = "word " * 40  # 42 tokens with [CLS] / [SEP]
SHORT_LIMIT = 16


@pytest.fixture
def fake_api() -> Iterator[FakeJinaAPI]:
    server = FakeJinaAPI().start()
    yield server
    server.stop()


@pytest.fixture
def no_warnings() -> Iterator[None]:
    """Any warning inside the test fails it (``truncate=True`` must be silent)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --- empty and degenerate texts ---------------------------------------------------------------


def test_empty_list_gives_zero_rows(encoder: JinaCLIP) -> None:
    out = encoder.encode_text([])
    assert out.shape == (0, encoder.dimension) and out.dtype == np.float32


async def test_empty_list_async(encoder: JinaCLIP) -> None:
    assert (await encoder.aencode_text([])).shape == (0, encoder.dimension)


def test_empty_and_whitespace_texts_embed_as_cls_sep(local_encoder: JinaCLIP,
                                                     remote_encoder: JinaCLIP) -> None:
    """"" and whitespace tokenize to [CLS] [SEP] (the tokenizer strips whitespace): one
    well-defined unit vector, never a zero row, and the same locally and over the API."""
    texts = ["", "   ", "\n\t", "a"]
    local = local_encoder.encode_text(texts)
    assert unit_rows(local)
    np.testing.assert_allclose(local[0], local[1], atol=1e-6)
    np.testing.assert_allclose(local[0], local[2], atol=1e-6)
    assert not np.allclose(local[0], local[3], atol=1e-3)
    np.testing.assert_allclose(remote_encoder.encode_text(texts), local, atol=1e-5)


@pytest.mark.parametrize(
    ("texts", "index", "words"),
    [
        (["ok", None], 1, "NoneType"),
        ([None], 0, "NoneType"),
        (["ok", "ok", 3], 2, "int"),
        (["ok", b"bytes"], 1, "bytes"),
        ([bytearray(b"x")], 0, "bytearray"),
        (["ok", ["nested"]], 1, "list"),
        (["ok", 1.5], 1, "float"),
    ],
)
def test_non_string_text_names_its_index(encoder: JinaCLIP, texts: list[Any], index: int,
                                         words: str) -> None:
    with pytest.raises(TextInputError, match=words) as info:
        encoder.encode_text(texts)
    assert info.value.index == index and f"input {index}:" in str(info.value)


@pytest.mark.parametrize("texts", ["a bare string", b"bare bytes", None, 42])
def test_wrong_argument_type_is_refused_whole(encoder: JinaCLIP, texts: Any) -> None:
    """A bare string would otherwise embed each character; None / 42 are not lists."""
    with pytest.raises(TextInputError) as info:
        encoder.encode_text(texts)
    assert info.value.index is None


async def test_non_string_text_async_names_its_index(encoder: JinaCLIP) -> None:
    with pytest.raises(TextInputError) as info:
        await encoder.aencode_text(["ok", None])  # type: ignore[list-item]
    assert info.value.index == 1


# --- over-long texts: local -------------------------------------------------------------------


def test_local_default_cuts_with_one_warning_naming_indices_and_counts(
        local_encoder: JinaCLIP) -> None:
    texts = ["short", LONG, "short", LONG + "word word"]
    with pytest.warns(TruncationWarning) as record:
        cut = local_encoder.encode_text(texts, max_length=SHORT_LIMIT)
    assert len(record) == 1  # one warning per call, not one per text
    warning = record[0].message
    assert isinstance(warning, TruncationWarning)
    assert warning.indices == [1, 3] and warning.num_tokens == [42, 44]
    assert warning.max_length == SHORT_LIMIT and not warning.estimated
    assert "input 1 (42 tokens)" in str(warning) and "input 3 (44 tokens)" in str(warning)
    assert record[0].filename == __file__  # it points at the caller, not at the library
    assert cut.shape == (4, local_encoder.dimension) and unit_rows(cut)


def test_local_truncate_true_is_silent_and_equal(local_encoder: JinaCLIP,
                                                 no_warnings: None) -> None:
    silent = local_encoder.encode_text(["short", LONG], max_length=SHORT_LIMIT, truncate=True)
    with pytest.warns(TruncationWarning):
        warned = local_encoder.encode_text(["short", LONG], max_length=SHORT_LIMIT)
    np.testing.assert_array_equal(silent, warned)
    # cutting keeps the first tokens: the same as the text already that short
    prefix = local_encoder.encode_text(["word " * (SHORT_LIMIT - 2)])
    np.testing.assert_allclose(silent[1], prefix[0], atol=1e-5)


def test_local_truncate_false_raises_naming_the_first_long_input(
        local_encoder: JinaCLIP) -> None:
    with pytest.raises(TextTooLongError) as info:
        local_encoder.encode_text(["short", "short", LONG, LONG], max_length=SHORT_LIMIT,
                                  truncate=False)
    err = info.value
    assert (err.index, err.num_tokens, err.max_length) == (2, 42, SHORT_LIMIT)
    assert "input 2:" in str(err) and "truncate" in str(err)


def test_constructor_truncate_modes(tiny_checkpoint: Any) -> None:
    with JinaCLIP.local(str(tiny_checkpoint), device="cpu", max_length=SHORT_LIMIT,
                        truncate=False) as strict:
        with pytest.raises(TextTooLongError):
            strict.encode_text([LONG])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            strict.encode_text([LONG], truncate=True)  # the per-call value wins


def test_default_limit_is_8192_tokens(local_encoder: JinaCLIP) -> None:
    """The tokenizer alone: a real 9,000-word text is cut to 8,192 with the warning."""
    assert local_encoder.max_length == 8192  # type: ignore[attr-defined]
    with pytest.warns(TruncationWarning, match=r"input 0 \(9002 tokens\)"):
        ids = local_encoder.tokenize(["word " * 9000])  # type: ignore[attr-defined]
    assert len(ids[0]) == 8192


async def test_local_async_warns_too(local_encoder: JinaCLIP) -> None:
    with pytest.warns(TruncationWarning, match="input 0") as record:
        out = await local_encoder.aencode_text([LONG], max_length=SHORT_LIMIT)
    assert out.shape == (1, local_encoder.dimension)
    # Raised in the worker thread, re-issued in the coroutine: it points at the caller.
    assert len(record) == 1 and record[0].filename == __file__


# --- over-long texts: remote (the fake API: what is sent; our server: what comes back) --------


def _remote(url: str, **kw: Any) -> JinaCLIP:
    return JinaCLIP.remote("jina-clip-v1", base_url=url, max_retries=0, **kw)


def test_remote_default_sends_truncate_true_and_warns_from_the_estimate(
        fake_api: FakeJinaAPI) -> None:
    long_text = "word " * 7500  # ~8,250 estimated tokens (1.1 per word)
    with _remote(fake_api.url) as remote, pytest.warns(TruncationWarning) as record:
        remote.encode_text(["short", long_text, "short"])
    assert len(record) == 1
    warning = record[0].message
    assert isinstance(warning, TruncationWarning)
    assert warning.estimated and warning.indices == [1] and warning.num_tokens == [8250]
    assert "estimated" in str(warning) and "input 1 (~8250 tokens)" in str(warning)
    assert record[0].filename == __file__  # it points at the caller, not at the library
    assert fake_api.requests[0].json["truncate"] is True


async def test_remote_async_warns_too(fake_api: FakeJinaAPI) -> None:
    with pytest.warns(TruncationWarning, match="input 0") as record:
        async with _remote(fake_api.url) as remote:
            await remote.aencode_text(["word " * 7500])
    assert record[0].filename == __file__
    assert fake_api.requests[0].json["truncate"] is True


def test_remote_estimate_under_the_limit_does_not_warn(fake_api: FakeJinaAPI,
                                                      no_warnings: None) -> None:
    with _remote(fake_api.url) as remote:
        remote.encode_text(["word " * 7000])  # ~7,700 estimated
    assert fake_api.requests[0].json["truncate"] is True


@pytest.mark.parametrize("truncate", [True, False])
def test_remote_explicit_truncate_is_sent_and_silent(fake_api: FakeJinaAPI, truncate: bool,
                                                     no_warnings: None) -> None:
    with _remote(fake_api.url, truncate=truncate) as remote:
        remote.encode_text(["word " * 9000])
    assert fake_api.requests[0].json["truncate"] is truncate


def test_remote_truncate_false_names_the_index_in_the_whole_call(
        remote_encoder: JinaCLIP, api_server_url: str) -> None:
    """Our server refuses the text (Jina's semantics without ``truncate``); the client maps
    the request's ``input N`` to the call's index, across request batches."""
    texts = ["a", "b", "c", "word " * 9000, "e"]
    with JinaCLIP.remote(remote_encoder.model_name, base_url=api_server_url, max_retries=0,
                         truncate=False, batch_size=2) as remote, pytest.raises(
        InputError
    ) as info:
        remote.encode_text(texts)
    err = info.value
    assert isinstance(err, InputRejectedError) and err.status_code == 422
    assert err.index == 3 and str(err).startswith("input 3:") and "9002 tokens" in str(err)


def test_rejected_input_index_is_offset_by_its_request(fake_api: FakeJinaAPI) -> None:
    """The fake API: the second request (inputs 2..3) refuses its input 1 -> call index 3."""
    fake_api.queue(Echo(), Reply(422, json={"detail": "input 1: text is bad",
                                            "code": "invalid_input"}))
    with _remote(fake_api.url, batch_size=2, max_concurrency=1) as remote, pytest.raises(
        InputRejectedError
    ) as info:
        remote.encode_text(["a", "b", "c", "d"])
    assert info.value.index == 3 and info.value.reason == "text is bad"


@pytest.mark.parametrize("detail", ["dimensions: too large", "input 7: not in this request"])
def test_a_refusal_naming_no_input_of_the_request_stays_a_bad_request(
        fake_api: FakeJinaAPI, detail: str) -> None:
    fake_api.queue(Reply(422, json={"detail": detail}))
    with _remote(fake_api.url) as remote, pytest.raises(BadRequestError) as info:
        remote.encode_text(["a", "b"])
    assert not isinstance(info.value, InputError) and info.value.__cause__ is None


# --- plugins ----------------------------------------------------------------------------------


@pytest.fixture(params=["local", "api"])
def plugin_params(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.getfixturevalue(f"{'tiny' if request.param == 'local' else 'api'}_params")


def test_langchain_bad_text(plugin_params: dict[str, Any]) -> None:
    with JinaCLIPEmbeddings(**plugin_params) as lc:
        assert lc.embed_documents([]) == []
        with pytest.raises(TextInputError) as info:
            lc.embed_documents(["ok", None])  # type: ignore[list-item]
        assert info.value.index == 1
        with pytest.raises(TextInputError):
            lc.embed_query(None)  # type: ignore[arg-type]


def test_langchain_truncation_modes(tiny_params: dict[str, Any]) -> None:
    with JinaCLIPEmbeddings(**tiny_params, max_length=SHORT_LIMIT) as lc, pytest.warns(
        TruncationWarning, match="input 1"
    ):
        assert len(lc.embed_documents(["a", LONG])) == 2
    with JinaCLIPEmbeddings(**tiny_params, max_length=SHORT_LIMIT, truncate=False) as lc:
        with pytest.raises(TextTooLongError) as info:
            lc.embed_documents(["a", LONG])
        assert info.value.index == 1


def test_llamaindex_bad_text_names_the_index_in_the_whole_list(
        plugin_params: dict[str, Any]) -> None:
    with JinaCLIPEmbedding(**plugin_params, embed_batch_size=2) as li:
        assert li.get_text_embedding_batch([]) == []
        with pytest.raises(TextInputError) as info:
            li.get_text_embedding_batch(["a", "b", "c", None, "e"])  # type: ignore[list-item]
        assert info.value.index == 3 and str(info.value).startswith("input 3:")


def test_llamaindex_truncation_modes(tiny_params: dict[str, Any]) -> None:
    with JinaCLIPEmbedding(**tiny_params, max_length=SHORT_LIMIT) as li, pytest.warns(
        TruncationWarning
    ):
        assert len(li.get_text_embedding_batch(["a", LONG])) == 2
    with JinaCLIPEmbedding(**tiny_params, max_length=SHORT_LIMIT, truncate=False,
                           embed_batch_size=2) as li:
        with pytest.raises(TextTooLongError) as info:
            li.get_text_embedding_batch(["a", "b", "c", LONG])
        assert info.value.index == 3


def test_settings_default_is_warn_and_cut() -> None:
    from jina_clip import JinaCLIPSettings

    assert JinaCLIPSettings().truncate is None
    assert JinaCLIPSettings(truncate=False).encoder_kwargs()["truncate"] is False
    schema = JinaCLIPSettings.model_json_schema()["properties"]["truncate"]
    assert "TruncationWarning" in schema["description"]


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_embed_truncation_flags(tiny_checkpoint: Any, capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """--no-truncate fails with the index; the default cuts with a warning (the CLI has no
    --max-length, so a small limit is set on the encoder it builds)."""
    real_local = JinaCLIP.local

    def small(*args: Any, **kw: Any) -> JinaCLIP:
        return real_local(*args, max_length=SHORT_LIMIT, **kw)

    monkeypatch.setattr(JinaCLIP, "local", staticmethod(small))
    base = ["embed", "--model", str(tiny_checkpoint), "--device", "cpu", "--text", "a"]
    assert cli.main([*base, "--text", LONG, "--no-truncate"]) == 1
    assert "input 1:" in capsys.readouterr().err
    with pytest.warns(TruncationWarning, match="input 1"):
        assert cli.main([*base, "--text", LONG]) == 0
    assert len(json.loads(capsys.readouterr().out)["data"]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cli.main([*base, "--text", LONG, "--truncate"]) == 0
