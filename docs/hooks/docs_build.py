"""MkDocs hook: the generated parts of the site, produced from the code at every build.

* Pages hold markers ``<!-- generate: NAME -->``; each is replaced by the output of the
  generator registered under NAME (configuration tables from the pydantic fields, the server's
  OpenAPI rendered as Markdown, the error hierarchy, the list of examples). A marker without a
  generator, or a generator whose marker disappeared, fails the build.
* ``reference/openapi.json`` is the running app's ``app.openapi()``, published as is.
* ``examples/`` is published, with a page per script and notebook (see ``examples_site``).

Nothing generated is committed, so none of it can go stale.
"""

from __future__ import annotations

import argparse
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import examples_site
import lint_md
import ref_errors
import ref_openapi
import ref_settings
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

log = logging.getLogger("mkdocs.hooks.docs_build")  # under "mkdocs": strict mode counts it

MARKER = re.compile(r"<!--\s*generate:\s*([\w-]+)\s*-->")
OPENAPI_URI = "reference/openapi.json"


class _Build:
    """What one build computed in ``on_files`` and the pages use later."""

    repo: Path = Path()
    docs_prefix: str = "docs/"
    openapi: dict[str, Any] = {}  # noqa: RUF012 - replaced per build, never mutated
    examples: dict[str, examples_site.Example] = {}  # noqa: RUF012
    used: set[str] = set()  # noqa: RUF012


def _settings() -> str:
    from jina_clip.settings import API_KEY_ENV_VARS, JinaCLIPSettings, api_key_from_env

    return ref_settings.settings_table(JinaCLIPSettings, {api_key_from_env: API_KEY_ENV_VARS})


def _plugin(cls_path: str) -> Callable[[], str]:
    def render() -> str:
        import importlib

        from jina_clip.settings import API_KEY_ENV_VARS, JinaCLIPSettings, api_key_from_env

        module, _, name = cls_path.rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        return ref_settings.plugin_section(cls, JinaCLIPSettings,
                                           {api_key_from_env: API_KEY_ENV_VARS})

    return render


def _server_settings() -> str:
    from jina_clip import cli
    from jina_clip.server import ServerSettings

    parser: argparse.ArgumentParser = cli.build_parser()
    flags = ref_settings.serve_flags(parser, "serve", cli.serve_settings)
    envs = ref_settings.env_fields(parser, "serve", cli.serve_settings, (cli.API_KEY_ENV,))
    return ref_settings.server_table(ServerSettings, flags, envs)


def _embed_options() -> str:
    from jina_clip.embed import EmbedOptions

    return ref_settings.settings_table(EmbedOptions, {})


def _wire_models() -> str:
    from jina_clip import wire

    return ref_openapi.models_markdown([wire.EmbeddingResponse, wire.ErrorBody])


def _errors() -> str:
    from jina_clip import errors

    return ref_errors.errors_markdown(errors, errors.JinaCLIPError)


GENERATORS: dict[str, Callable[[], str]] = {
    "settings": _settings,
    "langchain-fields": _plugin("langchain_jina_clip.JinaCLIPEmbeddings"),
    "llamaindex-fields": _plugin("llama_index.embeddings.jina_clip.JinaCLIPEmbedding"),
    "server-settings": _server_settings,
    "embed-options": _embed_options,
    "openapi": lambda: ref_openapi.endpoints_markdown(_Build.openapi),
    "wire-models": _wire_models,
    "errors": _errors,
    "examples": lambda: examples_site.index_markdown(list(_Build.examples.values()),
                                                     _Build.repo, _Build.docs_prefix),
}


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Publish the OpenAPI document and the examples next to the docs."""
    repo = Path(config.config_file_path).resolve().parent
    docs_dir = Path(config.docs_dir).resolve()
    _Build.repo = repo
    _Build.docs_prefix = docs_dir.relative_to(repo).as_posix() + "/"
    _Build.used = set()
    _Build.openapi = ref_openapi.build_openapi()
    files.append(File.generated(config, OPENAPI_URI,
                                content=ref_openapi.openapi_json(_Build.openapi)))
    _Build.examples = {ex.repo_path: ex for ex in examples_site.discover(repo)}
    for ex in _Build.examples.values():
        files.append(File.generated(config, ex.repo_path, abs_src_path=str(repo / ex.repo_path)))
        if ex.has_page:
            files.append(File.generated(config, ex.page_uri,
                                        content=examples_site.page_markdown(ex, repo)))
    _refuse_clashes(files)
    return files


def _refuse_clashes(files: Files) -> None:
    """Two sources, one output (``examples.md`` and an ``examples/README.md`` both become
    ``examples/index.html``): fail instead of letting one silently overwrite the other."""
    seen: dict[str, str] = {}
    for file in files:
        other = seen.setdefault(file.dest_uri, file.src_uri)
        if other != file.src_uri:
            raise PluginError(f"{file.src_uri} and {other} would both be published as "
                              f"{file.dest_uri}; rename one")


def _page_repo_path(page: Page) -> str:
    """Where the page's Markdown comes from in the repository."""
    src = page.file.src_uri
    if src in _Build.examples:  # a Markdown file of examples/, published as it is
        return src
    for ex in _Build.examples.values():
        if ex.has_page and ex.page_uri == src:
            return ex.repo_path
    return _Build.docs_prefix + src


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Fill the markers, then point repository-relative links at the site's copies."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise PluginError(f"{page.file.src_uri}: no generator named {name!r} "
                              f"(known: {', '.join(sorted(GENERATORS))})")
        _Build.used.add(name)
        try:
            return GENERATORS[name]()
        except Exception as exc:  # name the marker: a bare traceback hides which page failed
            raise PluginError(f"{page.file.src_uri}: generating {name!r} failed: "
                              f"{type(exc).__name__}: {exc}") from exc

    for line in lint_md.under_indented_blocks(markdown):
        log.warning("%s:%d: a block inside a list item needs 4 spaces of indentation here "
                    "(Python-Markdown ends the list otherwise)", page.file.src_uri, line)
    markdown = MARKER.sub(fill, markdown)
    return examples_site.rewrite_links(markdown, _page_repo_path(page), page.file.src_uri,
                                       _Build.docs_prefix, _Build.examples)


def on_post_build(config: MkDocsConfig) -> None:
    """Every generator must have been used: a deleted marker would silently drop a reference."""
    unused = sorted(set(GENERATORS) - _Build.used)
    if unused:
        raise PluginError(f"generated sections missing from the pages: {', '.join(unused)}")
