"""Cluster: reachability, the installer's rights, namespaces, the manager's RBAC (SubjectAccessReview),
service accounts, Secrets, a server-side dry run of a job-shaped pod as the manager, and the nodes.

One meaning for check and apply: a state that ``apply`` itself creates or repairs (a missing
namespace, ServiceAccount, CA, token or pull Secret, a Role lacking a rule, a RoleBinding missing
its subject...) is reported with ``apply="creates"`` / ``apply="repairs"`` and status ``warn``,
the same before a first install, after a partial one and on a damaged one; it never blocks
apply. A failure is what apply cannot change (an immutable field, a namespace it may not create,
the answers' own CA being unusable...). Checks that depend on objects apply will create (the
SubjectAccessReviews, the job pod dry run) say so instead of failing.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from .. import chart, names, rbac, tls
from ..kube import KubeError, collection_path, service_account_user
from ..results import ApplyAction, Result, Status
from .engine import CheckContext, CheckSpec, Skip

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


# --------------------------------------------------------------------------- secrets


def _decode(secret: dict[str, Any], key: str) -> bytes | None:
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        sd = (secret.get("stringData") or {}).get(key)
        return sd.encode() if sd is not None else None
    try:
        return base64.b64decode(raw)
    except ValueError:
        return None


def _ca_secret_check(which: str):
    def run(ctx: CheckContext):
        a = ctx.answers
        if a.gitlab.ca is None:
            return ctx.skip("gitlab.ca is not set: no CA Secret is needed (GitLab must be trusted by the system "
                            "store; see tls.gitlab.trust)")
        ns = a.cluster.runner_namespace if which == "runner" else a.cluster.jobs_namespace
        name = names.ca_secret(a)
        catalog = ("E03", "E15") if which == "runner" else ("E15", "E21", "E05")
        sec = _get(ctx, _obj_path("Secret", ns, name))
        if sec is None:
            why = "the manager mounts it (certsSecretName)" if which == "runner" else \
                "job pods mount it; Secrets are not visible across namespaces"
            return _missing(ctx, f"CA Secret {ns}/{name} ({why})",
                            f"create it in {ns} with key {a.gitlab.ca_key} (apply does)", catalog)
        keys = sorted((sec.get("data") or {}).keys())
        key = a.gitlab.ca_key
        live = tls.load_pem_certificates(_decode(sec, key) or b"") if key in keys else []
        want = _desired_ca_fingerprints(ctx)
        if want is not None and {tls.fingerprint(c) for c in live} != want:
            what = (f"has keys {', '.join(keys) or '(none)'} but the runner looks only for {key} (<host>.crt, "
                    "port stripped)") if key not in keys else \
                f"key {key} does not hold the CA of gitlab.ca ({len(live)} other certificate(s))"
            return by_apply(ctx, "repairs", f"Secret {ns}/{name} {what}",
                            f"store gitlab.ca under the key {key} in {ns} (apply does)", catalog)
        if key not in keys:
            return ctx.fail(f"Secret {ns}/{name} has keys {', '.join(keys) or '(none)'} but the runner looks only "
                            f"for {key} (<host>.crt, port stripped)",
                            f"store the CA bundle under the key {key}", ("E03",))
        certs = tls.load_pem_certificates(_decode(sec, key) or b"")
        if not certs:
            return ctx.fail(f"{ns}/{name} key {key} holds no PEM certificate (DER is not supported)",
                            "store the CA as PEM", ("E03",))
        faults = tls.ca_bundle_faults(certs, None, f"{ns}/{name} key {key}")
        if faults:
            return ctx.fail(faults[0].message, "store the CA (root and intermediates), not the server certificate",
                            ("E03",))
        fps = ", ".join(tls.fingerprint(c) for c in certs)
        return ctx.ok(f"Secret {ns}/{name} has {key} with {len(certs)} CA certificate(s) ({fps})",
                      catalog=catalog)
    return run


def _desired_ca_fingerprints(ctx: CheckContext) -> set[str] | None:
    """Fingerprints of the CA bundle apply writes into the CA Secret (None when it cannot be read)."""
    from ..tls import load_ca_pem

    def compute() -> set[str] | None:
        try:
            pem = load_ca_pem(ctx.answers, timeout=ctx.t(4.0))
        except Exception:  # noqa: BLE001 - unreadable gitlab.ca is reported by the tls checks
            return None
        return {tls.fingerprint(c) for c in tls.load_pem_certificates(pem.encode())} if pem else None

    try:
        return ctx.fact("desired_ca_fingerprints", compute)
    except Skip:
        return None


def check_token_secret(ctx: CheckContext):
    """The token Secret apply writes (Helm mode). Whatever is wrong with it, apply rewrites both keys from
    the answers (or from the runner it creates), except a glrt- token the answers themselves put in the
    registration slot."""
    a = ctx.answers
    if a.cluster.mode == "external":
        return ctx.skip("cluster.mode is external: the manager's token lives in its config.toml, not in a Secret")
    ns, name = a.cluster.runner_namespace, names.token_secret(a)
    source = a.gitlab.token_source
    fix_all = ("run apply: it writes runner-token and runner-registration-token "
               + ("from the runner it creates in GitLab" if source == "create_runner" else "from the answers"))
    sec = _get(ctx, _obj_path("Secret", ns, name))
    if sec is None:
        what = f"token Secret {ns}/{name}" + (" (apply creates the runner in GitLab, then this Secret with its "
                                              "token)" if source == "create_runner" else "")
        return _missing(ctx, what, f"create it in {ns} with keys runner-token and runner-registration-token "
                        "(apply does)", ("E15",))
    data = sec.get("data") or {}
    missing = [k for k in ("runner-token", "runner-registration-token") if k not in data]
    if missing:
        return by_apply(ctx, "repairs", f"Secret {ns}/{name} lacks the key(s) {', '.join(missing)}: the chart mounts "
                        "both, so the manager pod stays in ContainerCreating (FailedMount)",
                        "add the missing key; runner-registration-token may be empty (\"\") (apply does)", ("E15",))
    tok = (_decode(sec, "runner-token") or b"").decode(errors="replace")
    reg = (_decode(sec, "runner-registration-token") or b"").decode(errors="replace")
    ctx.register_secret(tok.strip())
    ctx.register_secret(reg.strip())
    if tok != tok.strip() or reg != reg.strip():
        return by_apply(ctx, "repairs", f"Secret {ns}/{name} has a trailing newline or spaces in its token: the "
                        "runner fails with 'invalid header field for \"Private-Token\"'", fix_all, ("E32",))
    if not tok and not reg:
        return by_apply(ctx, "repairs", f"Secret {ns}/{name} has no token in either key", fix_all, ("E15",))
    if reg.startswith("glrt-") or "-glrt-" in reg:
        detail = (f"{ns}/{name}: runner-registration-token holds a runner authentication token: the runner "
                  "falls back to legacy registration and ignores tags and other settings")
        if source == "registration_token":  # the answers put it there: apply would write it again
            return ctx.warn(detail, "move it to gitlab.token in the answers and leave the registration token out",
                            ("E14",))
        return by_apply(ctx, "repairs", detail, fix_all, ("E14",))
    if a.gitlab.token is not None and tok:
        try:
            want = ctx.secret("gitlab.token")
        except Skip:
            want = None
        if want and want != tok:
            return by_apply(ctx, "repairs", f"Secret {ns}/{name} holds a different runner token than gitlab.token: "
                            "the running manager uses the Secret's (possibly stale) token",
                            "run apply to replace it (it restarts the manager pods)", ("E07",))
    if "runner-wizard/restart-pending" in ((sec.get("metadata") or {}).get("annotations") or {}):
        return by_apply(ctx, "repairs", f"Secret {ns}/{name} got a new token, but an apply was stopped before it "
                        "restarted the manager pods, which still use the old one", "run apply again (it restarts "
                        "them)", ("E07",))
    return ctx.ok(f"Secret {ns}/{name} has runner-token and runner-registration-token, without stray whitespace",
                  catalog=("E15", "E32"))


def _pull_secrets(a) -> list[Any]:
    return [r for r in a.registries if r.needs_pull_secret]


def check_pull_secret(ctx: CheckContext):
    a = ctx.answers
    reg = ctx.item
    ns, name = a.cluster.jobs_namespace, names.pull_secret(a, reg)
    sec = _get(ctx, _obj_path("Secret", ns, name))
    if sec is None:
        return _missing(ctx, f"pull Secret {ns}/{name} for {reg.host}",
                        f"create a kubernetes.io/dockerconfigjson Secret {name} in {ns} (apply does)", ("E21",))
    typ = sec.get("type", "")
    if typ != "kubernetes.io/dockerconfigjson":  # type is immutable: apply cannot change it
        return ctx.fail(f"Secret {ns}/{name} has type {typ or '(none)'}, not kubernetes.io/dockerconfigjson (a "
                        "Secret's type cannot be changed)",
                        f"delete it (kubectl -n {ns} delete secret {name}); apply then recreates it", ("E21",))
    try:
        auths = json.loads(_decode(sec, ".dockerconfigjson") or b"{}").get("auths") or {}
    except ValueError:
        auths = {}
    hosts = [h.replace("https://", "").replace("http://", "").rstrip("/") for h in auths]
    if reg.host not in hosts:
        return by_apply(ctx, "repairs", f"Secret {ns}/{name} has no credentials for {reg.host} (it has: "
                        f"{', '.join(hosts) or 'none'})", "write the registry's credentials into it (apply does)",
                        ("E21",))
    return ctx.ok(f"Secret {ns}/{name} holds credentials for {reg.host}", catalog=("E21",))


# --------------------------------------------------------------------------- job pod dry run


def job_pod(a) -> dict[str, Any]:
    """A pod shaped like the ones the Kubernetes executor creates from the rendered config."""
    r = a.runner
    res = {"requests": {"cpu": r.resources.cpu_request, "memory": r.resources.memory_request},
           "limits": {"cpu": r.resources.cpu_limit, "memory": r.resources.memory_limit}}
    priv = {"privileged": True} if a.privileged_jobs else None
    helper = r.helper_image or chart.facts(r.chart_version).helper_image  # the chart's Runner version

    def container(name: str, image: str) -> dict[str, Any]:
        c: dict[str, Any] = {"name": name, "image": image, "command": ["sh", "-c", "true"],
                             "resources": res, "volumeMounts": [{"name": "repo", "mountPath": "/builds"}]}
        if priv:
            c["securityContext"] = dict(priv)
        return c

    containers = [container("build", r.job_image), container("helper", helper)]
    volumes: list[dict[str, Any]] = [{"name": "repo", "emptyDir": {}}]
    if r.docker_builds == "dind":
        containers.append(container("svc-0", "docker.io/library/docker:dind"))
    if r.docker_builds == "host-socket":
        volumes.append({"name": "docker", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}})
        containers[0]["volumeMounts"].append({"name": "docker", "mountPath": "/var/run/docker.sock"})
    init = container("init-permissions", helper)
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": a.cluster.job_service_account,
        "automountServiceAccountToken": a.cluster.job_api_access != "none",
        "initContainers": [init],
        "containers": containers,
        "volumes": volumes,
    }
    pulls = names.pull_secrets(a)
    if pulls:
        spec["imagePullSecrets"] = [{"name": n} for n in pulls]
    if r.node_selector:
        spec["nodeSelector"] = dict(r.node_selector)
    if r.tolerations:
        spec["tolerations"] = [{k: v for k, v in (("key", t.key), ("operator", t.operator), ("value", t.value),
                                                  ("effect", t.effect)) if v} for t in r.tolerations]
    aliases = [{"ip": h.ip, "hostnames": list(h.hostnames)} for h in a.host_aliases if "jobs" in h.targets]
    if aliases:
        spec["hostAliases"] = aliases
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": "runner-wizard-dryrun-", "namespace": a.cluster.jobs_namespace,
                         "labels": {"app.kubernetes.io/managed-by": "runner-wizard", "pod": "runner-wizard-check"}},
            "spec": spec}


def _classify_admission(msg: str) -> tuple[tuple[str, ...], str]:
    low = msg.lower()
    if "podsecurity" in low:
        return ("E28",), ("PodSecurity admission rejects the pod: label the jobs namespace "
                          "pod-security.kubernetes.io/enforce=privileged only if dind is really needed, or make "
                          "the job pods compliant (security contexts in [runners.kubernetes])")
    if "exceeded quota" in low or "must specify" in low or "failed quota" in low or "status unknown for quota" in low:
        return ("E26",), ("raise the ResourceQuota, lower concurrent or the per-job resources, and set requests "
                          "and limits on every container (helper_* and service_* too)")
    if "usage per" in low and ("maximum" in low or "minimum" in low):
        return ("E27",), "adjust the LimitRange or the runner's resources to fit it"
    if "admission webhook" in low or "failed calling webhook" in low:
        return ("E28", "E30"), "exempt the jobs namespace from the webhook, or make the pod satisfy its policy"
    if "is forbidden: user" in low or "cannot create resource" in low:
        return ("E01", "E11"), "grant the manager ServiceAccount pods create in the jobs namespace (apply does)"
    if "serviceaccount" in low and "not found" in low:
        return ("E16",), "create the job ServiceAccount (apply does)"
    return (), "read the API server's message and adjust the job pod settings"


def check_dryrun(ctx: CheckContext):
    a = ctx.answers
    kube = ctx.kube()
    ns = a.cluster.jobs_namespace
    if not _ns_exists(ctx, ns):
        return ctx.skip(f"namespace {ns} does not exist yet (apply creates it): the dry run needs it; run check "
                        "again after apply")
    job_sa = a.cluster.job_service_account
    if job_sa != "default" and _get(ctx, _obj_path("ServiceAccount", ns, job_sa)) is None:
        return ctx.skip(f"ServiceAccount {ns}/{job_sa} does not exist yet (apply creates it): a job pod running as "
                        "it cannot be dry-run before; run check again after apply")
    pod = job_pod(a)
    path = collection_path("Pod", ns)
    user, _ = service_account_user(a.cluster.runner_namespace, a.cluster.manager_service_account)
    rbac_todo, rbac_why = rbac_repair(ctx)
    as_manager = rbac_todo is None and role_exists(ctx)
    note = f"as {user} (impersonated)" if as_manager else \
        (f"as you ({rbac_why}; apply {rbac_todo} it, so the manager's rights are not part of this dry run)"
         if rbac_todo else "as you")
    headers = {"Impersonate-User": user} if as_manager else None
    kinds = [c["name"] for c in pod["spec"]["containers"]]
    try:
        try:
            pauses = _cache_lag(ctx)
            while True:
                try:
                    kube.request("POST", path, body=pod, query={"dryRun": "All"}, headers=headers,
                                 timeout=ctx.t(5.0))
                    break
                except KubeError as exc:
                    # the manager's Role was just written: the authorizer's cache may lag for a moment
                    pause = next(pauses, None)
                    if not (as_manager and exc.status == 403 and "cannot create resource" in exc.message.lower()
                            and "impersonate" not in exc.message.lower() and pause is not None):
                        raise
                    time.sleep(pause)
        except KubeError as exc:
            if as_manager and exc.status == 403 and "impersonate" in exc.message.lower():
                note = "as you (you may not impersonate the manager ServiceAccount)"
                kube.request("POST", path, body=pod, query={"dryRun": "All"}, timeout=ctx.t(5.0))
            else:
                raise
    except KubeError as exc:
        if exc.status == 0:
            raise
        catalog, fix = _classify_admission(exc.message)
        if not as_manager and exc.status == 403 and catalog == ("E01", "E11"):
            return ctx.skip(f"you may not create pods in {ns}, and the manager's rights are not in place yet: "
                            f"nothing to dry-run ({exc.message})")
        labels = ((_get(ctx, _obj_path("Namespace", None, ns)) or {}).get("metadata") or {}).get("labels") or {}
        if catalog == ("E28",) and _psa_by_apply(a) and labels.get(PSA_ENFORCE) != "privileged":
            return by_apply(ctx, "repairs", f"server-side dry run of a job pod in {ns} {note} was rejected by Pod "
                            f"Security until {ns} is labelled {PSA_ENFORCE}=privileged ({exc.message})",
                            f"label {ns} {PSA_ENFORCE}=privileged (apply does)", catalog, data={"pod": pod})
        return ctx.fail(f"server-side dry run of a job pod ({', '.join(kinds)}) in {ns} {note} was rejected: "
                        f"{exc.message}", fix, catalog, data={"pod": pod})
    return ctx.ok(f"server-side dry run of a job pod ({', '.join(kinds)}) in {ns} {note} passes RBAC, Pod Security, "
                  "quotas, LimitRanges and webhooks", catalog=("E01", "E16", "E26", "E27", "E28"),
                  data={"pod": pod})


# --------------------------------------------------------------------------- nodes


def matching_nodes(ctx: CheckContext) -> tuple[list[dict[str, Any]], int]:
    """(nodes matching runner.node_selector, total nodes)."""
    kube = ctx.kube()
    try:
        items = ctx.fact("nodes", lambda: kube.get("/api/v1/nodes").get("items", []))
    except KubeError as exc:
        if exc.forbidden:
            raise Skip("you may not list nodes: runtime and architecture cannot be read") from None
        raise
    sel = ctx.answers.runner.node_selector
    match = [n for n in items
             if all(((n.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in sel.items())]
    return match, len(items)


def _runtime(node: dict[str, Any]) -> tuple[str, str]:
    v = ((node.get("status") or {}).get("nodeInfo") or {}).get("containerRuntimeVersion", "")
    name, _, ver = v.partition("://")
    return name or "unknown", ver


def _short_name(image: str) -> bool:
    first = image.split("/", 1)[0]
    return "/" not in image or not ("." in first or ":" in first or first == "localhost")


def check_runtime(ctx: CheckContext):
    a = ctx.answers
    nodes, total = matching_nodes(ctx)
    if not nodes:
        sel = ", ".join(f"{k}={v}" for k, v in a.runner.node_selector.items())
        if total == 0:
            return ctx.warn("the cluster reports no nodes", "join nodes before running jobs", ("E10",))
        return ctx.warn(f"no node matches runner.node_selector ({sel}): job pods would stay Pending",
                        "fix runner.node_selector", ("E10",))
    runtimes: dict[str, list[str]] = {}
    for n in nodes:
        rt, ver = _runtime(n)
        runtimes.setdefault(rt, []).append(f"{n['metadata']['name']} ({rt}://{ver})")
    found = ", ".join(f"{rt} on {len(v)} node(s)" for rt, v in runtimes.items())
    data = {"runtimes": {k: len(v) for k, v in runtimes.items()}}
    if a.runner.docker_builds == "host-socket":
        no_docker = [x for rt, v in runtimes.items() if rt != "docker" for x in v]
        if no_docker:
            return ctx.fail(f"docker_builds: host-socket mounts /var/run/docker.sock, but the nodes run {found}: "
                            f"there is no Docker daemon on {', '.join(no_docker[:3])}",
                            "use docker_builds: dind, or a daemonless builder (kaniko, buildah, BuildKit rootless)",
                            ("E25",), data=data)
    want = {"cri-o": "cri-o", "containerd": "containerd"}.get(a.node_runtime)
    if want and set(runtimes) != {want}:
        return ctx.warn(f"node_runtime is {a.node_runtime} but the nodes run {found}: node files would be "
                        "rendered for the wrong runtime", "set node_runtime: auto", ("E22", "E23"), data=data)
    if "cri-o" in runtimes:
        short = [img for img in (a.runner.job_image,) if _short_name(img)]
        if short:
            return ctx.warn(f"nodes run CRI-O, which does not expand short image names like {short[0]}",
                            "use fully qualified images (docker.io/library/alpine:3.22)", ("E24",), data=data)
    return ctx.ok(f"nodes run {found}", data=data, catalog=("E24", "E25"))


def _arch(node: dict[str, Any]) -> str:
    labels = (node.get("metadata") or {}).get("labels") or {}
    return labels.get("kubernetes.io/arch") or ((node.get("status") or {}).get("nodeInfo") or {}).get(
        "architecture", "unknown")


_HELPER_ARCH = {"x86_64": "amd64", "arm64": "arm64", "arm": "arm", "s390x": "s390x", "ppc64le": "ppc64le",
                "riscv64": "riscv64"}


def check_arch(ctx: CheckContext):
    a = ctx.answers
    nodes, total = matching_nodes(ctx)
    if not nodes:
        return ctx.skip("no node matches runner.node_selector (see cluster.nodes.runtime)")
    archs: dict[str, int] = {}
    for n in nodes:
        archs[_arch(n)] = archs.get(_arch(n), 0) + 1
    found = ", ".join(f"{k} ({v})" for k, v in archs.items())
    data = {"archs": archs}
    sel_arch = a.runner.node_selector.get("kubernetes.io/arch")
    helper = a.runner.helper_image
    pinned = None
    if helper:
        m = re.search(r":(?:[a-z0-9.]+-)?(x86_64|arm64|arm|s390x|ppc64le|riscv64)-", helper)
        pinned = _HELPER_ARCH.get(m[1]) if m else None
    target = sel_arch or pinned or "amd64"
    if pinned and sel_arch and pinned != sel_arch:
        return ctx.fail(f"runner.helper_image is built for {pinned} but node_selector picks {sel_arch} nodes",
                        "use the helper tag for the nodes' architecture", ("E31",), data=data)
    if target not in archs:
        why = "runner.helper_image" if pinned else ("node_selector" if sel_arch else
                                                     "the default helper image (x86_64, unless node_selector sets "
                                                     "kubernetes.io/arch)")
        return ctx.fail(f"{why} needs {target} nodes, but the eligible nodes are {found}",
                        f"set runner.node_selector kubernetes.io/arch: {next(iter(archs))} (the runner then picks the "
                        "matching helper image)", ("E31",), data=data)
    if len(archs) > 1 and not sel_arch:
        return ctx.warn(f"mixed architectures ({found}) and no kubernetes.io/arch node_selector: the helper image "
                        f"is {target}, so jobs fail on other nodes", "set runner.node_selector kubernetes.io/arch",
                        ("E31",), data=data)
    return ctx.ok(f"eligible nodes: {found}; the helper image's architecture ({target}) matches", data=data,
                  catalog=("E31",))


# --------------------------------------------------------------------------- table


def _rbac_id(perm: rbac.Permission, verb: str) -> str:
    return f"rbac.manager.{perm.resource.replace('/', '-')}.{verb}"


CHECKS: list[CheckSpec] = [
    CheckSpec("cluster.reachable", "cluster", "cluster", "Kubernetes API reachable", check_reachable,
              timeout=6.0, catalog=("E30",)),
]
CHECKS += [
    CheckSpec(f"cluster.installer.{verb}.{res}", "cluster", "cluster", f"You may {verb} {res}",
              _installer_check(verb, res, grp, where, helm), needs=("kube",), timeout=5.0)
    for verb, res, grp, where, helm in INSTALLER_RIGHTS
]
CHECKS += [
    CheckSpec("cluster.installer.escalate.roles", "cluster", "cluster", "You may create the manager Role",
              check_escalate, needs=("kube",), timeout=6.0),
    CheckSpec("cluster.namespace.runner", "cluster", "namespaces", "Runner namespace", _namespace_check("runner"),
              needs=("kube",), timeout=5.0),
    CheckSpec("cluster.namespace.jobs", "cluster", "namespaces", "Jobs namespace", _namespace_check("jobs"),
              needs=("kube",), timeout=5.0),
]
CHECKS += [
    CheckSpec(_rbac_id(p, verb), "rbac", "namespaces", f"Runner manager can {verb} {p.resource} in the jobs namespace",
              _rbac_check(p, verb), needs=("kube",), timeout=5.0, catalog=p.catalog)
    for p, verb in rbac.required_checks()
]
CHECKS += [
    CheckSpec("cluster.sa.manager", "cluster", "namespaces", "Manager ServiceAccount exists", _sa_check("manager"),
              needs=("kube",), timeout=5.0, catalog=("E16",)),
    CheckSpec("cluster.sa.job", "cluster", "namespaces", "Job ServiceAccount exists", _sa_check("job"),
              needs=("kube",), timeout=5.0, catalog=("E16",)),
    CheckSpec("cluster.secret.ca.runner", "cluster", "namespaces", "CA Secret in the runner namespace",
              _ca_secret_check("runner"), needs=("kube",), timeout=5.0, catalog=("E03",)),
    CheckSpec("cluster.secret.ca.jobs", "cluster", "namespaces", "CA Secret in the jobs namespace",
              _ca_secret_check("jobs"), needs=("kube",), timeout=5.0, catalog=("E15",)),
    CheckSpec("cluster.secret.token", "cluster", "token", "Runner token Secret", check_token_secret,
              needs=("kube",), timeout=5.0, catalog=("E15",)),
    CheckSpec("cluster.secret.pull.<n>", "cluster", "registries", "Pull Secret for {item.host}", check_pull_secret,
              needs=("kube",), timeout=5.0, each=_pull_secrets, catalog=("E21",)),
    CheckSpec("cluster.dryrun.jobpod", "cluster", "runner", "A job pod is admitted in the jobs namespace",
              check_dryrun, needs=("kube",), timeout=8.0, catalog=("E28",)),
    CheckSpec("cluster.nodes.runtime", "cluster", "runner", "Node container runtime fits the build setup",
              check_runtime, needs=("kube",), timeout=6.0, on_timeout=Status.WARN),
    CheckSpec("cluster.nodes.arch", "cluster", "runner", "Node architecture fits the helper image", check_arch,
              needs=("kube",), timeout=6.0, on_timeout=Status.WARN),
]
