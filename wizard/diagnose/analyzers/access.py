"""Analyzers for the manager's access in the jobs namespace: E01 (the default ServiceAccount), E11
and E17 (missing RBAC), confirmed with SubjectAccessReviews.
"""

from __future__ import annotations

from wizard.diagnose.analyzers.base import (Context, LogHit, Verdict, _chart_role_hint, _dep_ref, _dep_spec,
                                            _release_is_helm, route)
from wizard.diagnose.model import ClusterState, Finding
from wizard.rbac import MANAGER_PERMISSIONS, OPTIONAL_VERBS, required_checks
from wizard.results import Status


# --------------------------------------------------------------------------- E01, E11, E17: RBAC


def _missing_access(st: ClusterState) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(required denied, optional denied) (resource, verb) pairs in the jobs namespace."""
    req, opt = [], []
    for perm, verb in required_checks():
        allowed = st.access.get((st.jobs_namespace, perm.resource, verb))
        if allowed is False:
            (opt if (perm.resource, verb) in OPTIONAL_VERBS else req).append((perm.resource, verb))
    return req, opt


def _fmt_missing(pairs: list[tuple[str, str]]) -> str:
    by: dict[str, list[str]] = {}
    for res, verb in pairs:
        by.setdefault(res, []).append(verb)
    return "; ".join(f"{res} ({', '.join(v)})" for res, v in by.items())


def _sar_confirm(ctx: Context, hit: LogHit) -> Verdict:
    g = hit.groups
    ns, sa, jobns, res, verb = g.get("ns"), g.get("sa"), g.get("jobns"), g.get("r"), g.get("verb")
    if not (ns and sa and res and verb):
        if hit.rule_id == "E11.informers" and ctx.state:
            st = ctx.state
            ok = ctx.can(st.namespace, st.manager_sa, st.jobs_namespace, "pods", g.get("verb") or "list")
            if ok is None:
                return "unknown", "SubjectAccessReview failed"
            return (("pass", f"{st.manager_sa} may now {g.get('verb')} pods") if ok
                    else ("fail", f"{st.manager_sa} still cannot {g.get('verb')} pods"))
        return "unknown", ""
    jobns = jobns or ns
    ok = ctx.can(ns, sa, jobns, res, verb)
    if ok is None:
        return "unknown", "SubjectAccessReview failed"
    if ok:
        return "pass", f"SubjectAccessReview allows system:serviceaccount:{ns}:{sa} to {verb} {res} in {jobns}"
    return "fail", f"SubjectAccessReview denies system:serviceaccount:{ns}:{sa} {verb} {res} in {jobns}"


def _absorb_rbac(ctx: Context, f: Finding, catalogs: tuple[str, ...], denied: set[tuple[str, str]]) -> None:
    st = ctx.state
    assert st is not None
    for hit in ctx.hits_for(*catalogs):
        g = hit.groups
        if (g.get("ns") == st.namespace and g.get("sa") == st.manager_sa
                and (g.get("jobns") or st.namespace) == st.jobs_namespace
                and (g.get("r"), g.get("verb")) in denied):
            ctx.claim(hit)
            f.add_evidence(*hit.evidence())
            f.origin = "cluster+logs"


def analyze_e01(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None and st.deployment is not None and st.manager_sa == "default":
        req, _opt = _missing_access(st)
        if req:
            spec_sa = _dep_spec(st).get("serviceAccountName")
            f = Finding(
                "E01", "default-sa", Status.FAIL,
                "The runner manager runs as the namespace's default ServiceAccount, which has no rights to "
                "create job Secrets and Pods",
                "Set rbac.create: true and serviceAccount.create: true in the chart values (the chart then "
                "creates a ServiceAccount, Role and RoleBinding) and upgrade the release.",
                [f"{_dep_ref(st)}: serviceAccountName {spec_sa or '(empty)'}",
                 f"SubjectAccessReview system:serviceaccount:{st.namespace}:default in {st.jobs_namespace}: "
                 f"denied {_fmt_missing(req)}"],
                detail=f"{len(req)} required permissions denied in {st.jobs_namespace}",
                fix_id="values.rbac" if _release_is_helm(st) else None,
            )
            _absorb_rbac(ctx, f, ("E01", "E11", "E17"), set(req))
            ctx.absorb(f, "E01", match=lambda hit: hit.groups.get("ns") == st.namespace)
            out.append(f)
    return out + route(ctx, "E01", _sar_confirm)


def analyze_rbac(ctx: Context) -> list[Finding]:
    """E11 (verbs or sub-resources missing) and E17 (no rights at all in the jobs namespace)."""
    out: list[Finding] = []
    st = ctx.state
    if st is not None and st.manager_sa != "default" and st.access:
        req, opt = _missing_access(st)
        n_required = sum(1 for p, v in required_checks() if (p.resource, v) not in OPTIONAL_VERBS)
        role = _bound_role(st)
        args = {"role": role}
        if req and len(req) == n_required:
            f = Finding(
                "E17", "rbac-namespace", Status.FAIL,
                f"The manager's ServiceAccount {st.namespace}/{st.manager_sa} has no RBAC rights in the jobs "
                f"namespace {st.jobs_namespace}",
                f"Create a Role with the runner's permission table in {st.jobs_namespace} and bind it to "
                f"system:serviceaccount:{st.namespace}:{st.manager_sa}{_chart_role_hint(st)}.",
                [f"SubjectAccessReview system:serviceaccount:{st.namespace}:{st.manager_sa} in "
                 f"{st.jobs_namespace}: denied {_fmt_missing(req)}"],
                detail=f"all {n_required} required permissions denied", fix_id="rbac.role", fix_args=args)
            _absorb_rbac(ctx, f, ("E11", "E17"), set(req) | set(opt))
            out.append(f)
        elif req or opt:
            f = Finding(
                "E11", "rbac", Status.FAIL if req else Status.WARN,
                f"The Role of {st.namespace}/{st.manager_sa} in {st.jobs_namespace} lacks "
                f"{_fmt_missing(req or opt)}",
                f"Add {_fmt_missing(req or opt)} to Role {role or f'{st.release}-manager'} in "
                f"{st.jobs_namespace} (server-side apply of the runner's full permission table: "
                + "; ".join(f"{p.resource} {','.join(p.verbs)}" for p in MANAGER_PERMISSIONS) + ").",
                [f"SubjectAccessReview system:serviceaccount:{st.namespace}:{st.manager_sa} in "
                 f"{st.jobs_namespace}: denied {_fmt_missing(req + opt)}"],
                detail=("required: " + _fmt_missing(req) if req else "") +
                       (("; optional: " if req else "optional: ") + _fmt_missing(opt) if opt else ""),
                fix_id="rbac.role", fix_args=args)
            if role:
                f.add_evidence(f"Role {st.jobs_namespace}/{role} is bound to {st.manager_sa}")
            _absorb_rbac(ctx, f, ("E11", "E17"), set(req) | set(opt))
            out.append(f)
    return out + route(ctx, "E11", _sar_confirm) + route(ctx, "E17", _sar_confirm_e17)


def _sar_confirm_e17(ctx: Context, hit: LogHit) -> Verdict:
    if hit.rule_id == "E17.overwrite":
        return "unknown", ""
    return _sar_confirm(ctx, hit)


def _bound_role(st: ClusterState) -> str | None:
    for rb in st.rolebindings:
        ref = rb.get("roleRef") or {}
        if ref.get("kind") != "Role":
            continue
        for s in rb.get("subjects") or []:
            if (s.get("kind") == "ServiceAccount" and s.get("name") == st.manager_sa
                    and (s.get("namespace") or rb.get("metadata", {}).get("namespace")) == st.namespace):
                return ref.get("name")
    return None
