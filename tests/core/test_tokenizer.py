"""TextTokenizer on the tiny checkpoint's BERT-uncased WordPiece tokenizer."""

from __future__ import annotations

import json
import pathlib

import pytest

from jina_clip.errors import ModelLoadError
from jina_clip.text import TextTokenizer

CLS, SEP = 101, 102


@pytest.fixture(scope="module")
def tokenizer(tiny_checkpoint: pathlib.Path) -> TextTokenizer:
    return TextTokenizer.from_dir(tiny_checkpoint)


def test_checkpoint_really_bakes_in_padding_and_truncation(tiny_checkpoint) -> None:
    raw = json.loads((tiny_checkpoint / "tokenizer.json").read_text())
    assert raw["truncation"] and raw["padding"]  # so the next tests mean something


def test_long_text_keeps_every_token(tokenizer) -> None:
    text = " ".join(["the big bridge at dusk"] * 300)  # 1,500 words, > 512 baked in
    (ids,) = tokenizer.encode([text])
    assert len(ids) == 1502
    assert ids[0] == CLS and ids[-1] == SEP


def test_short_text_is_not_padded(tokenizer) -> None:
    ids = tokenizer.encode(["hello world", "a"])
    assert ids[1] == [CLS, ids[1][1], SEP]
    assert len(ids[0]) == 4 and 0 not in ids[0]
    assert tokenizer.pad_id == 0


def test_uncased_wordpiece_covers_any_english(tokenizer) -> None:
    (ids,) = tokenizer.encode(["Zyzzyva's naïve FOO-bar, 42!"])
    assert 100 not in ids  # no [UNK]: letters, digits and punctuation all have entries
    assert tokenizer.encode(["Hello"]) == tokenizer.encode(["hello"])


def test_empty_inputs(tokenizer) -> None:
    assert tokenizer.encode([]) == []
    assert tokenizer.encode([""]) == [[CLS, SEP]]


def test_truncate_keeps_sep(tokenizer) -> None:
    (ids,) = tokenizer.encode(["one two three four five six"])
    cut = tokenizer.truncate(ids, 4)
    assert cut == [*ids[:3], SEP]
    assert tokenizer.truncate(ids, 100) == ids
    assert tokenizer.truncate(ids, len(ids)) == ids
    with pytest.raises(ValueError):
        tokenizer.truncate(ids, 1)


def test_missing_tokenizer_file(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match=r"tokenizer\.json"):
        TextTokenizer.from_dir(tmp_path)


def test_tokenizer_config_overrides_the_normalizer_like_transformers(
    tiny_checkpoint: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """transformers' BertTokenizerFast rebuilds the normalizer from tokenizer_config.json's
    do_lower_case / strip_accents; the official code therefore tokenizes with those values."""
    import shutil

    lower = TextTokenizer.from_dir(tiny_checkpoint).encode(["Hello World"])[0]
    directory = tmp_path / "cased"
    shutil.copytree(tiny_checkpoint, directory)
    config_path = directory / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["do_lower_case"] = False
    config_path.write_text(json.dumps(config))
    cased = TextTokenizer.from_dir(directory).encode(["Hello World"])[0]
    assert cased != lower  # "Hello" is not in the lowercase vocab as such
    config["do_lower_case"] = True
    config_path.write_text(json.dumps(config))
    assert TextTokenizer.from_dir(directory).encode(["Hello World"])[0] == lower
