"""``jina-clip embed`` on a jina-clip-v2 checkpoint: a trained Matryoshka dimension is written
(and recorded in the manifest); any other fails with a one-line message, writing nothing."""

from __future__ import annotations

import json
import pathlib

import pytest

from jina_clip import cli
from jina_clip.errors import InputError
from jina_clip.local import LocalJinaCLIP


@pytest.fixture()
def corpus(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "t.jsonl"
    path.write_text('{"id": "a", "text": "hello"}\n{"id": "b", "text": "world"}\n')
    return path


def test_valid_matryoshka_dimension_in_manifest(tiny_v2_checkpoint: pathlib.Path,
                                                corpus: pathlib.Path,
                                                tmp_path: pathlib.Path) -> None:
    out = tmp_path / "out"
    rc = cli.main(["embed", str(corpus), "-o", str(out), "--model", str(tiny_v2_checkpoint),
                   "--dimensions", "32", "--no-progress"])
    assert rc == 0
    assert json.loads((out / "manifest.json").read_text())["dimension"] == 32


def test_invalid_dimension_is_a_clear_error(tiny_v2_checkpoint: pathlib.Path,
                                            corpus: pathlib.Path, tmp_path: pathlib.Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    rc = cli.main(["embed", str(corpus), "-o", str(out), "--model", str(tiny_v2_checkpoint),
                   "--dimensions", "20", "--no-progress"])
    assert rc == 1
    assert "Matryoshka dimensions [8, 16, 32, 64]" in capsys.readouterr().err
    assert not (out / "embeddings").exists()


def test_dimension_and_task_errors_are_typed(tiny_v2_checkpoint: pathlib.Path) -> None:
    with pytest.raises(InputError, match="Matryoshka"):
        LocalJinaCLIP(tiny_v2_checkpoint, device="cpu", dimensions=20)
    with LocalJinaCLIP(tiny_v2_checkpoint, device="cpu") as enc:
        with pytest.raises(InputError, match="Matryoshka"):
            enc.encode_text(["x"], dimensions=20)
        with pytest.raises(InputError, match=r"no\.such"):
            enc.encode_text(["x"], task="no.such")


def test_resume_with_other_dimensions_is_refused(tiny_v2_checkpoint: pathlib.Path,
                                                 corpus: pathlib.Path, tmp_path: pathlib.Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A resumed run must not append 32-d vectors to an output of 64-d ones."""
    out = tmp_path / "out"
    base = ["embed", str(corpus), "-o", str(out), "--model", str(tiny_v2_checkpoint),
            "--no-progress"]
    assert cli.main([*base, "--dimensions", "64"]) == 0
    corpus.write_text(corpus.read_text() + '{"id": "c", "text": "more"}\n')
    shards = sorted((out / "embeddings").iterdir())
    assert cli.main([*base, "--dimensions", "32", "--resume"]) == 2
    assert "64-d embeddings" in capsys.readouterr().err
    assert sorted((out / "embeddings").iterdir()) == shards
    assert cli.main([*base, "--dimensions", "64", "--resume"]) == 0
