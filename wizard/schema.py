"""Field metadata for the answers model, and everything derived from it.

Each field of the answers dataclasses (:mod:`wizard.answers`) carries one :class:`Meta`
(``dataclasses.field(metadata=...)`` through :func:`fld`): its label and help, its range,
its check, when it applies (:class:`When`), whether it is a secret. The Python type gives
the rest (``Literal[...]`` for choices, ``X | None`` for optional values, ``list[...]``).
From that one description this module derives:

* parsing and validation of a raw mapping (:class:`Parser`), every error naming its path;
* the canonical mapping (:func:`to_dict`) and the defaults (:func:`defaults`);
* pruning of fields that do not apply (:func:`prune`, evaluating the ``when`` conditions);
* the field table of the README (:func:`wizard.schemadoc.markdown_table`).

The front ends (:mod:`wizard.steps`) build their fields from :func:`lookup`. Cross-field
rules that no single field can state are registered per class with :func:`rule`.
"""

from __future__ import annotations

import difflib
import os
import re
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from . import safeio
from .errors import FieldError
from .text import bad_char, printable

Check = Callable[[Any], "str | None"]
Raw = dict[str, Any]

MAX_STRING = 4096
"""Longest string value accepted anywhere in an answers file."""
MAX_ITEMS = 100
"""Most entries in any list or mapping (registries, host aliases, host names, tags...)."""


