"""The errors reference: the exception hierarchy of a module, read from the classes.

The tree is walked through ``__subclasses__`` from the module's root class, so a new error class
appears on the next build without anyone editing the page.
"""

from __future__ import annotations

import inspect
from types import ModuleType

from mdgen import code, dedent_doc


def _anchor(cls: type) -> str:
    return "error-" + cls.__name__.lower()


def _children(cls: type, module: ModuleType) -> list[type]:
    """Direct subclasses defined in ``module``, in the module's ``__all__`` order."""
    order = {name: i for i, name in enumerate(getattr(module, "__all__", []))}
    kids = [c for c in cls.__subclasses__() if c.__module__ == module.__name__]
    return sorted(kids, key=lambda c: order.get(c.__name__, len(order)))


def _walk(cls: type, module: ModuleType, depth: int = 0) -> list[tuple[int, type]]:
    out = [(depth, cls)]
    for kid in _children(cls, module):
        out += _walk(kid, module, depth + 1)
    return out


def _other_bases(cls: type, module: ModuleType) -> list[str]:
    """Built-in bases beyond the hierarchy (``ValueError``): what else catches it."""
    return [b.__name__ for b in cls.__bases__
            if b.__module__ != module.__name__ and b is not Exception]


def _constructor(cls: type) -> str | None:
    """The signature of ``__init__`` when this class defines its own."""
    if "__init__" not in cls.__dict__:
        return None
    try:  # real annotations, not the strings of ``from __future__ import annotations``
        sig = inspect.signature(cls.__dict__["__init__"], eval_str=True)
    except NameError:  # an annotation names a TYPE_CHECKING-only import
        sig = inspect.signature(cls.__dict__["__init__"])
    params = [p for name, p in sig.parameters.items() if name != "self"]
    return cls.__name__ + str(sig.replace(parameters=params, return_annotation=sig.empty))


def _class_section(cls: type, module: ModuleType) -> list[str]:
    parents = [f"[`{b.__name__}`](#{_anchor(b)})" if b.__module__ == module.__name__
               else code(b.__name__) for b in cls.__bases__]
    lines = [f"### `{cls.__name__}` {{#{_anchor(cls)}}}", "",
             f"Subclass of {', '.join(parents)}.", ""]
    ctor = _constructor(cls)
    if ctor:
        lines += [f"Constructor: {code(ctor)}", ""]
    return [*lines, dedent_doc(cls.__doc__), ""]


def errors_markdown(module: ModuleType, root: type) -> str:
    """The hierarchy under ``root`` as a nested list, one section per class (bases,
    constructor, docstring), then the module's exported warnings. A class with two parents in
    the hierarchy is listed under both and described once."""
    tree = _walk(root, module)
    lines = ["## Hierarchy", ""]
    for depth, cls in tree:
        also = _other_bases(cls, module)
        suffix = f" (also {', '.join(code(b) for b in also)})" if also else ""
        lines.append(f"{'    ' * depth}- [`{cls.__name__}`](#{_anchor(cls)}){suffix}")
    lines += ["", "## Errors", ""]
    described: list[type] = []
    for _, cls in tree:
        if cls not in described:
            described.append(cls)
            lines += _class_section(cls, module)
    exported = [getattr(module, name) for name in getattr(module, "__all__", [])]
    warnings = [c for c in exported if isinstance(c, type) and issubclass(c, Warning)]
    if warnings:
        lines += ["## Warnings", ""]
        for cls in warnings:
            lines += _class_section(cls, module)
    strays = [c.__name__ for c in exported if isinstance(c, type)
              and issubclass(c, BaseException) and c not in described and c not in warnings]
    if strays:  # a public error outside the hierarchy is a bug worth failing the build for
        raise ValueError(f"{module.__name__} exports errors outside {root.__name__}: {strays}")
    return "\n".join(lines)
