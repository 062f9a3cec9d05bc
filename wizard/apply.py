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
"""

from __future__ import annotations

import copy
import datetime as _dt
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import chart as _chart
from . import diff as _diff
from . import names
from .errors import WizardError
from .kube import KubeError, describe, object_path
from .progress import (CHANGED, FAIL, INFO, OK, PROGRESS, SKIP, START, UNCHANGED, WARN, Confirm, Event,
                       Reporter, null_reporter)

_log = logging.getLogger("wizard.apply")

if TYPE_CHECKING:
    from .answers import Answers
    from .gitlab_api import GitLabAPI
    from .kube import Kube
    from .results import Result
    from .tokens import ExternalOutcome, TokenOutcome
    from .verify import Verification

KIND_ORDER = {"Namespace": 0, "ServiceAccount": 1, "ClusterRole": 2, "Role": 2, "ClusterRoleBinding": 3,
              "RoleBinding": 3, "ConfigMap": 4, "Secret": 5}
CONFLICT = "conflict"


class InjectedFault(WizardError):
    """Raised by the fault-injection hook right after the N-th write (simulates a stopped process)."""


@dataclass
class ObjectResult:
    kind: str
    namespace: str | None
    name: str
    action: str                                   # created | changed | unchanged | conflict
    changes: list[_diff.Change] = field(default_factory=list)
    message: str = ""
    existed: bool = False
    applied: bool = False
    live: dict[str, Any] | None = field(default=None, repr=False)
    """The object as the cluster has it (None: absent), for ``--dry-run``'s diff."""
    wanted: dict[str, Any] | None = field(default=None, repr=False)
    """The server's dry-run result (or the object itself where the server cannot dry-run it)."""

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


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
    stopped: str = ""
    """Why apply stopped early: checks | declined | conflicts | token | error ('' when it ran through)."""
    error: str = ""
    writes: int = 0
    seconds: float = 0.0
    settings: Any = field(default=None, repr=False)
    """The :class:`wizard.settings.Settings` of this run."""
    release: Any = field(default=None, repr=False)
    """The Helm release as a dry run found it (``helm.ReleaseState``; None: not installed or not read)."""

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


class _Writes:
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
    from .results import parse_ignore

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

    writes = _Writes(report, observer)
    try:
        _run(answers, kube, report, emit=emit, ask=ask, writes=writes, dry_run=dry_run,
             force=force_conflicts, out_dir=out_dir, kubeconfig=kubeconfig, checks=checks, gitlab=gitlab,
             ignore=parse_ignore(ignore))
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
        from .errors import BadInput

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


