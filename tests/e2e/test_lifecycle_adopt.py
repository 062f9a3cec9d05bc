"""``runner-wizard adopt`` of installs made by hand with ``helm install`` of the real charts.

Three installs: a seed-000-like one on 0.86.0 (registration token in ``runnerRegistrationToken``,
``rbac.create`` with wildcard rules, the chart's ServiceAccount, ``certsSecretName`` with the key
``ca.crt``, ``tls_server_name``, host aliases on job pods only), one on 0.77.2 with ``runnerToken``
in the values and host aliases on the manager only, and a dry run of one on 0.83.3 with a key the
chart does not know.
"""

from __future__ import annotations

import base64
import subprocess
import tomllib

import pytest
import yaml

from tests.e2e.lifecycle_support import helm_releases, kube_for, lifecycle_env, suffix
from tests.support import charts
from wizard.cli import main

pytestmark = pytest.mark.envtest
__all__ = ["lifecycle_env"]

REG_TOKEN = "GR1348941SentinelRegistrationTok"
AUTH_TOKEN = "glrt-t2_AdoptSentinelToken0001"


def _out(capsys) -> str:
    c = capsys.readouterr()
    return c.out + c.err


def helm_install(envtest, ns: str, version: str, values: dict, tmp_path, release: str = "gitlab-runner") -> None:
    vf = tmp_path / f"values-{ns}.yaml"
    vf.write_text(yaml.safe_dump(values))
    proc = subprocess.run([str(charts.helm_binary()), "install", release, str(charts.chart_tgz(version)),
                           "-n", ns, "-f", str(vf), "--kubeconfig", str(envtest.kubeconfig)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def _secret(kube, ns: str, name: str, data: dict[str, str]) -> None:
    kube.create(f"/api/v1/namespaces/{ns}/secrets", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})


def _latest(kube, ns: str) -> dict:
    revs = helm_releases(kube, ns, "gitlab-runner")
    return revs[max(revs)]


def test_adopt_a_seed_000_like_install(envtest, tmp_path, capsys, lifecycle_env, k8s_ns, fake_gitlab, tls_ca,
                                       monkeypatch):
    rns, jns = k8s_ns("ad"), k8s_ns("adj")
    kube = kube_for(envtest)
    host = fake_gitlab.url.split("//", 1)[1].split(":", 1)[0].strip("[]")
    _secret(kube, rns, "gitlab-ca", {"ca.crt": tls_ca.ca_pem_path.read_text()})
    config = f"""
[[runners]]
  name = "k8s-autoscaling-runner"
  url = "{fake_gitlab.url}"
  tls_server_name = "gitlab.company.com"
  executor = "kubernetes"
  environment = ["GIT_SUBMODULE_STRATEGY=recursive"]
  [runners.kubernetes]
    namespace = "{jns}"
    image = "docker.io/library/alpine:3.22"
    service_account = "gitlab-runner"
    poll_timeout = 600
    cpu_request = "250m"
    memory_request = "256Mi"
    [[runners.kubernetes.volumes.secret]]
      name = "gitlab-ca"
      mount_path = "/etc/gitlab-runner/certs"
    [[runners.kubernetes.host_aliases]]
      ip = "10.9.8.7"
      hostnames = ["gitlab.company.com"]
"""
    helm_install(envtest, rns, "0.86.0", {
        "gitlabUrl": fake_gitlab.url, "runnerRegistrationToken": REG_TOKEN, "unregisterRunners": True,
        "replicas": 2, "certsSecretName": "gitlab-ca",
        "rbac": {"create": True, "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]},
        "serviceAccount": {"create": True, "name": "gitlab-runner"},
        "runners": {"name": "k8s-autoscaling-runner", "tags": "k8s,autoscaling", "runUntagged": True,
                    "config": config},
        "metrics": {"enabled": True}}, tmp_path)
    wildcard_roles = [r["metadata"]["name"] for r in
                      kube.get(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{rns}/roles")["items"]]
    assert wildcard_roles, "the chart made no Role"
    fake_gitlab.add_user_token("glpat-adopt-createonly", ["create_runner"], groups={42: "owner"})
    monkeypatch.setenv("GITLAB_API_TOKEN", "glpat-adopt-createonly")
    kc = ["--kubeconfig", str(envtest.kubeconfig)]
    save = tmp_path / "adopted" / "answers.yaml"
    capsys.readouterr()

    rc = main(["adopt", "--namespace", rns, "--save", str(save), "--group-id", "42", "--dry-run", *kc])
    text = _out(capsys)
    assert rc == 0, text
    for want in ("registration token in values runnerRegistrationToken", "POST /user/runners",
                 "tags [k8s, autoscaling], run_untagged true", "wildcard rules", f"the runner looks for {host}.crt",
                 f"missing in {jns}", "tls_server_name", "on jobs", "on manager+jobs", "made by the chart"):
        assert want in text, (want, text)
    assert REG_TOKEN not in text
    assert not save.exists() and len(helm_releases(kube, rns, "gitlab-runner")) == 1

    rc = main(["adopt", "--namespace", rns, "--save", str(save), "--group-id", "42", "--yes",
               "--out", str(tmp_path / "o"), *kc])
    text = _out(capsys)
    assert rc in (0, 1), text
    assert REG_TOKEN not in text
    doc = yaml.safe_load(save.read_text())
    assert REG_TOKEN not in save.read_text()
    assert doc["gitlab"]["create_runner"] == {"api_token": "env:GITLAB_API_TOKEN", "description": "k8s-autoscaling-runner",
                                              "tags": ["k8s", "autoscaling"], "run_untagged": True,
                                              "runner_type": "group_type", "group_id": 42}
    assert doc["cluster"]["jobs_namespace"] == jns and doc["runner"]["chart_version"] == "0.86.0"
    assert (save.parent / "gitlab-ca.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")

    # a runner with an authentication token, keeping tags and run-untagged
    (runner,) = fake_gitlab.runners.values()
    assert runner.tag_list == ["k8s", "autoscaling"] and runner.run_untagged and runner.token.startswith("glrt-")
    tok = kube.get(f"/api/v1/namespaces/{rns}/secrets/gitlab-runner-token")
    assert base64.b64decode(tok["data"]["runner-token"]).decode() == runner.token
    # the release now has runner-wizard's values: no token, no chart RBAC, the chart's SA handed over
    rel = _latest(kube, rns)
    assert rel["info"]["status"] == "deployed", rel["info"]
    vals = rel["config"]
    assert "runnerRegistrationToken" not in vals and vals["rbac"]["create"] is False
    assert vals["serviceAccount"] == {"create": False, "name": "gitlab-runner"}
    assert vals["runners"]["secret"] == "gitlab-runner-token" and "tls_server_name" not in vals["runners"]["config"]
    roles = kube.get(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{rns}/roles")["items"]
    assert [r["metadata"]["name"] for r in roles] == [], "the wildcard Role is still there"
    role = kube.get(f"/apis/rbac.authorization.k8s.io/v1/namespaces/{jns}/roles/gitlab-runner-manager")
    assert all("*" not in r["verbs"] and "*" not in r["resources"] for r in role["rules"])
    sa = kube.get(f"/api/v1/namespaces/{rns}/serviceaccounts/gitlab-runner")
    assert sa["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert "runner-wizard" in {m["manager"] for m in sa["metadata"]["managedFields"]}
    for ns in (rns, jns):
        ca = kube.get(f"/api/v1/namespaces/{ns}/secrets/gitlab-runner-gitlab-ca")
        assert list(ca["data"]) == [f"{host}.crt"]
    dep = kube.get(f"/apis/apps/v1/namespaces/{rns}/deployments/gitlab-runner")
    assert dep["spec"]["template"]["spec"]["serviceAccountName"] == "gitlab-runner"
    cm = kube.get(f"/api/v1/namespaces/{rns}/configmaps/gitlab-runner")
    kcfg = tomllib.loads(cm["data"]["config.template.toml"])["runners"][0]["kubernetes"]
    assert kcfg["host_aliases"] == [{"ip": "10.9.8.7", "hostnames": ["gitlab.company.com"]}]


def test_adopt_a_chart_only_install_with_runner_token_in_values(envtest, tmp_path, capsys, lifecycle_env, k8s_ns,
                                                                 monkeypatch):
    rns = k8s_ns("ad")
    kube = kube_for(envtest)
    helm_install(envtest, rns, "0.77.2", {
        "gitlabUrl": "https://gitlab.example.test/", "runnerToken": AUTH_TOKEN,
        "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["gitlab.example.test"]}]}, tmp_path)
    monkeypatch.setenv("RUNNER_TOKEN", AUTH_TOKEN)
    kc = ["--kubeconfig", str(envtest.kubeconfig)]
    save = tmp_path / "b.yaml"
    capsys.readouterr()
    rc = main(["adopt", "--namespace", rns, "--save", str(save), "--yes", "--out", str(tmp_path / "o"), *kc])
    text = _out(capsys)
    assert rc in (0, 1), text
    assert "authentication token in values runnerToken (plain text in the Helm release)" in text
    assert "10.1.2.3 gitlab.example.test on manager" in text and "10.1.2.3 on manager+jobs" in text
    assert AUTH_TOKEN not in text and AUTH_TOKEN not in save.read_text()
    doc = yaml.safe_load(save.read_text())
    assert doc["gitlab"]["token"] == "env:RUNNER_TOKEN" and doc["runner"]["chart_version"] == "0.77.2"
    rel = _latest(kube, rns)
    assert rel["info"]["status"] == "deployed" and rel["chart"]["metadata"]["version"] == "0.77.2"
    assert "runnerToken" not in rel["config"] and rel["config"]["runners"]["secret"] == "gitlab-runner-token"
    tok = kube.get(f"/api/v1/namespaces/{rns}/secrets/gitlab-runner-token")
    assert base64.b64decode(tok["data"]["runner-token"]).decode() == AUTH_TOKEN
    cm = kube.get(f"/api/v1/namespaces/{rns}/configmaps/gitlab-runner")
    kcfg = tomllib.loads(cm["data"]["config.template.toml"])["runners"][0]["kubernetes"]
    assert kcfg["host_aliases"] == [{"ip": "10.1.2.3", "hostnames": ["gitlab.example.test"]}]

    # adopting again changes nothing in the release
    revs = len(helm_releases(kube, rns, "gitlab-runner"))
    rc = main(["adopt", "--namespace", rns, "--save", str(save), "--yes", "--out", str(tmp_path / "o"), *kc])
    assert rc in (0, 1)
    assert len(helm_releases(kube, rns, "gitlab-runner")) == revs


def test_adopt_dry_run_of_an_install_with_its_own_token_secret_and_an_unknown_key(
        envtest, tmp_path, capsys, lifecycle_env, k8s_ns):
    rns = k8s_ns("ad")
    kube = kube_for(envtest)
    _secret(kube, rns, "my-runner-secret", {"runner-token": AUTH_TOKEN, "runner-registration-token": ""})
    helm_install(envtest, rns, "0.83.3", {"gitlabUrl": "https://gitlab.example.test/",
                                          "runners": {"secret": "my-runner-secret"},
                                          "rbac": {"create": True}, "imagePullPolicyy": "Always"}, tmp_path)
    save = tmp_path / "c.yaml"
    capsys.readouterr()
    rc = main(["adopt", "--namespace", rns, "--release", "gitlab-runner", "--save", str(save), "--dry-run",
               "--kubeconfig", str(envtest.kubeconfig)])
    text = _out(capsys)
    assert rc == 0, text
    assert "authentication token in Secret my-runner-secret" in text
    assert "values imagePullPolicyy (the chart ignores them)" in text
    assert "chart Role (rbac.create) with wildcard rules" in text
    assert "kubectl -n " + rns + " get secret my-runner-secret" in text
    assert AUTH_TOKEN not in text and not save.exists()
    assert len(helm_releases(kube, rns, "gitlab-runner")) == 1
