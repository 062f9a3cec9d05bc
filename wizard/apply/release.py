"""The Helm release step: what a dry run would do, and ``helm upgrade --install`` (resuming a release a
stopped helm left ``pending-*``, with consent)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..progress import CHANGED, FAIL, OK, SKIP, START, UNCHANGED, WARN

if TYPE_CHECKING:
    from ..helm import HelmTarget
    from .report import Run


def helm_dry_run(run: Run, t: HelmTarget) -> None:
    from .. import helm as _helm

    report, emit = run.report, run.emit
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


def _resume_pending(run: Run, t: HelmTarget, state: Any) -> bool:
    """A release left ``pending-*`` by a helm process that was stopped: with consent, uninstall a first install
    that never finished, or roll an interrupted upgrade back, so the upgrade below can run. False: declined."""
    from .. import helm as _helm

    first = state.status == "pending-install"
    what = ("uninstall the half-done first install" if first else
            "roll it back to the last good revision")
    if not run.ask(f"Helm release {t.namespace}/{t.release} is {state.status} (revision {state.revision}): a helm "
                   f"run was stopped halfway. If no other helm or apply is working on it right now, {what} and go on?",
                   False):
        return False
    argv = [t.binary, "uninstall", t.release, *t.global_flags(), "--wait=false"] if first else \
        [t.binary, "rollback", t.release, *t.global_flags()]
    proc = _helm.run(argv, timeout_s=t.timeout)
    if proc.returncode != 0:
        raise _helm.error_from(proc, what=f"helm {argv[1]}", t=t)
    run.emit("helm", CHANGED, f"{'uninstalled' if first else 'rolled back'} the interrupted release "
                              f"{t.namespace}/{t.release} ({state.status}, revision {state.revision})")
    run.writes(f"helm {argv[1]} {t.release} (interrupted {state.status})")
    return True


def helm_apply(run: Run, t: HelmTarget) -> None:
    from .. import helm as _helm

    report, emit = run.report, run.emit
    if t.binary is None:
        report.helm_action = "not-run"
        report.next_steps.append(f"install the release (helm is not on PATH here): {report.helm_command}")
        emit("helm", SKIP, f"helm is not on PATH; run: {report.helm_command}")
        return
    emit("helm", START, f"Helm release {t.namespace}/{t.release}")
    try:
        state = _helm.release_state(t)
        if state is not None and state.pending and _resume_pending(run, t, state):
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
    emit("helm", OK, f"{report.helm_action} Helm release {t.namespace}/{t.release}"
                     + (f" ({summary})" if summary else ""))
    run.writes(f"helm upgrade --install {t.release}")