def _run(a: Answers, kube: Kube, report: ApplyReport, *, emit: Callable[..., None],
         ask: Callable[[str, bool], bool], writes: _Writes, dry_run: bool, force: bool,
         out_dir: str | os.PathLike[str] | None, kubeconfig: str | None,
         checks: list[Result] | bool | None, gitlab: GitLabAPI | None, ignore: frozenset[str]) -> None:
    from . import helm as _helm
    from . import tokens as _tokens
    from . import verify as _verify
    from .tls import load_ca_pem
    from .render import render, write
    from .results import gate

    external = a.cluster.mode == "external"
    settings = report.settings

    # ---- 1. render
    emit("render", START, "rendering the artifacts")
    ca_pem = load_ca_pem(a)
    # The live checks only read: they run while the artifacts are rendered and written.
    pending_checks = _Background(lambda: _default_checks(a, kubeconfig, kube.context)) if checks is None \
        else checks if hasattr(checks, "result") else None
    runtime = _node_runtime(a, kube)
    api_ca = _tokens._cluster_ca(kube) if external else None
    rendered = render(a, node_runtime=runtime, ca_pem=ca_pem,
                      api_server=kube.server if external else None, api_ca_pem=api_ca)
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="runner-wizard-"))
    report.out_dir = out
    if external:
        # config.toml carries the bearer token: wizard.tokens writes it (mode 0600) and keeps a still-valid one.
        import dataclasses

        write(dataclasses.replace(rendered, files={k: v for k, v in rendered.files.items() if k != "config.toml"}),
              out)
    else:
        write(rendered, out)
    emit("render", OK, f"artifacts written to {out}", path=str(out))
    chart_warning = None if external else _chart.version_warning(a.runner.chart_version)
    if chart_warning:
        report.warnings.append(chart_warning)
        emit("render", WARN, chart_warning)

    # ---- 2. checks
    if checks is False:
        emit("check", SKIP, "live checks skipped")
        results: list[Result] = []
    elif isinstance(checks, list):
        results = checks
    else:
        emit("check", START, "running the live checks")
        assert pending_checks is not None
        results = pending_checks.result()
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
        return
    if results:
        extra = "".join([f", {len(g.todo)} for apply to create or repair" if g.todo else "",
                         f", {len(g.ignored)} ignored" if g.ignored else ""])
        emit("check", OK, f"{len(results)} checks: {len(warns)} warning(s){extra}, no failure")
    if warns and not ask(f"{len(warns)} check(s) gave a warning. Continue anyway?", True):
        report.stopped = "declined"
        emit("check", FAIL, "stopped: warnings not accepted; nothing was changed")
        return

    # ---- 3. plan (read-only)
    emit("plan", START, "comparing the wanted objects with the cluster (server-side dry run)")
    api = gitlab
    if api is None and a.gitlab.create_runner is not None:
        from .gitlab_api import GitLabAPI

        api = GitLabAPI(a.gitlab.url, ca_pem=ca_pem, timeout=5)
    token = _tokens.plan_token(a, kube, api, values=rendered.values, ask=ask)
    report.token = token
    report.warnings += token.warnings
    for w in token.warnings:
        emit("token", WARN, w)
    emit("token", INFO, token.describe(), runner_id=token.runner_id, action=token.action)
    if token.orphans:
        emit("token", CHANGED, f"{'would delete' if dry_run else 'will delete'} runner(s) "
                               f"{', '.join('#' + str(i) for i in token.orphans)}: created for this install by an "
                               "apply that was stopped before it stored their token", runner_ids=token.orphans)

    desired = _desired_objects(a, rendered, token)
    planned: list[tuple[dict[str, Any], ObjectResult]] = []
    for obj, res in zip(desired, _plan_all(kube, desired, force=force)):
        if isinstance(res, BaseException):
            raise res
        if _is_token_secret(a, obj) and token.pending:
            res.message = "the token comes from the new runner"
        planned.append((obj, res))
        report.objects.append(res)
        _emit_object(emit, "plan", res, dry_run)

    if token.action == "declined":
        report.stopped = "declined"
        report.next_steps += token.next_steps
        emit("token", FAIL, "stopped: the stored runner token is stale and re-registration was declined; "
                            "nothing was changed")
        return

    if report.conflicts and not force:
        report.stopped = "conflicts"
        report.next_steps.append("another field manager owns these fields; resolve it, or run apply again with "
                                 "--force-conflicts to take them over")
        emit("plan", FAIL, f"{len(report.conflicts)} object(s) have fields owned by another manager; nothing "
                           "was changed (use --force-conflicts to take them over)")
        return

    helm_bin = _helm.find_helm() if not external else None
    htarget = None
    if not external:
        htarget = _helm.target(a, out / "values.yaml", kubeconfig=kubeconfig, context=kube.context,
                               binary=helm_bin, settings=settings,
                               kube=kube)  # release reads: its Secret, no helm process
        report.helm_command = htarget.command_line()

    if dry_run:
        if not external:
            _helm_dry_run(report, htarget, emit)
        else:
            ext = _tokens.external_credentials(a, kube, rendered.files.get("config.toml"), out, dry_run=True,
                                               settings=settings)
            report.external = ext
            emit("external", INFO, f"config.toml with a ServiceAccount token: {ext.action}")
        n = sum(1 for o in report.objects if o.action != _diff.UNCHANGED)
        emit("plan", OK, "dry run: nothing would change" if not report.changed else
             f"dry run: {n} object(s) would be created or changed; nothing was changed")
        return

    # ---- 4. apply
    emit("apply", START, "applying (server-side apply, field manager runner-wizard)")
    backups = [(obj, res) for obj, res in planned if res.existed and res.action == _diff.CHANGED]
    if backups:
        report.backup_path = _write_backup(kube, out, [o for o, _ in backups])
        emit("apply", INFO, f"backup of {len(backups)} changed object(s): {report.backup_path}",
             path=str(report.backup_path))
    for obj, res in planned:
        if _is_token_secret(a, obj):
            continue  # written after the runner exists (step 5)
        if res.action == _diff.UNCHANGED:
            continue
        _apply_one(kube, obj, res, force, writes, emit)

    # ---- 5. token
    if token.pending:
        assert api is not None
        emit("token", START, "creating the runner in GitLab")
        _tokens.realize_token(a, token, api, on_write=writes)
        for w in token.warnings:
            if w not in report.warnings:
                report.warnings.append(w)
                emit("token", WARN, w)
        report.next_steps += token.next_steps
        emit("token", OK, f"runner #{token.runner_id} created; its token is stored only in Secret "
                          f"{_token_secret_ns(a)}/{names.token_secret(a)}", runner_id=token.runner_id)
    restart_due = not external and (token.changed or token.restart_pending)
    for obj, res in planned:
        if not _is_token_secret(a, obj):
            continue
        fresh = token.source == "create_runner" and token.action in ("create", "reregister")
        if fresh:
            obj = _token_secret(a, token)
        elif res.action == _diff.UNCHANGED and not restart_due:
            continue
        if not restart_due:
            _apply_one(kube, obj, res, force, writes, emit)
            continue
        if token.changed:
            # the new token and "the pods still run the old one" land in one write, so an apply stopped
            # before the restart below restarts them when it is run again
            marked = copy.deepcopy(obj)
            marked["metadata"].setdefault("annotations", {})[_tokens.RESTART_PENDING_ANNOTATION] = "token changed"
            _apply_one(kube, marked, res, force, writes, emit)
        if _tokens.restart_manager(a, kube):
            writes("restart of the manager Deployment")
            report.restarted = True
            emit("token", CHANGED, f"the runner token changed: restarted the manager pods (Deployment "
                                   f"{a.cluster.runner_namespace}/{names.deployment(a)})")
        kube.apply(obj, force=force)  # the restart is done: drop the marker
        writes(f"{describe(obj)} (restart done)")
    if token.orphans and api is not None:
        # the token is durable in the cluster now: remove what an interrupted run left in GitLab
        for rid in _tokens.delete_orphans(a, token, api, on_write=writes):
            emit("token", CHANGED, f"deleted runner #{rid}, created for this install by an interrupted apply and "
                                   "never used", runner_id=rid)
        for w in token.warnings:
            if w not in report.warnings:
                report.warnings.append(w)
                emit("token", WARN, w)

    # ---- 6. helm or external credentials
    if external:
        emit("external", START, "credentials for the external manager (TokenRequest)")
        ext = _tokens.external_credentials(a, kube, rendered.files.get("config.toml"), out, on_write=writes,
                                           settings=settings)
        report.external = ext
        for w in ext.warnings:
            report.warnings.append(w)
            emit("external", WARN, w)
        report.next_steps += ext.next_steps
        emit("external", OK if ext.action != "unchanged" else UNCHANGED,
             f"config.toml (mode 0600) {ext.action}: {ext.config_path}"
             + (f"; token expires {ext.expires_at}" if ext.expires_at else ""))
    else:
        assert htarget is not None
        _helm_apply(report, htarget, emit, writes, ask)

    # ---- 7. verify
    _verify_all(a, kube, report, emit, api, token, _verify, _tokens)
    if not report.changed:
        emit("apply", UNCHANGED, "nothing changed: the cluster already matches the answers")


