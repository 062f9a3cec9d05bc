"""`runner-wizard diagnose` against the real kube-apiserver harness.

Each test builds one broken install (a Helm release Secret, the chart's Deployment
and ConfigMap, RBAC, Secrets...) in fresh namespaces and checks that
``diagnose --json`` reports exactly the expected catalog ids, nothing else. There
is no kubelet: pod logs come from ``--log`` files or an injected log source, and
events are created as objects. The control plane is real (controller-manager, scheduler,
kwok nodes): the manager Deployment rolls out, and :func:`build` waits for that unless
the install is meant to keep it from running.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from wizard.cli import main
from wizard.diagnose.collect import encode_helm_release
from wizard.diagnose.engine import diagnose
from wizard.kube import Kube, collection_path
from wizard.rbac import role_rules
from wizard.results import Status

pytestmark = pytest.mark.envtest

LOGS = Path(__file__).resolve().parents[1] / "data" / "logs"
GITLAB_URL = "https://gitlab.example.com/"
RELEASE = "gitlab-runner"
JOB_IMAGE = "docker.io/library/alpine:3.22"


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@dataclass
class Install:
    """Options for one gitlab-runner install; :func:`build` creates it."""

    manager_sa: str | None = "gitlab-runner"
    create_manager_sa: bool = True
    job_sa: str | None = "gitlab-runner-job"
    create_job_sa: bool = True
    role_rules: list[dict[str, Any]] | None = field(default_factory=role_rules)
    token_data: dict[str, str] | None = field(
        default_factory=lambda: {"runner-token": "glrt-FAKEabcdef123456", "runner-registration-token": ""})
    extra_config: str = ""
    privileged: bool = False
    job_labels: dict[str, str] | None = None
    values: dict[str, Any] = field(default_factory=dict)
    ca_secret: bool = False
    ca_in_jobs: bool = False
    pod_spec: dict[str, Any] = field(default_factory=dict)
    """Merged into the manager pod template's spec (nodeSelector, resources via containers...)."""
    pod_annotations: dict[str, str] | None = None
    runner_quota: dict[str, str] | None = None
    """``spec.hard`` of a ResourceQuota created in the runner namespace before anything else."""
    wait: bool | None = None
    """Wait for the rollout (default: unless the manager ServiceAccount is left missing)."""


@dataclass
class Built:
    ns: str
    jns: str
    kube: Kube
    kubeconfig: str

    def run(self, capsys, *extra: str) -> tuple[int, dict[str, Any]]:
        capsys.readouterr()
        code = main(["diagnose", "--kubeconfig", self.kubeconfig, "--namespace", self.ns, "--release", RELEASE,
                     "--json", *extra])
        out = capsys.readouterr().out
        return code, json.loads(out)


def failing_ids(doc: dict[str, Any]) -> set[str]:
    return {c for r in doc["results"] if r["status"] in ("fail", "warn") for c in r["catalog"]}