class Problem(Exception):
    """One field error raised while converting a value (collected by the parser)."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.field_error = FieldError(path, message)


# --------------------------------------------------------------------------- paths in a raw mapping

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parts(path: str) -> list[str | int]:
    return [m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _PART.finditer(path)]


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def get_value(raw: Raw, path: str, default: Any = None) -> Any:
    """Value at a dotted path (``registries[0].host``), or ``default`` when absent."""
    cur: Any = raw
    for p in parts(path):
        if isinstance(p, int):
            if not isinstance(cur, list) or p >= len(cur):
                return default
        elif not isinstance(cur, dict) or p not in cur:
            return default
        cur = cur[p]
    return cur


def set_value(raw: Raw, path: str, value: Any) -> None:
    """Set the value at a dotted path, creating mappings on the way."""
    ps = parts(path)
    cur: Any = raw
    for i, p in enumerate(ps[:-1]):
        nxt = ps[i + 1]
        if isinstance(p, int):
            while len(cur) <= p:
                cur.append({})
            if not isinstance(cur[p], (dict, list)):
                cur[p] = [] if isinstance(nxt, int) else {}
        elif not isinstance(cur.get(p), (dict, list)):
            cur[p] = [] if isinstance(nxt, int) else {}
        cur = cur[p]
    last = ps[-1]
    if isinstance(last, int):
        while len(cur) <= last:
            cur.append(None)
    cur[last] = value


# --------------------------------------------------------------------------- conditions and choices


@dataclass(frozen=True)
class Virtual:
    """A choice that is not stored in the answers file but decides which fields apply (the
    token source, how GitLab's certificate is trusted). ``infer`` reads it from the stored
    fields when the working mapping has no explicit choice; ``implies`` sets stored fields
    for a choice when the mapping is pruned."""

    path: str
    label: str
    choices: tuple[str, ...]
    labels: Mapping[str, str]
    default: str
    infer: Callable[[Raw], str]
    implies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    explain: Mapping[str, str] = field(default_factory=dict)
    """Choice -> what it means in the file, for the README's table."""

    def value(self, raw: Raw) -> str:
        v = raw.get(self.path) if isinstance(raw, dict) else None
        return v if v in self.choices else self.infer(raw)


VIRTUALS: dict[str, Virtual] = {}


def virtual(v: Virtual) -> Virtual:
    VIRTUALS[v.path] = v
    return v


@dataclass(frozen=True)
class When:
    """The field applies when the value at ``path`` is (``negate``: is not) one of ``values``,
    and ``also`` holds. ``path`` is read from the working mapping, or for a field of a list
    item (a registry), from that item."""

    path: str
    values: tuple[Any, ...]
    negate: bool = False
    also: When | None = None

    def __call__(self, raw: Raw) -> bool:
        val = VIRTUALS[self.path].value(raw) if self.path in VIRTUALS else get_value(raw, self.path)
        return ((val in self.values) != self.negate) and (self.also is None or self.also(raw))

    def __and__(self, other: When) -> When:
        return When(self.path, self.values, self.negate, other if self.also is None else self.also & other)

    def describe(self) -> str:
        """``when ...`` / ``unless ...`` in words, for the README's table."""
        v = VIRTUALS.get(self.path)
        if v is not None:
            text = " or ".join(v.explain.get(x, str(x)) for x in self.values)
        else:
            text = f"{self.path} is " + " or ".join(f"`{x}`" for x in self.values)
        text = ("unless " if self.negate else "when ") + text
        return text if self.also is None else f"{text}, and {self.also.describe()}"


def when(path: str, *values: Any) -> When:
    return When(path, values)


def unless(path: str, *values: Any) -> When:
    return When(path, values, negate=True)


# --------------------------------------------------------------------------- field metadata


@dataclass(frozen=True)
class Secret:
    """A secret field: the answers hold ``env:NAME`` / ``file:PATH``. What the front ends
    accept when the secret itself is typed, and where they offer to store it."""

    what: str
    prefix: str | None = None
    """Tokens of this kind start with this."""
    wrong: Mapping[str, str] = field(default_factory=dict)
    """Prefix of a token of another kind -> what to tell the user."""
    file: str = ""
    env: str = ""
    """Default file name (next to the answers file) and environment variable to store it in."""


@dataclass(frozen=True)
class Meta:
    label: str = ""
    help: str = ""  # shown by the front ends and in the README; doc: in the README only
    doc: str = ""
    placeholder: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)  # choice -> how the front ends show it
    check: Check | None = None
    """The value (already of the right type) -> a problem, or None."""
    each: Check | None = None
    """For a list: one item (any type, as written) -> a problem, or None."""
    range: tuple[int, int] | None = None
    why: str = ""  # appended to the out-of-range message
    required: str | None = None
    """The message when the key is missing from the file (min_items: when a list is empty;
    unique: when an item repeats; shape: what a list of records must be)."""
    min_items: str | None = None
    unique: str | None = None
    shape: str | None = None
    when: When | None = None
    prune: bool = True
    """Drop the field from the working mapping when ``when`` is false (else only not asked)."""
    secret: Secret | None = None
    file: bool = False  # a path to a PEM file, checked when files are checked
    nullable: bool = False
    """``null`` in the file means the default (else "must not be empty")."""
    optional: bool | None = None
    """The front ends accept an empty answer (default: the type allows None, or the default
    is an empty list or mapping)."""
    ask: str | None = None  # how the front ends ask, when the type does not say (wizard.steps.KINDS)
    dynamic: str | None = None  # choices the front end fills at run time ("contexts")
    omit: tuple[Any, ...] = ()  # to_dict leaves the key out for these values
    convert: Callable[[Any], Any] | None = None  # applied to a valid value (a normalized fingerprint)
    parse: Callable[[Parser, Any, str], Any] | None = None
    """Parses the value itself (``(parser, raw value, path) -> value``) instead of the type."""
    skip_empty: bool = False  # a list of records leaves out an empty mapping
    internal: bool = False  # not part of the file (the answers file's folder)


def fld(default: Any = MISSING, *, factory: Callable[[], Any] | None = None, compare: bool = True,
        repr: bool = True, kw_only: bool = False, **meta: Any) -> Any:  # noqa: A002
    """A dataclass field with its :class:`Meta`."""
    kw: dict[str, Any] = {"metadata": {"schema": Meta(**meta)}, "compare": compare, "repr": repr,
                          "kw_only": kw_only}
    if factory is not None:
        kw["default_factory"] = factory
    elif default is not MISSING:
        kw["default"] = default
    return field(**kw)


def meta(f: Field[Any]) -> Meta:
    m = f.metadata.get("schema")
    return m if isinstance(m, Meta) else Meta()


RULES: dict[type, list[Callable[..., None]]] = {}