# ---------------------------------------------------------------------------- objects


def _desired_objects(a: Answers, rendered: Any, token: TokenOutcome) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = []
    ext_secret = names.external_token_secret(a)
    for m in rendered.manifests:
        # The non-expiring service-account-token Secret is opt-in (--external-token secret);
        # wizard.tokens creates it then. The default is a TokenRequest token.
        if m.get("kind") == "Secret" and m["metadata"]["name"] == ext_secret:
            continue
        objs.append(m)
    if token.source == "create_runner":
        secrets = [s for s in rendered.secret_objects() if not _is_token_secret(a, s)]
        secrets.append(_token_secret(a, token))
    elif a.cluster.mode == "helm":
        secrets = rendered.secret_objects()
    else:
        secrets = [s for s in rendered.secret_objects() if not _is_token_secret(a, s)]
    by_key = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): i for i, o in enumerate(objs)}
    for s in secrets:
        k = (s["kind"], s["metadata"].get("namespace"), s["metadata"]["name"])
        if k in by_key:
            objs[by_key[k]] = s
        else:
            objs.append(s)
    return sorted(objs, key=lambda o: KIND_ORDER.get(o["kind"], 6))


def _token_secret_ns(a: Answers) -> str:
    return a.cluster.runner_namespace


def _is_token_secret(a: Answers, obj: dict[str, Any]) -> bool:
    m = obj.get("metadata") or {}
    return obj.get("kind") == "Secret" and m.get("name") == names.token_secret(a) and \
        m.get("namespace") == _token_secret_ns(a)


