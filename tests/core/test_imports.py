"""`import jina_clip` stays light: API-only users never pay for (or need) torch."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_pull_torch_and_lazy_names_resolve() -> None:
    code = (
        "import sys, jina_clip\n"
        "assert 'torch' not in sys.modules, 'import jina_clip imported torch'\n"
        "assert 'httpx' not in sys.modules, 'import jina_clip imported httpx'\n"
        "import jina_clip.integration\n"
        "assert 'torch' not in sys.modules and 'httpx' not in sys.modules\n"
        "from jina_clip import RemoteJinaCLIP, TokenUsage, JinaCLIP\n"
        "assert 'torch' not in sys.modules, 'the remote encoder imported torch'\n"
        "assert issubclass(RemoteJinaCLIP, JinaCLIP)\n"
        "from jina_clip import LocalJinaCLIP\n"
        "assert issubclass(LocalJinaCLIP, JinaCLIP)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_progress_bars_load_tqdm_only_when_asked(tiny_checkpoint) -> None:
    """``tqdm.auto`` warns inside Jupyter without ipywidgets: with ``show_progress=False`` it
    must not even be imported; with ``True`` a bar is drawn."""
    code = (
        "import sys\n"
        "from jina_clip.local import LocalJinaCLIP\n"
        f"enc = LocalJinaCLIP({str(tiny_checkpoint)!r}, device='cpu')\n"
        "enc.encode_text(['a dog', 'a cat'])\n"
        "assert 'tqdm.auto' not in sys.modules, 'tqdm.auto imported without a progress bar'\n"
        "enc.encode_text(['a dog', 'a cat'], show_progress=True)\n"
        "assert 'tqdm.auto' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "texts" in done.stderr and "batch" in done.stderr  # the bar was drawn