def rule(cls: type) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a cross-field rule ``fn(parser, obj, mapping, path)`` of a model class."""
    def add(fn: Callable[..., None]) -> Callable[..., None]:
        RULES.setdefault(cls, []).append(fn)
        return fn
    return add


# --------------------------------------------------------------------------- types


@dataclass(frozen=True)
class Info:
    """One field of the model, its type taken apart."""

    name: str
    meta: Meta
    base: Any
    """The type without ``None``: str, int, bool, a dataclass, list, dict, a Literal..."""
    nullable: bool
    field: Field[Any]

    @property
    def origin(self) -> Any:
        return get_origin(self.base)

    @property
    def choices(self) -> tuple[str, ...]:
        if self.origin is Literal:
            return tuple(get_args(self.base))
        if self.origin is list and get_origin(get_args(self.base)[0]) is Literal:
            return tuple(get_args(get_args(self.base)[0]))
        return ()

    @property
    def item(self) -> Any:
        return get_args(self.base)[0] if self.origin is list else None

    @property
    def record(self) -> type | None:
        """The dataclass of a nested section or of the items of a list."""
        t = self.item if self.origin is list else self.base
        return t if isinstance(t, type) and is_dataclass(t) and not hasattr(t, "from_answer") else None

    def default(self) -> Any:
        f = self.field
        if f.default is not MISSING:
            return f.default
        if f.default_factory is not MISSING:
            return f.default_factory()
        return None

    @property
    def has_default(self) -> bool:
        return self.field.default is not MISSING or self.field.default_factory is not MISSING


_INFO: dict[type, tuple[Info, ...]] = {}


def infos(cls: type) -> tuple[Info, ...]:
    """The fields of a model class (cached), without internal ones."""
    if cls not in _INFO:
        hints = get_type_hints(cls)
        out = []
        for f in fields(cls):
            m = meta(f)
            if m.internal:
                continue
            t = hints[f.name]
            args = get_args(t)
            nullable = (get_origin(t) in (Union, types.UnionType)) and type(None) in args
            if nullable:
                rest = tuple(a for a in args if a is not type(None))
                t = rest[0] if len(rest) == 1 else Union[rest]  # noqa: UP007
            out.append(Info(f.name, m, t, nullable, f))
        _INFO[cls] = tuple(out)
    return _INFO[cls]


def lookup(cls: type, path: str) -> Info:
    """The field at a dotted path (list indexes ignored: ``registries[0].host``)."""
    info = None
    for p in parts(path):
        if isinstance(p, int):
            continue
        if info is not None:
            cls = info.record  # type: ignore[assignment]
            if cls is None:
                raise KeyError(path)
        info = next((i for i in infos(cls) if i.name == p), None)
        if info is None:
            raise KeyError(path)
    if info is None:
        raise KeyError(path)
    return info


def walk(cls: type, prefix: str = "") -> Iterator[tuple[str, Info]]:
    """Every field path of the model, depth first (list items as ``name[]``)."""
    for info in infos(cls):
        path = join(prefix, info.name)
        yield path, info
        if info.record is not None:
            yield from walk(info.record, path + "[]" if info.origin is list else path)


# --------------------------------------------------------------------------- parsing

_NAMES = {"str": "a string", "int": "a whole number", "bool": "true or false", "list": "a list", "dict": "a mapping"}


class Parser:
    """Walks a raw mapping along the model, collecting every error instead of stopping at the first."""

    def __init__(self, base_dir: Path, check_files: bool):
        self.base_dir = base_dir
        self.check_files = check_files
        self.errors: list[FieldError] = []

    def err(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def mapping(self, raw: object, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            self.err(path or "(top level)", f"must be a mapping, not {type(raw).__name__}")
            return {}
        for key in raw:
            if key not in allowed:
                name = printable(str(key), 60)
                near = difflib.get_close_matches(str(key)[:100], allowed, n=1)
                hint = f'; did you mean "{near[0]}"?' if near else f"; allowed keys: {', '.join(allowed)}"
                self.err(join(path, name), f"unknown key{hint}")
        return dict(raw)

    def text_error(self, path: str, val: str) -> bool:
        """Report a string value with characters that have no place in configuration."""
        bad = bad_char(val)
        if bad:
            self.err(path, f"contains {bad}; remove it (values are single lines of visible text)")
            return True
        if len(val) > MAX_STRING:
            self.err(path, f"is {len(val)} characters long; at most {MAX_STRING} are allowed")
            return True
        return False

    def typed(self, val: Any, path: str, kind: type, check: Check | None = None) -> tuple[bool, Any]:
        """(ok, value) of one scalar, list or mapping of the given Python type."""
        if kind is int and isinstance(val, bool):
            self.err(path, f"must be a whole number, not {val!r}")
            return False, None
        if kind is str and isinstance(val, (int, float)) and not isinstance(val, bool):
            val = str(val)
        if not isinstance(val, kind):
            self.err(path, f"must be {_NAMES.get(kind.__name__, kind.__name__)}, not {printable(repr(val), 80)}")
            return False, None
        if isinstance(val, str) and self.text_error(path, val):
            return False, None
        if isinstance(val, (list, dict)) and len(val) > MAX_ITEMS:
            self.err(path, f"has {len(val)} entries; at most {MAX_ITEMS} are allowed")
            return False, None
        if check is not None:
            msg = check(val)
            if msg:
                self.err(path, msg)
                return False, None
        return True, val

    def obj(self, cls: type, raw: object, path: str) -> Any:
        """One model object from its mapping; its cross-field rules run on it."""
        m = self.mapping(raw, path, tuple(i.name for i in infos(cls)))
        vals = {i.name: self.value(i, m, path) for i in infos(cls)}
        obj = cls(**vals)
        for fn in RULES.get(cls, ()):
            fn(self, obj, m, path)
        return obj

    def value(self, info: Info, m: dict[str, Any], path: str) -> Any:
        p, mt = join(path, info.name), info.meta
        if info.name not in m:
            if mt.required:
                self.err(p, mt.required)
            elif mt.min_items and not info.default():
                self.err(p, mt.min_items)
            return info.default()
        val = m[info.name]
        rec = info.record
        if val is None:
            if info.nullable or mt.nullable or (info.has_default and info.default() is None):
                return info.default()
            if rec is not None and info.origin is not list:  # an empty section: its defaults
                if mt.required and not info.has_default:
                    self.err(p, mt.required)
                    return None
                return self.obj(rec, None, p)
        if mt.parse is not None:
            return mt.parse(self, val, p)
        if val is None:
            self.err(p, "must not be empty")
            return info.default()
        if rec is not None and info.origin is list:
            return self.records(info, rec, val, p)
        if rec is not None:
            return self.obj(rec, val, p)
        from_answer = getattr(info.base, "from_answer", None)
        if from_answer is not None:
            try:
                return from_answer(val, p, self.base_dir)
            except Problem as e:
                self.errors.append(e.field_error)
                return None
        if info.origin is list:
            return self.strings(info, val, p)
        kind = {Literal: str}.get(info.origin, info.origin or info.base)
        ok, out = self.typed(val, p, kind, self.checker(info))
        if not ok:
            return info.default()
        if mt.file:
            self.file(out, p)
        return mt.convert(out) if mt.convert else out

    def checker(self, info: Info) -> Check | None:
        mt, choices = info.meta, info.choices
        if choices:
            return lambda x: None if x in choices else f'"{x}" is not one of: {" | ".join(choices) or "(empty)"}'
        if mt.range:
            lo, hi = mt.range
            return lambda x: None if lo <= x <= hi else f"{x} is out of range; use {lo}..{hi}{mt.why}"
        return mt.check

    def strings(self, info: Info, val: Any, p: str) -> list[str]:
        ok, items = self.typed(val, p, list)
        if not ok:
            return info.default()
        mt, choices = info.meta, info.choices
        for j, item in enumerate(items):
            if choices:
                msg = None if isinstance(item, str) and item in choices else \
                    f'{printable(repr(item), 60)} is not one of: {" | ".join(choices)}'
            else:
                msg = mt.each(item) if mt.each else None
            if msg:
                self.err(f"{p}[{j}]", msg)
            elif isinstance(item, str):
                self.text_error(f"{p}[{j}]", item)
        if not items and mt.min_items:
            self.err(p, mt.min_items)
        if mt.unique and len(set(map(str, items))) != len(items):
            self.err(p, mt.unique)
        return [str(x) for x in items]

    def records(self, info: Info, rec: type, val: Any, p: str) -> list[Any]:
        if not isinstance(val, list):
            self.err(p, f"must be {info.meta.shape}" if info.meta.shape else
                     f"must be a list, not {printable(repr(val), 80)}")
            return []
        if len(val) > MAX_ITEMS:
            self.err(p, f"has {len(val)} entries; at most {MAX_ITEMS} are allowed")
            return []
        out = []
        for i, item in enumerate(val):
            if info.meta.skip_empty and not (isinstance(item, Mapping) and item):
                self.mapping(item, f"{p}[{i}]", ())  # names a value that is not a mapping
                continue
            out.append(self.obj(rec, item, f"{p}[{i}]"))
        return out

    def file(self, val: str, path: str) -> None:
        if not self.check_files:
            return
        full = Path(os.path.expanduser(val))
        full = full if full.is_absolute() else self.base_dir / full
        try:
            st = full.stat()
        except (OSError, ValueError):
            st = None
        if st is None or not full.is_file():
            what = "is not a regular file" if st is not None else "does not exist"
            self.err(path, f'file "{val}" {what} (relative paths are read from '
                     f"the answers file's folder, {self.base_dir})")
        elif st.st_size > safeio.CA_LIMIT:
            self.err(path, f'file "{val}" is {st.st_size} bytes; a PEM bundle has at most '
                     f"{safeio.CA_LIMIT} bytes. Is this the right file?")


# --------------------------------------------------------------------------- derived mappings


def _plain(value: Any) -> Any:
    if getattr(type(value), "from_answer", None):
        return str(value)  # a secret reference: its text, never a value
    if is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, list):
        return [_plain(x) for x in value]
    if isinstance(value, dict):
        return {k: _plain(x) for k, x in value.items()}
    return value


def to_dict(obj: Any) -> dict[str, Any]:
    """The canonical mapping of a model object (secret references as their text)."""
    out: dict[str, Any] = {}
    for info in infos(type(obj)):
        value = getattr(obj, info.name)
        if any(value is o or (value == o and type(value) is type(o)) for o in info.meta.omit):
            continue
        out[info.name] = _plain(value)
    return out


def defaults(cls: type) -> Raw:
    """The working mapping a fresh answer starts from: every default, sections expanded
    (also optional ones, so the front ends can show their fields), an empty value where
    the file must give one."""
    out: Raw = {}
    for info in infos(cls):
        if info.has_default and info.default() is not None:
            d = info.default()
            out[info.name] = _plain(d)
        elif info.record is not None and info.origin is not list:
            out[info.name] = defaults(info.record)
        elif info.has_default:
            out[info.name] = None
        else:
            out[info.name] = {list: [], dict: {}}.get(info.origin, None if info.base is int else "")
    return out


def prune(cls: type, raw: Raw) -> Raw:
    """Drop from ``raw`` (in place) every field whose ``when`` is false, and set what the
    virtual choices imply; virtual keys themselves are removed. Returns ``raw``."""
    for v in VIRTUALS.values():  # decided once, before fields they are inferred from go
        raw[v.path] = v.value(raw)
    for v in VIRTUALS.values():
        for path, value in v.implies.get(v.value(raw), {}).items():
            set_value(raw, path, value)
    _prune(cls, raw, raw)
    for v in VIRTUALS.values():
        raw.pop(v.path, None)
    return raw


def _prune(cls: type, node: Raw, ctx: Raw) -> None:
    for info in infos(cls):
        mt = info.meta
        if info.name not in node:
            continue
        if mt.when is not None and mt.prune and not mt.when(ctx):
            node.pop(info.name)
            continue
        val, rec = node[info.name], info.record
        if rec is None:
            continue
        if info.origin is list and isinstance(val, list):
            for item in val:
                if isinstance(item, dict):
                    _prune(rec, item, item)
        elif isinstance(val, dict):
            _prune(rec, val, ctx)
