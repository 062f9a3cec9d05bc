"""The harness's control plane does something: kube-controller-manager, kube-scheduler and
kwok's simulated nodes turn objects into running pods, tokens and finished deletions."""

from __future__ import annotations

import base64
import json
import time

import pytest
from kubernetes import client as k
from kubernetes.client.exceptions import ApiException

from tests.support.envtest import KWOK_NODE_ANNOTATION, SIMULATED_NODES

pytestmark = pytest.mark.envtest


def eventually(fn, timeout: float = 30.0, interval: float = 0.2):
    """Call ``fn`` until it returns without AssertionError/ApiException; the last error is raised."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except (AssertionError, ApiException):
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)


def deployment(name: str, replicas: int = 1, **pod_spec) -> dict:
    spec = {"containers": [{"name": "app", "image": "registry.example.test/app:1",
                            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}], **pod_spec}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def test_simulated_nodes_cover_both_runtimes_and_architectures(admin_api):
    nodes = {n.metadata.name: n for n in k.CoreV1Api(admin_api).list_node().items}
    seen = set()
    for name, runtime, arch in SIMULATED_NODES:
        n = nodes[name]
        assert n.metadata.annotations[KWOK_NODE_ANNOTATION[0]] == KWOK_NODE_ANNOTATION[1]
        info = n.status.node_info
        assert (info.container_runtime_version, info.architecture) == (runtime, arch)
        assert {c.type: c.status for c in n.status.conditions}["Ready"] == "True"
        assert n.status.allocatable["pods"] == "110" and n.status.allocatable["cpu"] == "4"
        assert not n.spec.unschedulable
        seen.add((runtime.split("://")[0], arch))
    assert seen == {("containerd", "amd64"), ("containerd", "arm64"), ("cri-o", "amd64"), ("cri-o", "arm64")}
    # kwok heartbeats them: each holds a node lease
    leases = k.CoordinationV1Api(admin_api).list_namespaced_lease("kube-node-lease").items
    assert {name for name, _r, _a in SIMULATED_NODES} <= {le.metadata.name for le in leases}


def test_deployment_rolls_out_and_pods_become_ready(admin_api, k8s_ns):
    ns = k8s_ns("roll")
    apps, core = k.AppsV1Api(admin_api), k.CoreV1Api(admin_api)
    apps.create_namespaced_deployment(ns, deployment("web", replicas=3))

    def available():
        d = apps.read_namespaced_deployment_status("web", ns)
        assert d.status.available_replicas == 3, d.status
        assert d.status.observed_generation == d.metadata.generation
        return d

    dep = eventually(available)
    conds = {c.type: c for c in dep.status.conditions}
    assert conds["Available"].status == "True"
    assert conds["Progressing"].reason == "NewReplicaSetAvailable"
    rs = apps.list_namespaced_replica_set(ns, label_selector="app=web").items
    assert len(rs) == 1 and rs[0].metadata.owner_references[0].uid == dep.metadata.uid
    pods = core.list_namespaced_pod(ns, label_selector="app=web").items
    assert len(pods) == 3
    for p in pods:
        assert p.spec.node_name, "not scheduled"
        assert p.status.phase == "Running"
        assert {c.type: c.status for c in p.status.conditions}["Ready"] == "True"
        assert p.status.pod_ip
        # ServiceAccount admission: the default account and its projected token volume
        assert p.spec.service_account_name == "default"
        assert any(v.name.startswith("kube-api-access-") and v.projected for v in p.spec.volumes)
    ev = core.list_namespaced_event(ns, field_selector="reason=Scheduled").items
    assert ev and all(e.source.component == "default-scheduler" or e.reporting_component == "default-scheduler"
                      for e in ev)
    # placed on nodes kwok runs (the session's node set: the simulated ones plus what tests add)
    for p in pods:
        node = core.read_node(p.spec.node_name)
        assert node.metadata.annotations.get(KWOK_NODE_ANNOTATION[0]) == KWOK_NODE_ANNOTATION[1]


def test_default_service_account_root_ca_and_tokens_appear(envtest, admin_api, k8s_ns):
    ns = k8s_ns("sa")
    core = k.CoreV1Api(admin_api)
    eventually(lambda: core.read_namespaced_service_account("default", ns))
    cm = eventually(lambda: core.read_namespaced_config_map("kube-root-ca.crt", ns))
    assert "BEGIN CERTIFICATE" in cm.data["ca.crt"]

    # the token controller fills a legacy service-account-token Secret (signed with the SA key pair)
    core.create_namespaced_service_account(ns, k.V1ServiceAccount(metadata=k.V1ObjectMeta(name="bot")))
    core.create_namespaced_secret(ns, k.V1Secret(
        metadata=k.V1ObjectMeta(name="bot-token", annotations={"kubernetes.io/service-account.name": "bot"}),
        type="kubernetes.io/service-account-token"))

    def filled():
        s = core.read_namespaced_secret("bot-token", ns)
        assert s.data and s.data.get("token"), "token not filled in yet"
        return s

    sec = eventually(filled)
    token = base64.b64decode(sec.data["token"]).decode()
    assert base64.b64decode(sec.data["namespace"]).decode() == ns
    assert "BEGIN CERTIFICATE" in base64.b64decode(sec.data["ca.crt"]).decode()
    # the apiserver accepts that token: it authenticates as the ServiceAccount
    review = k.AuthenticationV1Api(admin_api).create_token_review(
        k.V1TokenReview(spec=k.V1TokenReviewSpec(token=token)))
    assert review.status.authenticated
    assert review.status.user.username == f"system:serviceaccount:{ns}:bot"


def test_namespace_with_running_pods_finishes_deleting(admin_api, k8s_ns):
    ns = k8s_ns("gone")
    apps, core = k.AppsV1Api(admin_api), k.CoreV1Api(admin_api)
    apps.create_namespaced_deployment(ns, deployment("doomed", replicas=2, terminationGracePeriodSeconds=1))
    core.create_namespaced_config_map(ns, k.V1ConfigMap(metadata=k.V1ObjectMeta(name="c"), data={"a": "b"}))
    eventually(lambda: _assert_ready_pods(core, ns, "app=doomed", 2))
    core.delete_namespace(ns)

    def gone():
        try:
            left = core.read_namespace(ns)
        except ApiException as e:
            assert e.status == 404
            return
        conds = [f"{c.type}: {c.message}" for c in left.status.conditions or [] if c.status == "True"]
        pods = [(p.metadata.name, p.status.phase, p.metadata.finalizers)
                for p in core.list_namespaced_pod(ns).items]
        raise AssertionError(f"namespace {ns} still {left.status.phase}: {conds}; pods {pods}")

    eventually(gone, timeout=60)
    assert not [p for p in core.list_pod_for_all_namespaces(field_selector=f"metadata.namespace={ns}").items]


def _assert_ready_pods(core, ns: str, selector: str, n: int) -> None:
    pods = core.list_namespaced_pod(ns, label_selector=selector).items
    ready = [p for p in pods if any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
    assert len(ready) == n, [(p.metadata.name, p.status.phase) for p in pods]


def test_garbage_collector_removes_owned_objects(admin_api, k8s_ns):
    ns = k8s_ns("gc")
    apps, core = k.AppsV1Api(admin_api), k.CoreV1Api(admin_api)
    apps.create_namespaced_deployment(ns, deployment("owner", replicas=1))
    eventually(lambda: _assert_ready_pods(core, ns, "app=owner", 1))
    apps.delete_namespaced_deployment("owner", ns, propagation_policy="Background")

    def collected():
        assert apps.list_namespaced_replica_set(ns).items == []
        assert core.list_namespaced_pod(ns).items == []

    eventually(collected, timeout=60)


def test_resource_quota_usage_is_computed_and_enforced(admin_api, k8s_ns):
    ns = k8s_ns("quota")
    core = k.CoreV1Api(admin_api)
    core.create_namespaced_resource_quota(ns, k.V1ResourceQuota(
        metadata=k.V1ObjectMeta(name="q"), spec=k.V1ResourceQuotaSpec(hard={"pods": "1"})))

    def computed():
        q = core.read_namespaced_resource_quota("q", ns)
        assert q.status and q.status.used == {"pods": "0"}, q.status

    eventually(computed)
    k.AppsV1Api(admin_api).create_namespaced_deployment(ns, deployment("two", replicas=2))
    eventually(lambda: _assert_ready_pods(core, ns, "app=two", 1))

    def refused():
        evs = core.list_namespaced_event(ns, field_selector="reason=FailedCreate").items
        assert any("exceeded quota" in (e.message or "") for e in evs), [e.message for e in evs]

    eventually(refused)
    assert json.loads(json.dumps(core.read_namespaced_resource_quota("q", ns).status.used)) == {"pods": "1"}