def _token_secret(a: Answers, token: TokenOutcome) -> dict[str, Any]:
    """The token Secret for a runner created through the API (annotated with its id)."""
    import base64

    def b64(s: str) -> str:
        return base64.b64encode(s.encode()).decode("ascii")

    meta: dict[str, Any] = {"name": names.token_secret(a), "namespace": _token_secret_ns(a),
                            "labels": names.labels(a, "token")}
    ann = token.annotations()
    if ann:
        meta["annotations"] = ann
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
            "data": {"runner-token": b64(token.token), "runner-registration-token": ""}}


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

    def result(self) -> Any:
        self._done.wait()
        if self._error is not None:
            raise self._error
        return self._value


def _plan_all(kube: Kube, desired: list[dict[str, Any]], *, force: bool) -> list[ObjectResult | BaseException]:
    """Plan every object at once (each a live read plus a server-side dry run); the result or the
    error per object, in order. Namespaces first: objects in one that does not exist yet cannot be
    dry-run, so they are planned as created."""
    from concurrent.futures import ThreadPoolExecutor

    def plan(obj: dict[str, Any], new_namespaces: set[str]) -> ObjectResult | BaseException:
        try:
            return _plan_object(kube, obj, force=force, new_namespaces=new_namespaces)
        except Exception as exc:  # noqa: BLE001 - raised by the caller in order
            return exc

    out: list[ObjectResult | BaseException] = [None] * len(desired)  # type: ignore[list-item]
    first = [i for i, o in enumerate(desired) if o["kind"] == "Namespace"]
    rest = [i for i, o in enumerate(desired) if o["kind"] != "Namespace"]
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="plan") as pool:
        for i, r in zip(first, pool.map(lambda i: plan(desired[i], set()), first)):
            out[i] = r
        new_namespaces = {desired[i]["metadata"]["name"] for i in first
                          if isinstance(out[i], ObjectResult) and out[i].action == _diff.CREATED}
        for i, r in zip(rest, pool.map(lambda i: plan(desired[i], new_namespaces), rest)):
            out[i] = r
    return out


def _plan_object(kube: Kube, obj: dict[str, Any], *, force: bool, new_namespaces: set[str]) -> ObjectResult:
    meta = obj["metadata"]
    res = ObjectResult(obj["kind"], meta.get("namespace"), meta["name"], _diff.UNCHANGED)
    live = kube.get_or_none(object_path(obj))
    res.existed = live is not None
    if live is None and meta.get("namespace") in new_namespaces:
        # The namespace is only planned, so the server cannot dry-run objects inside it.
        res.action = _diff.CREATED
        res.changes = _diff.summary(obj)
        res.wanted = obj
        return res
    try:
        result = kube.apply(obj, dry_run=True, force=force)
    except KubeError as exc:
        if exc.conflict:
            res.action = CONFLICT
            res.message = exc.message
            return res
        raise
    res.action = _diff.classify(live, result)
    res.live, res.wanted = live, result
    res.changes = _diff.summary(result) if live is None else _diff.changes(live, result)
    return res


def _apply_one(kube: Kube, obj: dict[str, Any], res: ObjectResult, force: bool, writes: _Writes,
               emit: Callable[..., None]) -> None:
    try:
        kube.apply(obj, force=force)
    except KubeError as exc:
        if exc.conflict:
            res.action = CONFLICT
            res.message = exc.message
            emit("apply", FAIL, f"conflict: {res.ref}: {exc.message}")
            raise WizardError(f"{res.ref}: fields owned by another manager changed during apply "
                              f"({exc.message}); run apply again (or with --force-conflicts)") from exc
        raise
    res.applied = True
    emit("apply", CHANGED if res.action == _diff.CHANGED else OK,
         f"{'changed' if res.existed else 'created'} {res.ref}", kind=res.kind, name=res.name,
         namespace=res.namespace)
    writes(describe(obj))


