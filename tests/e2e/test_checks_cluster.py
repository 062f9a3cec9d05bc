"""cluster.* and rbac.* checks against a real kube-apiserver (envtest)."""

from __future__ import annotations

import base64
import time
import uuid

import pytest

from wizard import names, rbac
from wizard.answers import parse
from wizard.checks import run_checks
from wizard.checks.cluster import _rbac_id
from wizard.kube import Kube, collection_path
from wizard.results import Status

pytestmark = pytest.mark.envtest

TOKEN = "glrt-e2e-token-value-123"


@pytest.fixture
def kube(envtest):
    k = Kube.connect(str(envtest.kubeconfig))
    yield k
    k.close()


@pytest.fixture(autouse=True)
def _token_env(monkeypatch):
    monkeypatch.setenv("RW_TOKEN", TOKEN)


def make_answers(tmp_path, runner_ns, jobs_ns, *, ca=False, create_namespaces=True, **runner):
    doc = {"version": 1,
           "gitlab": {"url": "https://gitlab.example.test:8929/", "token": "env:RW_TOKEN"},
           "cluster": {"runner_namespace": runner_ns, "jobs_namespace": jobs_ns,
                       "create_namespaces": create_namespaces},
           "runner": runner}
    if ca:
        (tmp_path / "ca.pem").write_text("placeholder")
        doc["gitlab"]["ca"] = {"file": "ca.pem"}
    return parse(doc, base_dir=tmp_path)


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def role_obj(a, rules):
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": names.manager_role(a), "namespace": a.cluster.jobs_namespace}, "rules": rules}


def install(kube, a, *, job_sa=True, ca_in=("runner", "jobs"), token_data=None, rules=None, binding=True):
    c = a.cluster
    kube.apply(role_obj(a, rules if rules is not None else rbac.role_rules()), force=True)
    if binding:
        kube.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": names.manager_role(a), "namespace": c.jobs_namespace},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                "name": names.manager_role(a)},
                    "subjects": [{"kind": "ServiceAccount", "name": c.manager_service_account,
                                  "namespace": c.runner_namespace}]}, force=True)
    kube.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": c.manager_service_account, "namespace": c.runner_namespace}})
    if job_sa:
        kube.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": c.job_service_account, "namespace": c.jobs_namespace}})
    data = token_data if token_data is not None else {"runner-token": b64(TOKEN), "runner-registration-token": ""}
    kube.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": names.token_secret(a), "namespace": c.runner_namespace}, "data": data})
    from tests.support.tlsfactory import make_ca

    ca_pem = make_ca("E2E CA").pem.decode()
    for which in ca_in:
        ns = c.runner_namespace if which == "runner" else c.jobs_namespace
        kube.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": names.ca_secret(a), "namespace": ns},
                    "data": {a.gitlab.ca_key: b64(ca_pem)}})


def run(a, envtest, ids):
    return {r.id: r for r in run_checks(a, kubeconfig=str(envtest.kubeconfig), ids=ids)}


def test_fresh_cluster_before_apply(envtest, tmp_path):
    a = make_answers(tmp_path, f"rw-new-{uuid.uuid4().hex[:6]}", f"rw-new-{uuid.uuid4().hex[:6]}")
    res = run(a, envtest, ["cluster.*", "rbac.*"])
    assert res["cluster.reachable"].status is Status.PASS
    assert res["cluster.installer.create.namespaces"].status is Status.PASS
    # what apply creates is named as such: status warn, never a failure
    for rid in ("cluster.namespace.jobs", "cluster.namespace.runner", "rbac.manager.pods-attach.create",
                "cluster.sa.job", "cluster.sa.manager", "cluster.secret.token"):
        assert res[rid].status is Status.WARN and res[rid].apply == "creates", (rid, res[rid])
        assert "apply creates this" in res[rid].detail
    assert res["cluster.dryrun.jobpod"].status is Status.SKIP
    assert not [r for r in res.values() if r.status is Status.FAIL], [r for r in res.values()
                                                                       if r.status is Status.FAIL]


def test_missing_namespace_without_create(envtest, tmp_path, k8s_ns):
    runner_ns = k8s_ns("rw-run")
    a = make_answers(tmp_path, runner_ns, k8s_ns("rw-missing", create=False), create_namespaces=False)
    res = run(a, envtest, ["cluster.namespace.*"])
    assert res["cluster.namespace.runner"].status is Status.PASS
    assert res["cluster.namespace.jobs"].status is Status.FAIL
    assert "does not exist" in res["cluster.namespace.jobs"].detail


