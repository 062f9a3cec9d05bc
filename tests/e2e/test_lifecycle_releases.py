"""``runner-wizard upgrade`` and ``rollback`` across the real charts 0.77.2 -> 0.83.3 -> 0.86.0.

Asserts on Helm revisions (decoded release Secrets) and the Deployment helm wrote, never on
pods becoming Ready. The forced failure is real: a ValidatingAdmissionPolicy in the API
server refuses the manager image of GitLab Runner 18.9.0, so ``helm upgrade`` to 0.86.0 fails.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.lifecycle_support import answers_file, helm_releases, install, kube_for, lifecycle_env, suffix
from wizard import names
from wizard.answers import load
from wizard.cli import main
from wizard.kube import KubeError
from wizard.lifecycle.releases import chart_changes, values_diff

pytestmark = pytest.mark.envtest
__all__ = ["lifecycle_env"]


def _out(capsys) -> str:
    c = capsys.readouterr()
    return c.out + c.err


def _state(kube, a) -> tuple[dict[int, tuple[str, str]], str]:
    """{revision: (status, chart version)}, the manager image."""
    rns = a.cluster.runner_namespace
    revs = {n: (d["info"]["status"], d["chart"]["metadata"]["version"])
            for n, d in helm_releases(kube, rns, a.runner.release_name).items()}
    dep = kube.get(f"/apis/apps/v1/namespaces/{rns}/deployments/{names.deployment(a)}")
    return revs, dep["spec"]["template"]["spec"]["containers"][0]["image"]


def test_upgrade_across_the_three_charts_then_roll_back(envtest, tmp_path, capsys, lifecycle_env):
    sfx = suffix()
    ans = answers_file(tmp_path, sfx, runner={"chart_version": "0.77.2"})
    install(envtest, ans, tmp_path / "out")
    a = load(ans)
    kube = kube_for(envtest)
    kc = ["--kubeconfig", str(envtest.kubeconfig)]
    revs, image = _state(kube, a)
    assert revs == {1: ("deployed", "0.77.2")} and image.endswith("v18.0.2")
    capsys.readouterr()

    rc = main(["upgrade", "--answers", str(ans), "--to", "0.83.3", "--dry-run", *kc])
    text = _out(capsys)
    assert rc == 0, text
    assert "chart 0.77.2 -> 0.83.3 (upgrade)" in text
    assert "GitLab Runner 18.0.2 -> 18.6.3" in text
    assert "top-level `namespace` value is read from now on" in text
    assert "values: unchanged" in text
    assert _state(kube, a)[0] == revs

    # The upgrades wait for the rollout (the harness runs a controller-manager and kwok nodes, so the new pods
    # become Ready): one outcome, not a race between a single look and the Deployment controller.
    wait = ["--verify-timeout", "120"]
    rc = main(["upgrade", "--answers", str(ans), "--to", "0.83.3", "--yes", "--out", str(tmp_path / "u1"), *wait,
               *kc])
    text = _out(capsys)
    assert rc == 0, text
    assert "upgraded: " in text and "(chart 0.83.3) and verified" in text, text
    assert 'set runner.chart_version: "0.83.3"' in text
    revs, image = _state(kube, a)
    assert revs == {1: ("superseded", "0.77.2"), 2: ("deployed", "0.83.3")} and image.endswith("v18.6.3")

    # 0.86.0 together with a values change: both show in the preview
    ans2 = answers_file(tmp_path, sfx, name="answers-2.yaml", runner={"chart_version": "0.86.0", "replicas": 2})
    rc = main(["upgrade", "--answers", str(ans2), "--yes", "--out", str(tmp_path / "u2"), *wait, *kc])
    text = _out(capsys)
    assert rc == 0, text
    assert "(chart 0.86.0) and verified" in text, text
    assert "chart 0.83.3 -> 0.86.0 (upgrade)" in text
    assert "rbac.create Role placement changes at 0.84.0" in text
    assert "- replicas: 1" in text and "+ replicas: 2" in text
    revs, image = _state(kube, a)
    assert revs[3] == ("deployed", "0.86.0") and image.endswith("v18.9.0")
    dep = kube.get(f"/apis/apps/v1/namespaces/{a.cluster.runner_namespace}/deployments/{names.deployment(a)}")
    assert dep["status"].get("updatedReplicas") == dep["status"].get("availableReplicas") == 2, dep["status"]
    # nothing left to do: says so, no new revision
    rc = main(["upgrade", "--answers", str(ans2), "--yes", *kc])
    assert rc == 0 and "nothing to upgrade" in _out(capsys)
    assert len(_state(kube, a)[0]) == 3

    rc = main(["rollback", "--answers", str(ans2), "--to", "2", "--dry-run", *kc])
    text = _out(capsys)
    assert rc == 0, text
    assert "chart 0.86.0 -> 0.83.3 (downgrade)" in text and "- replicas: 2" in text
    assert len(_state(kube, a)[0]) == 3

    rc = main(["rollback", "--namespace", a.cluster.runner_namespace, "--release", "gitlab-runner", "--yes", *kc])
    text = _out(capsys)
    assert rc == 0, text
    assert "is at revision 4 (chart 0.83.3, a copy of revision 2)" in text
    revs, image = _state(kube, a)
    assert revs[4] == ("deployed", "0.83.3") and revs[3][0] == "superseded" and image.endswith("v18.6.3")
    dep = kube.get(f"/apis/apps/v1/namespaces/{a.cluster.runner_namespace}/deployments/{names.deployment(a)}")
    assert dep["spec"]["replicas"] == 1

    rc = main(["rollback", "--answers", str(ans), "--to", "99", *kc])
    text = _out(capsys)
    assert rc == 2 and "revision 99" in text and "revisions: 1, 2, 3, 4" in text


def _deny_runner_18_9(kube, ns: str, sfx: str) -> None:
    """A ValidatingAdmissionPolicy that refuses Deployments running GitLab Runner 18.9.0 in ``ns``."""
    base = "/apis/admissionregistration.k8s.io/v1"
    name = f"deny-runner-18-9-{sfx}"
    kube.create(f"{base}/validatingadmissionpolicies", {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {"failurePolicy": "Fail",
                 "matchConstraints": {"resourceRules": [{"apiGroups": ["apps"], "apiVersions": ["v1"],
                                                         "operations": ["CREATE", "UPDATE"],
                                                         "resources": ["deployments"]}]},
                 "validations": [{"expression": "object.spec.template.spec.containers.all(c, "
                                                "!c.image.contains('v18.9.0'))",
                                  "message": "GitLab Runner 18.9.0 is not approved on this cluster"}]}})
    kube.create(f"{base}/validatingadmissionpolicybindings", {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}}})
    probe = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "probe"},
             "spec": {"selector": {"matchLabels": {"a": "b"}},
                      "template": {"metadata": {"labels": {"a": "b"}},
                                   "spec": {"containers": [{"name": "c", "image": "x:alpine-v18.9.0"}]}}}}
    deadline = time.monotonic() + 30
    while True:
        try:
            kube.create(f"/apis/apps/v1/namespaces/{ns}/deployments", probe, dry_run=True)
        except KubeError as exc:
            if "not approved" in exc.message:
                return
            raise
        assert time.monotonic() < deadline, "the admission policy never took effect"
        time.sleep(0.3)


def test_a_failed_upgrade_is_offered_a_rollback_and_rolled_back(envtest, tmp_path, capsys, lifecycle_env):
    sfx = suffix()
    ans = answers_file(tmp_path, sfx, runner={"chart_version": "0.83.3"})
    install(envtest, ans, tmp_path / "out")
    a = load(ans)
    kube = kube_for(envtest)
    kc = ["--kubeconfig", str(envtest.kubeconfig)]
    _deny_runner_18_9(kube, a.cluster.runner_namespace, sfx)
    capsys.readouterr()

    # without a terminal and without --rollback-on-failure: the failure is reported with the exact command
    rc = main(["upgrade", "--answers", str(ans), "--to", "0.86.0", "--yes", "--out", str(tmp_path / "u1"), *kc])
    text = _out(capsys)
    assert rc == 1, text
    assert "the upgrade failed" in text and "not approved" in text, text
    assert f"helm rollback gitlab-runner 1 -n {a.cluster.runner_namespace}" in text
    revs, image = _state(kube, a)
    assert revs[2] == ("failed", "0.86.0") and image.endswith("v18.6.3")

    # rollback after the failed revision goes to the one that worked
    rc = main(["rollback", "--answers", str(ans), "--dry-run", *kc])
    text = _out(capsys)
    assert rc == 0 and "revision 2 (chart 0.86.0, failed) -> revision 1 (chart 0.83.3)" in text, text

    # the same upgrade again, rolling back by itself
    rc = main(["upgrade", "--answers", str(ans), "--to", "0.86.0", "--yes", "--rollback-on-failure",
               "--out", str(tmp_path / "u2"), *kc])
    text = _out(capsys)
    assert rc == 1, text
    assert "the upgrade failed" in text and "rolled back: " in text, text
    revs, image = _state(kube, a)
    last = max(revs)
    assert revs[last] == ("deployed", "0.83.3") and revs[last - 1] == ("failed", "0.86.0"), revs
    assert image.endswith("v18.6.3")


def test_values_diff_hides_secrets_and_diffs_config_text():
    old = {"runnerToken": "glrt-abcdefgh1234", "replicas": 1, "runners": {"config": "a\nb\nc\n", "tags": "x"}}
    new = {"replicas": 2, "runners": {"config": "a\nB\nc\n"}, "rbac": {"create": False}}
    lines = values_diff(old, new)
    assert "- runnerToken: (secret value, not shown)" in lines
    assert "glrt-abcdefgh1234" not in "\n".join(lines)
    assert "- replicas: 1" in lines and "+ replicas: 2" in lines
    assert "~ runners.config:" in lines and "    -b" in lines and "    +B" in lines
    assert '- runners.tags: "x"' in lines and "+ rbac.create: false" in lines
    assert values_diff(new, new) == []
    assert chart_changes("0.86.0", "0.86.0") == ["chart stays 0.86.0"]
    moved = chart_changes("0.83.3", "0.86.0", {"rbac": {"create": True}, "runners": {"jobNamespace": "jobs"}},
                          {"rbac": {"create": True}, "runners": {"jobNamespace": "jobs"}}, "ci")
    assert any("moves from namespace ci to jobs" in s for s in moved)
