"""jina-clip-v2's XLM-R Unigram tokenizer.json through our TextTokenizer."""

from __future__ import annotations

import pathlib

from jina_clip.text import TextTokenizer


def test_v2_tokenizer_frames_with_s_tags_and_pads_with_1(tiny_v2_checkpoint: pathlib.Path):
    tok = TextTokenizer.from_dir(tiny_v2_checkpoint)
    assert (tok.cls_id, tok.sep_id, tok.pad_id) == (0, 2, 1)
    short, long = tok.encode(["hello world", " ".join(["the"] * 700)])
    assert short[0] == 0 and short[-1] == 2 and 3 not in short  # no <unk>
    assert len(long) == 702  # the baked truncation (512) and padding are switched off
    cut = tok.truncate(long, 512)
    assert len(cut) == 512 and cut[0] == 0 and cut[-1] == 2  # like HF truncation=True


def test_v2_tokenizer_covers_several_scripts(tiny_v2_checkpoint: pathlib.Path) -> None:
    tok = TextTokenizer.from_dir(tiny_v2_checkpoint)
    for text in ["Привет мир", "日本語文字", "مرحبا", "नमस्ते", "Grüße, ça va?"]:
        ids = tok.encode([text])[0]
        assert 3 not in ids, text
