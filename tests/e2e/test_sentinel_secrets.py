"""Sentinel secrets through ``apply`` (with a fake ``helm`` on PATH that records its environment
and argv) and ``diagnose`` (with the answers that name them), against a real kube-apiserver.

The unit half (render, check, the TUI's drafts, the stream wrapper) is
tests/unit/test_secrets_sentinel.py; this file uses the same sentinels and assertion.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_diagnose import RELEASE, Install, build, event
from tests.support.apply_env import private_helm_home
from tests.unit.test_secrets_sentinel import REG_PASS, REG_USER, TOKEN, assert_clean
from wizard import apply as apply_mod
from wizard import logsafe, names
from wizard.answers import load
from wizard.cli import main
from wizard.kube import Kube

pytestmark = pytest.mark.envtest

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "tests" / "data" / "fault-chart" / "gitlab-runner"
"""A local chart that exists (--chart / RUNNER_WIZARD_CHART is checked); the fake helm never reads it."""

FAKE_HELM = """#!/bin/sh
# records what runner-wizard gives helm, answers like helm would
{{ echo "--- argv"; printf '%s\\n' "$@"; echo "--- env"; env; }} >> "{record}"
case "$1" in
  repo) echo '[]' ;;
  list) echo '[]' ;;
  get) echo '{{}}' ;;
  upgrade) echo "Release \\"$3\\" has been upgraded."; echo "STATUS: deployed"; echo "REVISION: 1" ;;
