"""Carry out a :class:`~wizard.apply.plan.Plan`: back up, apply the objects, the runner token, the Helm
release (or the external manager's credentials), then verify.

Every write goes through ``run.writes`` (counted, observed, the fault tests stop after any one of
them) and is idempotent, so a run stopped after any write and started again ends in the same state.
"""

from __future__ import annotations

import copy
import datetime as _dt
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import diff as _diff
from .. import names
from ..errors import WizardError
from ..kube import KubeError, describe, object_path
from ..progress import CHANGED, FAIL, INFO, OK, START, UNCHANGED, WARN
from .plan import CONFLICT, ObjectResult, Plan
from .release import helm_apply
from .verifying import verify_all

if TYPE_CHECKING:
    from ..kube import Kube
    from .report import Run


def execute(plan: Plan, run: Run) -> None:
    """Apply the plan (steps 4 to 7 of :mod:`wizard.apply`)."""
    _apply_objects(plan, run)
    _realize_token(plan, run)
    _write_token_secret(plan, run)
    _delete_orphans(plan, run)
    if plan.external:
        _external_credentials(plan, run)
    else:
        assert plan.helm is not None
        helm_apply(run, plan.helm)
    verify_all(run, plan.api, plan.token)
    if not run.report.changed:
        run.emit("apply", UNCHANGED, "nothing changed: the cluster already matches the answers")


def _apply_objects(plan: Plan, run: Run) -> None:
    """Back up what changes, then server-side apply every changed object but the token Secret."""
    run.emit("apply", START, "applying (server-side apply, field manager runner-wizard)")
    backups = plan.backups
    if backups:
        run.report.backup_path = write_backup(run.kube, plan.out_dir, backups)
        run.emit("apply", INFO, f"backup of {len(backups)} changed object(s): {run.report.backup_path}",
                 path=str(run.report.backup_path))
    for p in plan.objects:
        if p.token_secret:
            continue  # written after the runner exists
        if p.result.action == _diff.UNCHANGED:
            continue
        apply_one(run, p.obj, p.result)


def _realize_token(plan: Plan, run: Run) -> None:
    """Create the runner in GitLab when the plan says so (its token goes to the Secret right after)."""
    from .. import tokens as _tokens

    token, report = plan.token, run.report
    if not token.pending:
        return
    assert plan.api is not None
    run.emit("token", START, "creating the runner in GitLab")
    _tokens.realize_token(run.answers, token, plan.api, on_write=run.writes)
    _note_warnings(run, token.warnings, "token")
    report.next_steps += token.next_steps
    run.emit("token", OK, f"runner #{token.runner_id} created; its token is stored only in Secret "
                          f"{run.answers.cluster.runner_namespace}/{names.token_secret(run.answers)}",
             runner_id=token.runner_id)


def _write_token_secret(plan: Plan, run: Run) -> None:
    """Write the token Secret; when the token changed, mark it, restart the manager, then drop the mark."""
    from .. import tokens as _tokens

    a, token = run.answers, plan.token
    restart_due = not plan.external and (token.changed or token.restart_pending)
    for p in plan.objects:
        if not p.token_secret:
            continue
        obj, res = p.obj, p.result
        fresh = token.source == "create_runner" and token.action in ("create", "reregister")
        if fresh:
            obj = plan.token_secret_object()  # the token exists now
        elif res.action == _diff.UNCHANGED and not restart_due:
            continue
        if not restart_due:
            apply_one(run, obj, res)
            continue
        if token.changed:
            # the new token and "the pods still run the old one" land in one write, so an apply stopped
            # before the restart below restarts them when it is run again
            marked = copy.deepcopy(obj)
            marked["metadata"].setdefault("annotations", {})[_tokens.RESTART_PENDING_ANNOTATION] = "token changed"
            apply_one(run, marked, res)
        if _tokens.restart_manager(a, run.kube):
            run.writes("restart of the manager Deployment")
            run.report.restarted = True
            run.emit("token", CHANGED, f"the runner token changed: restarted the manager pods (Deployment "
                                       f"{a.cluster.runner_namespace}/{names.deployment(a)})")
        run.kube.apply(obj, force=run.force)  # the restart is done: drop the marker
        run.writes(f"{describe(obj)} (restart done)")


def _delete_orphans(plan: Plan, run: Run) -> None:
    """The token is durable in the cluster now: remove what an interrupted run left in GitLab."""
    from .. import tokens as _tokens

    token = plan.token
    if not token.orphans or plan.api is None:
        return
    for rid in _tokens.delete_orphans(run.answers, token, plan.api, on_write=run.writes):
        run.emit("token", CHANGED, f"deleted runner #{rid}, created for this install by an interrupted apply and "
                                   "never used", runner_id=rid)
    _note_warnings(run, token.warnings, "token")


def _external_credentials(plan: Plan, run: Run) -> None:
    from .. import tokens as _tokens

    report = run.report
    run.emit("external", START, "credentials for the external manager (TokenRequest)")
    ext = _tokens.external_credentials(run.answers, run.kube, plan.rendered.files.get("config.toml"), plan.out_dir,
                                       on_write=run.writes, settings=run.settings)
    report.external = ext
    for w in ext.warnings:
        report.warnings.append(w)
        run.emit("external", WARN, w)
    report.next_steps += ext.next_steps
    run.emit("external", OK if ext.action != "unchanged" else UNCHANGED,
             f"config.toml (mode 0600) {ext.action}: {ext.config_path}"
             + (f"; token expires {ext.expires_at}" if ext.expires_at else ""))


def _note_warnings(run: Run, warnings: list[str], step: str) -> None:
    for w in warnings:
        if w not in run.report.warnings:
            run.report.warnings.append(w)
            run.emit(step, WARN, w)


def apply_one(run: Run, obj: dict[str, Any], res: ObjectResult) -> None:
    try:
        run.kube.apply(obj, force=run.force)
    except KubeError as exc:
        if exc.conflict:
            res.action = CONFLICT
            res.message = exc.message
            run.emit("apply", FAIL, f"conflict: {res.ref}: {exc.message}")
            raise WizardError(f"{res.ref}: fields owned by another manager changed during apply "
                              f"({exc.message}); run apply again (or with --force-conflicts)") from exc
        raise
    res.applied = True
    run.emit("apply", CHANGED if res.action == _diff.CHANGED else OK,
             f"{'changed' if res.existed else 'created'} {res.ref}", kind=res.kind, name=res.name,
             namespace=res.namespace)
    run.writes(describe(obj))


def write_backup(kube: Kube, out: Path, objs: list[dict[str, Any]]) -> Path:
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

