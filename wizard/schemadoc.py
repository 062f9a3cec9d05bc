"""The README's table of answers fields, generated from the model's metadata
(:mod:`wizard.schema`) by ``scripts/schema-table``; a unit test keeps the README equal to it."""

from __future__ import annotations

import types
from dataclasses import MISSING, is_dataclass
from typing import Any, Union, get_args, get_origin

from .schema import Info, walk


def type_text(info: Info) -> str:
    if info.choices:
        text = " \\| ".join(f"`{c}`" if c else '`""`' for c in info.choices)
        return f"list of {text}" if info.origin is list else text
    if info.meta.secret is not None or getattr(info.base, "from_answer", None):
        return "secret reference"
    if info.origin is list:
        return f"list of {_type_name(info.item)}"
    if info.origin is dict:
        return "mapping"
    if info.record is not None:
        return "section"
    return _type_name(info.base)


def _type_name(t: Any) -> str:
    if getattr(t, "from_answer", None):
        return "secret reference"
    if isinstance(t, type) and is_dataclass(t):
        return "records"
    if get_origin(t) in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(t))
    return {str: "text", int: "integer", bool: "true/false"}.get(t, getattr(t, "__name__", str(t)))


def _default_text(info: Info) -> str:
    if not info.has_default:
        return "required" if info.meta.required or info.field.default is MISSING else ""
    d = info.default()
    if d is None or d == [] or d == {}:
        return ""
    if info.record is not None:
        return ""
    if isinstance(d, bool):
        return f"`{str(d).lower()}`"
    if isinstance(d, list):
        return "`[" + ", ".join(map(str, d)) + "]`"
    return f'`"{d}"`' if d == "" else f"`{d}`"


def markdown_table(cls: type) -> str:
    """The README's table of answers fields, generated from the model."""
    rows = ["| Field | Type | Default | Meaning |", "|---|---|---|---|"]
    for path, info in walk(cls):
        mt = info.meta
        said = [mt.label, mt.help, mt.doc, f"{mt.range[0]}..{mt.range[1]}" if mt.range else "",
                f"Applies {mt.when.describe()}" if mt.when is not None else ""]
        text = " ".join(x if x.endswith((".", "?")) else x + "." for x in said if x)
        cells = (f"`{path}`", type_text(info), _default_text(info), text.replace("|", "\\|"))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