def test_each_rbac_permission_removed_in_turn(envtest, tmp_path, k8s_ns, kube):
    a = make_answers(tmp_path, k8s_ns("rw-run"), k8s_ns("rw-jobs"))
    install(kube, a)
    res = run(a, envtest, ["rbac.*"])
    assert all(r.status is Status.PASS for r in res.values()), [r for r in res.values() if r.status != Status.PASS]
    for perm, verb in rbac.required_checks():
        rules = [{"apiGroups": [""], "resources": [p.resource],
                  "verbs": [v for v in p.verbs if not (p is perm and v == verb)]} for p in rbac.MANAGER_PERMISSIONS]
        kube.apply(role_obj(a, [r for r in rules if r["verbs"]]), force=True)
        want = _rbac_id(perm, verb)
        deadline = time.monotonic() + 30  # the authorizer's cache catches up within milliseconds, unless loaded
        while True:
            res = run(a, envtest, ["rbac.*"])
            bad = {i for i, r in res.items() if r.status is not Status.PASS}
            if bad == {want} or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert bad == {want}
        r = res[want]
        # the Role apply writes has the rule again: a repair, never a failure that blocks that apply
        assert r.status is Status.WARN and r.apply == "repairs", r
        assert set(r.catalog) & {"E11", "E01"}
        assert "denied" in r.detail and f"lacks {perm.resource} {verb}" in r.detail and perm.resource in r.fix


def test_missing_job_sa_is_e16(envtest, tmp_path, k8s_ns, kube):
    a = make_answers(tmp_path, k8s_ns("rw-run"), k8s_ns("rw-jobs"))
    install(kube, a, job_sa=False)
    res = run(a, envtest, ["cluster.sa.*"])
    assert res["cluster.sa.manager"].status is Status.PASS
    r = res["cluster.sa.job"]
    assert r.status is Status.WARN and r.apply == "creates" and "E16" in r.catalog


def test_ca_secret_missing_in_jobs_namespace(envtest, tmp_path, k8s_ns, kube):
    a = make_answers(tmp_path, k8s_ns("rw-run"), k8s_ns("rw-jobs"), ca=True)
    install(kube, a, ca_in=("runner",))
    res = run(a, envtest, ["cluster.secret.ca.*"])
    assert res["cluster.secret.ca.runner"].status is Status.PASS
    jobs = res["cluster.secret.ca.jobs"]
    assert jobs.status is Status.WARN and jobs.apply == "creates" and {"E15", "E21"} <= set(jobs.catalog)


def test_ca_secret_with_wrong_key_name(envtest, tmp_path, k8s_ns, kube):
    a = make_answers(tmp_path, k8s_ns("rw-run"), k8s_ns("rw-jobs"), ca=True)
    install(kube, a, ca_in=("jobs",))
    kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": names.ca_secret(a),
                "namespace": a.cluster.runner_namespace}, "data": {"ca.crt": b64("x")}})
    r = run(a, envtest, ["cluster.secret.ca.runner"])["cluster.secret.ca.runner"]
    assert r.status is Status.FAIL and "E03" in r.catalog and a.gitlab.ca_key in r.detail


@pytest.mark.parametrize("data,code", [
    ({"runner-token": b64(TOKEN)}, "E15"),
    ({"runner-token": b64(TOKEN + "\n"), "runner-registration-token": ""}, "E32"),
])
def test_token_secret_problems(envtest, tmp_path, k8s_ns, kube, data, code):
    a = make_answers(tmp_path, k8s_ns("rw-run"), k8s_ns("rw-jobs"))
    install(kube, a, token_data=data)
    res = run(a, envtest, ["cluster.secret.token"])
    r = res["cluster.secret.token"]
    assert r.status is Status.WARN and r.apply == "repairs" and code in r.catalog
    assert TOKEN not in r.detail


def test_token_secret_good(envtest, tmp_path, k8s_ns, kube):
    a = make_answers(tmp_path, k8s_ns("rw-run"), k8s_ns("rw-jobs"))
    install(kube, a)
    assert run(a, envtest, ["cluster.secret.token"])["cluster.secret.token"].status is Status.PASS


