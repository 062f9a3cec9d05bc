"""Step 7: verify with bounded waits; what cannot be verified gets its exact next step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import WizardError
from ..progress import FAIL, OK, PROGRESS, START, WARN

if TYPE_CHECKING:
    from ..answers import Answers
    from ..gitlab_api import GitLabAPI
    from ..tokens import TokenOutcome
    from ..verify import Verification
    from .report import Run


def verify_all(run: Run, api: GitLabAPI | None, token: TokenOutcome) -> None:
    from .. import tokens as _tokens
    from .. import verify as _verify
    from ..verify import Verification

    a, kube, report, emit = run.answers, run.kube, run.report, run.emit
    if report.stopped:
        return
    emit("verify", START, "verifying")
    if a.cluster.mode == "external":
        ext = report.external
        if ext is not None and ext.token:
            cred = _tokens.verify_external(kube, a, ext.token)
            v = Verification("external manager credentials", cred.ok, cred.reason,
                             [] if cred.ok else [f"kubectl auth can-i create pods -n {a.cluster.jobs_namespace} "
                                            f"--as=system:serviceaccount:{a.cluster.runner_namespace}:"
                                            f"{a.cluster.manager_service_account}"])
            _record(run, v)
        # the manager runs on a VM the user has yet to set up: look once, do not wait
        gl = _verify.runner_in_gitlab(a, api, token.runner_id, _user_token(a), timeout_s=0)
        if gl.ok is None:
            gl.next_steps.insert(0, "install config.toml on the runner VM and start gitlab-runner there")
        _record(run, gl)
        return
    if report.helm_action == "not-run":
        _record(run, Verification("Helm release installed", False,
                                  "helm is not on PATH, so the release was not installed", [report.helm_command]))
        return

    def progress(msg: str) -> None:
        emit("verify", PROGRESS, msg)

    dep = _verify.wait_deployment(a, kube, progress=progress, timeout_s=report.settings.verify_timeout)
    _record(run, dep)
    if dep.ok:
        gl = _verify.runner_in_gitlab(a, api, token.runner_id, _user_token(a), progress=progress,
                                      timeout_s=report.settings.verify_gitlab_timeout)
        _record(run, gl)


def _record(run: Run, v: Verification) -> None:
    """Add a verification to the report, with its next steps, and tell the caller."""
    report = run.report
    report.verifications.append(v)
    if v.ok is True:
        run.emit("verify", OK, f"{v.what}: {v.reason}")
        return
    for s in v.next_steps:
        if s not in report.next_steps:
            report.next_steps.append(s)
    status = FAIL if v.ok is False else WARN
    label = v.label or ("NOT VERIFIED" if v.ok is False else "not checked")
    run.emit("verify", status, f"{v.what}: {label}: {v.reason}",
             "\n".join(f"    next step: {s}" for s in v.next_steps))


def _user_token(a: Answers) -> str | None:
    cr = a.gitlab.create_runner
    if cr is None:
        return None
    try:
        return cr.api_token.resolve("gitlab.create_runner.api_token")
    except WizardError:
        return None
