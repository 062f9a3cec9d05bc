"""The log analyzer's types: a rule row (:class:`LogRule`, :class:`BenignRule`, the
:class:`MatchContext` its predicates see) and what an analysis returns (:class:`Finding`,
:class:`Notice`, :class:`LogAnalysis`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from wizard.results import Result, Status


SOURCES = {
    "M": "manager log",
    "ME": "manager events",
    "J": "job log",
    "JE": "job pod events",
}

MAX_EVIDENCE = 3
MAX_EVIDENCE_CHARS = 600


# --------------------------------------------------------------------------------------
# Rule tables
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatchContext:
    """What a rule's ``when`` predicate may look at besides the groups."""

    line: str
    gitlab_url: str | None = None
    gitlab_host: str | None = None


Predicate = Callable[[Mapping[str, str], MatchContext], bool]


@dataclass(frozen=True)
class LogRule:
    """One analyzer row: a catalog entry's signal in text.

    ``fix``, ``title`` and ``detail`` are templates: ``{group}`` is replaced by the
    (redacted) value of a named group, or ``<group>`` when it did not match.
    Derived groups are also available: ``hostname`` (``host`` without port),
    ``host`` (from ``url``), ``registry`` (from ``img``), and ``gitlab_url`` /
    ``gitlab_host`` when the caller passed ``gitlab_url``.
    """

    catalog: str
    sources: tuple[str, ...]
    pattern: re.Pattern[str]
    title: str
    fix: str
    confirm: tuple[str, ...] = ()
    needles: tuple[str, ...] = ()
    """Plain substrings; a line is tried against ``pattern`` only if one occurs in it."""
    variant: str = ""
    key: tuple[str, ...] = ()
    """Groups whose values make a distinct finding (and the result-id suffix)."""
    detail: str = ""
    level: Status = Status.FAIL
    specificity: int = 0
    when: Predicate | None = None
    unless: tuple[str, ...] = ()
    """Substrings that veto this rule for a line (declarative negative look-around)."""
    secondary_to: tuple[str, ...] = ()
    secondary_match: str = ""
    """If set, ``secondary_to`` only applies to findings with the same value of this group."""
    related: tuple[str, ...] = ()
    """Other catalog ids that the same evidence may point to (put in ``Result.catalog``)."""
    examples: tuple[str, ...] = ()
    """Real or catalog-exact lines this row must win; checked by the unit tests."""

    @property
    def id(self) -> str:
        return f"{self.catalog}.{self.variant}" if self.variant else self.catalog

    def confirms(self, check_id: str) -> bool:
        """True if the live check ``check_id`` can confirm this rule."""
        return any(check_id == p or check_id.startswith(p + ".") for p in self.confirm)


@dataclass(frozen=True)
class BenignRule:
    """A catalog section 1b line: informational, never a failure."""

    key: str
    pattern: re.Pattern[str]
    needles: tuple[str, ...]
    meaning: str
    hint: str = ""
    """Catalog id the line is loosely related to (for the notice only)."""


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


def _fill(template: str, groups: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: groups.get(m.group(1)) or f"<{m.group(1)}>", template)


def slug(value: str) -> str:
    """A stable, readable id suffix from any value."""
    s = re.sub(r"[^A-Za-z0-9_.-]+", "-", value).strip("-.").lower()
    return s[:60] or "x"


@dataclass
class Finding:
    """One deduplicated diagnosis from the logs."""

    catalog: str
    rule: LogRule
    groups: dict[str, str]
    evidence: list[str] = field(default_factory=list)
    count: int = 0
    confirm: tuple[str, ...] = ()
    first_line: int = 0
    """1-based number of the first input line that produced this finding."""

    @property
    def rule_id(self) -> str:
        return self.rule.id

    @property
    def status(self) -> Status:
        return self.rule.level

    @property
    def title(self) -> str:
        return _fill(self.rule.title, self.groups)

    @property
    def fix(self) -> str:
        return _fill(self.rule.fix, self.groups)

    @property
    def detail(self) -> str:
        times = f"{self.count} matching line" + ("s" if self.count != 1 else "")
        if self.rule.detail:
            return f"{_fill(self.rule.detail, self.groups)} ({times}, first at line {self.first_line})"
        return f"{times}, first at line {self.first_line}"

    @property
    def result_id(self) -> str:
        rid = f"log.{self.rule.id}"
        vals = [
            self.groups[k].rstrip("/").rsplit("/", 1)[-1] if k == "img" else self.groups[k]
            for k in self.rule.key
            if self.groups.get(k)
        ]
        if vals:
            rid += "." + ".".join(slug(v) for v in vals)
        return rid

    def to_result(self) -> Result:
        return Result(
            id=self.result_id,
            area="logs",
            status=self.status,
            title=self.title,
            detail=self.detail,
            fix=self.fix,
            catalog=(self.catalog, *self.rule.related),
            evidence=tuple(self.evidence),
            data={"rule": self.rule.id, "groups": dict(self.groups), "count": self.count,
                  "confirm": list(self.confirm), "sources": list(self.rule.sources)},
        )


@dataclass
class Notice:
    """A benign (catalog 1b) line: counted, never a failure."""

    key: str
    meaning: str
    hint: str
    count: int = 0
    example: str = ""

    def to_result(self) -> Result:
        return Result(
            id=f"log.notice.{self.key}",
            area="logs",
            status=Status.SKIP,
            title=f"Informational: {self.meaning}",
            detail=f"{self.count} line(s), e.g. {self.example}",
            catalog=(self.hint,) if self.hint else (),
        )


@dataclass
class LogAnalysis:
    findings: list[Finding]
    notices: list[Notice]
    lines: int
    source: str | None = None

    @property
    def catalog_ids(self) -> set[str]:
        return {f.catalog for f in self.findings}

    @property
    def failed(self) -> bool:
        return any(f.status is Status.FAIL for f in self.findings)

    def to_results(self, *, include_notices: bool = False) -> list[Result]:
        """Findings as :class:`Result` (fail/warn); notices only on request, as ``skip``."""
        out = [f.to_result() for f in self.findings]
        if include_notices:
            out.extend(n.to_result() for n in self.notices)
        return out
