"""Analyzers for what the jobs namespace admits (quota E26, LimitRange E27, Pod Security E28),
the runner's access to the Kubernetes API (E18..E20, E30), docker:dind (E12), GitLab
reachability (E29) and the log-only entries (E33..E37).
"""

from __future__ import annotations

from wizard.diagnose.analyzers.base import Context, LogHit, Verdict, _dep_ref, _dep_spec, _slug, route
from wizard.diagnose.analyzers.pods import _event_is_live
from wizard.diagnose.model import Finding
from wizard.results import Status


# --------------------------------------------------------------------------- admission: E26, E27, E28, E30


_QUOTA_KEYS = {
    "limits.cpu": ("cpu_limit", "helper_cpu_limit"),
    "limits.memory": ("memory_limit", "helper_memory_limit"),
    "requests.cpu": ("cpu_request", "helper_cpu_request"),
    "cpu": ("cpu_request", "helper_cpu_request"),
    "requests.memory": ("memory_request", "helper_memory_request"),
    "memory": ("memory_request", "helper_memory_request"),
}


def analyze_e26(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None:
        k = st.kubernetes_config
        defaults: set[str] = set()
        for lr in st.limitranges:
            for item in (lr.get("spec") or {}).get("limits") or []:
                if item.get("type") == "Container":
                    for res in (item.get("default") or {}):
                        defaults.add(f"limits.{res}")
                    for res in (item.get("defaultRequest") or item.get("default") or {}):
                        defaults |= {f"requests.{res}", res}
        for q in st.quotas:
            hard = (q.get("spec") or {}).get("hard") or {}
            name = q.get("metadata", {}).get("name", "")
            missing = []
            for res in hard:
                if res in _QUOTA_KEYS and res not in defaults:
                    missing += [key for key in _QUOTA_KEYS[res] if not k.get(key)]
            if missing:
                missing = list(dict.fromkeys(missing))
                f = Finding("E26", f"quota.{_slug(name)}", Status.FAIL,
                            f"ResourceQuota {st.jobs_namespace}/{name} requires "
                            f"{', '.join(r for r in hard if r in _QUOTA_KEYS)} on every container, but runners.config "
                            f"does not set {', '.join(missing)}, so job pods are rejected",
                            f"Set {', '.join(missing)} in [runners.kubernetes] (or add a LimitRange with defaults in "
                            f"{st.jobs_namespace}).",
                            [f"ResourceQuota {st.jobs_namespace}/{name}: hard "
                             + ", ".join(f"{a}={b}" for a, b in hard.items())])
                for hit in ctx.hits_for("E26"):
                    ctx.claim(hit)
                    f.add_evidence(*hit.evidence())
                    f.origin = "cluster+logs"
                out.append(f)
    return out + route(ctx, "E26", _event_is_live)


def analyze_e27(ctx: Context) -> list[Finding]:
    from wizard import validate as v

    out: list[Finding] = []
    st = ctx.state
    if st is not None:
        k = st.kubernetes_config
        for lr in st.limitranges:
            name = lr.get("metadata", {}).get("name", "")
            for item in (lr.get("spec") or {}).get("limits") or []:
                if item.get("type") != "Container":
                    continue
                for res, bound in (item.get("max") or {}).items():
                    val = k.get(f"{res}_limit")
                    try:
                        too_big = val and v.parse_quantity(str(val)) > v.parse_quantity(str(bound))
                    except ValueError:
                        too_big = False
                    if too_big:
                        out.append(Finding("E27", f"limitrange.{_slug(name)}.{res}", Status.FAIL,
                                           f"LimitRange {st.jobs_namespace}/{name} allows at most {bound} {res} per "
                                           f"container, but runners.config asks for {val}",
                                           f"Lower {res}_limit in [runners.kubernetes] to {bound} or raise the "
                                           "LimitRange.",
                                           [f"LimitRange {st.jobs_namespace}/{name}: max {res}={bound}",
                                            f"{st.config_source}: {res}_limit = \"{val}\""]))
    return out + route(ctx, "E27", _event_is_live)


def analyze_e28(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None:
        labels = st.namespaces.get(st.jobs_namespace) or {}
        level = labels.get("pod-security.kubernetes.io/enforce", "")
        k = st.kubernetes_config
        privileged = bool(k.get("privileged"))
        why = ""
        if level in ("baseline", "restricted") and privileged:
            why = "privileged = true (needed for dind)"
        elif level == "restricted" and not (k.get("build_container_security_context")
                                            and k.get("helper_container_security_context")):
            why = "job containers set no restricted security context (runAsNonRoot, drop ALL, seccomp)"
        if why:
            f = Finding("E28", f"psa.{level}", Status.FAIL,
                        f"The jobs namespace {st.jobs_namespace} enforces Pod Security \"{level}\", which rejects "
                        f"the job pods: {why}",
                        ("Use a dedicated jobs namespace labelled pod-security.kubernetes.io/enforce=privileged if "
                         "dind is really needed, or build without privileges (kaniko, buildah, BuildKit rootless)."
                         if privileged else
                         "Set pod_security_context and build/helper/service container security contexts in "
                         "[runners.kubernetes] (runAsNonRoot, drop ALL, no privilege escalation)."),
                        [f"Namespace {st.jobs_namespace}: pod-security.kubernetes.io/enforce={level}",
                         f"{st.config_source}: privileged = {str(privileged).lower()}"])
            for hit in ctx.hits_for("E28"):
                ctx.claim(hit)
                f.add_evidence(*hit.evidence())
                f.origin = "cluster+logs"
            out.append(f)
    return out + route(ctx, "E28", _event_is_live)


def analyze_e12(ctx: Context) -> list[Finding]:
    def confirm(c: Context, hit: LogHit) -> Verdict:
        s = c.state
        assert s is not None
        if not s.kubernetes_config.get("privileged"):
            return "fail", "runners.config has privileged = false, so docker:dind cannot start"
        return "unknown", ""

    return route(ctx, "E12", confirm)


def analyze_kapi(ctx: Context) -> list[Finding]:
    """E18, E19, E20, E30: the runner's own access to the Kubernetes API."""

    def confirm(c: Context, hit: LogHit) -> Verdict:
        s = c.state
        assert s is not None
        spec = _dep_spec(s)
        if spec.get("automountServiceAccountToken") is False:
            return "fail", f"{_dep_ref(s)} sets automountServiceAccountToken: false"
        return "unknown", ""

    return route(ctx, "E18", confirm) + route(ctx, "E19") + route(ctx, "E20", confirm) + route(ctx, "E30")


def analyze_e29(ctx: Context) -> list[Finding]:
    def confirm(c: Context, hit: LogHit) -> Verdict:
        cv = c.check_verdict(("dns", "gitlab.reach"))
        return cv or ("unknown", "")

    return route(ctx, "E29", confirm)


def analyze_rest(ctx: Context) -> list[Finding]:
    """Entries only job scripts or GitLab show (E33..E37): reported from the logs as they are."""
    out: list[Finding] = []
    for cat in ("E33", "E34", "E35", "E37"):
        out += route(ctx, cat)
    # anything else the log analyzer knows and no row claimed
    for cat in sorted({h.catalog for h in ctx.hits_for(*{h.catalog for h in ctx.hits})}):
        out += route(ctx, cat)
    return out
