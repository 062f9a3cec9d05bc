"""verify's "is the manager Deployment rolled out?" judges as ``kubectl rollout status`` does.

During a rolling update the old ReplicaSet's pod is still Ready (and counted in readyReplicas), and
the new pod counts as "updated" as soon as it exists, long before it is Ready. Verify must not call
that state available: it would report an upgrade verified while the new pods may never start.
"""

from __future__ import annotations

from wizard.verify import _deployment_state


def _dep(want: int = 1, generation: int = 2, **status) -> dict:
    st = {"observedGeneration": generation,
          "conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "True"}],
          **status}
    return {"metadata": {"generation": generation}, "spec": {"replicas": want}, "status": st}


def test_a_finished_rollout_is_available():
    assert _deployment_state(_dep(2, replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2))["available"]


def test_mid_rollout_old_pod_ready_new_pod_not_ready_is_not_available():
    # one replica, maxUnavailable rounds to 0: the old pod stays Ready, the new one was just created
    st = _deployment_state(_dep(1, replicas=2, updatedReplicas=1, readyReplicas=1, availableReplicas=1))
    assert not st["available"]
    assert "1 old pod(s) still running" in st["text"]


def test_new_pods_not_available_yet_is_not_available():
    st = _deployment_state(_dep(2, replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=1))
    assert not st["available"]


def test_a_generation_not_yet_observed_is_not_available():
    dep = _dep(1, replicas=1, updatedReplicas=1, readyReplicas=1, availableReplicas=1)
    dep["metadata"]["generation"] = 3
    assert not _deployment_state(dep)["available"]


def test_diagnose_names_the_cause_when_new_pods_fail_while_the_old_one_still_serves():
    """wizard.rollout (diagnose's analyzer) judged the same way: an upgrade whose new pod cannot pull its
    image, while the old pod still serves, was "available" and got no finding."""
    from wizard import rollout

    d = _dep(1, replicas=2, updatedReplicas=1, readyReplicas=1, availableReplicas=1)
    d["metadata"].update(name="gitlab-runner", namespace="ci", uid="d1")
    new_rs = {"metadata": {"name": "gitlab-runner-new", "namespace": "ci", "uid": "r2",
                           "annotations": {"deployment.kubernetes.io/revision": "2"},
                           "ownerReferences": [{"uid": "d1", "name": "gitlab-runner"}]},
              "spec": {"replicas": 1}, "status": {"replicas": 1}}
    new_pod = {"metadata": {"name": "gitlab-runner-new-x1", "namespace": "ci",
                            "ownerReferences": [{"uid": "r2", "name": "gitlab-runner-new"}]},
               "spec": {"containers": [{"name": "gitlab-runner"}], "nodeName": "n1"},
               "status": {"phase": "Pending", "containerStatuses": [
                   {"name": "gitlab-runner", "ready": False, "image": "registry.example/runner:v18.9.0",
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "manifest unknown"}}}]}}
    assert not rollout.availability(d).ok
    causes = rollout.causes(d, [new_rs], [new_pod], [])
    assert [c.key for c in causes] == ["image-pull"], causes
    assert "1 old pod(s) still running" in rollout.availability(d).text
