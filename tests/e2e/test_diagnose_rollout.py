"""diagnose on the real control plane: a manager Deployment at 0/N available is always a
finding with its cause, read from what the scheduler, the controllers and (for states kwok
cannot produce) the pod status say; never "no problems found"."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.e2e.test_diagnose import RELEASE, Built, Install, build, failing_ids
from tests.support.envtest import KWOK_CUSTOM_STATUS_ANNOTATION
from wizard.cli import main
from wizard.kube import collection_path

pytestmark = pytest.mark.envtest


def diagnose_until(b: Built, capsys, catalog: str, timeout: float = 45.0) -> tuple[int, dict[str, Any]]:
    """Run diagnose until a finding of ``catalog`` shows (the scheduler retries with back-off)."""
    deadline = time.monotonic() + timeout
    while True:
        code, doc = b.run(capsys)
        if catalog in failing_ids(doc) or time.monotonic() > deadline:
            return code, doc
        time.sleep(0.5)


def manager_findings(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in doc["results"] if ".manager." in r["id"]}


def human(b: Built, capsys) -> str:
    capsys.readouterr()
    main(["diagnose", "--kubeconfig", b.kubeconfig, "--namespace", b.ns, "--release", RELEASE])
    return capsys.readouterr().out


def test_node_selector_matching_no_node(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(pod_spec={"nodeSelector": {"runner-wizard.test/pool": "nowhere"}},
                                       wait=False))
    code, doc = diagnose_until(b, capsys, "E10")
    found = manager_findings(doc)
    r = found["diagnose.E10.manager.no-schedulable-node"]
    assert r["status"] == "fail" and code == 1
    assert f"{b.ns}/{RELEASE} is at 0/1 available" in r["title"] and "nodeSelector" in r["title"]
    assert any("didn't match Pod's node affinity/selector" in e for e in r["evidence"]), r
    assert "nodeSelector" in r["fix"]
    assert "no problems found" not in human(b, capsys)


def test_tainted_nodes(envtest, k8s_ns, capsys):
    pool = uuid.uuid4().hex[:6]
    for arch in ("amd64", "arm64"):
        envtest.make_node(f"tainted-{arch}-{pool}", arch=arch, labels={"runner-wizard.test/pool": pool},
                          taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}])
    b = build(envtest, k8s_ns, Install(pod_spec={"nodeSelector": {"runner-wizard.test/pool": pool}}, wait=False))
    _code, doc = diagnose_until(b, capsys, "E10")
    r = manager_findings(doc)["diagnose.E10.manager.no-schedulable-node"]
    assert "taints" in r["title"]
    assert any("untolerated taint" in e for e in r["evidence"]), "\n".join(r["evidence"])


def test_insufficient_resources(envtest, k8s_ns, capsys):
    big = {"containers": [{"name": "gitlab-runner", "image": "registry.gitlab.com/gitlab-org/gitlab-runner:"
                                                              "alpine-v18.9.0",
                           "resources": {"requests": {"cpu": "64", "memory": "1Gi"}}}]}
    b = build(envtest, k8s_ns, Install(pod_spec=big, wait=False))
    _code, doc = diagnose_until(b, capsys, "E10")
    r = manager_findings(doc)["diagnose.E10.manager.insufficient-resources"]
    assert r["status"] == "fail" and "cpu" in r["title"]
    assert any("Insufficient cpu" in e for e in r["evidence"]), r


def test_quota_refuses_the_manager_pods(envtest, k8s_ns, capsys):
    # the ResourceQuota controller computes usage; admission refuses; the ReplicaSet records FailedCreate
    b = build(envtest, k8s_ns, Install(runner_quota={"pods": "0"}, wait=False))
    code, doc = diagnose_until(b, capsys, "E26")
    r = manager_findings(doc)["diagnose.E26.manager.quota"]
    assert r["status"] == "fail" and code == 1
    assert f"ResourceQuota {b.ns}/manager-quota" in r["title"]
    assert any("exceeded quota: manager-quota" in e for e in r["evidence"]), r


def _set_status_by_hand(b: Built, container_status: dict[str, Any], timeout: float = 30.0) -> str:
    """kwok leaves pods with the custom-status annotation alone: write what a kubelet would."""
    deadline = time.monotonic() + timeout
    while True:
        pods = b.kube.get(collection_path("Pod", b.ns), labelSelector=f"app={RELEASE}")["items"]
        scheduled = [p for p in pods if p["spec"].get("nodeName")]
        if scheduled:
            break
        assert time.monotonic() < deadline, "the manager pod was not scheduled"
        time.sleep(0.2)
    pod = scheduled[0]
    name = pod["metadata"]["name"]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    status = {"phase": "Pending" if "waiting" in container_status.get("state", {}) and
              not container_status.get("restartCount") else "Running",
              "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                             {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                              "lastTransitionTime": now}],
              "containerStatuses": [{"name": "gitlab-runner", "ready": False,
                                     "image": pod["spec"]["containers"][0]["image"], "imageID": "",
                                     **container_status}]}
    b.kube.request("PATCH", f"{collection_path('Pod', b.ns)}/{name}/status", body={"status": status},
                   content_type="application/merge-patch+json")
    return name


MANUAL = {KWOK_CUSTOM_STATUS_ANNOTATION[0]: KWOK_CUSTOM_STATUS_ANNOTATION[1]}


def test_image_pull_back_off(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(pod_annotations=MANUAL, wait=False))
    _set_status_by_hand(b, {"restartCount": 0, "state": {"waiting": {
        "reason": "ImagePullBackOff",
        "message": 'Back-off pulling image "registry.gitlab.com/gitlab-org/gitlab-runner:alpine-v18.9.0"'}}})
    code, doc = diagnose_until(b, capsys, "E09")
    r = manager_findings(doc)["diagnose.E09.manager.image-pull"]
    assert r["status"] == "fail" and code == 1
    assert any("ImagePullBackOff" in e for e in r["evidence"]), r


def test_image_pull_denied_is_e21(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(pod_annotations=MANUAL, wait=False))
    _set_status_by_hand(b, {"restartCount": 0, "state": {"waiting": {
        "reason": "ErrImagePull",
        "message": 'failed to pull and unpack image "registry.example.test/runner:1": failed to authorize: '
                   "401 Unauthorized"}}})
    _code, doc = diagnose_until(b, capsys, "E21")
    assert "diagnose.E21.manager.image-auth" in manager_findings(doc)


def test_crash_loop(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(pod_annotations=MANUAL, wait=False))
    _set_status_by_hand(b, {"restartCount": 6,
                            "state": {"waiting": {"reason": "CrashLoopBackOff",
                                                  "message": "back-off 5m0s restarting failed container"}},
                            "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                                         "finishedAt": "2026-01-01T00:00:00Z"}}})
    code, doc = diagnose_until(b, capsys, "DEP")
    r = manager_findings(doc)["diagnose.DEP.manager.crash-loop"]
    assert r["status"] == "fail" and code == 1
    assert any("6 restart(s)" in e for e in r["evidence"]) and any("code 1" in e for e in r["evidence"])
    assert "--previous" in r["fix"]


def test_missing_manager_service_account_is_named_as_the_cause(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install(create_manager_sa=False))
    _code, doc = diagnose_until(b, capsys, "E16")
    deadline = time.monotonic() + 30
    while "diagnose.E16.manager.service-account" not in manager_findings(doc) and time.monotonic() < deadline:
        time.sleep(0.5)
        _code, doc = b.run(capsys)
    r = manager_findings(doc)["diagnose.E16.manager.service-account"]
    assert any("serviceaccount" in e.lower() for e in r["evidence"]), r
    assert failing_ids(doc) == {"E16"}


def test_available_deployment_has_no_rollout_finding(envtest, k8s_ns, capsys):
    b = build(envtest, k8s_ns, Install())
    _code, doc = b.run(capsys)
    assert manager_findings(doc) == {}
    assert failing_ids(doc) == set()
