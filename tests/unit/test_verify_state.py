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
