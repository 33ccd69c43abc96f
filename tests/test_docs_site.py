"""The generators behind the docs site's reference and example pages (docs/hooks/).

The strict site build in scripts/test proves the pages render and every link resolves; these
tests prove the generated content says what the code says: every field with its real default,
the CLI flag that really sets it, links that land on the published copies, notebooks rendered
cell by cell without running them.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

HOOKS = Path(__file__).resolve().parents[1] / "docs" / "hooks"
sys.path.insert(0, str(HOOKS))

import examples_site  # noqa: E402
import lint_md  # noqa: E402
import ref_errors  # noqa: E402
import ref_openapi  # noqa: E402
import ref_settings  # noqa: E402

from jina_clip import errors  # noqa: E402
from jina_clip.settings import API_KEY_ENV_VARS, JinaCLIPSettings, api_key_from_env  # noqa: E402


def _rows(markdown: str) -> dict[str, list[str]]:
    """Table rows keyed by their first cell (the field name, backticks stripped)."""
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("| `"):  # split on pipes outside code spans
            cells = [c.strip() for c in re.split(r" \| (?=(?:[^`]*`[^`]*`)*[^`]*$)",
                                                 line.strip("| "))]
            rows[cells[0].strip("`")] = cells
    return rows


def test_settings_table_has_every_field_with_its_default() -> None:
    rows = _rows(ref_settings.settings_table(JinaCLIPSettings,
                                             {api_key_from_env: API_KEY_ENV_VARS}))
    assert list(rows) == list(JinaCLIPSettings.model_fields)
    for name, field in JinaCLIPSettings.model_fields.items():
        if field.default_factory is None:
            assert rows[name][2] == f"`{field.default!r}`", name
    assert rows["api_key"][2] == "from the environment"
    assert rows["api_key"][3] == ", ".join(f"`{v}`" for v in API_KEY_ENV_VARS)
    assert rows["batch_size"][1] == "`int | None` (≥ 1)"  # no backslash inside code spans


def test_type_names_are_readable() -> None:
    from typing import Literal

    from pydantic import SecretStr

    assert ref_settings.type_name(int | None) == "int | None"
    assert ref_settings.type_name(Literal["a", "b"]) == "Literal['a', 'b']"
    assert ref_settings.type_name(SecretStr) == "SecretStr"
    assert ref_settings.type_name(list[int]) == "list[int]"


def test_plugin_sections_list_only_what_the_plugin_adds() -> None:
    from langchain_jina_clip import JinaCLIPEmbeddings
    from llama_index.embeddings.jina_clip import JinaCLIPEmbedding

    shared, other = ref_settings.added_fields(JinaCLIPEmbeddings, JinaCLIPSettings)
    assert shared == list(JinaCLIPSettings.model_fields) and other == []
    shared, other = ref_settings.added_fields(JinaCLIPEmbedding, JinaCLIPSettings)
    assert set(shared) == set(JinaCLIPSettings.model_fields)
    assert "embed_batch_size" in other and "model" not in other


def test_server_flags_are_found_by_running_the_cli_parser() -> None:
    from jina_clip import cli

    parser = cli.build_parser()
    flags = ref_settings.serve_flags(parser, "serve", cli.serve_settings)
    assert flags["fetch_timeout_s"].name == "--fetch-timeout"  # the name differs from the field
    assert flags["batching"].name == "--no-batching"  # an inverted switch
    assert flags["max_batch_size"].name == "--max-batch-size"
    assert flags["retry_after_s"].name == "--retry-after"
    assert flags["max_redirects"].name == "--max-redirects"
    from jina_clip.server import ServerSettings

    assert set(flags) == set(ServerSettings.model_fields)  # every field has a flag
    table = _rows(ref_settings.server_table(ServerSettings, flags, {}))
    for name, field in ServerSettings.model_fields.items():  # described by the field itself
        assert table[name][-1] and field.description, name
        assert table[name][-1].split()[0] == field.description.split()[0], name
    envs = ref_settings.env_fields(parser, "serve", cli.serve_settings, (cli.API_KEY_ENV,))
    assert envs == {"api_key": (cli.API_KEY_ENV,)}


def test_errors_page_describes_every_exported_class_once() -> None:
    page = ref_errors.errors_markdown(errors, errors.JinaCLIPError)
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert page.count(f"### `{name}` {{#error-{name.lower()}}}") == 1, name
        assert (cls.__doc__ or "").split()[0] in page


def test_errors_page_refuses_an_error_outside_the_hierarchy() -> None:
    import types

    module = types.ModuleType("fake_errors")
    root = type("Root", (Exception,), {"__module__": "fake_errors"})
    stray = type("Stray", (ValueError,), {"__module__": "fake_errors"})
    module.Root, module.Stray = root, stray
    module.__all__ = ["Root", "Stray"]
    with pytest.raises(ValueError, match="Stray"):
        ref_errors.errors_markdown(module, root)


def _examples(*paths: str) -> dict[str, examples_site.Example]:
    return {p: examples_site.Example(p) for p in paths}


@pytest.mark.parametrize(
    ("page_repo", "page_uri", "target", "expected"),
    [
        # a docs page linking an example the way GitHub resolves it -> the rendered page
        ("docs/langchain.md", "langchain.md", "../examples/rag.py", "examples/rag.md"),
        ("docs/reference/x.md", "reference/x.md", "../../examples/rag.py#L3",
         "../examples/rag.md#L3"),
        # a notebook page linking a sample image and a docs page
        ("examples/notebooks/01.ipynb", "examples/notebooks/01.md", "../images/cat.png",
         "../images/cat.png"),
        ("examples/notebooks/01.ipynb", "examples/notebooks/01.md", "../../docs/server.md#errors",
         "../../server.md#errors"),
        # a folder of examples: the Examples page lists it
        ("examples/images/README.md", "examples/images/README.md", "../notebooks/",
         "../../examples.md"),
        # left alone: URLs, anchors, docs-relative links, unpublished files (strict mode reports)
        ("docs/a.md", "a.md", "https://example.com/x.py", "https://example.com/x.py"),
        ("docs/a.md", "a.md", "#section", "#section"),
        ("docs/a.md", "a.md", "b.md", "b.md"),
        ("docs/a.md", "a.md", "../packages/x.py", "../packages/x.py"),
    ],
)
def test_links_point_at_the_published_copies(page_repo: str, page_uri: str, target: str,
                                             expected: str) -> None:
    published = _examples("examples/rag.py", "examples/images/cat.png",
                          "examples/notebooks/01.ipynb")
    markdown = f"See [it]({target}) and ![pic]({target} \"title\").\n\n[ref]: {target}\n"
    out = examples_site.rewrite_links(markdown, page_repo, page_uri, "docs/", published)
    assert out == (f"See [it]({expected}) and ![pic]({expected} \"title\").\n\n"
                   f"[ref]: {expected}\n")


def test_links_inside_code_blocks_are_left_alone() -> None:
    markdown = "```md\n[x](../examples/rag.py)\n```\n[x](../examples/rag.py)\n"
    out = examples_site.rewrite_links(markdown, "docs/a.md", "a.md", "docs/",
                                      _examples("examples/rag.py"))
    assert out == "```md\n[x](../examples/rag.py)\n```\n[x](examples/rag.md)\n"


def test_notebook_page_shows_every_cell_in_order_and_runs_nothing() -> None:
    nb = {"metadata": {"language_info": {"name": "python"}}, "cells": [
        {"cell_type": "markdown", "source": ["# Title\n", "Intro."]},
        {"cell_type": "code", "source": "raise SystemExit('executed')", "outputs": []},
        {"cell_type": "code", "source": "print(1)",
         "outputs": [{"output_type": "stream", "text": ["1\n"]}]},
        {"cell_type": "markdown", "source": "The end."},
    ]}
    page = examples_site.notebook_page(examples_site.Example("examples/notebooks/n.ipynb"),
                                       json.dumps(nb))
    order = ["# Title", "Source: [`examples/notebooks/n.ipynb`](n.ipynb)", "Intro.",
             "```python\nraise SystemExit('executed')\n```", "```python\nprint(1)\n```",
             "```text\n1\n```", "The end."]
    positions = [page.index(part) for part in order]
    assert positions == sorted(positions)


def test_examples_index_lists_what_exists(tmp_path: Path) -> None:
    (tmp_path / "examples" / "notebooks").mkdir(parents=True)
    (tmp_path / "examples" / "run.py").write_text('"""Run it: a demo."""\n')
    (tmp_path / "examples" / "_helper.py").write_text('"""Shared bits."""\n')
    (tmp_path / "examples" / "notebooks" / "01.ipynb").write_text(json.dumps(
        {"cells": [{"cell_type": "markdown", "source": "# A notebook\n"}]}))
    (tmp_path / "examples" / "__pycache__").mkdir()
    (tmp_path / "examples" / "__pycache__" / "run.pyc").write_bytes(b"")
    found = examples_site.discover(tmp_path)
    assert [e.repo_path for e in found] == ["examples/_helper.py", "examples/notebooks/01.ipynb",
                                            "examples/run.py"]
    index = examples_site.index_markdown(found, tmp_path, "docs/")
    assert "[`run.py`](examples/run.md) | Run it: a demo." in index
    assert "[`notebooks/01.ipynb`](examples/notebooks/01.md) | A notebook" in index
    assert "[`_helper.py`](examples/_helper.md) | Shared bits." in index
    assert examples_site.discover(tmp_path / "nowhere") == []


def test_blocks_under_indented_in_list_items_are_reported() -> None:
    markdown = ("* item\n  continued (fine: lazy continuation)\n\n  ```bash\n  x\n  ```\n\n"
                "  Paragraph.\n\n    Four spaces: fine.\n\n  - a nested item: fine\n")
    assert lint_md.under_indented_blocks(markdown) == [4, 8]
    fenced = "```\n\n  inside a fence: fine\n```\n"
    assert lint_md.under_indented_blocks(fenced) == []


def test_script_page_keeps_docstring_commands_as_a_code_block() -> None:
    text = ('"""Demo: does ``x``.\n\n    python demo.py --tiny\n    python demo.py --api\n\n'
            'More words.\n"""\n')
    page = examples_site.script_page(examples_site.Example("examples/demo.py"), text)
    assert "Demo: does `x`." in page
    assert "```text\npython demo.py --tiny\npython demo.py --api\n```\n\nMore words." in page


