"""``runner-wizard uninstall`` on the real apiserver, the real helm/chart and the fake GitLab."""

from __future__ import annotations

import pytest

from tests.e2e.lifecycle_support import answers_file, helm_releases, install, kube_for, lifecycle_env, suffix
from wizard import names
from wizard.answers import load
from wizard.cli import main

pytestmark = pytest.mark.envtest
__all__ = ["lifecycle_env"]


def _ours(kube, a) -> dict[str, dict | None]:
    rns, jns = a.cluster.runner_namespace, a.cluster.jobs_namespace
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces"
    paths = {
        "sa-manager": f"/api/v1/namespaces/{rns}/serviceaccounts/{a.cluster.manager_service_account}",
        "sa-job": f"/api/v1/namespaces/{jns}/serviceaccounts/{a.cluster.job_service_account}",
        "role": f"{rbac}/{jns}/roles/{names.manager_role(a)}",
        "rolebinding": f"{rbac}/{jns}/rolebindings/{names.manager_role(a)}",
        "token": f"/api/v1/namespaces/{rns}/secrets/{names.token_secret(a)}",
        "ca-runner": f"/api/v1/namespaces/{rns}/secrets/{names.ca_secret(a)}",
        "ca-jobs": f"/api/v1/namespaces/{jns}/secrets/{names.ca_secret(a)}",
        "pull": f"/api/v1/namespaces/{jns}/secrets/{names.pull_secrets(a)[0]}",
        "deployment": f"/apis/apps/v1/namespaces/{rns}/deployments/{names.deployment(a)}",
        "configmap": f"/api/v1/namespaces/{rns}/configmaps/{names.configmap(a)}",
    }
    return {k: kube.get_or_none(p) for k, p in paths.items()}


def _gone_or_terminating(kube, ns: str) -> bool:
    obj = kube.get_or_none(f"/api/v1/namespaces/{ns}")
    return obj is None or bool(obj["metadata"].get("deletionTimestamp"))


def _out(capsys) -> str:
    c = capsys.readouterr()
    return c.out + c.err


def test_uninstall_with_the_runner_dry_run_first_then_everything_then_a_no_op(
        envtest, tmp_path, capsys, lifecycle_env, fake_gitlab, tls_ca, monkeypatch):
    runner = fake_gitlab.add_runner("group_type", group_id=42)
    monkeypatch.setenv("RUNNER_TOKEN", runner.token)
    sfx = suffix()
    ans = answers_file(tmp_path, sfx, gitlab={"url": fake_gitlab.url, "ca": {"file": str(tls_ca.ca_pem_path)}})
    install(envtest, ans, tmp_path / "out")
    a = load(ans)
    kube = kube_for(envtest)
    before = _ours(kube, a)
    assert all(before.values()), {k for k, v in before.items() if not v}
    assert helm_releases(kube, a.cluster.runner_namespace, "gitlab-runner")
    kc = ["--kubeconfig", str(envtest.kubeconfig)]
    capsys.readouterr()

    rc = main(["uninstall", "--answers", str(ans), "--dry-run", *kc])
    text = _out(capsys)
    assert rc == 0, text
    assert "dry run: nothing was changed" in text
    assert f"Helm release {a.cluster.runner_namespace}/gitlab-runner (chart gitlab-runner-0.86.0" in text
    assert f"Deployment {a.cluster.runner_namespace}/{names.deployment(a)}" in text
    assert f"Role {a.cluster.jobs_namespace}/{names.manager_role(a)} (created by runner-wizard)" in text
    assert f"Namespace {a.cluster.runner_namespace}: created by runner-wizard and holds nothing else" in text
    assert "DELETE /runners" in text and "DELETE /runners/managers" in text
    assert runner.token not in text
    assert _ours(kube, a).keys() == before.keys() and all(_ours(kube, a).values())
    assert runner.id in fake_gitlab.runners
    assert fake_gitlab.requests_to("/runners", "DELETE") == []

    # without a terminal and without --yes nothing happens
    rc = main(["uninstall", "--answers", str(ans), *kc])
    assert rc == 1 and "rerun with --yes" in _out(capsys)
    assert all(_ours(kube, a).values())

    rc = main(["uninstall", "--answers", str(ans), "--yes", *kc])
    text = _out(capsys)
    assert rc == 0, text
    assert f"uninstalled {a.cluster.runner_namespace}/gitlab-runner" in text
    assert runner.id not in fake_gitlab.runners
    assert [r[1] for r in fake_gitlab.requests_to("/runners", "DELETE")] == ["/api/v4/runners"]
    assert {k for k, v in _ours(kube, a).items() if v} == set()
    assert helm_releases(kube, a.cluster.runner_namespace, "gitlab-runner") == {}
    assert _gone_or_terminating(kube, a.cluster.runner_namespace)
    assert _gone_or_terminating(kube, a.cluster.jobs_namespace)

    rc = main(["uninstall", "--answers", str(ans), "--yes", *kc])
    text = _out(capsys)
    assert rc == 0, text
    assert "nothing to uninstall" in text and "already uninstalled" in text
    assert len(fake_gitlab.requests_to("/runners", "DELETE")) == 1


