"""Readable differences between two versions of a Kubernetes object.

Used by ``apply --dry-run`` (live object vs. the server's dry-run result) and by
apply itself to decide whether an object changes at all. Server bookkeeping
(managedFields, resourceVersion, generation, uid, creationTimestamp) is ignored.
Secret values are never shown: a changed key of a Secret reads ``(value changed)``.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

NOISE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")
SECRET_VALUE_FIELDS = ("data", "stringData")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_MAX_VALUE = 160

CREATED, CHANGED, UNCHANGED = "created", "changed", "unchanged"


@dataclass(frozen=True)
class Change:
    """One changed field. ``op`` is ``+`` (added), ``-`` (removed) or ``~`` (changed)."""

    op: str
    path: str
    old: Any = None
    new: Any = None
    secret: bool = False

    def render(self) -> str:
        if self.secret:
            what = {"+": "(value added)", "-": "(value removed)", "~": "(value changed)"}[self.op]
            return f"{self.op} {self.path}: {what}"
        if self.op == "+":
            return f"+ {self.path}: {_show(self.new)}"
        if self.op == "-":
            return f"- {self.path}: {_show(self.old)}"
        return f"~ {self.path}: {_show(self.old)} -> {_show(self.new)}"


def normalize(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy without server bookkeeping, for comparison."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in NOISE_METADATA:
            meta.pop(key, None)
        for key in ("annotations", "labels"):
            if meta.get(key) == {}:
                meta.pop(key)
    return out


def changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[Change]:
    """Every changed field between two objects (bookkeeping ignored), in document order."""
    a, b = normalize(old) or {}, normalize(new) or {}
    is_secret = (b.get("kind") or a.get("kind")) == "Secret"
    out: list[Change] = []
    _walk(a, b, "", out, is_secret)
    return out


def classify(live: dict[str, Any] | None, result: dict[str, Any]) -> str:
    """created / changed / unchanged for ``live`` (None when absent) and the applied result."""
    if live is None:
        return CREATED
    return CHANGED if changes(live, result) else UNCHANGED


def render(chs: list[Change], indent: str = "    ") -> str:
    return "\n".join(indent + c.render() for c in chs)


def summary(obj: dict[str, Any]) -> list[Change]:
    """A new object as a list of additions (Secret values hidden), for a 'created' preview."""
    return changes(None, obj)


# ---------------------------------------------------------------------------- internals


def _key(path: str, key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _walk(a: Any, b: Any, path: str, out: list[Change], is_secret: bool) -> None:
    secret_here = _is_secret_path(path, is_secret)
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            p = _key(path, str(k))
            if k not in b:
                _emit_removed(a[k], p, out, is_secret)
            elif k not in a:
                _emit_added(b[k], p, out, is_secret)
            elif a[k] != b[k]:
                _walk(a[k], b[k], p, out, is_secret)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and not secret_here:
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                _walk(x, y, f"{path}[{i}]", out, is_secret)
        return
    if a != b:
        out.append(Change("~", path, a, b, secret=secret_here))


def _is_secret_path(path: str, is_secret: bool) -> bool:
    if not is_secret:
        return False
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    return head in SECRET_VALUE_FIELDS


def _emit_added(value: Any, path: str, out: list[Change], is_secret: bool) -> None:
    if isinstance(value, dict) and value and path in SECRET_VALUE_FIELDS and is_secret:
        for k, v in value.items():
            out.append(Change("+", _key(path, str(k)), None, v, secret=True))
        return
    out.append(Change("+", path, None, value, secret=_is_secret_path(path, is_secret)))


def _emit_removed(value: Any, path: str, out: list[Change], is_secret: bool) -> None:
    if isinstance(value, dict) and value and path in SECRET_VALUE_FIELDS and is_secret:
        for k, v in value.items():
            out.append(Change("-", _key(path, str(k)), v, None, secret=True))
        return
    out.append(Change("-", path, value, None, secret=_is_secret_path(path, is_secret)))


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=False)
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE - 3] + "..."
