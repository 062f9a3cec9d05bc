"""What every analyzer uses: a log hit with its origin, the :class:`Context` (state, hits, live
checks, SubjectAccessReviews), turning a hit and its live verdict into a finding, and small
readings of the collected state.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from wizard.diagnose import logs as logmod
from wizard.diagnose.model import ClusterState, Finding
from wizard.logsafe import redact as _redact_base
from wizard.results import Result, Status

if TYPE_CHECKING:
    from wizard.kube import Kube


redact = _redact_base
_slug = logmod.slug  # one id-suffix rule for log findings and object findings


# --------------------------------------------------------------------------- findings


@dataclass
class LogHit:
    """A log-analyzer finding plus where its lines came from."""

    finding: logmod.Finding
    origin: str
    """``pod/<name>/<container>``, ``events <ns>``, a file name or ``pasted log``."""

    @property
    def catalog(self) -> str:
        return self.finding.catalog

    @property
    def groups(self) -> dict[str, str]:
        return self.finding.groups

    @property
    def rule_id(self) -> str:
        return self.finding.rule.id

    def evidence(self) -> list[str]:
        return [f"{self.origin}: {line}" for line in self.finding.evidence]


@dataclass
class Context:
    state: ClusterState | None
    hits: list[LogHit]
    kube: Kube | None = None
    checks: dict[str, Result] = field(default_factory=dict)
    """Results of live checks (``wizard.checks``) run to confirm log findings, by id."""
    consumed: set[int] = field(default_factory=set)
    _sar_cache: dict[tuple[str, str, str, str, str], bool | None] = field(default_factory=dict)

    def hits_for(self, *catalogs: str, unclaimed: bool = True) -> list[LogHit]:
        return [h for h in self.hits if h.catalog in catalogs and (not unclaimed or id(h) not in self.consumed)]

    def claim(self, hit: LogHit) -> None:
        self.consumed.add(id(hit))

    def absorb(self, finding: Finding, *catalogs: str, match: Callable[[LogHit], bool] | None = None,
               origin: str | None = None) -> None:
        """Claim the unclaimed log hits of ``catalogs`` that ``match``, as evidence for ``finding``.
        ``origin`` (e.g. "cluster+logs") marks a finding the logs corroborate."""
        for hit in self.hits_for(*catalogs):
            if match is None or match(hit):
                self.claim(hit)
                finding.add_evidence(*hit.evidence())
                if origin:
                    finding.origin = origin

    def can(self, sa_ns: str, sa: str, namespace: str, resource: str, verb: str) -> bool | None:
        """Is ``system:serviceaccount:<sa_ns>:<sa>`` allowed ``verb resource`` in ``namespace`` now?"""
        st = self.state
        if st and sa_ns == st.namespace and sa == st.manager_sa and (namespace, resource, verb) in st.access:
            return st.access[(namespace, resource, verb)]
        key = (sa_ns, sa, namespace, resource, verb)
        if key in self._sar_cache:
            return self._sar_cache[key]
        ans: bool | None = None
        if self.kube is not None:
            from wizard.kube import KubeError, service_account_user

            user, groups = service_account_user(sa_ns, sa)
            base, _, sub = resource.partition("/")
            try:
                ans, _ = self.kube.access_review(verb=verb, resource=base, subresource=sub, namespace=namespace,
                                                 user=user, groups=groups)
            except KubeError:
                ans = None
        self._sar_cache[key] = ans
        return ans

    def check_verdict(self, prefixes: tuple[str, ...]) -> tuple[str, str] | None:
        """(``fail``|``pass``, note) from live check results whose id starts with a prefix."""
        rel = [r for r in self.checks.values()
               if any(r.id == p or r.id.startswith(p + ".") for p in prefixes) and r.status is not Status.SKIP]
        if not rel:
            return None
        # what apply would create or repair (Result.apply) is missing or wrong right now: still a problem here
        bad = [r for r in rel if r.status is Status.FAIL or r.apply]
        if bad:
            return "fail", f"live check {bad[0].id}: {bad[0].detail or bad[0].title}"
        return "pass", f"live check {rel[0].id} passes now"


Verdict = tuple[str, str]
"""(``fail`` | ``pass`` | ``unknown``, note)."""
Confirm = Callable[[Context, LogHit], Verdict]


def from_hit(hit: LogHit, verdict: Verdict, *, suffix: str | None = None, fix_id: str | None = None,
             fix_args: dict[str, Any] | None = None) -> Finding:
    """A finding for one log hit, with its live verdict applied."""
    lf = hit.finding
    kind, note = verdict
    rest = lf.result_id[len("log."):]
    rest = rest[len(lf.catalog):].lstrip(".")
    sfx = suffix or ("log." + rest if rest else "log")
    if kind == "pass":
        status = Status.PASS
        detail = f"seen in logs, no longer the case: {note}" if note else "seen in logs, no longer the case"
        fix_id = None
    elif kind == "fail":
        status = lf.status
        detail = f"seen in logs and confirmed live: {note}" if note else "seen in logs and confirmed live"
    else:
        status = lf.status
        detail = f"seen in logs; not confirmed live ({note})" if note else "seen in logs; not confirmed live"
    f = Finding(lf.catalog, sfx, status, lf.title, lf.fix, [], f"{detail}. {lf.detail}", fix_id,
                dict(fix_args or {}), "logs")
    f.add_evidence(*hit.evidence())
    return f


def route(ctx: Context, catalog: str, confirm: Confirm | None = None, **kw: Any) -> list[Finding]:
    """Every unclaimed hit for ``catalog``, confirmed by ``confirm`` (or by live checks)."""
    out: list[Finding] = []
    merged: dict[str, Finding] = {}
    for hit in ctx.hits_for(catalog):
        ctx.claim(hit)
        verdict: Verdict = ("unknown", "no cluster access" if ctx.state is None else "")
        if ctx.state is not None:
            if confirm is not None:
                verdict = confirm(ctx, hit)
            if verdict[0] == "unknown":
                cv = ctx.check_verdict(hit.finding.confirm)
                if cv:
                    verdict = cv
        f = from_hit(hit, verdict, **kw)
        if f.id in merged:
            merged[f.id].add_evidence(*f.evidence)
            continue
        merged[f.id] = f
        out.append(f)
    return out


# --------------------------------------------------------------------------- helpers on state


def _dep_spec(st: ClusterState) -> dict[str, Any]:
    return ((st.deployment or {}).get("spec", {}).get("template", {}).get("spec", {})) or {}


def _gitlab_host(st: ClusterState) -> str:
    return urlsplit(str(st.merged_values.get("gitlabUrl") or "")).hostname or ""


def _chart_role_hint(st: ClusterState) -> str:
    """Where the chart's own ``rbac.create`` Role would go, for this release's chart version."""
    from wizard import chart

    ref = (st.release_ref.chart if st.release_ref else None) or ""
    version = ref[len("gitlab-runner-"):] if ref.startswith("gitlab-runner-") else chart.DEFAULT_VERSION
    if chart.facts(version).role_in_jobs_namespace:
        return f" (with rbac.create: true, set runners.jobNamespace: {st.jobs_namespace})"
    return (f" (chart {version} puts its rbac.create Role next to the Deployment, not in {st.jobs_namespace}; "
            "from chart 0.84.0 it follows runners.jobNamespace)")


def _release_is_helm(st: ClusterState) -> bool:
    return bool(st.values_source.startswith("helm"))


def _dep_ref(st: ClusterState) -> str:
    return f"Deployment {st.namespace}/{st.fullname}"


def _ca_secret_names(st: ClusterState) -> set[str]:
    """Secret volumes of job pods that carry a CA (name or mount path says cert/ca, or the certs secret)."""
    out = set()
    certs = st.merged_values.get("certsSecretName")
    for vol in ((st.kubernetes_config.get("volumes") or {}).get("secret") or []):
        if not isinstance(vol, dict) or not vol.get("name"):
            continue
        name, mount = str(vol["name"]), str(vol.get("mount_path") or "")
        if name == certs or re.search(r"(?i)(cert|\bca\b|-ca$|^ca-|tls)", name + " " + mount):
            out.add(name)
    return out