def _emit_object(emit: Callable[..., None], step: str, res: ObjectResult, dry_run: bool) -> None:
    verb = {"created": "create", "changed": "change", "unchanged": "unchanged", CONFLICT: "CONFLICT"}[res.action]
    if res.action == _diff.UNCHANGED:
        emit(step, UNCHANGED, f"unchanged {res.ref}", action=res.action, kind=res.kind, name=res.name)
        return
    if res.action == CONFLICT:
        emit(step, FAIL, f"conflict {res.ref}: {res.message}", action=res.action, kind=res.kind, name=res.name)
        return
    if not dry_run and res.action == _diff.CREATED and not res.message:
        return  # reported when applied
    label = ("would " + verb) if dry_run else ("will " + verb)
    detail = _diff.render(res.changes) if (res.action == _diff.CHANGED or dry_run) else ""
    if res.message:
        detail = (detail + "\n" if detail else "") + f"    ({res.message})"
    emit(step, CHANGED, f"{label} {res.ref}", detail, action=res.action, kind=res.kind, name=res.name)


def _write_backup(kube: Kube, out: Path, objs: list[dict[str, Any]]) -> Path:
    """Live versions of objects about to change: re-appliable YAML; Secrets listed by key only."""
    import yaml

    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = out / f"backup-{stamp}.yaml"
    docs: list[dict[str, Any]] = []
    notes: list[str] = []
    for obj in objs:
        live = kube.get_or_none(object_path(obj))
        if live is None:
            continue
        if live.get("kind") == "Secret":
            keys = sorted((live.get("data") or {}).keys())
            notes.append(f"#   {describe(live)} (type {live.get('type', 'Opaque')}), keys: {', '.join(keys) or '-'}")
            continue
        clean = _diff.normalize(live) or {}
        clean.pop("status", None)
        docs.append(clean)
    header = [f"# runner-wizard backup, {stamp}: the objects below as they were before apply changed them.",
              "# Roll back with: kubectl apply --server-side --force-conflicts --field-manager=runner-wizard "
              f"-f {path.name}"]
    if notes:
        header += ["# Secrets that changed are NOT stored here (their values are never written to disk):"] + notes
        header += ["# Restore a Secret's values from where they came from (answers references, GitLab)."]
    body = yaml.safe_dump_all(docs, sort_keys=False) if docs else ""
    text = "\n".join(header) + "\n" + ("---\n" + body if body else "")
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


# ---------------------------------------------------------------------------- helm


def _helm_dry_run(report: ApplyReport, t: Any, emit: Callable[..., None]) -> None:
    from . import helm as _helm

    if t.binary is None:
        report.helm_action = "not-run"
        emit("helm", SKIP, f"helm is not on PATH; the release would be installed with: {report.helm_command}")
        return
    try:
        state = _helm.release_state(t)
    except _helm.HelmError as exc:
        emit("helm", WARN, f"cannot read the release: {exc.message}")
        report.helm_action = "would-upgrade"
        return
    report.release = state
    if _helm.up_to_date(t, state):
        report.helm_action = "unchanged"
        emit("helm", UNCHANGED, f"Helm release {t.namespace}/{t.release} is up to date")
    else:
        report.helm_action = "would-install" if state is None else "would-upgrade"
        emit("helm", CHANGED, f"would run: {report.helm_command}")


