"""Shared set-up for the lifecycle tests (bundle, uninstall, rollback/upgrade, adopt).

A real install: runner-wizard ``apply`` with the real helm and a real chart package from
``../shared/charts`` against the real kube-apiserver. The live checks are stubbed (their own
suite covers them); pods never need to become Ready: the tests assert on objects and Helm
revisions.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import charts
from tests.support.apply_env import private_helm_home
from wizard import apply as apply_mod
from wizard.kube import Kube

TOKEN = "glrt-t1_LifecycleSentinelTok9"
REG_USER = "sentinel-user"
REG_PASS = "Zq8sentinelRegPw41x"


def suffix() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def lifecycle_env(monkeypatch, tmp_path):
    """Real helm on PATH (private HELM_* homes), the local charts, checks stubbed, short verify."""
    binary = charts.helm_binary()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "helm").symlink_to(binary)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.setenv("RUNNER_WIZARD_CHART", str(charts.shared_charts_dir()))
    monkeypatch.setenv("RUNNER_WIZARD_VERIFY_TIMEOUT", "0")
    monkeypatch.setenv("RUNNER_TOKEN", TOKEN)
    monkeypatch.setenv("REG_USER", REG_USER)
    monkeypatch.setenv("REG_PASS", REG_PASS)
    for var in ("RUNNER_WIZARD_FAIL_AFTER_WRITES", "RUNNER_WIZARD_EXTERNAL_TOKEN", "KUBECONFIG"):
        monkeypatch.delenv(var, raising=False)
    private_helm_home(monkeypatch, tmp_path)
    monkeypatch.setattr(apply_mod, "_default_checks", lambda a, kubeconfig, context: [])
    return bindir / "helm"


def ca_pem(tmp_path: Path) -> Path:
    p = tmp_path / "gitlab-ca.pem"
    if not p.exists():
        from tests.support.tlsfactory import make_loopback_pki

        pki = make_loopback_pki(tmp_path / "pki")
        shutil.copy(pki.ca_pem_path, p)
    return p


def answers_file(tmp_path: Path, sfx: str, *, name: str | None = None, **sections: Any) -> Path:
    raw: dict[str, Any] = {
        "version": 1,
        "gitlab": {"url": "https://gitlab.example.test/", "token": "env:RUNNER_TOKEN",
                   "ca": {"file": str(ca_pem(tmp_path))}},
        "cluster": {"runner_namespace": f"ls-{sfx}", "jobs_namespace": f"lj-{sfx}"},
        "runner": {"release_name": "gitlab-runner", "replicas": 1, "chart_version": "0.86.0"},
        "host_aliases": [{"ip": "10.1.2.3", "hostnames": ["gitlab.example.test"]}],
        "registries": [{"host": "registry.example.test:5000", "username": "env:REG_USER",
                        "password": "env:REG_PASS", "credentials_via": "pull-secret"}],
        "node_runtime": "containerd",
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    if "create_runner" in raw["gitlab"]:
        raw["gitlab"].pop("token", None)
    p = tmp_path / (name or f"answers-{sfx}.yaml")
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


def install(envtest, answers: Path, out: Path) -> int:
    """``runner-wizard apply --yes``; exit 1 is expected (no kubelet: not verified)."""
    from wizard.cli import main

    rc = main(["apply", "--answers", str(answers), "--out", str(out), "--yes",
               "--kubeconfig", str(envtest.kubeconfig)])
    assert rc in (0, 1)
    return rc


def kube_for(envtest) -> Kube:
    return Kube.connect(str(envtest.kubeconfig))


def helm_releases(kube: Kube, ns: str, release: str) -> dict[int, dict]:
    """Revision -> decoded Helm release record."""
    from wizard.diagnose.collect import decode_helm_release

    secs = kube.get(f"/api/v1/namespaces/{ns}/secrets", labelSelector=f"owner=helm,name={release}")["items"]
    out = {}
    for s in secs:
        doc = decode_helm_release(s)
        assert doc is not None
        out[int(doc["version"])] = doc
    return out
