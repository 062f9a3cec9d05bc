"""Check results and findings: the one shape every check, analyzer and report uses.

A :class:`Result` is what contract section 4 calls a result: a stable ``id``, an
``area``, a ``status`` (pass / warn / fail / skip), a one-line ``title``, a
``detail`` saying what was seen, a ``fix`` saying what to do, and the ids of the
failure-catalog entries (E01..E38) it confirms or rules out.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


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
        return out


def summarize(results: Iterable[Result]) -> dict[str, int]:
    counts = {"pass": 0, "warn": 0, "fail": 0, "skip": 0}
    for r in results:
        counts[r.status.value] += 1
    return counts


def report_json(results: list[Result]) -> str:
    """The ``--json`` document of contract section 4."""
    doc = {
        "version": 1,
        "results": [r.to_json() for r in results],
        "summary": summarize(results),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


def any_failed(results: Iterable[Result]) -> bool:
    return any(r.status is Status.FAIL for r in results)