def test_examples_readme_opens_the_page_with_its_links_fixed(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "run.py").write_text('"""Run it."""\n')
    (tmp_path / "examples" / "README.md").write_text(
        "# Examples\n\nStart with [`run.py`](run.py); see [the server](../docs/server.md).\n")
    found = examples_site.discover(tmp_path)
    assert [e.repo_path for e in found] == ["examples/run.py"]  # the README is not a page
    index = examples_site.index_markdown(found, tmp_path, "docs/")
    assert index.startswith("Start with [`run.py`](examples/run.md); see [the server](server.md).")
    assert "### Scripts" in index


def test_server_api_page_covers_every_route_and_schema_of_the_app() -> None:
    spec = ref_openapi.build_openapi()
    page = ref_openapi.endpoints_markdown(spec)
    for path, item in spec["paths"].items():
        for method in item:
            assert f"### `{method.upper()} {path}`" in page
    for name in spec["components"]["schemas"]:
        assert f"### `{name}` {{#schema-{name.lower()}}}" in page
    assert "/v1/embeddings" in spec["paths"]
    assert json.loads(ref_openapi.openapi_json(spec)) == spec
    # every response's body is declared: no "shape not declared" rows, no FastAPI 422 schema
    assert "not declared" not in page and "HTTPValidationError" not in page
    assert page.count("| `422` |") == 1 and page.count("| `503` |") == 1
    # built for a server with an API key: the scheme, and each operation's auth
    assert "started with an API key" in page and "`bearerAuth` (http bearer)" in page
    assert page.count("Auth: `Authorization: Bearer <key>` (`bearerAuth`).") == 3  # not /health
    assert page.count("Auth: none.") == 1  # /health
    assert "docs-build-placeholder" not in ref_openapi.openapi_json(spec)


def test_server_api_page_without_a_key_shows_no_auth() -> None:
    spec = ref_openapi.build_openapi(with_api_key=False)
    page = ref_openapi.endpoints_markdown(spec)
    assert "started without an API key" in page
    assert page.count("Auth: none.") == len(spec["paths"]) and "| `401` |" not in page


def test_server_api_page_refuses_a_response_without_a_body_schema() -> None:
    op = {"responses": {"200": {"description": "ok", "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/X"}}}},
        "500": {"description": "oops"}}}
    with pytest.raises(ValueError, match="GET /x: response 500 declares no JSON body"):
        ref_openapi.endpoint_section("/x", "get", op)


def test_schema_types_read_one_way() -> None:
    one_of = {"anyOf": [{"type": "string"}, {"type": "array", "items": {
        "anyOf": [{"type": "string"}, {"$ref": "#/components/schemas/TextItem"}]}},
        {"type": "null"}]}
    assert ref_openapi.schema_type(one_of) == (
        "`string` or array of (`string` or [`TextItem`](#schema-textitem)) or `null`")
