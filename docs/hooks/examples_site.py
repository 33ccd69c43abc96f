"""The repository's ``examples/`` folder, published in the site and linked both ways.

Every file under ``examples/`` is copied into the site at the same relative path; each script
and notebook also gets a page showing it (notebooks rendered cell by cell, never executed). The
Markdown sources link examples the way a reader of the repository expects
(``../examples/quickstart.py`` from ``docs/``); :func:`rewrite_links` points such links at the
published copy, so the same link works on GitHub, in an editor and in the site, and strict mode
still checks that the target exists. Nothing here needs the examples to exist: the Examples
page lists whatever is there at build time.
"""

from __future__ import annotations

import ast
import json
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mdgen import cell, code, dedent_doc, fence, table

EXAMPLES = "examples"
#: The folder's own introduction: it opens the site's Examples page instead of being a page.
README = "examples/README.md"
#: The page that lists every example; a link to a folder of examples lands there.
EXAMPLES_PAGE = "examples.md"
PAGE_SUFFIXES = (".py", ".ipynb")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints"}


@dataclass(frozen=True)
class Example:
    """One file under ``examples/``: its repository path and, for scripts and notebooks, the
    site page that shows it."""

    repo_path: str  # "examples/notebooks/01_x.ipynb"

    @property
    def has_page(self) -> bool:
        return self.repo_path.endswith(PAGE_SUFFIXES)

    @property
    def page_uri(self) -> str:
        return posixpath.splitext(self.repo_path)[0] + ".md"


def discover(repo: Path) -> list[Example]:
    """Every publishable file under ``examples/`` (caches and hidden files left out)."""
    root = repo / EXAMPLES
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(repo)
        hidden = any(p in _SKIP_PARTS or p.startswith(".") for p in rel.parts)
        if path.is_file() and not hidden and rel.as_posix() != README:
            found.append(Example(rel.as_posix()))
    return found


# --- pages --------------------------------------------------------------------------------


def _source_line(ex: Example) -> str:
    name = posixpath.basename(ex.repo_path)
    return (f"Source: [`{ex.repo_path}`]({name}) (download it, or run it from a checkout of "
            "the repository).")


def script_page(ex: Example, text: str) -> str:
    """A script: its docstring as the introduction, then the whole file."""
    doc = ast.get_docstring(ast.parse(text)) or ""
    return "\n\n".join(p for p in (f"# {code(ex.repo_path)}", _source_line(ex),
                                   _fence_indented(dedent_doc(doc)), fence(text, "python")) if p)


def _fence_indented(doc: str) -> str:
    """Indented command lines in a docstring become a fenced block (Markdown would need a blank
    line before them; docstrings do not have one)."""
    out: list[str] = []
    block: list[str] = []
    for line in [*doc.splitlines(), ""]:
        if line.startswith("    ") and line.strip():
            block.append(line[4:])
            continue
        if block:
            out += ["", fence("\n".join(block), "text"), ""]
            block = []
        out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def _cell_source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _outputs(cell: dict[str, Any]) -> Iterator[str]:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            yield fence(_cell_source({"source": out.get("text", "")}), "text")
        elif "data" in out:
            plain = out["data"].get("text/plain")
            if plain is not None:
                yield fence(_cell_source({"source": plain}), "text")
        elif out.get("output_type") == "error":
            yield fence(f"{out.get('ename')}: {out.get('evalue')}", "text")


def notebook_page(ex: Example, text: str) -> str:
    """A notebook, cell by cell: Markdown cells as they are, code cells as Python blocks,
    stored text outputs (if any) after them. Nothing is executed."""
    nb = json.loads(text)
    lang = nb.get("metadata", {}).get("language_info", {}).get("name", "python")
    parts: list[str] = []
    for nb_cell in nb.get("cells", []):
        source = _cell_source(nb_cell)
        if not source.strip():
            continue
        if nb_cell.get("cell_type") == "markdown":
            parts.append(source)
        elif nb_cell.get("cell_type") == "code":
            parts.append(fence(source, lang))
            parts.extend(_outputs(nb_cell))
        else:
            parts.append(fence(source))
    if parts and parts[0].lstrip().startswith("# "):
        title, _, rest = parts[0].lstrip().partition("\n")
        parts[0] = "\n\n".join(p for p in (title, _source_line(ex), rest.strip()) if p)
    else:
        parts.insert(0, f"# {code(ex.repo_path)}\n\n{_source_line(ex)}")
    return "\n\n".join(parts) + "\n"


def page_markdown(ex: Example, repo: Path) -> str:
    text = (repo / ex.repo_path).read_text(encoding="utf-8")
    return notebook_page(ex, text) if ex.repo_path.endswith(".ipynb") else script_page(ex, text)


# --- the Examples page --------------------------------------------------------------------


def _summary(ex: Example, repo: Path) -> str:
    """The first sentence a reader needs: a script's docstring line, a notebook's title."""
    text = (repo / ex.repo_path).read_text(encoding="utf-8")
    if ex.repo_path.endswith(".py"):
        doc = ast.get_docstring(ast.parse(text)) or ""
        return doc.strip().splitlines()[0] if doc.strip() else ""
    for nb_cell in json.loads(text).get("cells", []):
        if nb_cell.get("cell_type") == "markdown":
            for line in _cell_source(nb_cell).splitlines():
                if line.strip():
                    return line.lstrip("# ").strip()
    return ""