def build(envtest, k8s_ns, opt: Install) -> Built:
    ns = k8s_ns("rwd")
    jns = k8s_ns("rwj", labels=opt.job_labels)
    kube = Kube.connect(str(envtest.kubeconfig))
    if opt.runner_quota:
        kube.create(collection_path("ResourceQuota", ns), {
            "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "manager-quota", "namespace": ns},
            "spec": {"hard": opt.runner_quota}})
    sa = opt.manager_sa or ""
    cfg = (f'[[runners]]\n  [runners.kubernetes]\n    namespace = "{jns}"\n    image = "{JOB_IMAGE}"\n'
           f"    privileged = {str(opt.privileged).lower()}\n"
           # the envtest cluster is shared: other tests add arm64, CRI-O or Windows nodes
           "    helper_image_autoset_arch_and_os = true\n")
    if opt.job_sa:
        cfg += f'    service_account = "{opt.job_sa}"\n'
    if opt.ca_secret:
        cfg += ('    [[runners.kubernetes.volumes.secret]]\n      name = "gitlab-ca"\n'
                '      mount_path = "/etc/gitlab-runner/certs"\n')
    cfg += opt.extra_config
    values = {"gitlabUrl": GITLAB_URL, "rbac": {"create": False},
              "serviceAccount": {"create": False, "name": sa}, "runners": {"secret": "runner-token", "config": cfg},
              "nodeSelector": {"kubernetes.io/os": "linux"},
              **opt.values}
    if opt.ca_secret:
        values["certsSecretName"] = "gitlab-ca"
    release_doc = {"name": RELEASE, "namespace": ns, "version": 1, "info": {"status": "deployed"},
                   "chart": {"metadata": {"name": "gitlab-runner", "version": "0.86.0"}, "values": {}},
                   "config": values, "manifest": ""}
    kube.create(collection_path("Secret", ns), {
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": f"sh.helm.release.v1.{RELEASE}.v1", "namespace": ns,
                     "labels": {"owner": "helm", "name": RELEASE, "status": "deployed", "version": "1"}},
        "data": {"release": encode_helm_release(release_doc)}})
    kube.create(collection_path("ConfigMap", ns), {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": RELEASE, "namespace": ns},
        "data": {"config.template.toml": cfg}})
    volumes: list[dict[str, Any]] = [{"name": "projected-secrets", "projected": {"sources": [{"secret": {
        "name": "runner-token", "items": [{"key": "runner-registration-token", "path": "runner-registration-token"},
                                          {"key": "runner-token", "path": "runner-token"}]}}]}}]
    if opt.ca_secret:
        volumes.append({"name": "custom-certs", "secret": {"secretName": "gitlab-ca"}})
    if sa and opt.create_manager_sa:
        kube.create(collection_path("ServiceAccount", ns),
                    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": sa, "namespace": ns}})
    if opt.job_sa and opt.create_job_sa:
        kube.create(collection_path("ServiceAccount", jns),
                    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": opt.job_sa, "namespace": jns}})
    if sa and opt.role_rules is not None:
        kube.create(collection_path("Role", jns), {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": f"{RELEASE}-manager", "namespace": jns}, "rules": opt.role_rules})
        kube.create(collection_path("RoleBinding", jns), {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": f"{RELEASE}-manager", "namespace": jns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{RELEASE}-manager"},
            "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]})
    if opt.token_data is not None:
        kube.create(collection_path("Secret", ns), {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "runner-token", "namespace": ns},
            "data": {k: b64(v) for k, v in opt.token_data.items()}})
    if opt.ca_secret:
        ca = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gitlab-ca", "namespace": ns},
              "data": {"gitlab.example.com.crt": b64("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")}}
        kube.create(collection_path("Secret", ns), ca)
        if opt.ca_in_jobs:
            ca2 = json.loads(json.dumps(ca))
            ca2["metadata"]["namespace"] = jns
            kube.create(collection_path("Secret", jns), ca2)
    # the Deployment last, like helm's ordering: its ServiceAccount exists when the pods are created
    kube.create(collection_path("Deployment", ns), {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": RELEASE, "namespace": ns, "labels": {"app": RELEASE, "chart": "gitlab-runner-0.86.0",
                                                                   "release": RELEASE}},
        "spec": {"selector": {"matchLabels": {"app": RELEASE}},
                 "template": {"metadata": {"labels": {"app": RELEASE}, "annotations": opt.pod_annotations},
                              "spec": {"serviceAccountName": sa, "volumes": volumes,
                                       "containers": [{"name": "gitlab-runner",
                                                       "image": "registry.gitlab.com/gitlab-org/gitlab-runner:"
                                                                "alpine-v18.9.0",
                                                       "env": [{"name": "CI_SERVER_URL", "value": GITLAB_URL}]}],
                                       **opt.pod_spec}}}})
    wait = opt.wait if opt.wait is not None else (opt.manager_sa is None or opt.create_manager_sa)
    if wait:
        wait_available(kube, ns, RELEASE)
    return Built(ns, jns, kube, str(envtest.kubeconfig))


def wait_available(kube: Kube, ns: str, name: str, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until the Deployment's pods are scheduled on kwok's nodes and Ready."""
    deadline = time.monotonic() + timeout
    while True:
        dep = kube.get(f"{collection_path('Deployment', ns)}/{name}")
        st = dep.get("status") or {}
        if st.get("observedGeneration") == dep["metadata"]["generation"] and \
                (st.get("availableReplicas") or 0) >= (dep["spec"].get("replicas") or 1):
            return dep
        assert time.monotonic() < deadline, f"Deployment {ns}/{name} not available after {timeout:.0f}s: {st}"
        time.sleep(0.2)


def rules_without(resource: str) -> list[dict[str, Any]]:
    return [r for r in role_rules() if r["resources"] != [resource]]


def event(kube: Kube, ns: str, pod: str, reason: str, message: str) -> None:
    name = f"{pod}.{uuid.uuid4().hex[:8]}"
    kube.create(collection_path("Event", ns), {
        "apiVersion": "v1", "kind": "Event", "type": "Warning", "reason": reason, "message": message,
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": ns, "apiVersion": "v1"},
        "firstTimestamp": "2026-01-01T00:00:00Z", "lastTimestamp": "2026-01-01T00:00:00Z", "count": 1,
        "source": {"component": "kubelet"}})


# --------------------------------------------------------------------------- healthy and discovery


def test_healthy_install_reports_no_failures(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(ca_secret=True, ca_in_jobs=True))
    code, doc = b.run(capsys)
    assert failing_ids(doc) == set(), doc
    assert code == 0
    assert doc["summary"]["fail"] == 0


def test_release_is_found_without_naming_it(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install())
    capsys.readouterr()
    code = main(["diagnose", "--kubeconfig", b.kubeconfig, "--namespace", b.ns, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and failing_ids(doc) == set()


def test_no_release_is_bad_input(envtest, k8s_ns, capsys):
    ns = k8s_ns("rwe")
    code = main(["diagnose", "--kubeconfig", str(envtest.kubeconfig), "--namespace", ns, "--json"])
    assert code == 2
    assert "no gitlab-runner release" in capsys.readouterr().err


# --------------------------------------------------------------------------- one broken state per analyzer


def test_e11_missing_pods_attach_and_fix(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(role_rules=rules_without("pods/attach")))
    code, doc = b.run(capsys)
    assert failing_ids(doc) == {"E11"}
    [r] = [r for r in doc["results"] if r["catalog"] == ["E11"]]
    assert r["id"] == "diagnose.E11.rbac" and "pods/attach" in r["title"]
    assert code == 1

    capsys.readouterr()
    code = main(["diagnose", "--kubeconfig", b.kubeconfig, "--namespace", b.ns, "--release", RELEASE, "--json",
                 "--fix", "--yes"])
    captured = capsys.readouterr()
    assert "Role" in captured.err and "pods/attach" in captured.err, captured.err
    doc = json.loads(captured.out)
    assert failing_ids(doc) == set(), doc
    assert code == 0
    role = b.kube.get(f"{collection_path('Role', b.jns)}/{RELEASE}-manager")
    assert {"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["create", "delete", "get", "patch"]} \
        in role["rules"]


def test_fix_without_tty_or_yes_prints_the_plan_only(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(role_rules=rules_without("pods/exec")))
    code, doc = b.run(capsys, "--fix")
    assert failing_ids(doc) == {"E11"} and code == 1
    role = b.kube.get(f"{collection_path('Role', b.jns)}/{RELEASE}-manager")
    assert all(r["resources"] != ["pods/exec"] for r in role["rules"])


def test_e01_default_service_account(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(manager_sa=None, role_rules=None))
    code, doc = b.run(capsys)
    assert failing_ids(doc) == {"E01"}
    assert code == 1
    [r] = [r for r in doc["results"] if r["catalog"] == ["E01"]]
    assert "rbac.create" in r["fix"]


def test_e17_no_rights_in_jobs_namespace(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(role_rules=None))
    code, doc = b.run(capsys, "--fix", "--yes")
    assert failing_ids(doc) == set(), doc
    assert code == 0


def test_e16_job_service_account_missing_and_fix(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(create_job_sa=False))
    code, doc = b.run(capsys)
    assert failing_ids(doc) == {"E16"} and code == 1
    code, doc = b.run(capsys, "--fix", "--yes")
    assert failing_ids(doc) == set() and code == 0
    assert b.kube.get_or_none(f"{collection_path('ServiceAccount', b.jns)}/gitlab-runner-job") is not None


def test_e16_manager_service_account_missing(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(create_manager_sa=False))
    _code, doc = b.run(capsys)
    assert failing_ids(doc) == {"E16"}
    assert any(r["id"] == "diagnose.E16.manager-sa" for r in doc["results"])


def test_e03_ca_secret_missing_in_jobs_namespace_and_fix(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(ca_secret=True, ca_in_jobs=False))
    code, doc = b.run(capsys)
    assert failing_ids(doc) == {"E03"} and code == 1
    code, doc = b.run(capsys, "--fix", "--yes")
    assert failing_ids(doc) == set() and code == 0
    copied = b.kube.get(f"{collection_path('Secret', b.jns)}/gitlab-ca")
    assert "gitlab.example.com.crt" in copied["data"]


def test_e32_token_with_trailing_newline_and_fix(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(token_data={"runner-token": "glrt-FAKEabcdef123456\n",
                                                    "runner-registration-token": ""}))
    code, doc = b.run(capsys)
    assert failing_ids(doc) == {"E32"} and code == 1
    out = json.dumps(doc)
    assert "FAKEabcdef" not in out
    code, doc = b.run(capsys, "--fix", "--yes")
    assert failing_ids(doc) == set() and code == 0
    sec = b.kube.get(f"{collection_path('Secret', b.ns)}/runner-token")
    assert base64.b64decode(sec["data"]["runner-token"]) == b"glrt-FAKEabcdef123456"


def test_e15_token_secret_without_registration_key(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(token_data={"runner-token": "glrt-FAKEabcdef123456"}))
    code, doc = b.run(capsys)
    assert failing_ids(doc) == {"E15"} and code == 1
    assert any(r["id"] == "diagnose.E15.secret-key.runner-registration-token" for r in doc["results"])
    code, doc = b.run(capsys, "--fix", "--yes")
    assert failing_ids(doc) == set() and code == 0


def test_e28_restricted_psa_with_dind(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(privileged=True,
                                       job_labels={"pod-security.kubernetes.io/enforce": "restricted"}))
    code, doc = b.run(capsys)
    assert failing_ids(doc) == {"E28"} and code == 1


def test_e26_quota_without_limits(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install())
    b.kube.create(collection_path("ResourceQuota", b.jns), {
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "ci-compute", "namespace": b.jns},
        "spec": {"hard": {"limits.cpu": "8", "limits.memory": "16Gi"}}})
    code, doc = b.run(capsys)
    assert failing_ids(doc) == {"E26"} and code == 1


def test_e25_crio_nodes_and_docker_socket(envtest, k8s_ns, capsys):
    tag = uuid.uuid4().hex[:6]
    envtest.make_node(f"crio-a-{tag}", runtime="cri-o://1.30.0")
    envtest.make_node(f"crio-b-{tag}", runtime="cri-o://1.30.0")
    sock = ('    [[runners.kubernetes.volumes.host_path]]\n      name = "docker"\n'
            '      mount_path = "/var/run/docker.sock"\n      host_path = "/var/run/docker.sock"\n')
    b = build(envtest, k8s_ns, Install(extra_config=sock))
    code, doc = b.run(capsys)
    assert failing_ids(doc) == {"E25"} and code == 1


def test_events_as_objects(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install())
    event(b.kube, b.ns, f"{RELEASE}-7d9f-abcde", "FailedMount",
          'MountVolume.SetUp failed for volume "extra-certs" : secret "missing-certs" not found')
    job = "runner-abc123-project-7-concurrent-0"
    event(b.kube, b.jns, job, "FailedScheduling",
          "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available")
    event(b.kube, b.jns, job + "x", "Failed",
          'Failed to pull image "registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v18.9.0": '
          "rpc error: code = DeadlineExceeded desc = context deadline exceeded")
    code, doc = b.run(capsys)
    assert failing_ids(doc) == {"E15", "E10", "E09"}, doc
    ev = {c: r["evidence"] for r in doc["results"] for c in r["catalog"]}
    assert any("missing-certs" in e for e in ev["E15"])
    assert code == 1


# --------------------------------------------------------------------------- logs, alone and with the cluster


@pytest.mark.parametrize("name,expected", [
    ("manager-x509-unknown-authority.log", {"E02"}),
    ("manager-token-trailing-newline.log", {"E32"}),
    ("job-pods-attach-forbidden.log", {"E11"}),
    ("job-could-not-resolve-host.log", {"E08"}),
    ("manager-informers-rbac-warning.log", {"E11"}),
    ("manager-healthy.log", set()),
    ("job-healthy.log", set()),
])
def test_log_only(name, expected, capsys):
    capsys.readouterr()
    code = main(["diagnose", "--log", str(LOGS / name), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert failing_ids(doc) == expected
    fails = {c for r in doc["results"] if r["status"] == "fail" for c in r["catalog"]}
    assert code == (1 if fails else 0)


def test_several_logs_at_once(capsys):
    capsys.readouterr()
    code = main(["diagnose", "--log", str(LOGS / "manager-legacy-token-warning.log"),
                 "--log", str(LOGS / "job-quota-must-specify-limits.log"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert failing_ids(doc) == {"E14", "E26"} and code == 1


def _attach_line(b: Built) -> str:
    return ('ERROR: Job failed (system failure): prepare environment: setting up trapping scripts on emptyDir: '
            f'unable to upgrade connection: pods "runner-x1-project-3-concurrent-0" is forbidden: User '
            f'"system:serviceaccount:{b.ns}:gitlab-runner" cannot create resource "pods/attach" in API group "" '
            f'in the namespace "{b.jns}"\n')


def test_log_finding_resolved_when_rbac_is_fine_now(envtest, k8s_ns, capsys, tmp_path):
    b = build(envtest, k8s_ns, Install())
    f = tmp_path / "job.log"
    f.write_text(_attach_line(b))
    code, doc = b.run(capsys, "--log", str(f))
    assert failing_ids(doc) == set() and code == 0
    [r] = [r for r in doc["results"] if r["catalog"] == ["E11"]]
    assert r["status"] == "pass" and "no longer the case" in r["detail"]


def test_log_finding_confirmed_by_rbac(envtest, k8s_ns, capsys, tmp_path):
    b = build(envtest, k8s_ns, Install(role_rules=rules_without("pods/attach")))
    f = tmp_path / "job.log"
    f.write_text(_attach_line(b))
    _code, doc = b.run(capsys, "--log", str(f))
    e11 = [r for r in doc["results"] if r["catalog"] == ["E11"]]
    assert len(e11) == 1 and e11[0]["status"] == "fail"
    assert any("job.log" in e for e in e11[0]["evidence"])


def test_manager_log_source_is_injectable(envtest, k8s_ns):
    b = build(envtest, k8s_ns, Install())
    b.kube.create(collection_path("Pod", b.ns), {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"{RELEASE}-5c6d7-xyz12", "namespace": b.ns, "labels": {"app": RELEASE}},
        "spec": {"containers": [{"name": "gitlab-runner", "image": "registry.gitlab.com/gitlab-org/gitlab-runner"}]}})
    log_text = (LOGS / "manager-token-trailing-newline.log").read_text()
    calls = []

    def source(ns, pod, container, previous):
        calls.append((ns, pod, container, previous))
        return log_text if previous else "Checking for jobs... received\n"

    d = diagnose(kube=b.kube, namespace=b.ns, release=RELEASE, log_source=source)
    assert (b.ns, f"{RELEASE}-5c6d7-xyz12", "gitlab-runner", True) in calls
    e32 = [f for f in d.findings if f.catalog == "E32"]
    assert e32 and all(f.status is Status.PASS for f in e32)  # token Secret is clean now
    assert not d.failed


def test_cluster_and_log_combined_reports_both(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(create_job_sa=False))
    code, doc = b.run(capsys, "--log", str(LOGS / "job-dind-tls-mismatch-18x.log"))
    assert failing_ids(doc) == {"E16", "E12"} and code == 1
    [r] = [r for r in doc["results"] if r["catalog"] == ["E12"]]
    assert "privileged = false" in r["detail"]
