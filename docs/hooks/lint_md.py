"""Markdown that GitHub renders but Python-Markdown (this site) does not.

GitHub continues a list item with any indentation; Python-Markdown needs four spaces for a
paragraph or code block that follows a blank line inside an item, and otherwise ends the list
and prints the block as a loose paragraph. The hook reports such lines so strict mode fails on
them instead of publishing a garbled page.
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_UNDER_INDENTED = re.compile(r"^ {1,3}(?![-*+]\s|\d+[.)]\s)\S")


def under_indented_blocks(markdown: str) -> list[int]:
    """1-based numbers of lines that open a block after a blank line with 1-3 spaces of
    indentation (outside fenced code): in a list item they need four."""
    found, fence = [], ""
    lines = markdown.splitlines()
    for number, line in enumerate(lines, start=1):
        mark = _FENCE.match(line)
        if mark and fence and mark.group(1)[0] == fence[0] and len(mark.group(1)) >= len(fence):
            fence = ""
            continue
        if fence:
            continue
        after_blank = number > 1 and not lines[number - 2].strip()
        if after_blank and _UNDER_INDENTED.match(line):
            found.append(number)
        if mark:
            fence = mark.group(1)
    return found
