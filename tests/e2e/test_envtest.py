"""The real kube-apiserver harness behaves like a cluster where it matters to us."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from kubernetes import client as k
from kubernetes import config as kconfig
from kubernetes.client.exceptions import ApiException

from tests.support.envtest import K8S_VERSION, REPO_ROOT, Envtest, EnvtestError, _alive, find_etcd

pytestmark = pytest.mark.envtest

SKIP = os.environ.get("RW_ENVTEST") == "skip"


def _eventually(fn, timeout: float = 10.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except (AssertionError, ApiException):
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)


def test_reports_stamped_version(envtest, admin_api):
    assert envtest.version == f"v{K8S_VERSION}"
    info = k.VersionApi(admin_api).get_code()
    assert info.git_version == f"v{K8S_VERSION}"
    assert not info.git_version.startswith("v0.0.0")
    major, minor = K8S_VERSION.split(".")[:2]
    assert (info.major, info.minor) == (major, minor)


def test_openapi_v2_is_served(admin_api):
    # plain HTTPS with the admin client's own TLS material (client-version agnostic)
    cfg = admin_api.configuration
    ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    req = urllib.request.Request(cfg.host + "/openapi/v2", headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
        assert resp.status == 200
        doc = json.loads(resp.read())
    assert doc["swagger"] == "2.0"
    assert "/api/v1/namespaces/{namespace}/secrets" in doc["paths"]
    assert "io.k8s.api.rbac.v1.Role" in doc["definitions"]


def test_rbac_is_enforced_for_service_accounts(envtest, admin_api, k8s_ns):
    ns = k8s_ns("rbac")
    core, rbac = k.CoreV1Api(admin_api), k.RbacAuthorizationV1Api(admin_api)
    core.create_namespaced_service_account(ns, k.V1ServiceAccount(metadata=k.V1ObjectMeta(name="manager")))

    sa_api = kconfig.new_client_from_config(config_file=str(envtest.sa_kubeconfig(ns, "manager")))
    try:
        review = k.AuthenticationV1Api(sa_api).create_self_subject_review(
            k.V1SelfSubjectReview())
        assert review.status.user_info.username == f"system:serviceaccount:{ns}:manager"

        with pytest.raises(ApiException) as forbidden:
            k.CoreV1Api(sa_api).list_namespaced_secret(ns)
        assert forbidden.value.status == 403

        rbac.create_namespaced_role(ns, k.V1Role(
            metadata=k.V1ObjectMeta(name="read-secrets"),
            rules=[k.V1PolicyRule(api_groups=[""], resources=["secrets"], verbs=["get", "list"])]))
        rbac.create_namespaced_role_binding(ns, k.V1RoleBinding(
            metadata=k.V1ObjectMeta(name="read-secrets"),
            role_ref=k.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="read-secrets"),
            subjects=[k.RbacV1Subject(kind="ServiceAccount", name="manager", namespace=ns)]))

        secrets = _eventually(lambda: k.CoreV1Api(sa_api).list_namespaced_secret(ns))
        assert secrets.items == []
        # still confined to its namespace
        with pytest.raises(ApiException) as other:
            k.CoreV1Api(sa_api).list_namespaced_secret("kube-system")
        assert other.value.status == 403
    finally:
        sa_api.close()


def _pod(name: str, privileged: bool) -> dict:
    container: dict = {"name": "c", "image": "registry.example/busybox:1"}
    if privileged:
        container["securityContext"] = {"privileged": True}
    else:
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [container]}}


def test_pod_security_admission_rejects_privileged_pod(admin_api, k8s_ns):
    ns = k8s_ns("psa", labels={"pod-security.kubernetes.io/enforce": "restricted"})
    core = k.CoreV1Api(admin_api)

    with pytest.raises(ApiException) as rejected:
        core.create_namespaced_pod(ns, _pod("priv", privileged=True), dry_run="All")
    assert rejected.value.status == 403
    assert "violates PodSecurity" in rejected.value.body
    assert "privileged" in rejected.value.body

    # control: a restricted-compliant pod is admitted (dry run, nothing is stored)
    ok = core.create_namespaced_pod(ns, _pod("fine", privileged=False), dry_run="All")
    assert ok.metadata.name == "fine"
    assert core.list_namespaced_pod(ns).items == []


def test_make_node_status_reads_back(envtest, admin_api):
    name = f"node-{uuid.uuid4().hex[:8]}"
    envtest.make_node(name, runtime="cri-o://1.30.2", arch="arm64", labels={"pool": "runners"})
    node = k.CoreV1Api(admin_api).read_node(name)
    info = node.status.node_info
    assert info.container_runtime_version == "cri-o://1.30.2"
    assert (info.architecture, info.operating_system) == ("arm64", "linux")
    assert node.metadata.labels["kubernetes.io/arch"] == "arm64"
    assert node.metadata.labels["pool"] == "runners"
    ready = {c.type: c.status for c in node.status.conditions}
    assert ready["Ready"] == "True"
    assert not node.spec.taints


@pytest.mark.skipif(SKIP, reason="RW_ENVTEST=skip")
def test_start_failure_is_loud_and_leaves_nothing(tmp_path):
    env = Envtest(apiserver="/bin/false", tmp_base=str(tmp_path))
    with pytest.raises(EnvtestError) as err:
        env.start()
    msg = str(err.value)
    assert "kube-apiserver exited during start-up" in msg
    assert "etcd log" in msg and "kube-apiserver log" in msg
    assert list(tmp_path.iterdir()) == []  # temp dir removed, etcd stopped with it
    assert env.etcd_pid is None


@pytest.mark.slow
@pytest.mark.skipif(SKIP, reason="RW_ENVTEST=skip")
def test_cli_up_down_leaves_no_process(tmp_path):
    find_etcd()
    state = tmp_path / "state.json"
    env = dict(os.environ, RW_ENVTEST_STATE=str(state))
    script = [sys.executable, str(REPO_ROOT / "scripts" / "envtest")]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(script + list(args), env=env, capture_output=True, text=True, timeout=120)

    up = run("up")
    assert up.returncode == 0, up.stderr
    lines = up.stdout.splitlines()
    assert len(lines) == 1, up.stdout  # only the kubeconfig path on stdout
    kubeconfig = Path(lines[0])
    assert kubeconfig.is_file()
    st = json.loads(state.read_text())
    pids = [st["etcd_pid"], st["apiserver_pid"], st["controller_manager_pid"], st["scheduler_pid"],
            st["kwok_pid"]]
    assert all(p and _alive(p) for p in pids)  # the whole set survived the `up` command

    again = run("up")
    assert again.returncode == 0 and again.stdout.strip() == str(kubeconfig)
    assert json.loads(state.read_text())["apiserver_pid"] == st["apiserver_pid"]
    assert run("status").returncode == 0

    api = kconfig.new_client_from_config(config_file=str(kubeconfig))
    try:
        assert k.VersionApi(api).get_code().git_version == f"v{K8S_VERSION}"
        # the controllers work: the default ServiceAccount exists, kwok's nodes are there
        assert k.CoreV1Api(api).read_namespaced_service_account("default", "default")
        assert len(k.CoreV1Api(api).list_node().items) == 4
    finally:
        api.close()

    down = run("down")
    assert down.returncode == 0, down.stderr
    assert down.stdout == ""
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids)
    assert not state.exists()
    assert not Path(st["tmpdir"]).exists()
    assert run("status").returncode == 3


def test_component_ports_are_never_ephemeral_ones():
    """The ports picked for etcd, the apiserver and the plane lie below the kernel's ephemeral range
    (an outgoing connection can be handed an ephemeral port between the pick and the component's
    bind), are distinct, and are free when picked."""
    import socket

    from tests.support.envtest import _ephemeral_range, _free_ports

    lo, _hi = _ephemeral_range()
    for _ in range(20):
        ports = _free_ports(3)
        assert len(set(ports)) == 3
        assert all(p < lo for p in ports), (ports, lo)
        for p in ports:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind(("127.0.0.1", p))
