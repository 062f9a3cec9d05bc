"""What an apply did (or, in a dry run, would do): the report, and the write counter behind the fault tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .. import diff as _diff
from ..errors import WizardError
from ..progress import FAIL
from .plan import CONFLICT, ObjectResult, Plan

if TYPE_CHECKING:
    from ..answers import Answers
    from ..kube import Kube
    from ..results import Result
    from ..tokens import ExternalOutcome, TokenOutcome
    from ..verify import Verification

Stopped = Literal["", "checks", "declined", "conflicts", "token", "error", "interrupted"]
"""Why apply stopped early ('' when it ran through)."""


class InjectedFault(WizardError):
    """Raised by the fault-injection hook right after the N-th write (simulates a stopped process)."""


@dataclass
class ApplyReport:
    dry_run: bool
    out_dir: Path | None = None
    checks: list[Result] = field(default_factory=list)
    objects: list[ObjectResult] = field(default_factory=list)
    token: TokenOutcome | None = None
    helm_action: str = ""
    """installed | upgraded | unchanged | not-run | would-install | would-upgrade | failed | '' (external)"""
    helm_command: str = ""
    external: ExternalOutcome | None = None
    verifications: list[Verification] = field(default_factory=list)
    backup_path: Path | None = None
    restarted: bool = False
    warnings: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    ignored: list[Result] = field(default_factory=list)
    """Failures and warnings of the checks that ``ignore`` let through."""
    todo: list[Result] = field(default_factory=list)
    """Check results about what apply creates or repairs (``Result.apply``)."""
    stopped: Stopped = ""
    """Why apply stopped early: checks | declined | conflicts | token | error ('' when it ran through)."""
    error: str = ""
    writes: int = 0
    seconds: float = 0.0
    settings: Any = field(default=None, repr=False)
    """The :class:`wizard.settings.Settings` of this run."""
    release: Any = field(default=None, repr=False)
    """The Helm release as a dry run found it (``helm.ReleaseState``; None: not installed or not read)."""
    plan: Plan | None = field(default=None, repr=False)
    """What apply planned (objects, their live state, the token and Helm actions); None before the plan step."""

    @property
    def conflicts(self) -> list[ObjectResult]:
        return [o for o in self.objects if o.action == CONFLICT]

    @property
    def changed(self) -> bool:
        """Did (or would) anything change: objects, the runner, the release, external credentials?"""
        if any(o.action in (_diff.CREATED, _diff.CHANGED) for o in self.objects):
            return True
        if self.token is not None and (self.token.action in ("create", "reregister") or self.token.orphans):
            return True
        if self.helm_action in ("installed", "upgraded", "would-install", "would-upgrade"):
            return True
        return self.external is not None and self.external.action not in ("unchanged",)

    @property
    def verified(self) -> bool:
        return (not self.dry_run and not self.stopped and bool(self.verifications)
                and all(v.ok is not False for v in self.verifications))

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return 1
        if self.dry_run:
            return 0
        return 0 if self.verified else 1


WriteObserver = Callable[[int, str], None]
"""``on_write(n, what)``: called right after the n-th write of a run (1-based), ``what`` names it."""


class Writes:
    """Counts writes and tells the observer about each one."""

    def __init__(self, report: ApplyReport, observer: WriteObserver | None):
        self.report = report
        self.observer = observer

    def __call__(self, what: str) -> None:
        self.report.writes += 1
        if self.observer is not None:
            self.observer(self.report.writes, what)


def fail_after(n: int, emit: Callable[..., None] | None = None) -> WriteObserver:
    """A write observer that raises :class:`InjectedFault` right after the n-th write."""

    def observe(count: int, what: str) -> None:
        if count >= n:
            if emit is not None:
                emit("apply", FAIL, f"injected failure after write {count} ({what})")
            raise InjectedFault(f"injected failure after write {count} ({what}); run apply again to finish")

    return observe



@dataclass
class Run:
    """One apply's context: the answers, the cluster, the report being filled, and how it talks to its caller."""

    answers: Answers
    kube: Kube
    report: ApplyReport
    emit: Callable[..., None]
    """``emit(step, status, message, detail="", **data)``: one progress event to the caller."""
    ask: Callable[[str, bool], bool]
    """``ask(question, default)``: the caller's answer (``--yes``, a terminal, or the default)."""
    writes: Writes
    dry_run: bool = False
    force: bool = False
    kubeconfig: str | None = None

    @property
    def settings(self) -> Any:
        return self.report.settings

    @property
    def external(self) -> bool:
        return self.answers.cluster.mode == "external"
