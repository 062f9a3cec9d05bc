"""Every failure reported in the seed write-ups, mapped to the check that catches it BEFORE install.

Each row names the seed, the error the user hit, and the check id; the test builds that
situation with real things (TLS servers, fake GitLab, real apiserver, real registry) and
runs the check, which must report fail (or warn, where the seed itself was a warning).
Where ``runner-wizard apply`` itself creates or repairs what the seed lacked (a job
ServiceAccount, the CA Secret in the jobs namespace, a Role rule, the RoleBinding), the check
must name it as such (``apply="creates"`` / ``"repairs"``, status warn): caught, with its fix,
but never a failure that would stop the apply that fixes it.
"""

from __future__ import annotations

import base64
import socket
from dataclasses import dataclass
from typing import Callable

import pytest
import yaml

from tests.support.tlsfactory import TLSServer, make_ca, make_leaf, refused_port
from wizard import names, rbac
from wizard.answers import parse
from wizard.checks import run_checks
from wizard.kube import Kube
from wizard.results import Status

FAIL, WARN = {Status.FAIL}, {Status.WARN}


@dataclass(frozen=True)
class Row:
    seed: str
    error: str
    check_id: str
    scenario: str
    statuses: frozenset = frozenset(FAIL)
    apply: str | None = None
    """"creates" / "repairs" when apply fixes it (then the status is warn)."""


TABLE = [
    Row("000 §1", "x509: certificate signed by unknown authority (Verifying runner... failed)",
        "tls.gitlab.trust", "ip_url_private_ca"),
    Row("000 §1", "cert issued for gitlab.company.com used via IP; 'tls_server_name' workaround",
        "tls.gitlab.name", "ip_url_private_ca"),
    Row("000 §2", "You have specified an authentication token in the legacy parameter --registration-token",
        "gitlab.token.type", "glrt_in_registration_slot"),
    Row("000 §3", 'secrets is forbidden: User "system:serviceaccount:ci-system:gitlab-runner" cannot create '
        'resource "secrets" in the namespace "ci-jobs"', "rbac.manager.secrets.create", "role_without_secrets",
        frozenset(WARN), "repairs"),
    Row("000 §4", 'serviceaccounts "gitlab-runner" not found (job service_account in ci-jobs)',
        "cluster.sa.job", "no_job_sa", frozenset(WARN), "creates"),
    Row("000 §5", 'FailedMount ... secret "gitlab-ca" not found (created only in ci-system)',
        "cluster.secret.ca.jobs", "ca_only_in_runner_ns", frozenset(WARN), "creates"),
    Row("000 §6", 'pods "runner-..." is forbidden: ... cannot create resource "pods/attach"',
        "rbac.manager.pods-attach.create", "role_without_attach", frozenset(WARN), "repairs"),
    Row("000 §7", "CRI-O: insecure (plain-HTTP) registries need node configuration",
        "registry.0.tls", "http_registry", frozenset(WARN)),
    Row("002 #1", "getting Kubernetes config: invalid configuration: no configuration has been provided",
        "cluster.reachable", "no_kubeconfig"),
    Row("002 #2", 'Post "https://...:6443/api/v1/namespaces/default/secrets": x509: certificate signed by '
        "unknown authority", "cluster.reachable", "wrong_cluster_ca"),
    Row("002 #3", 'secrets is forbidden: User "system:anonymous" cannot create resource "secrets"',
        "cluster.reachable", "anonymous"),
    Row("002 #4", "prepare environment: setting up credentials: Unauthorized", "cluster.reachable",
        "bad_bearer_token"),
    Row("002 #5", 'secrets is forbidden: User "system:serviceaccount:gitlab:gitlab-runner" ... in the namespace '
        '"default" (no rights in the namespace jobs run in)', "rbac.manager.secrets.create", "role_without_binding",
        frozenset(WARN), "creates"),
    Row("002 #6", 'same, in the namespace "gitlab": the RoleBinding was missing', "rbac.manager.secrets.create",
        "role_without_binding", frozenset(WARN), "creates"),
    Row("002 #7", "image pull failed: dial tcp ...:443: connect: connection refused (helper image registry)",
        "registry.0.reach", "refused_registry"),
    Row("003", "403 Forbidden with a stale authentication token (a new registration token does not help)",
        "gitlab.token.valid", "stale_token"),
    Row("004 §9.1", 'secrets is forbidden: User "system:serviceaccount:cicd:default" cannot create resource '
        '"secrets"', "rbac.manager.secrets.create", "default_sa", frozenset(WARN),
        "repairs"),
    Row("004 §9.2", "job cannot fetch https://gitlab.mylab.com (hostAliases only on the manager pod)",
        "dns.gitlab", "alias_manager_only"),
]

