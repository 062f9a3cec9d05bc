"""``runner-wizard diagnose --bundle``: a real install, sentinel secrets everywhere, none in the bundle."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import tarfile

import pytest

from tests.e2e.lifecycle_support import (REG_PASS, REG_USER, TOKEN, answers_file, install, kube_for,
                                         lifecycle_env, suffix)
from wizard import names
from wizard.answers import load
from wizard.cli import main
from wizard.diagnose import collect
from wizard.diagnose.bundle import base64_forms

pytestmark = pytest.mark.envtest
__all__ = ["lifecycle_env"]

API_TOKEN = "glpat-SentinelApiTokenXYZ12"


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def sentinels() -> dict[str, str]:
    """Every form a secret could leak in: the values, their base64, the docker ``auth`` field."""
    auth = b64(f"{REG_USER}:{REG_PASS}")
    out = {"token": TOKEN, "token-b64": b64(TOKEN), "password": REG_PASS, "password-b64": b64(REG_PASS),
           "auth": auth, "password-urlsafe": base64.urlsafe_b64encode(REG_PASS.encode()).decode().rstrip("="),
           "token-body": TOKEN.removeprefix("glrt-"), "api-token": API_TOKEN, "api-token-b64": b64(API_TOKEN)}
    return out


def _plant(kube, a, fullname: str) -> None:
    """Secrets where a careless bundle would pick them up: a manager pod's env and annotations, an
    event message, a Helm-values-like ConfigMap entry and a pod log."""
    rns = a.cluster.runner_namespace
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": f"{fullname}-7d9f-abcde", "namespace": rns, "labels": {"app": fullname},
                        "annotations": {"debug/registry-auth": b64(f"{REG_USER}:{REG_PASS}"),
                                        "debug/plain": f"pw is {REG_PASS} and {b64(REG_PASS)}"}},
           "spec": {"serviceAccountName": a.cluster.manager_service_account,
                    "containers": [{"name": "gitlab-runner", "image": "gitlab/gitlab-runner:alpine-v18.9.0",
                                    "env": [{"name": "SOME_VALUE", "value": TOKEN},
                                            {"name": "OTHER", "value": f"x{b64(TOKEN)}y"}]}]}}
    kube.create(f"/api/v1/namespaces/{rns}/pods", pod)
    ev = {"apiVersion": "v1", "kind": "Event",
          "metadata": {"name": f"{fullname}.sentinel", "namespace": rns},
          "involvedObject": {"kind": "Pod", "name": pod["metadata"]["name"], "namespace": rns},
          "reason": "Failed", "type": "Warning",
          "message": f"login to registry with {REG_USER}:{REG_PASS} failed; runner {TOKEN}; api {API_TOKEN}"}
    kube.create(f"/api/v1/namespaces/{rns}/events", ev)


def _log_source(kube):
    def read(namespace, pod, container, previous):
        if previous:
            return None
        return ("Configuration loaded builds=0\n"
                f"ERROR: Verifying runner... is removed runner={TOKEN[:8]} token={TOKEN}\n"
                f"WARNING: pulling with auth {b64(REG_USER + ':' + REG_PASS)} password {REG_PASS}\n"
                f"GET /api/v4/user PRIVATE-TOKEN: {API_TOKEN}\n")
    return read


def _members(path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_bundle_of_a_real_install_holds_what_diagnose_read_and_no_secret(envtest, tmp_path, capsys,
                                                                         lifecycle_env, monkeypatch):
    monkeypatch.setenv("GITLAB_API_TOKEN", API_TOKEN)
    sfx = suffix()
    ans = answers_file(tmp_path, sfx)
    install(envtest, ans, tmp_path / "out")
    a = load(ans)
    kube = kube_for(envtest)
    rns, jns = a.cluster.runner_namespace, a.cluster.jobs_namespace
    # the secrets really are in the cluster
    tok = kube.get(f"/api/v1/namespaces/{rns}/secrets/{names.token_secret(a)}")
    assert base64.b64decode(tok["data"]["runner-token"]).decode() == TOKEN
    pull = kube.get(f"/api/v1/namespaces/{jns}/secrets/{names.pull_secrets(a)[0]}")
    assert REG_PASS in base64.b64decode(pull["data"][".dockerconfigjson"]).decode()
    _plant(kube, a, names.deployment(a))
    monkeypatch.setattr(collect, "default_log_source", _log_source)
    capsys.readouterr()

    bundle = tmp_path / "support" / "bundle.tar.gz"
    rc = main(["diagnose", "--answers", str(ans), "--kubeconfig", str(envtest.kubeconfig),
               "--bundle", str(bundle)])
    text = capsys.readouterr()
    assert rc in (0, 1), text
    assert "support bundle written" in text.out + text.err
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    assert not [p for p in bundle.parent.iterdir() if p.name != bundle.name], "a temp file was left behind"

    files = _members(bundle)
    names_ = {n.split("/", 1)[1] for n in files}
    for want in ("README.txt", "index.json", "versions.json", "findings.json", "findings.txt",
                 "release/values.json", "release/config.template.toml", "objects/deployment.json",
                 "objects/configmap.json", "objects/manager-pods.json", "objects/secrets.json", "events.json",
                 "access-reviews.json", "answers.yaml", "objects/nodes.json"):
        assert want in names_, (want, sorted(names_))
    assert any(n.startswith("logs/") for n in names_)

    # no sentinel in any form in any member (nor in the member names)
    leaks = [(n, k) for n, data in files.items() for k, s in sentinels().items()
             if s in data.decode("utf-8", "replace") or s in n]
    assert leaks == []
    assert "[REDACTED]" in files["runner-wizard-bundle/events.json"].decode()
    assert "[REDACTED]" in files["runner-wizard-bundle/objects/manager-pods.json"].decode()

    # the index is complete and true
    index = json.loads(files["runner-wizard-bundle/index.json"])
    listed = {f["name"]: f for f in index["files"]}
    assert set(listed) | {"README.txt", "index.json"} == names_
    for name, entry in listed.items():
        data = files[f"runner-wizard-bundle/{name}"]
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    assert index["release"] == f"{rns}/gitlab-runner"

    # Secrets: key names only
    secrets = json.loads(files["runner-wizard-bundle/objects/secrets.json"])
    by_name = {(s["namespace"], s["name"]): s for s in secrets}
    assert by_name[(rns, names.token_secret(a))]["keys"] == ["runner-registration-token", "runner-token"]
    assert set(by_name[(rns, names.token_secret(a))]) == {"namespace", "name", "exists", "type", "keys"}
    assert by_name[(jns, names.pull_secrets(a)[0])]["keys"] == [".dockerconfigjson"]

    versions = json.loads(files["runner-wizard-bundle/versions.json"])
    assert versions["chart"] == "gitlab-runner-0.86.0"
    assert versions["kubernetes"].startswith("v1.")
    reviews = json.loads(files["runner-wizard-bundle/access-reviews.json"])
    assert any(r["resource"] == "pods/attach" and r["allowed"] for r in reviews)
    dep = json.loads(files["runner-wizard-bundle/objects/deployment.json"])
    assert dep["metadata"]["name"] == names.deployment(a) and "managedFields" not in dep["metadata"]

    # a second bundle to the same path replaces the first atomically
    before = bundle.stat().st_ino
    rc = main(["diagnose", "--answers", str(ans), "--kubeconfig", str(envtest.kubeconfig), "--bundle", str(bundle)])
    assert rc in (0, 1)
    assert bundle.stat().st_ino != before and stat.S_IMODE(bundle.stat().st_mode) == 0o600


def test_base64_forms_cover_every_alignment():
    secret = "Zq8sentinelRegPw41x"
    forms = base64_forms(secret)
    for prefix in ("", "a", "ab", "user:", "someone:"):
        enc = base64.b64encode((prefix + secret + ":tail").encode()).decode()
        assert any(f in enc for f in forms), prefix


def test_bundle_without_a_cluster_from_saved_logs(tmp_path, capsys):
    log = tmp_path / "job.log"
    log.write_text(f"fatal: could not read Username for 'https://gitlab-ci-token:{TOKEN}@gitlab.example.test'\n"
                   "ERROR: Job failed: x509: certificate signed by unknown authority\n")
    bundle = tmp_path / "b.tar.gz"
    rc = main(["diagnose", "--log", str(log), "--bundle", str(bundle)])
    assert rc in (0, 1)
    files = _members(bundle)
    assert "runner-wizard-bundle/findings.json" in files
    assert all(TOKEN not in d.decode("utf-8", "replace") for d in files.values())
