"""The configuration reference, read from the pydantic fields themselves.

Every row comes from a model's ``model_fields`` (type, default, constraints, the docstring under
the field), so a renamed field, a new default or a changed type shows up on the next build.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import itertools
import os
import textwrap
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mdgen import cell, code, table
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

_CONSTRAINTS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "min length",
                "max_length": "max length", "multiple_of": "multiple of"}


def type_name(annotation: Any) -> str:
    """A readable Python type: ``int | None``, ``Literal['a', 'b']``, ``SecretStr``."""
    if annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return "Literal[" + ", ".join(repr(a) for a in args) + "]"
    if origin is not None:
        name = getattr(origin, "__name__", str(origin))
        return f"{name}[{', '.join(type_name(a) for a in args)}]" if args else name
    if annotation is typing.Any:
        return "Any"
    return getattr(annotation, "__name__", str(annotation))


def constraints(field: FieldInfo) -> str:
    """``≥ 1``-style bounds from the field's annotated-types metadata."""
    parts = []
    for item in field.metadata:
        for attr, symbol in _CONSTRAINTS.items():
            value = getattr(item, attr, None)
            if value is not None:
                parts.append(f"{symbol} {value}")
    return ", ".join(parts)


def default_text(field: FieldInfo, from_env: bool) -> str:
    """The default as code, "required", or where the default factory gets it."""
    if field.default_factory is not None:
        if from_env:
            return "from the environment"
        name = getattr(field.default_factory, "__name__", "factory")
        return "a new " + code(name) if name != "<lambda>" else "computed"
    if field.default is PydanticUndefined:
        return "**required**"
    return code(repr(field.default))


def attribute_docs(model: type) -> dict[str, str]:
    """The docstring under each field in the class sources (``model`` and its bases), for
    models that do not set ``use_attribute_docstrings`` and so have no descriptions."""
    docs: dict[str, str] = {}
    for klass in reversed(model.__mro__):
        if klass.__module__.split(".")[0] in ("builtins", "pydantic"):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue  # builtins and classes without source
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for stmt, after in itertools.pairwise(body):
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[stmt.target.id] = inspect.cleandoc(after.value.value)
    return docs


def field_rows(model: type[BaseModel], names: list[str],
               env_vars: Callable[[str, FieldInfo], tuple[str, ...]],
               extra: dict[str, str] | None = None) -> list[list[str]]:
    """One table row per field: name, type (+ bounds), default, env vars, description."""
    rows = []
    fallback = attribute_docs(model)
    for name in names:
        field = model.model_fields[name]
        typ = code(type_name(field.annotation))
        bounds = constraints(field)
        envs = env_vars(name, field)
        row = [code(name), typ + (f" ({bounds})" if bounds else ""),
               default_text(field, from_env=bool(envs) and field.default_factory is not None),
               ", ".join(code(e) for e in envs) or "",
               cell(field.description or fallback.get(name, ""))]
        if extra is not None:
            row.insert(1, extra.get(name, ""))
        rows.append(row)
    return rows


def settings_table(model: type[BaseModel], env_sources: dict[Callable[..., Any], tuple[str, ...]],
                   names: list[str] | None = None) -> str:
    """The table of ``model``'s fields (all, or ``names``); ``env_sources`` maps a default
    factory to the environment variables it reads."""

    def env_vars(_name: str, field: FieldInfo) -> tuple[str, ...]:
        factory = field.default_factory
        return env_sources.get(factory, ()) if factory is not None else ()

    rows = field_rows(model, names if names is not None else list(model.model_fields), env_vars)
    return table(["field", "type", "default", "environment", "description"], rows)


def _signature(field: FieldInfo) -> tuple[Any, ...]:
    return (field.annotation, field.default, field.default_factory, field.description,
            tuple(map(repr, field.metadata)))


def added_fields(plugin: type[BaseModel], base: type[BaseModel]) -> tuple[list[str], list[str]]:
    """``(shared, other)``: the plugin's fields identical to ``base``'s, and the rest (the
    framework's own fields, or base fields the plugin redefines)."""
    shared, other = [], []
    for name, field in plugin.model_fields.items():
        same = name in base.model_fields and _signature(field) == _signature(
            base.model_fields[name])
        (shared if same else other).append(name)
    return shared, other