def _resume_pending(t: Any, state: Any, emit: Callable[..., None], writes: _Writes,
                    ask: Callable[[str, bool], bool]) -> bool:
    """A release left ``pending-*`` by a helm process that was stopped: with consent, uninstall a first install
    that never finished, or roll an interrupted upgrade back, so the upgrade below can run. False: declined."""
    from . import helm as _helm

    first = state.status == "pending-install"
    what = ("uninstall the half-done first install" if first else
            f"roll it back to the last good revision")
    if not ask(f"Helm release {t.namespace}/{t.release} is {state.status} (revision {state.revision}): a helm run "
               f"was stopped halfway. If no other helm or apply is working on it right now, {what} and go on?",
               False):
        return False
    argv = [t.binary, "uninstall", t.release, *t.global_flags(), "--wait=false"] if first else \
        [t.binary, "rollback", t.release, *t.global_flags()]
    proc = _helm.run(argv, timeout_s=t.timeout)
    if proc.returncode != 0:
        raise _helm.error_from(proc, what=f"helm {argv[1]}", t=t)
    emit("helm", CHANGED, f"{'uninstalled' if first else 'rolled back'} the interrupted release "
                          f"{t.namespace}/{t.release} ({state.status}, revision {state.revision})")
    writes(f"helm {argv[1]} {t.release} (interrupted {state.status})")
    return True


def _helm_apply(report: ApplyReport, t: Any, emit: Callable[..., None], writes: _Writes,
                ask: Callable[[str, bool], bool] | None = None) -> None:
    from . import helm as _helm

    if t.binary is None:
        report.helm_action = "not-run"
        report.next_steps.append(f"install the release (helm is not on PATH here): {report.helm_command}")
        emit("helm", SKIP, f"helm is not on PATH; run: {report.helm_command}")
        return
    emit("helm", START, f"Helm release {t.namespace}/{t.release}")
    try:
        state = _helm.release_state(t)
        if state is not None and state.pending and ask is not None and _resume_pending(t, state, emit, writes, ask):
            state = _helm.release_state(t)
        if state is not None and state.pending:
            raise _helm.HelmError(f"the release is in state {state.status} (an earlier helm run was interrupted)",
                                  next_step=f"helm -n {t.namespace} rollback {t.release} (or helm -n {t.namespace} "
                                            f"uninstall {t.release} if it never installed), then run apply again; "
                                            "or run apply again with --yes to let it do that, once no other helm "
                                            "run works on this release")
        if _helm.up_to_date(t, state):
            report.helm_action = "unchanged"
            emit("helm", UNCHANGED, f"Helm release {t.namespace}/{t.release} is up to date "
                                    f"(chart {state.chart}, revision {state.revision})")
            return
        summary = _helm.upgrade(t)
    except _helm.HelmError as exc:
        report.helm_action = "failed"
        report.stopped = "error"
        report.error = exc.message
        if exc.next_step:
            report.next_steps.append(exc.next_step)
        emit("helm", FAIL, exc.message, exc.next_step)
        return
    report.helm_action = "installed" if state is None else "upgraded"
    emit("helm", OK, f"{report.helm_action} Helm release {t.namespace}/{t.release}" + (f" ({summary})" if summary else ""))
    writes(f"helm upgrade --install {t.release}")


# ---------------------------------------------------------------------------- verify


def _verify_all(a: Answers, kube: Kube, report: ApplyReport, emit: Callable[..., None], api: GitLabAPI | None,
                token: TokenOutcome, _verify: Any, _tokens: Any) -> None:
    if report.stopped:
        return
    emit("verify", START, "verifying")
    if a.cluster.mode == "external":
        ext = report.external
        if ext is not None and ext.token:
            ok, why = _tokens.verify_external(kube, a, ext.token)
            from .verify import Verification

            v = Verification("external manager credentials", ok, why,
                             [] if ok else [f"kubectl auth can-i create pods -n {a.cluster.jobs_namespace} "
                                            f"--as=system:serviceaccount:{a.cluster.runner_namespace}:"
                                            f"{a.cluster.manager_service_account}"])
            report.verifications.append(v)
            _emit_verification(emit, v, report)
        # the manager runs on a VM the user has yet to set up: look once, do not wait
        gl = _verify.runner_in_gitlab(a, api, token.runner_id, _user_token(a), timeout_s=0)
        if gl.ok is None:
            gl.next_steps.insert(0, "install config.toml on the runner VM and start gitlab-runner there")
        report.verifications.append(gl)
        _emit_verification(emit, gl, report)
        return
    if report.helm_action == "not-run":
        from .verify import Verification

        v = Verification("Helm release installed", False, "helm is not on PATH, so the release was not installed",
                         [report.helm_command])
        report.verifications.append(v)
        _emit_verification(emit, v, report)
        return

    def progress(msg: str) -> None:
        emit("verify", PROGRESS, msg)

    dep = _verify.wait_deployment(a, kube, progress=progress, timeout_s=report.settings.verify_timeout)
    report.verifications.append(dep)
    _emit_verification(emit, dep, report)
    if dep.ok:
        gl = _verify.runner_in_gitlab(a, api, token.runner_id, _user_token(a), progress=progress,
                                      timeout_s=report.settings.verify_gitlab_timeout)
        report.verifications.append(gl)
        _emit_verification(emit, gl, report)