def test_restricted_namespace_rejects_dind(envtest, tmp_path, k8s_ns, kube):
    jobs = k8s_ns("rw-jobs", labels={"pod-security.kubernetes.io/enforce": "restricted"})
    a = make_answers(tmp_path, k8s_ns("rw-run"), jobs, docker_builds="dind")
    install(kube, a)
    r = run(a, envtest, ["cluster.dryrun.jobpod"])["cluster.dryrun.jobpod"]
    # apply labels the jobs namespace enforce=privileged for dind (create_namespaces): a repair
    assert r.status is Status.WARN and r.apply == "repairs" and "E28" in r.catalog
    assert "Pod Security" in r.detail and "impersonated" in r.detail
    # without create_namespaces apply leaves the namespace alone: a failure
    b = make_answers(tmp_path, a.cluster.runner_namespace, jobs, docker_builds="dind", create_namespaces=False)
    r = run(b, envtest, ["cluster.dryrun.jobpod"])["cluster.dryrun.jobpod"]
    assert r.status is Status.FAIL and "E28" in r.catalog and "PodSecurity" in r.detail
    # nothing was created: it was a dry run
    assert kube.get(collection_path("Pod", jobs))["items"] == []


def test_dryrun_passes_in_plain_namespace(envtest, tmp_path, k8s_ns, kube):
    a = make_answers(tmp_path, k8s_ns("rw-run"), k8s_ns("rw-jobs"))
    install(kube, a)
    r = run(a, envtest, ["cluster.dryrun.jobpod"])["cluster.dryrun.jobpod"]
    assert r.status is Status.PASS, r.detail


def test_dryrun_as_manager_without_pod_rights(envtest, tmp_path, k8s_ns, kube):
    """The Role lacks pod rights: apply repairs it, so the dry run runs as you and says why; the
    missing rights themselves are the rbac.* results (apply repairs)."""
    a = make_answers(tmp_path, k8s_ns("rw-run"), k8s_ns("rw-jobs"))
    install(kube, a, rules=[{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}])
    res = run(a, envtest, ["cluster.dryrun.jobpod", "rbac.manager.pods.create"])
    r = res["cluster.dryrun.jobpod"]
    assert r.status is Status.PASS and "as you" in r.detail and "apply repairs it" in r.detail, r.detail
    pods = res["rbac.manager.pods.create"]
    assert pods.status is Status.WARN and pods.apply == "repairs" and "E01" in pods.catalog


def test_rolebinding_to_another_role_is_a_failure(envtest, tmp_path, k8s_ns, kube):
    """A RoleBinding's roleRef cannot change: apply cannot repair it, so that is a real failure."""
    a = make_answers(tmp_path, k8s_ns("rw-run"), k8s_ns("rw-jobs"))
    install(kube, a, binding=False)
    c = a.cluster
    kube.apply({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": names.manager_role(a), "namespace": c.jobs_namespace},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
                "subjects": [{"kind": "ServiceAccount", "name": c.manager_service_account,
                              "namespace": c.runner_namespace}]}, force=True)
    r = run(a, envtest, ["rbac.manager.secrets.create"])["rbac.manager.secrets.create"]
    assert r.status is Status.FAIL and r.apply is None
    assert "roleRef cannot be changed" in r.detail and "delete rolebinding" in r.fix


def test_exhausted_quota_is_e26(envtest, tmp_path, k8s_ns, kube):
    jobs = k8s_ns("rw-jobs")
    a = make_answers(tmp_path, k8s_ns("rw-run"), jobs)
    install(kube, a)
    path = collection_path("ResourceQuota", jobs)
    kube.create(path, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "ci"},
                       "spec": {"hard": {"pods": "1", "requests.cpu": "2"}}})
    # the real quota controller computes usage; then one running pod uses the only slot up
    deadline = time.monotonic() + 30
    while "used" not in (kube.get(f"{path}/ci").get("status") or {}):
        assert time.monotonic() < deadline, "the ResourceQuota controller never computed the quota's usage"
        time.sleep(0.1)
    kube.create(collection_path("Pod", jobs), {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "earlier-job"},
        "spec": {"containers": [{"name": "c", "image": "docker.io/library/alpine:3.22",
                                 "resources": {"requests": {"cpu": "100m"}}}]}})
    while (kube.get(f"{path}/ci").get("status") or {}).get("used", {}).get("pods") != "1":
        assert time.monotonic() < deadline, "the quota never counted the running pod"
        time.sleep(0.1)
    r = run(a, envtest, ["cluster.dryrun.jobpod"])["cluster.dryrun.jobpod"]
    assert r.status is Status.FAIL and "E26" in r.catalog and "quota" in r.detail


