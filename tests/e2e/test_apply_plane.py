"""``runner-wizard apply`` with the REAL gitlab-runner chart on the kwok-backed control plane:
the release installs, the manager Deployment rolls out and verify says so; the GitLab half
stays honest (nothing in the cluster talks to the stand-in GitLab); and when the rollout
cannot finish, verify names the cause the controllers recorded."""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.support.apply_env import private_helm_home
from wizard import apply as apply_mod
from wizard import names
from wizard.answers import load
from wizard.cli import main
from wizard.kube import Kube

pytestmark = [pytest.mark.envtest, pytest.mark.slow]

CHART_VERSION = "0.86.0"
HELM_VERSION = "3.19.0"


def real_chart() -> Path | None:
    """``shared/charts/gitlab-runner-<v>.tgz`` in the repo root or any directory above it
    (``/work/shared`` here, ``../shared`` next to a fresh CI clone)."""
    here = Path(__file__).resolve()
    for d in here.parents:
        p = d / "shared" / "charts" / f"gitlab-runner-{CHART_VERSION}.tgz"
        if p.is_file():
            return p
    return None


def helm_binary() -> Path | None:
    cache = Path(os.environ.get("RUNNER_WIZARD_CACHE") or Path.home() / ".cache" / "runner-wizard")
    p = cache / "bin" / f"helm-v{HELM_VERSION}"
    return p if p.is_file() and os.access(p, os.X_OK) else None


@pytest.fixture
def real_chart_env(monkeypatch, tmp_path):
    chart, helm = real_chart(), helm_binary()
    if chart is None:
        pytest.fail(f"the real chart gitlab-runner-{CHART_VERSION}.tgz was not found in shared/charts above "
                    f"{Path(__file__).resolve().parents[2]}")
    if helm is None:
        pytest.skip(f"helm v{HELM_VERSION} is not built; run scripts/build-envtest-bins helm")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "helm").symlink_to(helm)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.setenv("RUNNER_WIZARD_CHART", str(chart))
    monkeypatch.setenv("RUNNER_WIZARD_VERIFY_TIMEOUT", "90")
    monkeypatch.setenv("RUNNER_WIZARD_VERIFY_GITLAB_TIMEOUT", "2")
    for var in ("RUNNER_WIZARD_FAIL_AFTER_WRITES", "RUNNER_WIZARD_EXTERNAL_TOKEN", "KUBECONFIG"):
        monkeypatch.delenv(var, raising=False)
    private_helm_home(monkeypatch, tmp_path)
    # the live checks have their own suite; here apply's own steps are under test
    monkeypatch.setattr(apply_mod, "_default_checks", lambda a, kubeconfig, context: [])
    return chart


def answers(tmp_path: Path, sfx: str, fake, tls_ca, **runner) -> Path:
    raw = {
        "version": 1,
        "gitlab": {"url": fake.url, "ca": {"file": str(tls_ca.ca_pem_path)},
                   "create_runner": {"api_token": "env:GL_API_TOKEN", "runner_type": "group_type",
                                     "group_id": 42, "description": "kwok runner", "tags": ["k8s"]}},
        "cluster": {"runner_namespace": f"rp-{sfx}", "jobs_namespace": f"rpj-{sfx}"},
        "runner": {"release_name": "gitlab-runner", "replicas": 2, **runner},
        "node_runtime": "containerd",
    }
    p = tmp_path / f"answers-{sfx}.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


def run(envtest, ans: Path, out: Path, capsys) -> tuple[int, str]:
    capsys.readouterr()
    rc = main(["apply", "--answers", str(ans), "--out", str(out), "--kubeconfig", str(envtest.kubeconfig), "--yes"])
    cap = capsys.readouterr()
    return rc, cap.out + cap.err


