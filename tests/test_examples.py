"""The examples run end to end (offline, on a tiny checkpoint), as a user would start them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(
    ("script", "expect"),
    [
        ("quickstart.py", "best picture for the caption"),
        ("llamaindex_multimodal_index.py", "images like blue-square.png"),
    ],
)
def test_example_runs_offline(script: str, expect: str, tmp_path: Path) -> None:
    env = {"HF_HUB_OFFLINE": "1", "PATH": "", "HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--tiny"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert expect in done.stdout
