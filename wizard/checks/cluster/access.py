"""Cluster checks on access: the API is reachable, the installer's rights, the namespaces, the
manager's RBAC in the jobs namespace (SubjectAccessReview) and the ServiceAccounts.
"""

from __future__ import annotations

import time

from ... import names, rbac
from ...kube import KubeError, service_account_user
from ...results import Status
from ..engine import CheckContext, Skip
from .common import RBAC_GROUP, _cache_lag, _get, _missing, _obj_path, by_apply, rbac_repair


# --------------------------------------------------------------------------- reachability


def check_reachable(ctx: CheckContext):
    try:
        kube = ctx.kube()
    except Skip as s:
        unauth = "401" in s.reason or "Unauthorized" in s.reason
        return ctx.fail(s.reason, "the kubeconfig's credentials are missing, wrong or expired: get a fresh "
                        "kubeconfig" if unauth else "check --kubeconfig/--context (or cluster.context), the "
                        "API server address and its CA (certificate-authority-data)",
                        ("E20",) if unauth else ("E18", "E19", "E30"))
    v = kube.version()
    who = ""
    try:
        doc = kube.create("/apis/authentication.k8s.io/v1/selfsubjectreviews",
                          {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        who = ((doc.get("status") or {}).get("userInfo") or {}).get("username", "")
    except KubeError as exc:
        if "system:anonymous" in exc.message:
            who = "system:anonymous"
    data = {"server": kube.server, "version": v.get("gitVersion"), "user": who}
    if who == "system:anonymous":
        return ctx.fail(f"Kubernetes {v.get('gitVersion', '?')} at {kube.server} answers, but you are "
                        "system:anonymous: the kubeconfig carries no credentials",
                        "use a kubeconfig with a client certificate or token", ("E20",), data=data)
    return ctx.ok(f"Kubernetes {v.get('gitVersion', '?')} at {kube.server}"
                  + (f" (context {ctx.context})" if ctx.context else "") + (f" as {who}" if who else ""),
                  data=data)


# --------------------------------------------------------------------------- installer rights

# (verb, resource, api group, where: cluster | runner | jobs | both, helm-only)
INSTALLER_RIGHTS: list[tuple[str, str, str, str, bool]] = [
    ("get", "namespaces", "", "cluster", False),
    ("create", "namespaces", "", "cluster", False),
    ("patch", "namespaces", "", "cluster", False),
    ("get", "serviceaccounts", "", "both", False),
    ("create", "serviceaccounts", "", "both", False),
    ("patch", "serviceaccounts", "", "both", False),
    ("get", "secrets", "", "both", False),
    ("create", "secrets", "", "both", False),
    ("patch", "secrets", "", "both", False),
    ("get", "roles", RBAC_GROUP, "jobs", False),
    ("create", "roles", RBAC_GROUP, "jobs", False),
    ("patch", "roles", RBAC_GROUP, "jobs", False),
    ("create", "rolebindings", RBAC_GROUP, "jobs", False),
    ("patch", "rolebindings", RBAC_GROUP, "jobs", False),
    ("create", "configmaps", "", "runner", True),
    ("patch", "configmaps", "", "runner", True),
    ("get", "deployments", "apps", "runner", True),
    ("create", "deployments", "apps", "runner", True),
    ("patch", "deployments", "apps", "runner", True),
    ("list", "nodes", "", "cluster", False),
    ("create", "subjectaccessreviews", "authorization.k8s.io", "cluster", False),
]


def _installer_check(verb: str, resource: str, group: str, where: str, helm_only: bool):
    def run(ctx: CheckContext):
        a = ctx.answers
        if helm_only and a.cluster.mode != "helm":
            return ctx.skip("only for mode: helm")
        if resource == "namespaces" and verb in ("create", "patch") and not a.cluster.create_namespaces:
            return ctx.skip("cluster.create_namespaces is false: apply does not create namespaces")
        kube = ctx.kube()
        spaces: list[str | None]
        if where == "cluster":
            spaces = [None]
        elif where == "runner":
            spaces = [a.cluster.runner_namespace]
        elif where == "jobs":
            spaces = [a.cluster.jobs_namespace]
        else:
            spaces = list(dict.fromkeys([a.cluster.runner_namespace, a.cluster.jobs_namespace]))
        denied = []
        for ns in spaces:
            try:
                ok, why = kube.access_review(verb=verb, resource=resource, group=group, namespace=ns)
            except KubeError as exc:
                if exc.status in (401, 403):
                    return ctx.fail(f"cannot even ask the API server what you may do ({exc.message})",
                                    "use a kubeconfig with real credentials", ("E20",))
                raise
            if not ok:
                denied.append(ns or "(cluster scope)")
        gr = f"{resource}.{group}" if group else resource
        optional = resource in ("nodes", "subjectaccessreviews")
        if not denied:
            where_txt = ", ".join(s or "cluster scope" for s in spaces)
            return ctx.ok(f"you may {verb} {gr} ({where_txt})")
        msg = f"you may not {verb} {gr} in {', '.join(denied)}"
        if optional:
            need = "read the nodes' runtime and architecture" if resource == "nodes" else \
                "check the manager's permissions"
            return ctx.warn(f"{msg}: runner-wizard cannot {need}",
                            f"ask a cluster admin for {verb} on {gr}, or accept the skipped checks")
        return ctx.fail(msg, f"ask a cluster admin to grant your user {verb} on {gr}"
                        + (f" in {', '.join(denied)}" if where != "cluster" else "")
                        + ", or let an admin run apply", ())
    return run


def check_escalate(ctx: CheckContext):
    """Creating the manager Role needs escalate on roles, or holding every permission it grants."""
    a = ctx.answers
    kube = ctx.kube()
    ns = a.cluster.jobs_namespace
    ok, _ = kube.access_review(verb="escalate", resource="roles", group=RBAC_GROUP, namespace=ns)
    if ok:
        return ctx.ok(f"you may escalate roles in {ns}")
    missing = []
    for perm, verb in rbac.required_checks():
        allowed, _ = kube.access_review(verb=verb, resource=perm.base, subresource=perm.subresource,
                                        namespace=ns)
        if not allowed:
            missing.append(f"{perm.resource} {verb}")
    if not missing:
        return ctx.ok(f"you hold every permission the manager Role grants in {ns}, so you may create it")
    return ctx.fail(f"Kubernetes only lets you create a Role granting rights you hold yourself; in {ns} you "
                    f"lack: {', '.join(missing)}", f"ask an admin for these rights (or escalate on roles) in {ns}",
                    ("E11",))


# --------------------------------------------------------------------------- namespaces


def _psa_by_apply(a) -> bool:
    """Does apply label the jobs namespace pod-security enforce=privileged? (``render.build_manifests`` does
    when it creates namespaces and ``render.needs_privileged_psa``; checks do not import render.)"""
    return a.cluster.create_namespaces and (a.privileged_jobs or a.runner.docker_builds == "host-socket")


def _namespace_check(which: str):
    def run(ctx: CheckContext):
        a = ctx.answers
        ns = a.cluster.runner_namespace if which == "runner" else a.cluster.jobs_namespace
        obj = _get(ctx, _obj_path("Namespace", None, ns))
        if obj is None:
            if a.cluster.create_namespaces:
                return _missing(ctx, f"namespace {ns}", f"create it (kubectl create namespace {ns}) (apply does)",
                                ("E17",))
            return ctx.fail(f"namespace {ns} does not exist and cluster.create_namespaces is false",
                            f"create it (kubectl create namespace {ns}) or set cluster.create_namespaces: true",
                            ("E17",))
        labels = (obj.get("metadata") or {}).get("labels") or {}
        enforce = labels.get("pod-security.kubernetes.io/enforce", "")
        phase = (obj.get("status") or {}).get("phase", "Active")
        if phase != "Active":
            return ctx.fail(f"namespace {ns} is {phase}", "wait for deletion to finish, or pick another name")
        detail = f"namespace {ns} exists" + (f" (Pod Security enforce={enforce})" if enforce else "")
        if which == "jobs" and a.privileged_jobs and enforce in ("baseline", "restricted"):
            fix = (f"label {ns} pod-security.kubernetes.io/enforce=privileged, or build without "
                   "privileged containers (kaniko, buildah, BuildKit rootless)")
            if a.cluster.create_namespaces and _psa_by_apply(a):
                return by_apply(ctx, "repairs", detail + ": privileged job pods (dind) are rejected there until "
                                "the namespace is labelled enforce=privileged", fix + " (apply labels it)",
                                ("E28",), data={"labels": labels})
            return ctx.warn(detail + ": privileged job pods (dind) are rejected there", fix, ("E28",),
                            data={"labels": labels})
        return ctx.ok(detail, data={"labels": labels})
    return run


# --------------------------------------------------------------------------- manager RBAC


def _rbac_check(perm: rbac.Permission, verb: str):
    def run(ctx: CheckContext):
        a = ctx.answers
        kube = ctx.kube()
        ns = a.cluster.jobs_namespace
        user, groups = service_account_user(a.cluster.runner_namespace, a.cluster.manager_service_account)
        allowed, reason = kube.access_review(verb=verb, resource=perm.base, subresource=perm.subresource,
                                             namespace=ns, user=user, groups=groups)
        catalog = tuple(dict.fromkeys((*perm.catalog, "E11")))
        if allowed:
            return ctx.ok(f"SubjectAccessReview for {user}: allowed" + (f" ({reason})" if reason else ""),
                          catalog=catalog)
        role = names.manager_role(a)
        denied = f"SubjectAccessReview for {user}: denied" + (f" ({reason})" if reason else "")
        fix = (f"add {perm.resource} ({', '.join(perm.verbs)}) to Role {role} in {ns} and bind it "
               f"to ServiceAccount {a.cluster.runner_namespace}/{a.cluster.manager_service_account} "
               "(runner-wizard apply does both)")
        action, why = rbac_repair(ctx, perm, verb)
        if action is not None:
            return by_apply(ctx, action, f"{denied}; {why}", fix, catalog)
        if not why:
            # Role and RoleBinding grant it: the authorizer's cache may not have seen them yet (right after apply)
            for pause in _cache_lag(ctx):
                time.sleep(pause)
                allowed, reason = kube.access_review(verb=verb, resource=perm.base, subresource=perm.subresource,
                                                     namespace=ns, user=user, groups=groups)
                if allowed:
                    return ctx.ok(f"SubjectAccessReview for {user}: allowed" + (f" ({reason})" if reason else ""),
                                  catalog=catalog)
        status = Status.WARN if (perm.resource, verb) in rbac.OPTIONAL_VERBS else Status.FAIL
        if why:  # apply cannot help (an immutable roleRef)
            return ctx.result(status, f"{denied}; {why}", why.split(": ", 1)[-1], catalog)
        return ctx.result(status, f"{denied}, although Role {role} and its RoleBinding in {ns} grant it: "
                          "another authorizer or an admission webhook refuses it",
                          "ask a cluster admin which authorizer denies it (the API server's audit log names it)",
                          catalog)
    return run


# --------------------------------------------------------------------------- service accounts


def _sa_check(which: str):
    def run(ctx: CheckContext):
        a = ctx.answers
        if which == "manager":
            ns, name = a.cluster.runner_namespace, a.cluster.manager_service_account
            use = "the runner manager runs as it"
        else:
            ns, name = a.cluster.jobs_namespace, a.cluster.job_service_account
            use = "job pods run as it (service_account in config.toml)"
        if name == "default":
            return ctx.warn(f"{ns}/default is used: {use}", "use a dedicated ServiceAccount", ("E01",))
        obj = _get(ctx, _obj_path("ServiceAccount", ns, name))
        if obj is None:
            return _missing(ctx, f"ServiceAccount {ns}/{name} ({use})",
                            f"create it: kubectl -n {ns} create serviceaccount {name} (apply does)", ("E16",))
        return ctx.ok(f"ServiceAccount {ns}/{name} exists", catalog=("E16",))
    return run