TOKEN = "glrt-seed-mapping-token-1"


class Env:
    """Lazily built real things for the scenarios."""

    def __init__(self, request, tmp_path, monkeypatch):
        self.request, self.tmp, self.mp = request, tmp_path, monkeypatch
        monkeypatch.setenv("RW_TOKEN", TOKEN)

    def fixture(self, name):
        return self.request.getfixturevalue(name)

    def answers(self, gitlab=None, cluster=None, runner=None, **extra):
        doc = {"version": 1, "gitlab": gitlab or {"url": "https://gitlab.company.test/", "token": "env:RW_TOKEN"},
               "cluster": cluster or {}, "runner": runner or {}, **extra}
        return parse(doc, base_dir=self.tmp)

    def run(self, a, check_id, kubeconfig=None):
        if kubeconfig is None and (check_id.startswith(("cluster.", "rbac."))):
            kubeconfig = str(self.fixture("envtest").kubeconfig)
        return {r.id: r for r in run_checks(a, kubeconfig=kubeconfig, ids=[check_id])}

    def no_dns_for_test_names(self):
        real = socket.getaddrinfo

        def fake(host, *a, **k):
            if isinstance(host, str) and host.endswith(".test"):
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            return real(host, *a, **k)

        self.mp.setattr(socket, "getaddrinfo", fake)

    def installed(self, *, rules=None, binding=True, job_sa=True, ca_in=("runner", "jobs"), manager_sa=None):
        envtest, k8s_ns = self.fixture("envtest"), self.fixture("k8s_ns")
        cluster = {"runner_namespace": k8s_ns("ci-system"), "jobs_namespace": k8s_ns("ci-jobs")}
        if manager_sa:
            cluster["manager_service_account"] = manager_sa
        (self.tmp / "ca.pem").write_text("x")
        a = self.answers(gitlab={"url": "https://gitlab.company.test:8929/", "token": "env:RW_TOKEN",
                                 "ca": {"file": "ca.pem"}}, cluster=cluster)
        c = a.cluster
        kube = Kube.connect(str(envtest.kubeconfig))
        try:
            role = names.manager_role(a)
            kube.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                        "metadata": {"name": role, "namespace": c.jobs_namespace},
                        "rules": rules if rules is not None else rbac.role_rules()}, force=True)
            if binding:
                kube.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                            "metadata": {"name": role, "namespace": c.jobs_namespace},
                            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
                            "subjects": [{"kind": "ServiceAccount", "name": "gitlab-runner",
                                          "namespace": c.runner_namespace}]}, force=True)
            if job_sa:
                kube.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                            "metadata": {"name": c.job_service_account, "namespace": c.jobs_namespace}})
            pem = base64.b64encode(make_ca("Seed CA").pem).decode()
            for which in ca_in:
                ns = c.runner_namespace if which == "runner" else c.jobs_namespace
                kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": names.ca_secret(a),
                            "namespace": ns}, "data": {a.gitlab.ca_key: pem}})
        finally:
            kube.close()
        return a

    def kubeconfig_variant(self, *, user, ca_data=None):
        envtest = self.fixture("envtest")
        doc = yaml.safe_load(envtest.kubeconfig.read_text())
        doc["users"][0]["user"] = user
        if ca_data is not None:
            doc["clusters"][0]["cluster"]["certificate-authority-data"] = ca_data
        p = self.tmp / "variant.kubeconfig"
        p.write_text(yaml.safe_dump(doc))
        return str(p)


# --------------------------------------------------------------------------- scenarios


def s_ip_url_private_ca(env: Env, row: Row):
    ca = make_ca("Company CA")
    leaf = make_leaf(ca, cn="gitlab.company.test", dns=["gitlab.company.test"])
    with TLSServer([leaf], leaf.key) as srv:
        a = env.answers(gitlab={"url": f"https://127.0.0.1:{srv.port}/", "token": "env:RW_TOKEN"})
        return env.run(a, row.check_id)


def s_glrt_in_registration_slot(env: Env, row: Row):
    return env.run(env.answers(gitlab={"url": "https://gitlab.company.test/", "registration_token": "env:RW_TOKEN"}),
                   row.check_id)


def _without(resource: str, verb: str | None = None):
    out = []
    for p in rbac.MANAGER_PERMISSIONS:
        verbs = [v for v in p.verbs if not (p.resource == resource and (verb is None or v == verb))]
        if verbs:
            out.append({"apiGroups": [""], "resources": [p.resource], "verbs": verbs})
    return out


