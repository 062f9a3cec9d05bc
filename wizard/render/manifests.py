"""The Kubernetes objects the wizard owns (namespaces, ServiceAccounts, Role, bindings, CA Secrets) and
the Secrets carrying credentials, resolved only when asked for."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from .. import names, rbac
from ..answers import Answers, SecretRef
from .common import PSA_ENFORCE, ca_secret_key, needs_privileged_psa, secret_object


def _meta(a: Answers, name: str, component: str, namespace: str | None = None,
          extra_labels: dict[str, str] | None = None) -> dict:
    m: dict[str, Any] = {"name": name}
    if namespace is not None:
        m["namespace"] = namespace
    m["labels"] = {**names.labels(a, component), **(extra_labels or {})}
    return m


def build_manifests(a: Answers, ca_pem: str | None) -> list[dict]:
    c = a.cluster
    rns, jns = c.runner_namespace, c.jobs_namespace
    objs: list[dict] = []
    if c.create_namespaces:
        for ns in dict.fromkeys([rns, jns]):
            extra = {PSA_ENFORCE: "privileged"} if ns == jns and needs_privileged_psa(a) else None
            objs.append({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": _meta(a, ns, "namespace", extra_labels=extra)})
    objs.append({"apiVersion": "v1", "kind": "ServiceAccount",
                 "metadata": _meta(a, c.manager_service_account, "manager", rns)})
    job_sa = {"apiVersion": "v1", "kind": "ServiceAccount",
              "metadata": _meta(a, c.job_service_account, "job", jns),
              "automountServiceAccountToken": c.job_api_access == "view"}
    if (job_sa["metadata"]["name"], jns) != (c.manager_service_account, rns):
        objs.append(job_sa)
    objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                 "metadata": _meta(a, names.manager_role(a), "manager", jns),
                 "rules": rbac.role_rules()})
    objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": _meta(a, names.manager_role(a), "manager", jns),
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                             "name": names.manager_role(a)},
                 "subjects": [{"kind": "ServiceAccount", "name": c.manager_service_account,
                               "namespace": rns}]})
    if c.job_api_access == "view":
        objs.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                     "metadata": _meta(a, names.job_view_binding(a), "job", jns),
                     "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                 "name": "view"},
                     "subjects": [{"kind": "ServiceAccount", "name": c.job_service_account,
                                   "namespace": jns}]})
    if c.mode == "external":
        # A long-lived token for the manager outside the cluster. The token controller
        # fills it in the cluster; this object carries no secret data.
        objs.append({"apiVersion": "v1", "kind": "Secret",
                     "metadata": {**_meta(a, names.external_token_secret(a), "manager", rns),
                                  "annotations": {"kubernetes.io/service-account.name":
                                                  c.manager_service_account}},
                     "type": "kubernetes.io/service-account-token"})
    if a.gitlab.ca is not None:
        for ns in dict.fromkeys([rns, jns]):
            sec: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret",
                                   "metadata": _meta(a, names.ca_secret(a), "gitlab-ca", ns),
                                   "type": "Opaque"}
            if ca_pem is not None:
                sec["data"] = {ca_secret_key(a): base64.b64encode(ca_pem.encode()).decode("ascii")}
            objs.append(sec)
    return objs


def token_secret_object(a: Answers, token: str, registration_token: str = "",
                        annotations: Mapping[str, str] | None = None) -> dict:
    """The Secret the chart reads the runner token from (``runners.secret``): both keys, the one not
    used empty. ``annotations``: what apply records about a runner it created (its id)."""
    sec = secret_object(a, names.token_secret(a), a.cluster.runner_namespace, "token", {
        "runner-token": token.strip(),
        "runner-registration-token": registration_token.strip(),
    })
    if annotations:
        sec["metadata"]["annotations"] = dict(annotations)
    return sec


def secret_objects(a: Answers, runner_token: str | None) -> list[dict]:
    """The Secrets carrying credentials, with the secret references resolved now.

    The token Secret (runner namespace, Helm mode; keys ``runner-token`` and
    ``runner-registration-token``) and one ``kubernetes.io/dockerconfigjson`` Secret per
    registry that uses a pull secret (jobs namespace). Raises ``SecretUnavailable``
    naming the field whose reference cannot be read. With ``gitlab.create_runner`` and no
    token passed to ``render``, the token Secret is left to ``apply`` (it creates the
    runner and only then has a token).
    """
    out: list[dict] = []
    if a.cluster.mode == "helm":
        token = reg_token = None
        g = a.gitlab
        if runner_token is not None:
            token = runner_token.strip()
        elif g.token is not None:
            token = g.token.resolve("gitlab.token")
        elif g.registration_token is not None:
            reg_token = g.registration_token.resolve("gitlab.registration_token")
        if token is not None or reg_token is not None:
            out.append(token_secret_object(a, token or "", reg_token or ""))
    for i, reg in enumerate(a.registries):
        if not reg.needs_pull_secret:
            continue
        user = reg.username
        username = user.resolve(f"registries[{i}].username") if isinstance(user, SecretRef) else (user or "")
        assert reg.password is not None
        password = reg.password.resolve(f"registries[{i}].password")
        auth = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        cfg = {"auths": {reg.host: {"username": username, "password": password, "auth": auth}}}
        sec = secret_object(a, names.pull_secret(a, reg), a.cluster.jobs_namespace, "pull-secret",
                            {".dockerconfigjson": json.dumps(cfg, sort_keys=True, separators=(",", ":"))})
        sec["type"] = "kubernetes.io/dockerconfigjson"
        out.append(sec)
    return out