def _md_title(path: Path) -> str:
    """The first heading of a Markdown file ("" if it has none)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return ""


def _rows(items: list[Example], repo: Path) -> list[list[str]]:
    """Links relative to the Examples page, which sits at the docs root next to examples/."""
    return [[f"[`{posixpath.relpath(ex.repo_path, EXAMPLES)}`]({ex.page_uri})",
             cell(_summary(ex, repo)), f"[download]({ex.repo_path})"]
            for ex in items]


def index_markdown(examples: list[Example], repo: Path, docs_prefix: str) -> str:
    """The folder's README (if any), then tables of the notebooks, scripts, helper modules and
    notes, and a gallery of the sample images."""
    readme = repo / README
    intro: list[str] = []
    if readme.is_file():
        body = readme.read_text(encoding="utf-8")
        if body.startswith("# "):  # the page has its own title
            body = body.partition("\n")[2]
        published = {ex.repo_path: ex for ex in examples}
        intro = [rewrite_links(body.strip(), README, EXAMPLES_PAGE, docs_prefix, published), "",
                 "## Every file", "",
                 "Generated from the folder when the site was built: each script and notebook "
                 "has a page, and every file can be downloaded.", ""]
    return "\n".join(intro) + _file_tables(examples, repo, level="###" if intro else "##")


def _file_tables(examples: list[Example], repo: Path, level: str) -> str:
    """Tables of the scripts, notebooks and helper modules, and a gallery of sample images."""
    pages = [ex for ex in examples if ex.has_page]
    scripts = [ex for ex in pages if ex.repo_path.endswith(".py") and
               posixpath.dirname(ex.repo_path) == EXAMPLES and
               not posixpath.basename(ex.repo_path).startswith("_")]
    notebooks = [ex for ex in pages if ex.repo_path.endswith(".ipynb")]
    helpers = [ex for ex in pages if ex not in scripts and ex not in notebooks]
    images = [ex for ex in examples if ex.repo_path.lower().endswith(IMAGE_SUFFIXES)]
    header = ["file", "what", ""]
    out = []
    for title, items in (("Notebooks", notebooks), ("Scripts", scripts),
                         ("Helper modules", helpers)):
        out += [f"{level} {title}", ""]
        out += [table(header, _rows(items, repo)) if items else
                f"No {title.lower()} in `{EXAMPLES}/` in this build.", ""]
    notes = [ex for ex in examples if ex.repo_path.endswith(".md")]
    if notes:
        out += [f"{level} Notes", "", table(["file", "what"], [
            [f"[`{posixpath.relpath(ex.repo_path, EXAMPLES)}`]({ex.repo_path})",
             cell(_md_title(repo / ex.repo_path))] for ex in notes]), ""]
    if images:
        out += [f"{level} Sample images", "",
                " ".join(f"![{posixpath.basename(ex.repo_path)}]({ex.repo_path}){{ width=\"96\" }}"
                         for ex in images), ""]
    return "\n".join(out)


# --- links ------------------------------------------------------------------------------------

_INLINE = re.compile(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
_REFERENCE = re.compile(r"^(\s*\[[^\]]+\]:\s*)(\S+)", re.MULTILINE)
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")



def site_uri(repo_path: str, docs_prefix: str, examples: dict[str, Example]) -> str | None:
    """Where a repository file lives in the site (None: it is not published)."""
    if repo_path.startswith(docs_prefix):
        return repo_path[len(docs_prefix):]
    if repo_path == README:
        return EXAMPLES_PAGE
    ex = examples.get(repo_path)
    if ex is not None:
        return ex.page_uri if ex.has_page else ex.repo_path
    if any(path.startswith(repo_path.rstrip("/") + "/") for path in examples):
        return EXAMPLES_PAGE  # a folder: the site has no listing of its own
    return None


def _rewrite_target(target: str, page_repo_path: str, page_uri: str, docs_prefix: str,
                    examples: dict[str, Example]) -> str:
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^[#/]", target):
        return target  # absolute, a URL, or an anchor on this page
    path, hash_, fragment = target.partition("#")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page_repo_path), path))
    uri = site_uri(resolved, docs_prefix, examples)
    if uri is None:
        return target  # not published: leave it for strict mode to report
    new = posixpath.relpath(uri, posixpath.dirname(page_uri) or ".")
    return new + hash_ + fragment


def rewrite_links(markdown: str, page_repo_path: str, page_uri: str, docs_prefix: str,
                  examples: dict[str, Example]) -> str:
    """Point relative links written against the repository layout at their site copies.

    ``page_repo_path`` is where the Markdown lives in the repository, ``page_uri`` where its
    page lives in the site. Fenced code blocks are left alone.
    """

    def fix(target: str) -> str:
        return _rewrite_target(target, page_repo_path, page_uri, docs_prefix, examples)

    out, fence_mark = [], ""
    for chunk in re.split(r"(\n)", markdown):
        m = _FENCE.match(chunk)
        if m:
            mark = m.group(1)
            if not fence_mark:
                fence_mark = mark
            elif mark[0] == fence_mark[0] and len(mark) >= len(fence_mark):
                fence_mark = ""
            out.append(chunk)
            continue
        if not fence_mark:
            chunk = _INLINE.sub(lambda mm: mm.group(1) + fix(mm.group(2)) + mm.group(3), chunk)
            chunk = _REFERENCE.sub(lambda mm: mm.group(1) + fix(mm.group(2)), chunk)
        out.append(chunk)
    return "".join(out)