def test_real_chart_reaches_deployment_available_and_gitlab_half_stays_honest(
        envtest, tmp_path, capsys, monkeypatch, fake_gitlab, tls_ca, real_chart_env):
    fake_gitlab.add_user_token("glpat-reader", ["api"], groups={42: "owner"})
    monkeypatch.setenv("GL_API_TOKEN", "glpat-reader")
    sfx = uuid.uuid4().hex[:8]
    ans = answers(tmp_path, sfx, fake_gitlab, tls_ca)
    t0 = time.monotonic()
    rc, text = run(envtest, ans, tmp_path / "o", capsys)
    elapsed = time.monotonic() - t0
    if os.environ.get("RW_SHOW_APPLY"):
        print(text, file=sys.__stdout__)
    a = load(ans)
    ns, dep_name = a.cluster.runner_namespace, names.deployment(a)

    assert "installed Helm release" in text, text
    assert f"Deployment {ns}/{dep_name} available: 2/2 ready" in text, text
    # GitLab half: the manager pods are simulated, so no manager ever contacts GitLab: not seen, not a pass
    runner = next(iter(fake_gitlab.runners.values()))
    assert "runner manager connected to GitLab: NOT YET SEEN: not yet seen" in text, text
    assert f"no manager of runner #{runner.id} has contacted GitLab within 2s" in text
    assert "the manager's log says why" in text
    assert f"kubectl -n {ns} logs deployment/{dep_name} --tail=50" in text
    assert rc == 1 and "NOT VERIFIED" in text.split("Runner id:")[-1]
    # and it is true: GitLab holds no manager row and no contact (the wizard's own check left none)
    assert fake_gitlab.managers(runner.id) == [] and runner.contacted_at is None
    assert "Traceback" not in text
    assert runner.token not in text
    print(f"apply with the real chart until Deployment available: {elapsed:.1f}s", file=sys.__stdout__)

    kube = Kube.connect(str(envtest.kubeconfig))
    try:
        dep = kube.get(f"/apis/apps/v1/namespaces/{ns}/deployments/{dep_name}")
        assert dep["status"]["availableReplicas"] == 2
        assert dep["metadata"]["labels"]["chart"] == f"gitlab-runner-{CHART_VERSION.replace('+', '_')}"
        pods = kube.get(f"/api/v1/namespaces/{ns}/pods", labelSelector=f"app={dep_name}")["items"]
        assert len(pods) == 2
        for p in pods:
            assert p["status"]["phase"] == "Running"
            assert p["spec"]["serviceAccountName"] == a.cluster.manager_service_account
            assert p["spec"]["nodeName"]
    finally:
        kube.close()

    # a rerun changes nothing and reaches the same verdicts
    rc2, text2 = run(envtest, ans, tmp_path / "o", capsys)
    assert "Nothing changed" in text2, text2
    assert f"Deployment {ns}/{dep_name} available" in text2
    assert "NOT YET SEEN" in text2
    assert len(fake_gitlab.runners) == 1


def test_quota_blocked_manager_is_not_verified_with_its_cause(envtest, tmp_path, capsys, monkeypatch, fake_gitlab,
                                                               tls_ca, real_chart_env):
    fake_gitlab.add_user_token("glpat-reader", ["api"], groups={42: "owner"})
    monkeypatch.setenv("GL_API_TOKEN", "glpat-reader")
    # verify waits all of it (the pods never come): long enough for a loaded controller-manager to record
    # the quota refusal that the test expects as the cause
    monkeypatch.setenv("RUNNER_WIZARD_VERIFY_TIMEOUT", "10")
    sfx = uuid.uuid4().hex[:8]
    ans = answers(tmp_path, sfx, fake_gitlab, tls_ca, replicas=1)
    a = load(ans)
    # the real ResourceQuota controller and admission refuse every manager pod
    kube = Kube.connect(str(envtest.kubeconfig))
    try:
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": a.cluster.runner_namespace}})
        kube.apply({"apiVersion": "v1", "kind": "ResourceQuota",
                    "metadata": {"name": "no-pods", "namespace": a.cluster.runner_namespace},
                    "spec": {"hard": {"pods": "0"}}})
    finally:
        kube.close()
    rc, text = run(envtest, ans, tmp_path / "o", capsys)
    assert rc == 1
    assert "installed Helm release" in text, text
    assert "NOT VERIFIED" in text
    assert "0/1 ready" in text
    assert "Cause: ResourceQuota" in text and "(E26)" in text and "exceeded quota: no-pods" in text, text
    # GitLab is not asked about a manager that cannot run
    assert "NOT YET SEEN" not in text