def test_uninstall_keep_runner_by_namespace_and_release_leaves_foreign_objects(
        envtest, tmp_path, capsys, lifecycle_env, fake_gitlab, k8s_ns, monkeypatch):
    runner = fake_gitlab.add_runner("group_type", group_id=42)
    monkeypatch.setenv("RUNNER_TOKEN", runner.token)
    sfx = suffix()
    jobs = k8s_ns("lj", labels={"team": "ci"})  # made by someone else before the install
    ans = answers_file(tmp_path, sfx, gitlab={"url": fake_gitlab.url}, cluster={"jobs_namespace": jobs})
    install(envtest, ans, tmp_path / "out")
    a = load(ans)
    rns = a.cluster.runner_namespace
    kube = kube_for(envtest)
    # someone else's objects: one in the jobs namespace, one in the runner namespace wearing our labels
    kube.create(f"/api/v1/namespaces/{jobs}/configmaps",
                {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "team-settings"}, "data": {"a": "b"}})
    kube.request("POST", f"/api/v1/namespaces/{rns}/secrets", query={"fieldManager": "kubectl-create"},
                 body={"apiVersion": "v1", "kind": "Secret",
                       "metadata": {"name": "look-alike", "labels": names.labels(a, "token")},
                       "stringData": {"x": "y"}})
    kc = ["--kubeconfig", str(envtest.kubeconfig)]
    capsys.readouterr()

    rc = main(["uninstall", "--namespace", rns, "--release", "gitlab-runner", "--keep-runner", "--yes", *kc])
    text = _out(capsys)
    assert rc == 0, text
    assert "is kept (--keep-runner)" in text
    assert f"Namespace {jobs}: kept: also written by" in text
    assert f"Namespace {rns}: kept: it holds other objects (Secret look-alike)" in text
    assert "Secret " + rns + "/look-alike (labelled as runner-wizard's but never written by field manager" in text
    assert runner.id in fake_gitlab.runners
    assert fake_gitlab.requests_to("/runners", "DELETE") == []
    left = {k for k, v in _ours(kube, a).items() if v}
    assert left == set(), left  # the jobs namespace was found through the RoleBinding, without answers
    assert kube.get_or_none(f"/api/v1/namespaces/{jobs}/configmaps/team-settings") is not None
    assert kube.get_or_none(f"/api/v1/namespaces/{rns}/secrets/look-alike") is not None
    for ns in (rns, jobs):
        assert not kube.get(f"/api/v1/namespaces/{ns}")["metadata"].get("deletionTimestamp"), ns

    rc = main(["uninstall", "--namespace", rns, "--release", "gitlab-runner", "--yes", *kc])
    text = _out(capsys)
    assert rc == 0 and "nothing to uninstall" in text, text
    assert "left alone: Secret " + rns + "/look-alike" in text