def _emit_verification(emit: Callable[..., None], v: Verification, report: ApplyReport) -> None:
    if v.ok is True:
        emit("verify", OK, f"{v.what}: {v.reason}")
        return
    for s in v.next_steps:
        if s not in report.next_steps:
            report.next_steps.append(s)
    status = FAIL if v.ok is False else WARN
    label = v.label or ("NOT VERIFIED" if v.ok is False else "not checked")
    emit("verify", status, f"{v.what}: {label}: {v.reason}",
         "\n".join(f"    next step: {s}" for s in v.next_steps))


def _user_token(a: Answers) -> str | None:
    cr = a.gitlab.create_runner
    if cr is None:
        return None
    try:
        return cr.api_token.resolve("gitlab.create_runner.api_token")
    except WizardError:
        return None


# ---------------------------------------------------------------------------- helpers


def _default_checks(a: Answers, kubeconfig: str | None, context: str | None) -> list[Result]:
    """Every live check (``wizard.checks.run_checks``); tests replace this function."""
    from .checks import run_checks

    return run_checks(a, kubeconfig=kubeconfig, context=context)


def _settings_from_env() -> Any:
    """Settings from the documented variables alone (the Python API and front ends without options)."""
    from .settings import from_env

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
    from .kube import KubeUnreachable

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


# ---------------------------------------------------------------------------- command line


def _print_event(ev: Event, stream: Any = None) -> None:
    stream = stream or sys.stdout
    mark = {START: "==>", PROGRESS: "   ..", OK: "  ok", CHANGED: "  ~", UNCHANGED: "  =", WARN: "  !",
            FAIL: "  x", SKIP: "  -", INFO: "  i"}.get(ev.status, "  ")
    if ev.status == START:
        print(f"{mark} [{ev.step}] {ev.message}", file=stream, flush=True)
    else:
        print(f"{mark} {ev.message}", file=stream, flush=True)
    if ev.detail:
        print(ev.detail, file=stream, flush=True)


def _tty_confirm(question: str, default: bool) -> bool:
    hint = "[Y/n]" if default else "[y/N]"
    try:
        ans = input(f"{question} {hint} ").strip().lower()
    except EOFError:
        return default
    if not ans:
        return default
    return ans in ("y", "yes")