def s_role_without_secrets(env: Env, row: Row):
    return env.run(env.installed(rules=_without("secrets")), row.check_id)


def s_role_without_attach(env: Env, row: Row):
    return env.run(env.installed(rules=_without("pods/attach")), row.check_id)


def s_role_without_binding(env: Env, row: Row):
    return env.run(env.installed(binding=False), row.check_id)


def s_default_sa(env: Env, row: Row):
    return env.run(env.installed(manager_sa="default"), row.check_id)


def s_no_job_sa(env: Env, row: Row):
    return env.run(env.installed(job_sa=False), row.check_id)


def s_ca_only_in_runner_ns(env: Env, row: Row):
    return env.run(env.installed(ca_in=("runner",)), row.check_id)


def s_http_registry(env: Env, row: Row):
    reg = env.fixture("registry_http")
    return env.run(env.answers(registries=[{"host": reg.host, "scheme": "http"}]), row.check_id)


def s_refused_registry(env: Env, row: Row):
    with refused_port() as port:
        return env.run(env.answers(registries=[{"host": f"127.0.0.1:{port}", "scheme": "https"}]), row.check_id)


def s_no_kubeconfig(env: Env, row: Row):
    return env.run(env.answers(), row.check_id, kubeconfig=str(env.tmp / "missing.kubeconfig"))


def s_wrong_cluster_ca(env: Env, row: Row):
    envtest = env.fixture("envtest")
    user = yaml.safe_load(envtest.kubeconfig.read_text())["users"][0]["user"]
    other = base64.b64encode(make_ca("Not the cluster CA").pem).decode()
    return env.run(env.answers(), row.check_id, kubeconfig=env.kubeconfig_variant(user=user, ca_data=other))


def s_anonymous(env: Env, row: Row):
    return env.run(env.answers(), row.check_id, kubeconfig=env.kubeconfig_variant(user={}))


def s_bad_bearer_token(env: Env, row: Row):
    return env.run(env.answers(), row.check_id, kubeconfig=env.kubeconfig_variant(user={"token": "not-a-token"}))


def s_stale_token(env: Env, row: Row):
    fake = env.fixture("fake_gitlab")
    return env.run(env.answers(gitlab={"url": fake.url, "ca": {"file": fake.ca_pem_path}, "token": "env:RW_TOKEN"}),
                   row.check_id)


def s_alias_manager_only(env: Env, row: Row):
    env.no_dns_for_test_names()
    ca = make_ca("Lab CA")
    leaf = make_leaf(ca, cn="gitlab.mylab.test", dns=["gitlab.mylab.test"])
    (env.tmp / "lab-ca.pem").write_bytes(ca.pem)
    with TLSServer([leaf], leaf.key) as srv:
        a = env.answers(gitlab={"url": f"https://gitlab.mylab.test:{srv.port}/", "token": "env:RW_TOKEN",
                                "ca": {"file": "lab-ca.pem"}},
                        host_aliases=[{"ip": "127.0.0.1", "hostnames": ["gitlab.mylab.test"],
                                       "targets": ["manager"]}])
        return env.run(a, row.check_id)


SCENARIOS: dict[str, Callable[[Env, Row], dict]] = {
    name[2:]: fn for name, fn in globals().items() if name.startswith("s_") and callable(fn)
}


def test_every_seed_section_is_mapped():
    seeds = {r.seed for r in TABLE}
    expected = {f"000 §{i}" for i in range(1, 8)} | {f"002 #{i}" for i in range(1, 8)} | {"003", "004 §9.1",
                                                                                            "004 §9.2"}
    assert expected <= seeds
    assert all(r.scenario in SCENARIOS for r in TABLE)


@pytest.mark.parametrize("row", TABLE, ids=[f"{r.seed}-{r.check_id}" for r in TABLE])
def test_seed_is_caught_beforehand(row: Row, request, tmp_path, monkeypatch):
    env = Env(request, tmp_path, monkeypatch)
    results = SCENARIOS[row.scenario](env, row)
    r = results[row.check_id]
    assert r.status in row.statuses, f"{row.seed}: {row.check_id} -> {r.status.value}: {r.detail}"
    assert r.apply == row.apply, f"{row.seed}: {row.check_id}: apply={r.apply!r}: {r.detail}"
    if row.apply:
        assert f"apply {row.apply} this" in r.detail
    assert r.fix, "a failing check must say what to do"
    assert TOKEN not in r.detail + r.fix
