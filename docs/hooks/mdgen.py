"""Small Markdown builders shared by the generated reference pages.

Docstrings in the code use reStructuredText roles and double backticks; tables need one line per
cell. These helpers turn one into the other so every generator renders text the same way.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable, Sequence

_RST_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc|obj):`~?([^`]+)`")
_DOUBLE_TICKS = re.compile(r"(?<!`)``([^`]+)``(?!`)")  # not the ``` of a fence


def rst_to_md(text: str) -> str:
    """Docstring markup to Markdown: ``x`` and :class:`x` become `x`."""
    text = _RST_ROLE.sub(r"`\1`", text)
    return _DOUBLE_TICKS.sub(r"`\1`", text)


_CODE_SPAN = re.compile(r"(`+).+?\1")


def cell(text: str) -> str:
    """Text fit for one table cell: one line, RST markup converted, pipes escaped outside code
    spans (Python-Markdown's tables never split a cell inside a code span, and would show the
    backslash there)."""
    one_line = " ".join(rst_to_md(text).split())
    out, pos = [], 0
    for span in _CODE_SPAN.finditer(one_line):
        out += [one_line[pos:span.start()].replace("|", "\\|"), span.group(0)]
        pos = span.end()
    out.append(one_line[pos:].replace("|", "\\|"))
    return "".join(out)


def code(text: str) -> str:
    """Inline code that survives backticks inside ``text`` (and pipes, see :func:`cell`)."""
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def fence(body: str, lang: str = "") -> str:
    """A fenced block longer than any backtick run in ``body``."""
    ticks = "`" * max(3, max((len(m) for m in re.findall(r"`{3,}", body)), default=0) + 1)
    return f"{ticks}{lang}\n{body.rstrip()}\n{ticks}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A pipe table; cells must already be single-line (see :func:`cell`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def dedent_doc(doc: str | None) -> str:
    """A class or function docstring, dedented, Markdown-ready ("" when there is none)."""
    return rst_to_md(inspect.cleandoc(doc)) if doc else ""
