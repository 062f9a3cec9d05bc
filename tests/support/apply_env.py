"""The environment an apply test runs in: no helm on PATH unless the test puts it there, a short
rollout wait, the runner token in RUNNER_TOKEN, none of the caller's chart, token or kubeconfig
settings, and helm's cache/config/data in the test's own folder."""

from __future__ import annotations

from pathlib import Path

import pytest


def isolate_apply_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str, *, verify_timeout: str) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("RUNNER_WIZARD_VERIFY_TIMEOUT", verify_timeout)
    monkeypatch.setenv("RUNNER_TOKEN", token)
    for var in ("RUNNER_WIZARD_CHART", "RUNNER_WIZARD_EXTERNAL_TOKEN", "KUBECONFIG"):
        monkeypatch.delenv(var, raising=False)
    private_helm_home(monkeypatch, tmp_path)


def private_helm_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """helm's cache, config and data in the test's own folder: no repositories or plugins of the caller's."""
    for var, sub in (("HELM_CACHE_HOME", "cache"), ("HELM_CONFIG_HOME", "config"), ("HELM_DATA_HOME", "data")):
        monkeypatch.setenv(var, str(tmp_path / "helm" / sub))
