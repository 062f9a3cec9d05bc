"""Guided recovery, end to end: collect → analyze logs and events → run the analyzer table.

:func:`diagnose` is what the CLI (``runner-wizard diagnose``) and the recovery
screen call. It needs no cluster when only saved logs are given.
:func:`command` implements the CLI, including ``--fix`` (plan, consent, apply,
re-diagnose).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wizard.diagnose import logs as logmod
from wizard.diagnose.analyzers import Context, Finding, LogHit, run_table
from wizard.diagnose.collect import ClusterState, Collector, LogSource, ReleaseRef, find_releases
from wizard.errors import BadInput, WizardError
from wizard.results import Result, Status, any_failed, report_json, summarize

if TYPE_CHECKING:
    from wizard.answers import Answers
    from wizard.kube import Kube

log = logging.getLogger("wizard.diagnose")

Progress = Callable[[str], None]

NETWORK_CHECKS = ("tls.gitlab", "gitlab.token", "dns", "gitlab.reach")


@dataclass
class Diagnosis:
    findings: list[Finding]
    state: ClusterState | None = None
    releases: list[ReleaseRef] = field(default_factory=list)
    notices: list[logmod.Notice] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    """Where the analyzed lines came from (pods, events, files)."""

    @property
    def results(self) -> list[Result]:
        out = [f.to_result() for f in self.findings]
        if self.errors:
            out.append(Result("diagnose.collect", "diagnose", Status.WARN,
                              f"{len(self.errors)} item(s) could not be read; findings that need them are missing",
                              "; ".join(self.errors[:5])))
        return out

    @property
    def failed(self) -> bool:
        return any(f.status is Status.FAIL for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status in (Status.FAIL, Status.WARN)]

    @property
    def fixable(self) -> list[Finding]:
        return [f for f in self.findings if f.fixable]

    def catalog_ids(self, *statuses: Status) -> set[str]:
        want = statuses or (Status.FAIL, Status.WARN)
        return {f.catalog for f in self.findings if f.status in want}


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
    try:
        from wizard.checks import run_checks  # type: ignore[import-not-found]
    except ImportError:
        return {}
    say("confirming with live checks: " + ", ".join(wanted))
    try:
        results = run_checks(answers, kubeconfig=kubeconfig, context=context, ids=wanted)
    except Exception as exc:  # noqa: BLE001 - a probe failure must not stop the diagnosis
        log.debug("live checks failed: %s", exc, exc_info=True)
        return {}
    return {r.id: r for r in results if any(r.id == p or r.id.startswith(p + ".") for p in wanted)}


# --------------------------------------------------------------------------- CLI


def _print_human(d: Diagnosis, out: Any) -> None:
    if d.state is not None:
        st = d.state
        print(f"release {st.namespace}/{st.release} (Deployment {st.fullname}, jobs in {st.jobs_namespace}; "
              f"values: {st.values_source or 'not found'})", file=out)
    if d.sources:
        print(f"analyzed: {', '.join(d.sources)}", file=out)
    if not d.findings:
        print("✔ no problems found", file=out)
    for f in d.findings:
        print(f"{f.status.symbol} {f.catalog}  {f.to_result().title}", file=out)
        if f.detail:
            print(f"    {f.to_result().detail}", file=out)
        for ev in f.to_result().evidence:
            print(f"    evidence: {ev}", file=out)
        if f.fix and f.status is not Status.PASS:
            print(f"    fix: {f.to_result().fix}", file=out)
    if d.notices:
        print(f"notices: {', '.join(f'{n.meaning} (x{n.count})' for n in d.notices)}", file=out)
    for e in d.errors:
        print(f"! {e}", file=out)
    counts = summarize(r for r in d.results)
    print(f"{counts['fail']} failed, {counts['warn']} warnings, {counts['pass']} resolved", file=out)


def command(args: Any, opts: Any) -> int:
    """``runner-wizard diagnose``; exit 0 (no failed finding), 1 (a finding failed), 2 (bad input)."""
    from wizard.diagnose import fixes

    answers = None
    if getattr(args, "answers", None):
        from wizard.answers import load

        answers = load(args.answers)
    texts = read_log_files(getattr(args, "log", None) or [])
    cluster = bool(answers is not None or args.namespace or args.release or not texts)
    kube = None
    try:
        if cluster:
            from wizard.kube import Kube, KubeError

            try:
                kube = Kube.connect(opts.kubeconfig, opts.context or (answers.cluster.context if answers else None))
                kube.version()  # nothing to diagnose without a cluster that answers
            except KubeError as exc:
                raise WizardError(f"cannot reach the cluster: {getattr(exc, 'message', exc)}; check the "
                                  "kubeconfig, the context and the network, then run diagnose again "
                                  "(saved logs can be analyzed without a cluster: --log FILE)") from exc
        err = sys.stderr
        say = (lambda m: print(f"… {m}", file=err)) if not args.json and sys.stderr.isatty() else None
        diag = diagnose(kube=kube, answers=answers, namespace=args.namespace, release=args.release, logs=texts,
                        progress=_logged(say), cluster=cluster, kubeconfig=opts.kubeconfig, context=opts.context)
        st = diag.state
        if st is not None and not st.values_source and st.deployment is None and st.release_ref is None:
            raise NoRelease(f"release {st.namespace}/{st.release} does not exist (no Helm release secret and no "
                            f"Deployment {st.fullname}); check --namespace and --release, or list releases with "
                            "runner-wizard diagnose without them")
        human_out = sys.stderr if args.json else sys.stdout
        printed_initial = applied_any = False
        if args.fix and diag.state is not None and kube is not None:
            plans = fixes.plan_all(diag, answers)
            if not plans:
                print("no automatic fix for the findings above" if diag.problems else "nothing to fix",
                      file=human_out)
            else:
                if not args.json:
                    _print_human(diag, human_out)
                    printed_initial = True
                interactive = sys.stdin.isatty() and sys.stdout.isatty()
                applied = 0
                for plan in plans:
                    print("\n" + plan.render(), file=human_out)
                    if args.yes:
                        ok = True
                    elif interactive:
                        ok = input("apply this fix? [y/N] ").strip().lower() in ("y", "yes")
                        log.info("asked: apply fix %s? -> %s", getattr(plan, "id", "?"), "yes" if ok else "no")
                    else:
                        print("  (not applied: no terminal to ask; rerun with --yes to apply)", file=human_out)
                        ok = False
                    if not ok:
                        continue
                    outcome = fixes.apply_plan(kube, diag.state, plan, answers=answers,
                                                kubeconfig=opts.kubeconfig, context=opts.context)
                    print(f"  {outcome.message}", file=human_out)
                    applied += int(outcome.ok)
                applied_any = bool(applied)
                if applied:
                    print("\nre-running the diagnosis…", file=human_out)
                    diag = diagnose(kube=kube, answers=answers, namespace=diag.state.namespace,
                                    release=diag.state.release, logs=texts, cluster=True, live_checks=False,
                                    kubeconfig=opts.kubeconfig, context=opts.context)
                    still = [f for f in diag.problems if f.fix_id]
                    if still:
                        print("still present after the fix: " + ", ".join(f.id for f in still), file=human_out)
        if args.json:
            print(report_json(diag.results))
        elif not (args.fix and printed_initial and not applied_any):
            _print_human(diag, sys.stdout)
        return 1 if any_failed(diag.results) else 0
    finally:
        if kube is not None:
            kube.close()


def _logged(say: Progress | None) -> Progress:
    def progress(message: str) -> None:
        log.info("diagnose: %s", message)
        if say is not None:
            say(message)

    return progress


def _env_flag(name: str) -> bool:  # pragma: no cover - helper for manual runs
    return os.environ.get(name, "") not in ("", "0", "false")
