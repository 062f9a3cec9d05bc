"""Did the install reach the working state? Bounded waits, progress, exact next steps.

* The manager Deployment becomes available (``--verify-timeout`` seconds, passed in as
  ``timeout_s``; default 180). When it does not, the reason is read from what the controllers
  recorded (:mod:`wizard.rollout`: no schedulable node, quota, image pull,
  crash loop...); on a cluster where nothing processes Deployments (no
  controller-manager) the reason says so.
* The runner manager shows up in GitLab: ``GET /runners/:id/managers`` with a user
  token, when one is available (``gitlab.create_runner.api_token`` with read access),
  polled for ``--verify-gitlab-timeout`` seconds (``timeout_s``; default 60). A manager
  that has not contacted GitLab by then is reported as "not yet seen", with what
  that means, never as a pass.
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
DEFAULT_GITLAB_TIMEOUT = 60.0
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
    label: str = ""
    """How to call a result that is not ``ok`` (default: "NOT VERIFIED" / "not checked")."""


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
    data: dict[str, Any] = {"elapsed": time.monotonic() - start}
    if dep is None:
        reason = f"the Deployment does not exist after {limit:.0f}s (was the Helm release installed?)"
    elif not (dep.get("status") or {}).get("observedGeneration"):
        reason = (f"no pods run: nothing has processed the Deployment within {limit:.0f}s (no ReplicaSet, no "
                  "status). Is kube-controller-manager running, and are there schedulable nodes?")
    else:
        reason = f"not available after {limit:.0f}s: {state['text']}"
        causes = _rollout_causes(kube, dep)
        if causes:
            first = causes[0]
            reason += f". Cause: {first.title} ({first.catalog})"
            ev = [e for e in first.evidence if not e.startswith("Deployment ")]
            if ev:
                reason += f"; {ev[0]}"
            steps.insert(0, first.fix)
            data["causes"] = [{"catalog": c.catalog, "key": c.key, "title": c.title} for c in causes]
    return Verification(what, False, reason, steps, data=data)


def _rollout_causes(kube: Kube, dep: dict[str, Any]) -> list[Any]:
    """What the controllers recorded about why ``dep`` is not available (best effort: [] on read errors)."""
    from urllib.parse import quote

    from . import rollout

    meta = dep.get("metadata") or {}
    ns = meta.get("namespace", "")
    sel = ((dep.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    label_sel = ",".join(f"{k}={v}" for k, v in sel.items())
    try:
        rss = kube.get(f"/apis/apps/v1/namespaces/{quote(ns)}/replicasets", labelSelector=label_sel).get("items")
        pods = kube.get(f"/api/v1/namespaces/{quote(ns)}/pods", labelSelector=label_sel).get("items")
        events = kube.get(f"/api/v1/namespaces/{quote(ns)}/events", limit=500).get("items")
    except KubeError:
        return []
    return rollout.causes(dep, rss or [], pods or [], events or [])


def runner_in_gitlab(answers: Answers, api: GitLabAPI | None, runner_id: int | None,
                     user_token: str | None, *, timeout_s: float | None = None, poll: float = POLL,
                     progress: Callable[[str], None] | None = None) -> Verification:
    """Is a runner manager (other than the wizard's own check) connected for this runner?

    Polls GitLab for up to ``timeout_s`` (default 60; ``--verify-gitlab-timeout``). Nothing seen by
    then is ``ok=False`` labelled "NOT YET SEEN", with the reason: the Deployment runs
    but no manager has contacted GitLab.
    """
    what = "runner manager connected to GitLab"
    where = f"{answers.gitlab.base_url}admin/runners/{runner_id}" if runner_id else \
        f"{answers.gitlab.base_url} (group or project CI/CD settings, Runners)"
    look = f"open {where} and check that the runner shows a connected manager"
    if api is None or runner_id is None or not user_token:
        why = "no runner id is known" if runner_id is None else "no user token with read access is available"
        return Verification(what, None, f"not checked from here: {why}", [look])
    limit = DEFAULT_GITLAB_TIMEOUT if timeout_s is None else max(0.0, timeout_s)
    start = time.monotonic()
    said = False
    while True:
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
        elapsed = time.monotonic() - start
        if elapsed >= limit:
            break
        if progress and not said:
            progress(f"waiting for runner #{runner_id}'s manager to contact GitLab (up to {limit:.0f}s)")
            said = True
        time.sleep(min(poll, max(0.05, limit - elapsed)))
    ns, dep = answers.cluster.runner_namespace, names.deployment(answers)
    when = f"within {limit:.0f}s" if limit else "yet"
    registered = f"; {len(real)} manager(s) registered but never contacted GitLab" if real else ""
    reason = (f"not yet seen: no manager of runner #{runner_id} has contacted GitLab {when}{registered}. "
              "GitLab only sees a manager that runs and reaches it: the manager pod announces itself when it "
              "starts and then polls for jobs. If it cannot (DNS, proxy, network policy, TLS) or GitLab rejects "
              "its token, the manager's log says why")
    return Verification(what, False, reason,
                        [look, f"kubectl -n {ns} logs deployment/{dep} --tail=50",
                         f"runner-wizard diagnose --namespace {ns} --release {answers.runner.release_name}"],
                        data={"state": "not-seen", "waited": limit}, label="NOT YET SEEN")


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
    total = st.get("replicas", 0) or 0
    available = st.get("availableReplicas", 0) or 0
    current = st.get("observedGeneration") == gen
    # As `kubectl rollout status` judges it: during a rolling update the old pods are still ready and
    # counted, and a new pod counts as "updated" before it is ready; so every replica must run the new
    # template, be available, and no old pod may be left.
    ok = (avail and current and ready >= spec_replicas and updated >= spec_replicas and total <= updated
          and available >= updated)
    if not st:
        text = "waiting for pods (the Deployment has no status yet)"
    else:
        text = f"{ready}/{spec_replicas} ready, {updated} updated"
        if total > updated:
            text += f", {total - updated} old pod(s) still running"
        prog = conds.get("Progressing")
        if prog and prog.get("status") == "False":
            text += f"; {prog.get('reason')}: {prog.get('message')}"
    return {"available": ok, "text": text}