def test_cri_o_nodes_refuse_host_socket(envtest, tmp_path, k8s_ns):
    pool = uuid.uuid4().hex[:8]
    envtest.make_node(f"crio-{pool}", runtime="cri-o://1.30.2", labels={"rw-pool": pool})
    a = make_answers(tmp_path, k8s_ns("rw-run"), k8s_ns("rw-jobs"), docker_builds="host-socket",
                     node_selector={"rw-pool": pool})
    res = run(a, envtest, ["cluster.nodes.*"])
    rt = res["cluster.nodes.runtime"]
    assert rt.status is Status.FAIL and "E25" in rt.catalog and "cri-o" in rt.detail
    assert res["cluster.nodes.arch"].status is Status.PASS


def test_arm_only_nodes_with_default_helper(envtest, tmp_path, k8s_ns):
    pool = uuid.uuid4().hex[:8]
    envtest.make_node(f"arm-{pool}", arch="arm64", labels={"rw-pool": pool})
    a = make_answers(tmp_path, k8s_ns("rw-run"), k8s_ns("rw-jobs"), node_selector={"rw-pool": pool})
    res = run(a, envtest, ["cluster.nodes.*"])
    assert res["cluster.nodes.runtime"].status is Status.PASS
    arch = res["cluster.nodes.arch"]
    assert arch.status is Status.FAIL and "E31" in arch.catalog and "kubernetes.io/arch" in arch.fix


def test_installer_without_rights(envtest, tmp_path, k8s_ns, kube):
    ns = k8s_ns("rw-sa")
    kube.apply({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "installer", "namespace": ns}})
    kubeconfig = envtest.sa_kubeconfig(ns, "installer")
    a = make_answers(tmp_path, k8s_ns("rw-run"), k8s_ns("rw-jobs"))
    res = {r.id: r for r in run_checks(a, kubeconfig=str(kubeconfig), ids=["cluster.installer.*"])}
    assert res["cluster.installer.create.roles"].status is Status.FAIL
    assert "create roles" in res["cluster.installer.create.roles"].detail
    assert res["cluster.installer.list.nodes"].status is Status.WARN


def test_unreachable_cluster_skips_the_rest(tmp_path):
    a = make_answers(tmp_path, "a", "b")
    res = {r.id: r for r in run_checks(a, kubeconfig=str(tmp_path / "nope.kubeconfig"),
                                       ids=["cluster.*", "rbac.*"])}
    assert res["cluster.reachable"].status is Status.FAIL
    assert res["rbac.manager.pods.create"].status is Status.SKIP
    assert "no cluster" in res["rbac.manager.pods.create"].detail


def test_full_run_seed_000_like_wall_time(envtest, tmp_path, k8s_ns, kube, fake_gitlab, monkeypatch, capsys):
    """A seed-000-like setup (private CA, glrt- token, ci-system/ci-jobs, host alias, CRI-O node),
    everything installed. Prints the wall time of a full run; asserts only on results."""
    runner = fake_gitlab.add_runner()
    monkeypatch.setenv("RW_TOKEN", runner.token)
    pool = uuid.uuid4().hex[:8]
    envtest.make_node(f"seed-{pool}", runtime="cri-o://1.30.2", labels={"rw-pool": pool})
    doc = {"version": 1,
           "gitlab": {"url": fake_gitlab.url, "ca": {"file": fake_gitlab.ca_pem_path}, "token": "env:RW_TOKEN"},
           "cluster": {"runner_namespace": k8s_ns("ci-system"), "jobs_namespace": k8s_ns("ci-jobs")},
           "runner": {"node_selector": {"rw-pool": pool}},
           "host_aliases": [{"ip": "127.0.0.1", "hostnames": ["localhost"]}]}
    a = parse(doc, base_dir=tmp_path)
    install(kube, a)
    seen = []
    t0 = time.perf_counter()
    results = run_checks(a, kubeconfig=str(envtest.kubeconfig), on_result=seen.append)
    wall = time.perf_counter() - t0
    t1 = time.perf_counter()
    run_checks(a, kubeconfig=str(envtest.kubeconfig))
    wall2 = time.perf_counter() - t1
    with capsys.disabled():
        print(f"\nfull run_checks: {len(results)} results, first run {wall * 1000:.0f} ms, "
              f"second run {wall2 * 1000:.0f} ms")
    assert len(seen) == len(results)
    failed = [r for r in results if r.status is Status.FAIL]
    assert not failed, failed
    ids = {r.id for r in results}
    assert {"tls.gitlab.trust", "gitlab.token.valid", "cluster.dryrun.jobpod", "dns.alias.0",
            "rbac.manager.pods-attach.create"} <= ids
