"""Guided recovery, end to end: collect → analyze logs and events → run the analyzer table.

:func:`diagnose` is what the CLI (:mod:`wizard.diagnose.cli`, ``runner-wizard diagnose``)
and the recovery screen call; it returns a :class:`~wizard.diagnose.model.Diagnosis` and
prints nothing. It needs no cluster when only saved logs are given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from wizard.diagnose import logs as logmod
from wizard.diagnose.analyzers import Context, LogHit, run_table
from wizard.diagnose.collect import Collector, LogSource, find_releases
from wizard.diagnose.model import ClusterState, Diagnosis, ReleaseRef
from wizard.errors import BadInput, WizardError
from wizard.results import Result

if TYPE_CHECKING:
    from wizard.answers import Answers
    from wizard.kube import Kube

log = logging.getLogger("wizard.diagnose")

Progress = Callable[[str], None]

NETWORK_CHECKS = ("tls.gitlab", "gitlab.token", "dns", "gitlab.reach")


class NoRelease(WizardError):
    exit_code = 2


# --------------------------------------------------------------------------- logs and events


def event_lines(state: ClusterState) -> list[tuple[str, str, str]]:
    """(origin, source hint, text) for the events and pod statuses that belong to this release."""
    me: dict[str, list[str]] = {}
    je: dict[str, list[str]] = {}
    for ev in state.events:
        if ev.get("type") not in ("Warning", None):
            continue
        obj = ev.get("involvedObject") or {}
        name, kind = obj.get("name", ""), obj.get("kind", "")
        ns = obj.get("namespace") or ev.get("metadata", {}).get("namespace", "")
        line = f"Warning {ev.get('reason', '')} {kind.lower()}/{name}: {ev.get('message', '')}"
        if name.startswith("runner-") and ns == state.jobs_namespace:
            je.setdefault(f"events {ns}", []).append(line)
        elif name.startswith(state.fullname) and ns == state.namespace:
            me.setdefault(f"events {ns}", []).append(line)
    for pod in state.job_pods:
        name = pod.get("metadata", {}).get("name", "")
        for cs in (pod.get("status", {}).get("containerStatuses") or []) + (
                pod.get("status", {}).get("initContainerStatuses") or []):
            w = (cs.get("state") or {}).get("waiting") or {}
            if w.get("message"):
                je.setdefault(f"pod {state.jobs_namespace}/{name}", []).append(
                    f"Warning {w.get('reason', '')} pod/{name}: {w['message']}")
        for cond in pod.get("status", {}).get("conditions") or []:
            if cond.get("reason") == "Unschedulable" and cond.get("message"):
                je.setdefault(f"pod {state.jobs_namespace}/{name}", []).append(
                    f"Warning FailedScheduling pod/{name}: {cond['message']}")
    out = [(origin, "ME", "\n".join(lines)) for origin, lines in me.items()]
    out += [(origin, "JE", "\n".join(lines)) for origin, lines in je.items()]
    return out


def analyze_texts(texts: Sequence[tuple[str, str | None, str]], gitlab_url: str | None = None
                  ) -> tuple[list[LogHit], list[logmod.Notice]]:
    """Run the log analyzer over each (origin, hint, text); merge identical findings across origins."""
    hits: dict[str, LogHit] = {}
    notices: dict[str, logmod.Notice] = {}
    for origin, hint, text in texts:
        try:
            la = logmod.analyze_text(text, source_hint=hint, gitlab_url=gitlab_url)
        except ValueError:
            la = logmod.analyze_text(text, gitlab_url=gitlab_url)
        for f in la.findings:
            key = f.result_id
            if key in hits:
                old = hits[key].finding
                old.count += f.count
                for ev in f.evidence:
                    if len(old.evidence) < logmod.MAX_EVIDENCE and ev not in old.evidence:
                        old.evidence.append(ev)
            else:
                hits[key] = LogHit(f, origin)
        for n in la.notices:
            if n.key in notices:
                notices[n.key].count += n.count
            else:
                notices[n.key] = n
    return list(hits.values()), list(notices.values())


def read_log_files(paths: Sequence[str]) -> list[tuple[str, str | None, str]]:
    from wizard.safeio import LOG_LIMIT, read_regular

    out = []
    for p in paths:
        data = read_regular(p, limit=LOG_LIMIT, field="--log", what="saved log")
        out.append((Path(p).name, None, data.decode("utf-8", errors="replace")))
    return out


# --------------------------------------------------------------------------- diagnose


def resolve_release(kube: Kube, namespace: str | None, release: str | None) -> tuple[str, str, ReleaseRef | None,
                                                                                       list[ReleaseRef]]:
    found = find_releases(kube, namespace)
    if namespace and release:
        ref = next((r for r in found if r.namespace == namespace and r.release == release), None)
        return namespace, release, ref, found
    cands = [r for r in found if (not release or r.release == release)]
    if len(cands) == 1:
        return cands[0].namespace, cands[0].release, cands[0], found
    where = f"namespace {namespace}" if namespace else "any namespace"
    if not cands:
        raise NoRelease(f"no gitlab-runner release found in {where}; pass --namespace NS --release NAME "
                        "(or --answers FILE)")
    names = ", ".join(str(r) for r in cands)
    raise NoRelease(f"several gitlab-runner releases found ({names}); choose one with --namespace and --release")


def diagnose(*, kube: Kube | None = None, kubeconfig: str | None = None, context: str | None = None,
             answers: Answers | None = None, namespace: str | None = None, release: str | None = None,
             logs: Sequence[tuple[str, str | None, str]] = (), log_source: LogSource | None = None,
             progress: Progress | None = None, cluster: bool = True, live_checks: bool = True) -> Diagnosis:
    """Diagnose one release (and/or saved logs). ``logs`` are (origin, source hint or None, text).

    With ``cluster=False`` only the logs are analyzed and nothing is contacted.
    """
    say = progress or (lambda _m: None)
    state: ClusterState | None = None
    releases: list[ReleaseRef] = []
    own_kube = False
    if answers is not None:
        namespace = namespace or answers.cluster.runner_namespace
        release = release or answers.runner.release_name
        context = context or answers.cluster.context
    try:
        if cluster:
            if kube is None:
                from wizard.kube import Kube as _Kube

                say("connecting to the cluster")
                kube = _Kube.connect(kubeconfig, context)
                own_kube = True
            say("looking for gitlab-runner releases")
            namespace, release, ref, releases = resolve_release(kube, namespace, release)
            state = Collector(kube, log_source=log_source, progress=say).collect(namespace, release, ref=ref)
        texts: list[tuple[str, str | None, str]] = list(logs)
        if state is not None:
            texts = [(lt.name, lt.source, lt.text) for lt in state.logs] + event_lines(state) + texts
        gitlab_url = None
        if answers is not None:
            gitlab_url = answers.gitlab.url
        elif state is not None:
            gitlab_url = state.merged_values.get("gitlabUrl")
        say(f"analyzing {len(texts)} log and event source(s)")
        hits, notices = analyze_texts(texts, gitlab_url)
        checks: dict[str, Result] = {}
        if live_checks and answers is not None and hits:
            checks = _confirm_with_checks(answers, hits, kubeconfig, context, say)
        ctx = Context(state=state, hits=hits, kube=kube, checks=checks)
        say("running analyzers")
        findings = run_table(ctx)
        return Diagnosis(findings, state, releases, notices, list(state.errors) if state else [],
                         [t[0] for t in texts])
    finally:
        if own_kube and kube is not None:
            kube.close()


def _confirm_with_checks(answers: Answers, hits: list[LogHit], kubeconfig: str | None, context: str | None,
                         say: Progress) -> dict[str, Result]:
    """Run the live checks (``wizard.checks``) that confirm network/TLS/token findings from the logs."""
    wanted = sorted({p for h in hits for p in h.finding.confirm if p.startswith(NETWORK_CHECKS)})
    if not wanted:
        return {}
    from wizard.checks import run_checks
    say("confirming with live checks: " + ", ".join(wanted))
    try:
        results = run_checks(answers, kubeconfig=kubeconfig, context=context, ids=wanted)
    except Exception as exc:  # noqa: BLE001 - a probe failure must not stop the diagnosis
        log.debug("live checks failed: %s", exc, exc_info=True)
        return {}
    return {r.id: r for r in results if any(r.id == p or r.id.startswith(p + ".") for p in wanted)}
