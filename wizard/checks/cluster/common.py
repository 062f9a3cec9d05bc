"""What the cluster checks share: constants, reading an object, results that say what apply
will create or repair, and whether a Role grants a permission.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from ... import names, rbac
from ...kube import KubeError, collection_path
from ...results import ApplyAction, Result
from ..engine import CheckContext


RBAC_GROUP = "rbac.authorization.k8s.io"
RUNNER_VERSION = "18.9.0"
DEFAULT_HELPER = f"registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v{RUNNER_VERSION}"
PSA_ENFORCE = "pod-security.kubernetes.io/enforce"


# --------------------------------------------------------------------------- shared facts


def _cache_lag(ctx: CheckContext, cap: float = 4.0):
    """Pauses for retrying what the API server's caches see a moment after a write (RBAC right after
    apply): yields the next pause while another try fits, for up to ``cap`` seconds and never into the
    last second of this check's deadline. A count of tries is not enough on a loaded machine."""
    start, pause = time.monotonic(), 0.05
    while True:
        left = ctx.time_left()
        if time.monotonic() - start + pause > cap or (left is not None and left - pause < 1.0):
            return
        yield pause
        pause = min(pause * 2, 0.5)


def _get(ctx: CheckContext, path: str) -> dict[str, Any] | None:
    """GET once per run (None when absent)."""
    kube = ctx.kube()
    return ctx.fact(f"get:{path}", lambda: kube.get_or_none(path))


def _obj_path(kind: str, ns: str | None, name: str) -> str:
    return f"{collection_path(kind, ns)}/{quote(name)}"


def by_apply(ctx: CheckContext, action: ApplyAction, detail: str, fix: str = "",
             catalog: tuple[str, ...] = (), **kw: Any) -> Result:
    """A result about something apply creates or repairs: status warn, never a failure."""
    r = ctx.warn(f"{detail}: apply {action} this", fix, catalog, **kw)
    return replace(r, apply=action)


def _missing(ctx: CheckContext, what: str, fix: str, catalog: tuple[str, ...]) -> Result:
    """A missing object runner-wizard owns: apply creates it."""
    return by_apply(ctx, "creates", f"{what} does not exist", fix, catalog)


def role_exists(ctx: CheckContext) -> bool:
    a = ctx.answers
    try:
        return _get(ctx, _obj_path("Role", a.cluster.jobs_namespace, names.manager_role(a))) is not None
    except KubeError:
        return False


def _grants(rules: list[dict[str, Any]] | None, perm: rbac.Permission, verb: str) -> bool:
    """Do these Role rules grant ``verb`` on ``perm`` (core group)?"""
    for r in rules or []:
        if r.get("resourceNames"):
            continue
        groups, res, verbs = r.get("apiGroups") or [], r.get("resources") or [], r.get("verbs") or []
        wild_sub = bool(perm.subresource) and f"*/{perm.subresource}" in res
        if ("" in groups or "*" in groups) and (perm.resource in res or "*" in res or wild_sub) \
                and (verb in verbs or "*" in verbs):
            return True
    return False


def rbac_repair(ctx: CheckContext, perm: rbac.Permission | None = None,
                verb: str | None = None) -> tuple[ApplyAction | None, str]:
    """What apply does so the manager ServiceAccount gets ``verb`` on ``perm`` in the jobs namespace
    (every permission of the table when ``perm`` is None): ("creates" | "repairs", what is wrong), or
    (None, why apply cannot help / "" when the Role and RoleBinding already grant it)."""
    a = ctx.answers
    ns, role_name = a.cluster.jobs_namespace, names.manager_role(a)
    sa_ns, sa = a.cluster.runner_namespace, a.cluster.manager_service_account
    role = _get(ctx, _obj_path("Role", ns, role_name))
    binding = _get(ctx, _obj_path("RoleBinding", ns, role_name))
    if role is None and binding is None:
        return "creates", f"Role {role_name} and its RoleBinding do not exist in {ns}"
    if role is None:
        return "creates", f"Role {role_name} does not exist in {ns}"
    pairs = [(perm, verb)] if perm is not None and verb is not None else rbac.required_checks()
    lacking = [f"{p.resource} {v}" for p, v in pairs if not _grants(role.get("rules"), p, v)]
    if lacking:
        return "repairs", f"Role {role_name} in {ns} lacks {', '.join(lacking)}"
    if binding is None:
        return "creates", f"RoleBinding {role_name} does not exist in {ns}"
    ref = binding.get("roleRef") or {}
    if ref.get("kind") != "Role" or ref.get("name") != role_name:
        return None, (f"RoleBinding {ns}/{role_name} refers to {ref.get('kind')} {ref.get('name')}, and a "
                      "RoleBinding's roleRef cannot be changed: delete it "
                      f"(kubectl -n {ns} delete rolebinding {role_name}), then apply recreates it")
    subjects = binding.get("subjects") or []
    if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa and s.get("namespace") == sa_ns
               for s in subjects):
        return "repairs", f"RoleBinding {ns}/{role_name} does not bind ServiceAccount {sa_ns}/{sa}"
    return None, ""


def _ns_exists(ctx: CheckContext, ns: str) -> bool:
    return _get(ctx, _obj_path("Namespace", None, ns)) is not None
