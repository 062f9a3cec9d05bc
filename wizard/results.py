"""Check results and findings: the one shape every check, analyzer and report uses.

A :class:`Result` is what contract section 4 calls a result: a stable ``id``, an
``area``, a ``status`` (pass / warn / fail / skip), a one-line ``title``, a
``detail`` saying what was seen, a ``fix`` saying what to do, and the ids of the
failure-catalog entries (E01..E38) it confirms or rules out.

One meaning for ``check`` and ``apply``
    A result about a state that ``apply`` itself creates or repairs (a missing
    namespace, ServiceAccount or Secret, a Role lacking a rule...) carries
    ``apply="creates"`` or ``apply="repairs"`` and the status ``warn``: ``check``
    shows it (as ``APPLY``) and exits 0 for it, ``apply`` lists it as work it is about
    to do and never stops on it. Such a result is never a failure.

Ignoring
    :func:`gate` splits results into what blocks ``apply``, what asks for consent,
    what ``apply`` will do, and what the user chose to ignore (``--ignore ID[,ID...]``
    or ``all``, like kubeadm's ``--ignore-preflight-errors``; the TUI's "continue
    anyway" passes the ids of the failures it continues past).
"""

from __future__ import annotations

import enum
import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

ApplyAction = Literal["creates", "repairs"]
"""What ``apply`` does about a result's subject: create it (absent) or repair it (present but wrong)."""

IGNORE_ALL = "all"


class Status(str, enum.Enum):
    """Outcome of one check. Ordered by severity through :attr:`rank`."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"

    @property
    def rank(self) -> int:
        return {"skip": 0, "pass": 1, "warn": 2, "fail": 3}[self.value]

    @property
    def symbol(self) -> str:
        return {"pass": "✔", "warn": "!", "fail": "✘", "skip": "-"}[self.value]


@dataclass(frozen=True)
class Result:
    """One check outcome or diagnosis finding."""

    id: str
    area: str
    status: Status
    title: str
    detail: str = ""
    fix: str = ""
    catalog: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    """Log lines or object references that support a finding (diagnose only)."""
    data: dict[str, Any] = field(default_factory=dict, compare=False)
    """Structured extras for the UI (certificate fields, server version...). Not in JSON."""
    apply: ApplyAction | None = None
    """Set when ``apply`` creates or repairs what this result is about (status is then ``warn``)."""

    @property
    def label(self) -> str:
        """The word a table shows: PASS / WARN / FAIL / SKIP, or APPLY for work apply will do."""
        return "APPLY" if self.apply else self.status.value.upper()

    @property
    def mark(self) -> str:
        return "+" if self.apply else self.status.symbol

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "area": self.area,
            "status": self.status.value,
            "title": self.title,
            "detail": self.detail,
            "fix": self.fix,
            "catalog": list(self.catalog),
        }
        if self.evidence:
            out["evidence"] = list(self.evidence)
        if self.apply:
            out["apply"] = self.apply
        return out


def summarize(results: Iterable[Result]) -> dict[str, int]:
    counts = {"pass": 0, "warn": 0, "fail": 0, "skip": 0}
    for r in results:
        counts[r.status.value] += 1
    return counts


def report_json(results: list[Result], ignore: Iterable[str] = ()) -> str:
    """The ``--json`` document of contract section 4, plus ``apply`` (ids of results apply
    creates or repairs) and ``ignored`` (ids of failures and warnings the user ignored)."""
    g = gate(results, ignore)
    ignored = {r.id for r in g.ignored}
    rows = []
    for r in results:
        row = r.to_json()
        if r.id in ignored:
            row["ignored"] = True
        rows.append(row)
    doc = {
        "version": 1,
        "results": rows,
        "summary": summarize(results),
        "apply": [r.id for r in g.todo],
        "ignored": sorted(ignored),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def any_failed(results: Iterable[Result]) -> bool:
    return any(r.status is Status.FAIL and not r.apply for r in results)


# --------------------------------------------------------------------------- gate


def parse_ignore(values: Iterable[str] | str | None) -> frozenset[str]:
    """``--ignore`` values (repeatable, comma-separated) as a set of ids/globs; ``all`` ignores everything."""
    if values is None:
        return frozenset()
    if isinstance(values, str):
        values = [values]
    out: set[str] = set()
    for v in values:
        out.update(p.strip() for p in str(v).split(",") if p.strip())
    return frozenset(IGNORE_ALL if p.lower() == IGNORE_ALL else p for p in out)


def ignores(pattern: str, check_id: str) -> bool:
    """Does one ``--ignore`` entry cover this id? Exact id, ``all``, a glob (``rbac.*``) or an id prefix."""
    if pattern == IGNORE_ALL or pattern == check_id:
        return True
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(check_id, pattern)
    return check_id.startswith(pattern.rstrip(".") + ".")


def unknown_ignores(ignore: Iterable[str], ids: Iterable[str]) -> list[str]:
    """Entries of ``ignore`` that match none of ``ids`` (probably typos)."""
    ids = list(ids)
    return sorted(p for p in ignore if p != IGNORE_ALL and not any(ignores(p, i) for i in ids))


@dataclass(frozen=True)
class Gate:
    """What a set of check results means for ``apply``."""

    blocking: tuple[Result, ...]
    """Failures nobody ignored: apply stops before touching anything."""
    warnings: tuple[Result, ...]
    """Warnings nobody ignored: apply asks (or takes --yes) before going on."""
    todo: tuple[Result, ...]
    """What apply creates or repairs (never blocks)."""
    ignored: tuple[Result, ...]
    """Failures and warnings the user chose to ignore (listed in the summary and the JSON)."""

    @property
    def ok(self) -> bool:
        return not self.blocking


def gate(results: Iterable[Result], ignore: Iterable[str] = ()) -> Gate:
    """Split ``results`` for ``apply``; ``ignore`` holds ids, globs or ``all`` (see :func:`parse_ignore`)."""
    pats = frozenset(ignore)
    blocking: list[Result] = []
    warnings: list[Result] = []
    todo: list[Result] = []
    ignored: list[Result] = []
    for r in results:
        if r.apply:
            todo.append(r)
        elif r.status not in (Status.FAIL, Status.WARN):
            continue
        elif any(ignores(p, r.id) for p in pats):
            ignored.append(r)
        elif r.status is Status.FAIL:
            blocking.append(r)
        else:
            warnings.append(r)
    return Gate(tuple(blocking), tuple(warnings), tuple(todo), tuple(ignored))
