"""Did the install reach the working state? Bounded waits, progress, exact next steps.

* The manager Deployment becomes available (``--verify-timeout`` seconds, passed in as
  ``timeout_s``; default 180). On a cluster where nothing runs pods (no controller-manager, as in
  the envtest harness) the wait ends with "not verified" and the reason.
* The runner manager shows up in GitLab: ``GET /runners/:id/managers`` with a user
  token, when one is available (``gitlab.create_runner.api_token`` with read access).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import names
from .answers import Answers
from .gitlab_api import CHECK_SYSTEM_ID, GitLabAPI, GitLabError
from .kube import Kube, KubeError, collection_path

DEFAULT_TIMEOUT = 180.0
POLL = 2.0


@dataclass
class Verification:
    """``ok`` True: verified. ``ok`` False: not verified (``reason`` and ``next_steps`` say why and what to do).
    ``ok`` None: could not be checked from here (not a failure by itself)."""

    what: str
    ok: bool | None
    reason: str = ""
    next_steps: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def wait_deployment(answers: Answers, kube: Kube, *, timeout_s: float | None = None,
                    progress: Callable[[str], None] | None = None, poll: float = POLL) -> Verification:
    """Wait until the manager Deployment is Available with all replicas ready."""
    ns, name = answers.cluster.runner_namespace, names.deployment(answers)
    path = f"{collection_path('Deployment', ns)}/{name}"
    limit = DEFAULT_TIMEOUT if timeout_s is None else max(0.0, timeout_s)
    what = f"Deployment {ns}/{name} available"
    kubectl = f"kubectl -n {ns}"
    steps = [f"{kubectl} rollout status deployment/{name} --timeout=5m",
             f"{kubectl} get pods -l app={names.app_label(answers)} -o wide",
             f"{kubectl} describe deployment/{name}",
             f"runner-wizard diagnose --namespace {ns} --release {answers.runner.release_name}"]
    start = time.monotonic()
    last = ""
    dep: dict[str, Any] | None = None
    while True:
        try:
            dep = kube.get_or_none(path)
        except KubeError as exc:
            return Verification(what, False, f"cannot read the Deployment: {exc.message or exc}", steps)
        elapsed = time.monotonic() - start
        state = _deployment_state(dep)
        if state["available"]:
            return Verification(what, True, state["text"], data={"elapsed": elapsed})
        if state["text"] != last and progress:
            progress(f"{state['text']} ({elapsed:.0f}s of {limit:.0f}s)")
            last = state["text"]
        if elapsed >= limit:
            break
        time.sleep(min(poll, max(0.05, limit - elapsed)))
    if dep is None:
        reason = f"the Deployment does not exist after {limit:.0f}s (was the Helm release installed?)"
    elif not (dep.get("status") or {}).get("observedGeneration"):
        reason = (f"no pods run: nothing has processed the Deployment within {limit:.0f}s (no ReplicaSet, no "
                  "status). Is kube-controller-manager running, and are there schedulable nodes?")
    else:
        reason = f"not available after {limit:.0f}s: {state['text']}"
    return Verification(what, False, reason, steps, data={"elapsed": time.monotonic() - start})


def runner_in_gitlab(answers: Answers, api: GitLabAPI | None, runner_id: int | None,
                     user_token: str | None) -> Verification:
    """Is a runner manager (other than the wizard's own check) connected for this runner?"""
    what = "runner manager connected to GitLab"
    where = f"{answers.gitlab.base_url}admin/runners/{runner_id}" if runner_id else \
        f"{answers.gitlab.base_url} (group or project CI/CD settings, Runners)"
    look = f"open {where} and check that the runner shows a connected manager"
    if api is None or runner_id is None or not user_token:
        why = "no runner id is known" if runner_id is None else "no user token with read access is available"
        return Verification(what, None, f"not checked from here: {why}", [look])
    try:
        managers = api.runner_managers(user_token, runner_id)
    except GitLabError as exc:
        if exc.status in (401, 403):
            return Verification(what, None, f"not checked: the API token may not read runners ({exc.message})",
                                [look])
        return Verification(what, None, f"not checked: {exc.message}", [look])
    real = [m for m in managers if m.get("system_id") != CHECK_SYSTEM_ID]
    online = [m for m in real if m.get("contacted_at")]
    if online:
        ids = ", ".join(str(m.get("system_id")) for m in online)
        return Verification(what, True, f"runner #{runner_id}: {len(online)} manager(s) connected ({ids})",
                            data={"managers": online})
    return Verification(what, False, f"runner #{runner_id} has no connected manager yet",
                        [look, f"kubectl -n {answers.cluster.runner_namespace} logs deployment/"
                               f"{names.deployment(answers)} --tail=50"])


def _deployment_state(dep: dict[str, Any] | None) -> dict[str, Any]:
    if dep is None:
        return {"available": False, "text": "waiting for the Deployment to appear"}
    spec_replicas = (dep.get("spec") or {}).get("replicas", 1)
    st = dep.get("status") or {}
    gen = (dep.get("metadata") or {}).get("generation")
    conds = {c.get("type"): c for c in st.get("conditions") or []}
    avail = conds.get("Available", {}).get("status") == "True"
    ready = st.get("readyReplicas", 0) or 0
    updated = st.get("updatedReplicas", 0) or 0
    current = st.get("observedGeneration") == gen
    ok = avail and current and ready >= spec_replicas and updated >= spec_replicas
    if not st:
        text = "waiting for pods (the Deployment has no status yet)"
    else:
        text = f"{ready}/{spec_replicas} ready, {updated} updated"
        prog = conds.get("Progressing")
        if prog and prog.get("status") == "False":
            text += f"; {prog.get('reason')}: {prog.get('message')}"
    return {"available": ok, "text": text}