def command(args: Any, opts: Any) -> int:
    """``runner-wizard apply --answers FILE [--dry-run] [--yes] [--out DIR] [--force-conflicts] [--ignore ID,...]``."""
    from .kube import Kube

    opening = Kube.opening(opts.kubeconfig, opts.context)  # the TLS handshake overlaps the imports and the answers
    from .answers import load
    from .checks import validate_ignore
    from .logsafe import redact
    from .results import parse_ignore
    from .tls import load_ca_pem

    if args.out is not None:
        from .render import preflight_out

        preflight_out(Path(args.out))
    settings = getattr(opts, "settings", None) or _settings_from_env()
    answers = settings.with_answers(load(args.answers))
    dry_run = bool(args.dry_run)
    _require_secrets(answers)
    ignore = parse_ignore(getattr(args, "ignore", None))
    validate_ignore(answers, sorted(ignore))
    from .kube import require_context

    require_context(opts.kubeconfig, opts.context or answers.cluster.context,
                    "--context" if opts.context else "cluster.context")
    load_ca_pem(answers)  # a bad CA file is bad input: found before anything is contacted
    # Every check only reads: they start now, while the rest of apply is imported and the
    # connection opens; apply waits for their results before it plans anything.
    checks = _Background(lambda: _default_checks(answers, opts.kubeconfig, opts.context or answers.cluster.context))
    from . import helm, render, tokens, verify  # noqa: F401 - imported now, not on the run's path
    try:
        kube = opening.take(opts.kubeconfig, opts.context or answers.cluster.context)
    except KubeError:  # not reachable now: connect as before, and the run says where it stopped
        kube = None
    try:
        kube = kube or Kube.connect(opts.kubeconfig, opts.context or answers.cluster.context)
    except KubeError as exc:
        print(f"runner-wizard: {exc.message}", file=sys.stderr)
        return _diff.EXIT_ERROR if dry_run else 1
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    confirm = _tty_confirm if (interactive and not args.yes) else None

    def reporter(ev: Event) -> None:
        detail = ev.detail
        if dry_run and ev.step == "plan" and ev.status == CHANGED:  # the diff below shows the fields
            detail = "\n".join(ln for ln in detail.splitlines() if ln.lstrip().startswith("("))
        _print_event(Event(ev.step, ev.status, redact(ev.message), redact(detail), ev.data),
                     sys.stderr if dry_run else None)  # a dry run's stdout is the diff alone

    try:
        report = apply(answers, kube=kube, dry_run=dry_run, settings=settings, assume_yes=bool(args.yes),
                       force_conflicts=bool(getattr(args, "force_conflicts", False)), out_dir=args.out,
                       reporter=reporter, confirm=confirm, kubeconfig=opts.kubeconfig, ignore=ignore,
                       checks=checks)
    except InjectedFault as exc:
        print(f"runner-wizard: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        done = getattr(exc, "apply_report", None)
        if done is not None:
            _print_interrupted(done)
        raise
    finally:
        kube.close()
    if dry_run:
        import contextlib

        rc = _diff.show_dry_run(report, answers)
        with contextlib.redirect_stdout(sys.stderr):
            _print_summary(report)
        return rc
    _print_summary(report)
    return report.exit_code


def _require_secrets(a: Answers) -> None:
    """Every secret apply will need must be readable now: bad input stops before anything is written."""
    from .errors import BadInput, FieldError

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


def _print_interrupted(report: ApplyReport) -> None:
    """What an interrupted apply already did (it is safe to run apply again to finish)."""
    done = [o for o in report.objects if o.applied]
    lines = [f"apply was interrupted after {report.writes} write(s) to the cluster."]
    for o in done:
        lines.append(f"  {o.action}: {o.ref}")
    if report.token is not None and report.token.runner_id is not None:
        lines.append(f"  runner id {report.token.runner_id} ({report.token.action})")
    if report.helm_action:
        lines.append(f"  helm: {report.helm_action}")
    if report.out_dir:
        lines.append(f"  artifacts: {report.out_dir}")
    lines.append("Run the same apply again to finish: every step is idempotent." if report.writes or done
                 else "Nothing in the cluster was changed.")
    print("\n".join(lines), file=sys.stderr, flush=True)


def _print_summary(report: ApplyReport) -> None:
    print()
    if report.error:
        print(f"runner-wizard: {report.error}", file=sys.stderr)
    n_changed = sum(1 for o in report.objects if o.action in (_diff.CREATED, _diff.CHANGED))
    if report.dry_run:
        print(f"Dry run: {n_changed} object(s) would be created or changed"
              + ("" if report.changed else "; nothing would change") + ". Nothing was changed.")
    elif report.stopped:
        print(f"Apply stopped ({report.stopped}).")
    elif not report.changed:
        print("Nothing changed: the cluster already matches the answers.")
    else:
        print(f"Applied: {n_changed} object(s) created or changed, {report.writes} write(s).")
    if report.ignored:
        print(f"Ignored (--ignore): {', '.join(f'{r.id} ({r.status.value})' for r in report.ignored)}")
    if report.token is not None and report.token.runner_id is not None:
        print(f"Runner id: {report.token.runner_id}")
    if report.backup_path:
        print(f"Backup of changed objects: {report.backup_path}")
    if report.out_dir:
        print(f"Artifacts: {report.out_dir}")
    if not report.dry_run and not report.stopped:
        if report.verified:
            print("Verified.")
        else:
            open_items = "; ".join(f"{v.what}: {(v.label or 'not verified').lower()}"
                                   for v in report.verifications if v.ok is False)
            print("NOT VERIFIED: the install did not reach the verified state"
                  + (f" ({open_items})." if open_items else "."))
    if report.next_steps:
        print("Next steps:")
        for i, s in enumerate(dict.fromkeys(report.next_steps), 1):
            print(f"  {i}. {s}")
