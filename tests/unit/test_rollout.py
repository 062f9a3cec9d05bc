"""wizard.rollout: every not-available Deployment gets a cause (pure functions over dicts)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as s

from wizard import rollout


def dep(replicas: int = 1, available: int = 0, *, processed: bool = True, **status: Any) -> dict[str, Any]:
    st: dict[str, Any] = {}
    if processed:
        st = {"observedGeneration": 1, "replicas": replicas, "availableReplicas": available,
              "readyReplicas": available, "updatedReplicas": replicas, **status}
    return {"metadata": {"name": "gitlab-runner", "namespace": "ci", "generation": 1, "uid": "d1"},
            "spec": {"replicas": replicas}, "status": st}


def rs(replicas: int = 1, created: int = 0, conditions: list | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "gitlab-runner-abc", "namespace": "ci", "uid": "r1",
                         "annotations": {"deployment.kubernetes.io/revision": "1"},
                         "ownerReferences": [{"uid": "d1", "name": "gitlab-runner"}]},
            "spec": {"replicas": replicas}, "status": {"replicas": created, "conditions": conditions or []}}


def pod(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "gitlab-runner-abc-x1", "namespace": "ci",
                         "ownerReferences": [{"uid": "r1", "name": "gitlab-runner-abc"}]},
            "spec": {"containers": [{"name": "gitlab-runner"}], "nodeName": status.pop("node", None)},
            "status": status}


def event(kind: str, name: str, reason: str, message: str) -> dict[str, Any]:
    return {"type": "Warning", "reason": reason, "message": message, "lastTimestamp": "2026-01-01T00:00:00Z",
            "involvedObject": {"kind": kind, "name": name, "namespace": "ci"}}


def keys(cs: list[rollout.Cause]) -> set[tuple[str, str]]:
    return {(c.catalog, c.key) for c in cs}


def test_available_has_no_cause():
    assert rollout.causes(dep(2, 2), [], [], []) == []
    assert rollout.causes(dep(0, 0), [], [], []) == []


def test_unprocessed_deployment_names_the_controller_manager():
    [c] = rollout.causes(dep(processed=False), [], [], [])
    assert (c.catalog, c.key) == ("DEP", "not-processed") and "kube-controller-manager" in c.fix


def test_unschedulable_variants():
    sel = pod(phase="Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                            "message": "0/4 nodes are available: 4 node(s) didn't match Pod's "
                                                       "node affinity/selector."}])
    assert keys(rollout.causes(dep(), [rs(1, 1)], [sel], [])) == {("E10", "no-schedulable-node")}
    cpu = pod(phase="Pending", conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                            "message": "0/4 nodes are available: 4 Insufficient cpu."}])
    [c] = rollout.causes(dep(), [rs(1, 1)], [cpu], [])
    assert c.key == "insufficient-resources" and "cpu" in c.title
    # only an event (status not yet written)
    ev = event("Pod", "gitlab-runner-abc-x1", "FailedScheduling", "0/2 nodes are available: 2 node(s) had "
               "untolerated taint {dedicated: gpu}.")
    [c] = rollout.causes(dep(), [rs(1, 1)], [pod(phase="Pending")], [ev])
    assert c.key == "no-schedulable-node" and "taints" in c.title


def test_failed_create_causes():
    quota = event("ReplicaSet", "gitlab-runner-abc", "FailedCreate",
                  'pods "gitlab-runner-abc-x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, '
                  "limited: pods=0")
    assert keys(rollout.causes(dep(), [rs(1, 0)], [], [quota])) == {("E26", "quota")}
    sa = [{"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
           "message": 'pods "x" is forbidden: error looking up service account ci/runner: serviceaccount "runner" '
                      "not found"}]
    assert keys(rollout.causes(dep(), [rs(1, 0, sa)], [], [])) == {("E16", "service-account")}
    # a stale FailedCreate event of a ReplicaSet that has all its pods is not a cause
    assert keys(rollout.causes(dep(), [rs(1, 1)], [pod(phase="Pending")], [quota])) == {("DEP", "rolling-out")}


def test_container_states():
    def waiting(reason: str, message: str = "", **extra: Any) -> dict[str, Any]:
        return pod(phase="Pending", node="n1", containerStatuses=[
            {"name": "gitlab-runner", "ready": False, "state": {"waiting": {"reason": reason, "message": message}},
             **extra}])

    assert keys(rollout.causes(dep(), [rs(1, 1)], [waiting("ImagePullBackOff", "Back-off pulling")], [])) == {
        ("E09", "image-pull")}
    assert keys(rollout.causes(dep(), [rs(1, 1)], [waiting("ErrImagePull", "x509: certificate signed by "
                                                                           "unknown authority")], [])) == {
        ("E22", "image-tls")}
    crash = waiting("CrashLoopBackOff", "back-off", restartCount=3,
                    lastState={"terminated": {"exitCode": 2, "reason": "Error"}})
    [c] = rollout.causes(dep(), [rs(1, 1)], [crash], [])
    assert (c.catalog, c.key) == ("DEP", "crash-loop") and any("code 2" in e for e in c.evidence)
    assert keys(rollout.causes(dep(), [rs(1, 1)], [waiting("CreateContainerConfigError",
                                                           'secret "x" not found')], [])) == {
        ("E15", "container-config")}


@settings(max_examples=60, deadline=None)
@given(replicas=s.integers(1, 5), available=s.integers(0, 5),
       phase=s.sampled_from(["Pending", "Running", "Unknown", None]),
       reason=s.sampled_from(["", "ImagePullBackOff", "CrashLoopBackOff", "ContainerCreating", "Weird"]),
       with_rs=s.booleans())
def test_never_silent_when_not_available(replicas, available, phase, reason, with_rs):
    available = min(available, replicas - 1)
    p = pod(phase=phase, containerStatuses=[{"name": "gitlab-runner", "state": {"waiting": {"reason": reason}}}])
    out = rollout.causes(dep(replicas, available), [rs(replicas, replicas)] if with_rs else [], [p], [])
    assert out, "a Deployment below its desired availability must have a cause"
    assert all(c.title and c.fix and c.evidence for c in out)
