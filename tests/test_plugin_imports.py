"""The plugins use the core through its integration surface only: ``jina_clip`` (the public
API) and ``jina_clip.integration``. Every other module is internal and may change; a plugin
reaching into one would break silently when it does."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import jina_clip
import jina_clip.integration

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = [
    ROOT / "packages" / "langchain-jina-clip" / "langchain_jina_clip",
    ROOT / "packages" / "llama-index-embeddings-jina-clip" / "llama_index",
]
#: Module -> the names a plugin may take from it.
ALLOWED = {
    "jina_clip": set(jina_clip.__all__),
    "jina_clip.integration": set(jina_clip.integration.__all__),
}


def surface_violations(source: str, filename: str = "<plugin>") -> list[str]:
    """Every import of ``jina_clip`` in ``source`` that leaves the integration surface."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            found += [f"{filename}:{node.lineno}: import {m}" for m in modules
                      if m.split(".")[0] == "jina_clip" and m not in ALLOWED]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "jina_clip":
                continue
            allowed = ALLOWED.get(node.module)
            for alias in node.names:
                if allowed is None or alias.name not in allowed:
                    found.append(f"{filename}:{node.lineno}: from {node.module} import "
                                 f"{alias.name}")
    return found


def _plugin_files() -> list[Path]:
    files = sorted(p for root in PLUGINS for p in root.rglob("*.py"))
    assert len(files) >= 5, f"plugin sources not found under {PLUGINS}"
    return files


def test_plugins_import_only_the_integration_surface() -> None:
    violations = [v for path in _plugin_files()
                  for v in surface_violations(path.read_text(), str(path.relative_to(ROOT)))]
    assert not violations, "plugins must import jina_clip or jina_clip.integration only:\n" + (
        "\n".join(violations))


@pytest.mark.parametrize("source", [
    "from jina_clip.lazy import LazyEncoderSettings",
    "from jina_clip import lazy",
    "import jina_clip.settings",
    "from jina_clip.integration import LazyEncoder",
    "def f():\n    from jina_clip.remote.retry import RetryPolicy\n",
])
def test_a_reach_into_an_internal_module_is_caught(source: str) -> None:
    assert surface_violations(source)


def test_the_surface_itself_passes() -> None:
    assert not surface_violations(
        "import jina_clip\nfrom jina_clip import JinaCLIP, InputError\n"
        "from jina_clip.integration import QUERY_TASK, LazyEncoderSettings, input_positions\n"
    )