def plugin_section(plugin: type[BaseModel], base: type[BaseModel],
                   env_sources: dict[Callable[..., Any], tuple[str, ...]]) -> str:
    """How a plugin class's fields relate to ``base``: the shared count and a table of the
    others (or a sentence saying there are none)."""
    shared, other = added_fields(plugin, base)
    missing = [name for name in base.model_fields if name not in plugin.model_fields]
    lines = [f"`{plugin.__module__}.{plugin.__name__}` has all {len(shared)} fields of "
             f"`{base.__name__}` above, unchanged."
             if not missing else
             f"`{plugin.__name__}` shares {len(shared)} fields with `{base.__name__}`; it lacks "
             + ", ".join(code(m) for m in missing) + "."]
    if other:
        lines += ["", "Its own fields (from the framework's base class, or redefined):", "",
                  settings_table(plugin, env_sources, other)]
    else:
        lines += ["", "It adds no fields of its own."]
    return "\n".join(lines)


# --- server settings: the CLI flag and environment variable of each field, found by probing --


@contextlib.contextmanager
def _environ(**values: str | None) -> Iterator[None]:
    """Set (or, for None, unset) environment variables for the block."""
    saved = {k: os.environ.get(k) for k in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _probe_value(action: argparse.Action) -> str:
    default = action.default
    if isinstance(default, bool) or action.type is None:
        return "docs-probe"
    return str(action.type(default) + 1) if default is not None else "1"


def _changed(before: BaseModel, after: BaseModel) -> list[str]:
    return [n for n in type(before).model_fields if getattr(before, n) != getattr(after, n)]


@dataclass(frozen=True)
class Flag:
    """A command-line flag and its help text."""

    name: str
    help: str


def serve_flags(parser: argparse.ArgumentParser, subcommand: str,
                to_settings: Callable[[argparse.Namespace], BaseModel]) -> dict[str, Flag]:
    """``{field: flag}``: parse ``subcommand`` with each flag set to a non-default value and see
    which settings field changes, so the mapping is what the CLI really does."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    command = sub.choices[subcommand]
    base = to_settings(parser.parse_args([subcommand]))
    flags: dict[str, Flag] = {}
    for action in command._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        flag = max(action.option_strings, key=len)
        argv = [subcommand, flag] if action.nargs == 0 else [subcommand, flag,
                                                             _probe_value(action)]
        text = (action.help or "").replace("%(default)s", str(action.default))
        for name in _changed(base, to_settings(parser.parse_args(argv))):
            flags[name] = Flag(flag, text)
    return flags


def env_fields(parser: argparse.ArgumentParser, subcommand: str,
               to_settings: Callable[[argparse.Namespace], BaseModel],
               names: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """``{field: (env var,)}`` for each variable in ``names`` that changes a field."""
    with _environ(**{n: None for n in names}):
        base = to_settings(parser.parse_args([subcommand]))
    found: dict[str, tuple[str, ...]] = {}
    for env in names:
        with _environ(**{env: "docs-probe"}):
            for name in _changed(base, to_settings(parser.parse_args([subcommand]))):
                found[name] = (*found.get(name, ()), env)
    return found


def server_table(model: type[BaseModel], flags: dict[str, Flag],
                 envs: dict[str, tuple[str, ...]]) -> str:
    """The server settings with the CLI flag and environment variable of each field; a field
    without a description borrows its flag's help text."""
    names = list(model.model_fields)
    column = {n: code(f.name) for n, f in flags.items()}
    rows = field_rows(model, names, lambda name, _field: envs.get(name, ()), extra=column)
    for row, name in zip(rows, names, strict=True):
        if name not in flags:
            row[1] = "(none: set it in `ServerSettings`)"
        elif not row[-1] and flags[name].help:
            row[-1] = cell(flags[name].help)
    return table(["field", "`jina-clip serve` flag", "type", "default",
                  "environment (read by the CLI)", "description"], rows)
