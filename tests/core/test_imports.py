"""`import jina_clip` stays light: API-only users never pay for (or need) torch."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_pull_torch_and_lazy_names_resolve() -> None:
    code = (
        "import sys, jina_clip\n"
        "assert 'torch' not in sys.modules, 'import jina_clip imported torch'\n"
        "from jina_clip import RemoteJinaCLIP, TokenUsage, JinaCLIP\n"
        "assert 'torch' not in sys.modules, 'the remote encoder imported torch'\n"
        "assert issubclass(RemoteJinaCLIP, JinaCLIP)\n"
        "from jina_clip import LocalJinaCLIP\n"
        "assert issubclass(LocalJinaCLIP, JinaCLIP)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
