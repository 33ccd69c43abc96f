"""ONNX export traces JinaBERT's ALiBi text tower only: a jina-clip-v2 checkpoint is refused
with a typed error before any work, by ``jina-clip export`` and ``jina-clip bench --peers``."""

from __future__ import annotations

import pathlib

import pytest

from jina_clip import cli
from jina_clip.errors import UnsupportedModelError
from jina_clip.export import export_onnx


def test_export_onnx_refuses_v2_with_typed_error(tiny_v2_checkpoint: pathlib.Path,
                                                 tmp_path: pathlib.Path) -> None:
    with pytest.raises(UnsupportedModelError, match="jina-clip-v2"):
        export_onnx(tiny_v2_checkpoint, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_export_cli_on_v2_exits_with_message(tiny_v2_checkpoint: pathlib.Path,
                                             tmp_path: pathlib.Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["export", "onnx", "--model", str(tiny_v2_checkpoint), "-o", str(tmp_path)])
    assert rc == 2
    assert "not jina-clip-v2" in capsys.readouterr().err


def test_bench_peers_on_v2_fails_before_other_sections(tiny_v2_checkpoint: pathlib.Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["bench", "--model", str(tiny_v2_checkpoint), "--peers", "--quick"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "not jina-clip-v2" in captured.err
    assert captured.out == ""  # no section ran