esac
exit 0
"""


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    logsafe.forget_secrets()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "helm-record"
    helm = bin_dir / "helm"
    helm.write_text(FAKE_HELM.format(record=record))
    helm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("RUNNER_WIZARD_VERIFY_TIMEOUT", "1")
    monkeypatch.setenv("RUNNER_WIZARD_CHART", str(CHART))
    monkeypatch.setenv("RUNNER_TOKEN", TOKEN)
    monkeypatch.setenv("RW_REG_USER", REG_USER)
    monkeypatch.setenv("RW_REG_PASS", REG_PASS)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    private_helm_home(monkeypatch, tmp_path)
    monkeypatch.setattr(apply_mod, "_default_checks", lambda a, kubeconfig, context: [])
    yield
    logsafe.forget_secrets()


def _answers(tmp_path: Path, sfx: str, rns: str | None = None, jns: str | None = None) -> Path:
    raw = {
        "version": 1,
        "gitlab": {"url": "https://gitlab.example.test/", "token": "env:RUNNER_TOKEN"},
        "cluster": {"runner_namespace": rns or f"ss-{sfx}", "jobs_namespace": jns or f"sj-{sfx}"},
        "runner": {"release_name": RELEASE},
        "registries": [{"host": "registry.example.test:5000", "username": "env:RW_REG_USER",
                        "password": "env:RW_REG_PASS"}],
        "node_runtime": "containerd",
    }
    p = tmp_path / f"answers-{sfx}.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


def test_apply_with_fake_helm_keeps_every_secret_out_of_every_stream(envtest, tmp_path, capsys):
    sfx = uuid.uuid4().hex[:8]
    ans, out, log = _answers(tmp_path, sfx), tmp_path / "out", tmp_path / "apply.log"
    rc = main(["--log-file", str(log), "apply", "--answers", str(ans), "--out", str(out),
               "--kubeconfig", str(envtest.kubeconfig), "--yes"])
    cap = capsys.readouterr()
    record = (tmp_path / "helm-record").read_text()
    assert "upgrade\n--install" in record, (rc, cap.out, cap.err)
    # the sentinels were in play: the cluster holds them
    a = load(ans)
    kube = Kube.connect(str(envtest.kubeconfig))
    sec = kube.get(f"/api/v1/namespaces/{a.cluster.runner_namespace}/secrets/{names.token_secret(a)}")
    assert base64.b64decode(sec["data"]["runner-token"]).decode() == TOKEN
    pull = kube.get(f"/api/v1/namespaces/{a.cluster.jobs_namespace}/secrets/{names.pull_secret(a, a.registries[0])}")
    assert REG_PASS in base64.b64decode(pull["data"][".dockerconfigjson"]).decode()
    kube.close()
    assert_clean(cap.out, "apply stdout")
    assert_clean(cap.err, "apply stderr")
    assert_clean(log.read_text(), "apply --log-file")
    assert_clean(record, "helm's argv and environment")
    env_lines = record.split("--- env\n", 1)[1].splitlines()
    assert not any(line.startswith(("RUNNER_", "RW_")) for line in env_lines), env_lines
    for p in out.rglob("*"):
        if p.is_file() and p.name != "secrets.yaml":
            assert_clean(p.read_text(errors="replace"), f"apply output file {p.name}")
    text = log.read_text()
    assert "running helm upgrade --install" in text or "running " in text
    assert "apply [apply]" in text and "exit " in text
    assert oct(os.stat(log).st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("as_json", [False, True])
def test_diagnose_with_answers_never_prints_their_secrets(envtest, k8s_ns, tmp_path, capsys, as_json):
    b = build(envtest, k8s_ns, Install(token_data={"runner-token": TOKEN, "runner-registration-token": ""}))
    basic = base64.b64encode(f"{REG_USER}:{REG_PASS}".encode()).decode()
    event(b.kube, b.ns, f"{RELEASE}-7d9f8-abcde", "Failed",
          f'Failed to pull image "registry.example.test:5000/x": auth {basic} with {REG_PASS} token {TOKEN}: '
          "x509: certificate signed by unknown authority")
    ans = _answers(tmp_path, "d", rns=b.ns, jns=b.jns)
    log = tmp_path / "diagnose.log"
    capsys.readouterr()
    rc = main(["--log-file", str(log), "diagnose", "--kubeconfig", b.kubeconfig, "--answers", str(ans),
               "--namespace", b.ns, "--release", RELEASE] + (["--json"] if as_json else []))
    cap = capsys.readouterr()
    assert rc in (0, 1), cap.err
    if as_json:
        json.loads(cap.out)
    assert_clean(cap.out, "diagnose stdout")
    assert_clean(cap.err, "diagnose stderr")
    assert_clean(log.read_text(), "diagnose --log-file")
    assert "diagnose: " in log.read_text()


def test_diagnose_of_a_release_that_does_not_exist_fails(envtest, k8s_ns, capsys):
    ns = k8s_ns("rwn")
    rc = main(["diagnose", "--kubeconfig", str(envtest.kubeconfig), "--namespace", ns, "--release", "nope"])
    err = capsys.readouterr().err
    assert rc == 2 and "does not exist" in err, err


def test_apply_with_an_unreadable_secret_is_bad_input_and_changes_nothing(envtest, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RW_REG_PASS")
    sfx = uuid.uuid4().hex[:8]
    ans, out = _answers(tmp_path, sfx), tmp_path / "out"
    rc = main(["apply", "--answers", str(ans), "--out", str(out), "--kubeconfig", str(envtest.kubeconfig), "--yes"])
    err = capsys.readouterr().err
    assert rc == 2 and "registries[0].password" in err and "RW_REG_PASS" in err, err
    assert not out.exists()
    assert not (tmp_path / "helm-record").exists()
    kube = Kube.connect(str(envtest.kubeconfig))
    assert kube.get_or_none(f"/api/v1/namespaces/ss-{sfx}") is None
    kube.close()


def test_interrupted_apply_says_what_it_already_did(envtest, tmp_path, capsys, monkeypatch):
    """Ctrl-C in the middle of apply: 130, "interrupted", and the objects already written."""
    real = apply_mod._Writes.__call__

    def interrupt_on_third(self, what):
        real(self, what)
        if self.report.writes == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(apply_mod._Writes, "__call__", interrupt_on_third)
    sfx = uuid.uuid4().hex[:8]
    rc = main(["apply", "--answers", str(_answers(tmp_path, sfx)), "--out", str(tmp_path / "out"),
               "--kubeconfig", str(envtest.kubeconfig), "--yes"])
    err = capsys.readouterr().err
    assert rc == 130, err
    assert "interrupted" in err and "after 3 write(s)" in err, err
    assert f"Namespace ss-{sfx}" in err and "run the same apply again" in err.lower(), err
