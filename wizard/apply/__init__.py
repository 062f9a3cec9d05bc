"""``runner-wizard apply``: render, check, then apply to the cluster, install the release, verify.

Order of work (nothing is touched before the plan is complete and accepted):

1. **render** every artifact into ``--out`` (default: a new temporary directory);
2. **check**: a failing check stops here unless ignored (``ignore``: ids, globs or
   ``all``; listed in the report); warnings are accepted (asked on a terminal unless
   ``--yes``; printed and accepted without a terminal); results about what apply itself
   creates or repairs (``Result.apply``) are listed as work to do and never stop it;
3. **plan** (read-only): per object a live read plus a server-side dry-run apply gives
   created / changed / unchanged / conflict and a readable diff; the runner token is
   checked against GitLab. ``--dry-run`` ends here;
4. **apply**: changed objects that already existed are backed up first
   (``<out>/backup-<timestamp>.yaml``, mode 0600, Secrets by key only), then
   server-side apply (field manager ``runner-wizard``) in dependency order:
   namespaces, service accounts, roles, role bindings, secrets. Unchanged objects are
   not written at all, so a second apply of the same answers writes nothing;
5. **token**: create the runner in GitLab when needed and write the token Secret right
   after (nothing else happens in between), delete runners an interrupted apply created
   but never stored (marked in their maintenance note), restart the manager when its
   token changed;
6. **helm** ``upgrade --install`` when ``helm`` is on PATH and the release differs
   (``mode: helm``); a release a stopped helm left ``pending-*`` is first uninstalled (never
   installed) or rolled back, when the user agrees (``--yes``). Or the external manager's
   credentials (``mode: external``);
7. **verify** with bounded waits; what cannot be verified gets its exact next step.

Every write is idempotent and the checks report what apply creates or repairs instead of
failing on it, so a run stopped after any single write and started again ends in the same
state as an uninterrupted run. ``on_write(n, what)`` observes every write (Kubernetes,
GitLab or Helm) right after it happened; ``fail_after_writes=N`` uses it to raise
:class:`InjectedFault` right after the N-th write (tests simulate a stopped process this way).

The package, in the order of the work: this module runs steps 1 and 2 and holds the public
:func:`apply`; :mod:`.plan` builds the :class:`~wizard.apply.plan.Plan` (step 3, read-only, what the
dry run shows); :mod:`.execute` carries it out (steps 4 to 6, with :mod:`.release` for Helm) and
:mod:`.verifying` verifies (step 7); :mod:`.report` holds the report and the write counter. The
terminal side (the ``apply`` command, its printing) is in :mod:`wizard.console`.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import chart as _chart
from ..errors import WizardError
from ..kube import KubeError
from ..progress import FAIL, INFO, OK, SKIP, START, WARN, Confirm, Event, Reporter, null_reporter
from .plan import CONFLICT, ObjectResult, Plan, Planned, Prefetch, build_plan, plan_release
from .release import helm_dry_run
from .report import ApplyReport, InjectedFault, Run, WriteObserver, Writes, fail_after

_log = logging.getLogger("wizard.apply")

if TYPE_CHECKING:
    from ..answers import Answers
    from ..gitlab_api import GitLabAPI
    from ..kube import Kube
    from ..render import Rendered
    from ..results import Result

__all__ = ["CONFLICT", "ApplyReport", "InjectedFault", "ObjectResult", "Plan", "Planned", "WriteObserver", "apply",
           "fail_after", "require_secrets", "start_checks"]

_Writes = Writes  # the name the fault tests patch


# ---------------------------------------------------------------------------- public API


def apply(answers: Answers, *, kube: Kube, dry_run: bool = False, assume_yes: bool = False,
          force_conflicts: bool = False, out_dir: str | os.PathLike[str] | None = None, settings: Any = None,
          reporter: Reporter | None = None, fail_after_writes: int | None = None,
          confirm: Confirm | None = None, kubeconfig: str | None = None,
          checks: list[Result] | bool | None = None, gitlab: GitLabAPI | None = None,
          ignore: Iterable[str] | str = (), on_write: WriteObserver | None = None) -> ApplyReport:
    """Apply the answers to the cluster. Safe to call from a worker thread.

    ``reporter`` receives :class:`~wizard.progress.Event` objects. ``confirm(question, default)``
    answers questions (accept warnings, re-register a stale runner); without it, and without
    ``assume_yes``, every question takes its default (warnings accepted, re-registration declined).
    ``checks``: ``None`` runs the live checks, a list uses results already obtained, ``False``
    skips them, a running call (an object with ``result()``) gives them when it ends. ``kubeconfig``
    is passed to the checks and to helm. ``ignore``: check ids, globs
    or ``"all"`` whose failures and warnings do not stop apply (the TUI's "continue anyway" passes
    the ids it continues past); they end up in ``report.ignored``. ``on_write(n, what)`` observes
    every write; ``fail_after_writes=N`` raises :class:`InjectedFault` right after the N-th (tests).
    Raises :class:`InjectedFault` and :class:`~wizard.errors.BadInput`; every other problem ends in
    the report.
    """
    from ..results import parse_ignore

    t0 = time.monotonic()
    report = ApplyReport(dry_run=dry_run, settings=settings if settings is not None else _settings_from_env())
    answers = report.settings.with_answers(answers)  # --chart-version
    rep = reporter or null_reporter

    def emit(step: str, status: str, message: str, detail: str = "", **data: Any) -> None:
        _log.info("apply [%s] %s: %s (%.2fs)", step, status, message, time.monotonic() - t0)
        rep(Event(step, status, message, detail, data))

    def ask(question: str, default: bool) -> bool:
        if assume_yes:
            answer = True
        elif confirm is None:
            answer = default
        else:
            answer = bool(confirm(question, default))
        _log.info("asked: %s -> %s%s", question, "yes" if answer else "no",
                  " (--yes)" if assume_yes else " (default, no terminal)" if confirm is None else "")
        return answer

    observer = on_write
    if fail_after_writes is not None:
        inject = fail_after(fail_after_writes, emit)

        def observer(n: int, what: str, _user: WriteObserver | None = on_write) -> None:
            if _user is not None:
                _user(n, what)
            inject(n, what)

    run = Run(answers=answers, kube=kube, report=report, emit=emit, ask=ask, writes=_Writes(report, observer),
              dry_run=dry_run, force=force_conflicts, kubeconfig=kubeconfig)
    try:
        _run(run, out_dir=out_dir, checks=checks, gitlab=gitlab, ignore=parse_ignore(ignore))
    except InjectedFault:
        raise
    except KeyboardInterrupt as exc:
        report.stopped = "interrupted"
        exc.apply_report = report  # type: ignore[attr-defined] - what was already done, for the caller
        raise
    except KubeError as exc:
        report.stopped = report.stopped or "error"
        report.error = _kube_message(exc, kube)
        emit("apply", FAIL, report.error)
        report.next_steps.append("fix the problem above, then run apply again: every step is idempotent")
    except WizardError as exc:
        from ..errors import BadInput

        if isinstance(exc, BadInput):
            raise
        report.stopped = report.stopped or "error"
        report.error = str(exc)
        emit("apply", FAIL, report.error)
    finally:
        report.seconds = time.monotonic() - t0
        if report.out_dir is not None:
            _append_next_steps(report)
    return report


# ---------------------------------------------------------------------------- the run


def _run(run: Run, *, out_dir: str | os.PathLike[str] | None, checks: list[Result] | bool | None,
         gitlab: GitLabAPI | None, ignore: frozenset[str]) -> None:
    """Render, check, plan; then show the plan (dry run) or execute it."""
    from ..tls import load_ca_pem
    from .execute import execute

    run.emit("render", START, "rendering the artifacts")
    ca_pem = load_ca_pem(run.answers)
    # The live checks only read: they run while the artifacts are rendered and written.
    pending = _Background(lambda: _default_checks(run.answers, run.kubeconfig, run.kube.context)) \
        if checks is None else checks if hasattr(checks, "result") else None
    rendered = _render(run, ca_pem, out_dir)
    # While the checks still run, the plan's reads and dry runs (which change nothing) start too;
    # the plan below uses them when the checks pass soon enough (see Prefetch).
    prefetch = Prefetch(run.answers, run.kube, rendered, force=run.force) \
        if pending is not None and Prefetch.possible(run.answers) else None
    passed = False
    try:
        passed = _checks_pass(run, checks, pending, ignore)
    finally:
        if prefetch is not None and not passed:
            prefetch.wait()  # no thread outlives a stopped apply
    if not passed:
        return
    run.emit("plan", START, "comparing the wanted objects with the cluster (server-side dry run)")
    plan = _plan(run, rendered, ca_pem, gitlab, prefetch)
    if _blocked(run, plan):
        return
    plan_release(plan, run.kube, kubeconfig=run.kubeconfig, settings=run.settings)
    if plan.helm is not None:
        run.report.helm_command = plan.helm.command_line()
    if run.dry_run:
        _preview(run, plan)
        return
    execute(plan, run)


def _render(run: Run, ca_pem: str | None, out_dir: str | os.PathLike[str] | None) -> Rendered:
    """Step 1: load what render needs (node runtime, cluster CA), build the artifacts, write them."""
    from .. import render as _render_mod
    from .. import tokens as _tokens

    a, kube, report = run.answers, run.kube, run.report
    external = run.external
    inputs = _render_mod.load_inputs(a, node_runtime=_node_runtime(a, kube), ca_pem=ca_pem,
                                     api_server=kube.server if external else None,
                                     api_ca_pem=_tokens._cluster_ca(kube) if external else None)
    rendered = _render_mod.build(inputs)
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="runner-wizard-"))
    report.out_dir = out
    if external:
        # config.toml carries the bearer token: wizard.tokens writes it (mode 0600) and keeps a still-valid one.
        import dataclasses

        _render_mod.write(dataclasses.replace(rendered, files={k: v for k, v in rendered.files.items()
                                                               if k != "config.toml"}), out)
    else:
        _render_mod.write(rendered, out)
    run.emit("render", OK, f"artifacts written to {out}", path=str(out))
    chart_warning = None if external else _chart.version_warning(a.runner.chart_version)
    if chart_warning:
        report.warnings.append(chart_warning)
        run.emit("render", WARN, chart_warning)
    return rendered


def _checks_pass(run: Run, checks: list[Result] | bool | None, pending: Any, ignore: frozenset[str]) -> bool:
    """Step 2: a failing check stops apply unless ignored; warnings are accepted or declined."""
    from ..results import gate

    report, emit = run.report, run.emit
    if checks is False:
        emit("check", SKIP, "live checks skipped")
        results: list[Result] = []
    elif isinstance(checks, list):
        results = checks
    else:
        emit("check", START, "running the live checks")
        assert pending is not None
        results = pending.result()
    report.checks = list(results)
    g = gate(results, ignore)
    fails, warns = list(g.blocking), list(g.warnings)
    report.ignored, report.todo = list(g.ignored), list(g.todo)
    for r in g.todo:
        emit("check", INFO, f"apply {r.apply}: {r.title}: {r.detail}".rstrip(": "), id=r.id, apply=r.apply)
    for r in g.ignored:
        emit("check", WARN, f"ignored ({r.status.value}): {r.title}: {r.detail}".rstrip(": "), r.fix, id=r.id,
             ignored=True)
    for r in warns:
        emit("check", WARN, f"{r.title}: {r.detail}".rstrip(": "), r.fix, id=r.id)
    for r in fails:
        emit("check", FAIL, f"{r.title}: {r.detail}".rstrip(": "), r.fix, id=r.id)
    if fails:
        report.stopped = "checks"
        report.next_steps += [f"{r.title}: {r.fix}" for r in fails if r.fix]
        ids = ",".join(r.id for r in fails)
        emit("check", FAIL, f"{len(fails)} check(s) failed; nothing was changed. "
                            "Run `runner-wizard check --answers FILE` for details, or go on anyway with "
                            f"--ignore {ids}")
        return False
    if results:
        extra = "".join([f", {len(g.todo)} for apply to create or repair" if g.todo else "",
                         f", {len(g.ignored)} ignored" if g.ignored else ""])
        emit("check", OK, f"{len(results)} checks: {len(warns)} warning(s){extra}, no failure")
    if warns and not run.ask(f"{len(warns)} check(s) gave a warning. Continue anyway?", True):
        report.stopped = "declined"
        emit("check", FAIL, "stopped: warnings not accepted; nothing was changed")
        return False
    return True


def _plan(run: Run, rendered: Rendered, ca_pem: str | None, gitlab: GitLabAPI | None,
          prefetch: Prefetch | None = None) -> Plan:
    """Step 3 (read-only): the plan, recorded in the report as it is found."""
    report = run.report

    def on_token(plan: Plan) -> None:
        report.plan = plan
        report.token = plan.token
        report.warnings += plan.token.warnings

    assert report.out_dir is not None
    return build_plan(run.answers, run.kube, rendered, report.out_dir, ca_pem=ca_pem, gitlab=gitlab, ask=run.ask,
                      emit=run.emit, force=run.force, dry_run=run.dry_run, on_token=on_token,
                      on_object=report.objects.append, prefetch=prefetch)


def _blocked(run: Run, plan: Plan) -> bool:
    """Does the plan stop here: a stale token whose re-registration was declined, or conflicts?"""
    report, emit = run.report, run.emit
    if plan.token.action == "declined":
        report.stopped = "declined"
        report.next_steps += plan.token.next_steps
        emit("token", FAIL, "stopped: the stored runner token is stale and re-registration was declined; "
                            "nothing was changed")
        return True
    if plan.conflicts and not run.force:
        report.stopped = "conflicts"
        report.next_steps.append("another field manager owns these fields; resolve it, or run apply again with "
                                 "--force-conflicts to take them over")
        emit("plan", FAIL, f"{len(plan.conflicts)} object(s) have fields owned by another manager; nothing "
                           "was changed (use --force-conflicts to take them over)")
        return True
    return False


def _preview(run: Run, plan: Plan) -> None:
    """``--dry-run``: what the release or the external credentials would do; nothing is written."""
    from .. import diff as _diff
    from .. import tokens as _tokens

    report = run.report
    if not plan.external:
        assert plan.helm is not None
        helm_dry_run(run, plan.helm)
    else:
        ext = _tokens.external_credentials(run.answers, run.kube, plan.rendered.files.get("config.toml"),
                                           plan.out_dir, dry_run=True, settings=run.settings)
        report.external = ext
        run.emit("external", INFO, f"config.toml with a ServiceAccount token: {ext.action}")
    n = sum(1 for o in report.objects if o.action != _diff.UNCHANGED)
    run.emit("plan", OK, "dry run: nothing would change" if not report.changed else
             f"dry run: {n} object(s) would be created or changed; nothing was changed")


class _Background:
    """A call running on a daemon thread; :meth:`result` waits and returns or raises its outcome."""

    def __init__(self, fn: Callable[[], Any]):
        import threading

        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

        def run() -> None:
            try:
                self._value = fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised by result()
                self._error = exc
            finally:
                self._done.set()

        threading.Thread(target=run, name="apply-checks", daemon=True).start()

    def finished(self) -> bool:
        return self._done.is_set()

    def result(self) -> Any:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value



# ---------------------------------------------------------------------------- helpers


def _default_checks(a: Answers, kubeconfig: str | None, context: str | None, kube_opening: Any = None) -> list[Result]:
    """Every live check (``wizard.checks.run_checks``); tests replace this function."""
    from ..checks import run_checks

    return run_checks(a, kubeconfig=kubeconfig, context=context, kube_opening=kube_opening)


_REAL_DEFAULT_CHECKS = _default_checks


def _settings_from_env() -> Any:
    """Settings from the documented variables alone (the Python API and front ends without options)."""
    from ..settings import from_env

    return from_env()


def _node_runtime(a: Answers, kube: Kube) -> str | None:
    if a.node_runtime != "auto":
        return a.node_runtime
    try:
        nodes = kube.get("/api/v1/nodes", limit=50).get("items") or []
    except KubeError:
        return None
    seen = set()
    for n in nodes:
        rv = ((n.get("status") or {}).get("nodeInfo") or {}).get("containerRuntimeVersion", "")
        seen.add(rv.split("://", 1)[0])
    if seen == {"cri-o"}:
        return "cri-o"
    if seen == {"containerd"}:
        return "containerd"
    return None


def _kube_message(exc: KubeError, kube: Kube) -> str:
    from ..kube import KubeUnreachable

    if isinstance(exc, KubeUnreachable):
        return (f"the Kubernetes API server {kube.server} stopped answering: {exc.message}. Check that it runs "
                "and is reachable, then run apply again; every step is idempotent")
    if exc.forbidden:
        return f"the cluster refused: {exc.message} (your kubeconfig user lacks a permission)"
    return f"the cluster answered {exc.status} {exc.reason}: {exc.message}"


def _append_next_steps(report: ApplyReport) -> None:
    out = report.out_dir
    if out is None or not out.is_dir():
        return
    path = out / "NEXT-STEPS.md"
    lines = ["", f"## After `runner-wizard apply`{' --dry-run' if report.dry_run else ''}", ""]
    if report.helm_command and report.helm_action in ("not-run", "failed", "would-install", "would-upgrade"):
        lines += ["Install or upgrade the Helm release:", "", "```sh", report.helm_command, "```", ""]
    if report.next_steps:
        lines += [f"{i}. {s}" for i, s in enumerate(dict.fromkeys(report.next_steps), 1)]
    elif report.verified:
        lines += ["Nothing left to do: the install is verified."]
    else:
        lines += ["No further step recorded."]
    try:
        with path.open("a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    except OSError:
        pass



def require_secrets(a: Answers) -> None:
    """Every secret apply will need must be readable now: bad input stops before anything is written."""
    from ..errors import BadInput, FieldError

    errors: list[FieldError] = []
    for path, ref in a.secret_refs().items():
        if path.startswith("registries["):
            idx = int(path[len("registries["):].split("]", 1)[0])
            if not a.registries[idx].needs_pull_secret:
                continue
        try:
            ref.resolve(path)
        except BadInput as exc:
            errors.extend(exc.errors)
    if errors:
        raise BadInput(errors)



def start_checks(a: Answers, kubeconfig: str | None, context: str | None, *, kube_opening: Any = None) -> Any:
    """Start every live check on a daemon thread now; pass the result as ``apply(..., checks=...)``.
    ``kube_opening``: a shared :class:`wizard.kube.Opening` the checks take their connection from (the
    caller closes that connection only after the checks ended)."""
    if kube_opening is not None and _default_checks is _REAL_DEFAULT_CHECKS:
        return _Background(lambda: _REAL_DEFAULT_CHECKS(a, kubeconfig, context, kube_opening))
    return _Background(lambda: _default_checks(a, kubeconfig, context))  # (a test's stand-in takes three)
