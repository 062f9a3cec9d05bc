"""``check --chart-version``: the checks judge the chart version the install would use."""

from __future__ import annotations

import yaml

from wizard import checks
from wizard.cli import main


def _answers(tmp_path):
    p = tmp_path / "a.yaml"
    p.write_text(yaml.safe_dump({"version": 1, "runner": {"chart_version": "0.86.0"},
                                 "gitlab": {"url": "https://gitlab.example.test/", "token": "env:RW_CV_TOKEN"}}))
    return p


def test_check_uses_the_chart_version_option(tmp_path, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(checks, "run_checks", lambda a, **kw: seen.append(a.runner.chart_version) or [])
    from wizard import kube

    monkeypatch.setattr(kube, "require_context", lambda *a, **kw: None)
    assert main(["check", "--answers", str(_answers(tmp_path)), "--chart-version", "0.83.3", "--json"]) == 0
    assert main(["check", "--answers", str(_answers(tmp_path)), "--json"]) == 0
    assert seen == ["0.83.3", "0.86.0"]


def test_a_bad_chart_version_is_bad_input(tmp_path, capsys):
    assert main(["check", "--answers", str(_answers(tmp_path)), "--chart-version", "not a version"]) == 2
    assert "--chart-version" in capsys.readouterr().err
