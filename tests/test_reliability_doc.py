"""docs/reliability.md names the test that proves each case: every test id it names must exist,
so a renamed or deleted test cannot leave the page pointing at nothing."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
#: `file.py::test_name[param]`, `tests/x/file.py::test_name`, `::test_name` (same file as the
#: previous id in the row, or in the rows above it in the same table).
TEST_ID = re.compile(r"^(?P<file>(?:tests/)?[\w/]+\.py)?(?:::(?P<name>\w+))?(?:\[[^\]]*\])?$")


@cache
def functions_in(path: Path) -> frozenset[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(node.name for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef))


def named_tests() -> list[tuple[int, Path, str]]:
    """(line, file, test name) for every test id in the page's tables."""
    found: list[tuple[int, Path, str]] = []
    current: Path | None = None
    for number, line in enumerate(DOC.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("|"):
            current = None  # a new table starts without a file
            continue
        cells = line.split("|")
        tests_cell = cells[2] if len(cells) > 3 else ""  # | case | where tested | outcome |
        for token in re.findall(r"`([^`]+)`", tests_cell):
            match = TEST_ID.match(token)
            if match is None or token.startswith("..."):
                continue
            if match["file"]:
                name = match["file"]
                relative = name if name.startswith("tests/") else f"tests/reliability/{name}"
                current = ROOT / relative
            if match["name"] and match["name"].startswith("test_"):
                assert current is not None, f"line {number}: {token} names no file"
                found.append((number, current, match["name"]))
    return found


def test_the_page_names_many_tests() -> None:
    assert len(named_tests()) > 100


def test_every_test_the_page_names_exists() -> None:
    missing = [f"line {n}: {path.relative_to(ROOT)}::{name}" for n, path, name in named_tests()
               if not path.is_file() or name not in functions_in(path)]
    assert not missing, "\n".join(missing)
