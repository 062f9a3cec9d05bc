"""Sentinel secrets through every command and every output stream (issue 11, part 5).

Each test puts recognisable secret values (a runner token without any token prefix, so
that only the known-value redaction can catch it, a registry user and password) where the
wizard reads them, runs a command through the real CLI entry and asserts that neither the
values nor their base64 forms (alone, or the basic-auth ``user:password`` pair) appear in
stdout, stderr, JSON, the --log-file, the written files (secrets.yaml excepted: it exists
to hold them) or a child process' environment and argv.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml

from wizard import logsafe
from wizard.cli import main

TOKEN = "Sentinel0Runner0Token0Qx71"
REG_USER = "sentinel-user"
REG_PASS = "Sentinel0Registry0Pass0Zk42"
API_TOKEN = "Sentinel0Api0Token0Wv93xx"


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


FORBIDDEN = [TOKEN, REG_PASS, API_TOKEN, _b64(TOKEN), _b64(REG_PASS), _b64(f"{REG_USER}:{REG_PASS}"),
             _b64(TOKEN).rstrip("="), _b64(REG_PASS).rstrip("=")]


def assert_clean(text: str, where: str) -> None:
    for s in FORBIDDEN:
        assert s not in text, f"a secret ({s[:6]}…) leaked into {where}"


@pytest.fixture(autouse=True)
def _fresh(monkeypatch):
    """Start every test with nothing registered, so redaction must come from this run."""
    logsafe.forget_secrets()
    for k in [k for k in os.environ if k.startswith("RUNNER_WIZARD_DRAFT_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("RW_TOKEN", TOKEN)
    monkeypatch.setenv("RW_REG_USER", REG_USER)
    monkeypatch.setenv("RW_REG_PASS", REG_PASS)
    yield
    logsafe.forget_secrets()


def _answers(tmp_path: Path, gitlab_url: str = "https://gitlab.company.com/", ca: str | None = None,
             **gitlab) -> Path:
    raw = {"version": 1,
           "gitlab": {"url": gitlab_url, "token": "env:RW_TOKEN", **gitlab},
           "registries": [{"host": "127.0.0.1:9", "username": "env:RW_REG_USER", "password": "env:RW_REG_PASS"},
                          {"host": "registry.company.com", "username": REG_USER, "password": "file:regpass"}]}
    if ca:
        raw["gitlab"]["ca"] = {"file": ca}
    (tmp_path / "regpass").write_text(REG_PASS + "\n")
    p = tmp_path / "answers.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


def _streams(capsys, log: Path) -> dict[str, str]:
    cap = capsys.readouterr()
    return {"stdout": cap.out, "stderr": cap.err, "log file": log.read_text() if log.exists() else ""}


def test_render_with_secrets_keeps_them_in_secrets_yaml_only(tmp_path, capsys):
    out, log = tmp_path / "out", tmp_path / "rw.log"
    rc = main(["--log-file", str(log), "render", "--answers", str(_answers(tmp_path)), "--out", str(out),
               "--with-secrets"])
    streams = _streams(capsys, log)
    assert rc == 0, streams
    # the sentinels were in play: secrets.yaml holds them (base64)
    sec = (out / "secrets.yaml").read_text()
    assert _b64(TOKEN) in sec and stat.S_IMODE((out / "secrets.yaml").stat().st_mode) == 0o600
    for name, text in streams.items():
        assert_clean(text, name)
    for p in out.rglob("*"):
        if p.is_file() and p.name != "secrets.yaml":
            assert_clean(p.read_text(), str(p.relative_to(out)))
    assert "wrote" in streams["log file"] and "values.yaml" in streams["log file"]
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


@pytest.mark.parametrize("as_json", [False, True])
def test_check_output_json_and_log(fake_gitlab, tmp_path, capsys, as_json, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    runner = fake_gitlab.add_runner(token=TOKEN)
    log = tmp_path / "rw.log"
    argv = ["--log-file", str(log), "check", "--answers",
            str(_answers(tmp_path, fake_gitlab.url, ca=fake_gitlab.ca_pem_path))] + (["--json"] if as_json else [])
    rc = main(argv)
    streams = _streams(capsys, log)
    assert rc == 1  # no cluster: cluster checks fail
    assert fake_gitlab.requests_to("/runners/verify", "POST"), "the token was never used"
    if as_json:
        doc = json.loads(streams["stdout"])
        assert any(r["id"] == "gitlab.token.valid" and r["status"] == "pass" for r in doc["results"]), doc
    for name, text in streams.items():
        assert_clean(text, name)
    assert "check gitlab.token.valid: pass" in streams["log file"]
    assert runner.id


@pytest.mark.parametrize("ref", [f"env:{TOKEN}", f"file:{TOKEN}", f"env:{TOKEN}\n", f"file:./{TOKEN}"])
def test_reference_errors_never_echo_a_secret_looking_text(tmp_path, capsys, ref):
    p = tmp_path / "a.yaml"
    p.write_text(yaml.safe_dump({"version": 1, "gitlab": {"url": "https://g.company.com/", "token": ref}}))
    rc = main(["render", "--answers", str(p), "--out", str(tmp_path / "out"), "--with-secrets"])
    err = capsys.readouterr().err
    assert rc == 2 and "gitlab.token" in err
    assert TOKEN not in err
    assert not (tmp_path / "out").exists()


def test_wizard_drafts_stay_out_of_os_environ_and_results(fake_gitlab, tmp_path):
    """Tokens typed in the TUI are held in memory and passed explicitly (no RUNNER_WIZARD_DRAFT_*)."""
    from screens.services import WizardState
    from wizard import steps as st
    from wizard.answers import load
    from wizard.checks import run_checks
    from wizard.results import report_json

    fake_gitlab.add_runner(token=TOKEN)
    before = dict(os.environ)
    a = load(_answers(tmp_path, fake_gitlab.url, ca=fake_gitlab.ca_pem_path))
    logsafe.forget_secrets()
    state = WizardState(raw=st.initial_raw(a), answers_path=tmp_path / "answers.yaml")
    st.set_value(state.raw, "gitlab.token", "env:NOT_SET_ANYWHERE")
    state.drafts["gitlab.token"] = TOKEN
    answers = state.answers(for_checks=True)
    assert dict(os.environ) == before
    assert not any(k.startswith("RUNNER_WIZARD_DRAFT_") for k in os.environ)
    assert answers.gitlab.token is not None and answers.gitlab.token.resolve("gitlab.token") == TOKEN
    assert TOKEN not in repr(answers)
    results = run_checks(answers, ids=["gitlab.*"])
    assert {r.id: r.status.value for r in results}["gitlab.token.valid"] == "pass"
    text = report_json(results) + "\n".join(f"{r.title} {r.detail} {r.fix}" for r in results)
    assert_clean(text, "check results shown by the TUI")
    # saving writes the reference, never the value
    saved = state.save(write_secrets=False)
    assert_clean(saved[0].read_text(), "the answers file")


def test_helm_child_gets_a_minimal_environment(tmp_path, monkeypatch):
    from wizard import helm

    record = tmp_path / "record"
    fake = tmp_path / "bin" / "helm"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\nenv > {record}.env\necho \"$@\" > {record}.argv\necho '[]'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("RUNNER_TOKEN", TOKEN)
    monkeypatch.setenv("HELM_KUBETOKEN", REG_PASS)
    monkeypatch.setenv("HELM_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("RUNNER_WIZARD_DRAFT_GITLAB_TOKEN", API_TOKEN)
    proc = helm.run([str(fake), "list", "-o", "json"])
    assert proc.returncode == 0
    env = dict(line.split("=", 1) for line in Path(f"{record}.env").read_text().splitlines() if "=" in line)
    assert_clean(Path(f"{record}.env").read_text(), "helm's environment")
    assert env["HELM_CACHE_HOME"] == str(tmp_path / "cache") and "PATH" in env
    assert not any(k.startswith("RUNNER_") for k in env)


def test_redaction_knows_base64_forms_at_any_alignment():
    logsafe.register_secret(REG_PASS, user=REG_USER)
    for pad in range(3):
        blob = base64.b64encode(b"x" * pad + f"{REG_USER}:{REG_PASS}, again {REG_PASS} ".encode()).decode()
        assert REG_PASS not in logsafe.redact_known(blob)
        assert all(f not in logsafe.redact_known(blob) for f in FORBIDDEN)


def test_stdout_wrapper_redacts_what_a_command_prints(tmp_path, capsys, monkeypatch):
    def leaky(args, opts):
        from wizard.answers import load

        load(args.answers)  # registers every secret it can read
        print(f"oops {TOKEN} {_b64(REG_USER + ':' + REG_PASS)}")
        print(f"and {REG_PASS}", file=sys.stderr)
        return 0

    assert main(["render", "--answers", str(_answers(tmp_path)), "--out", str(tmp_path / "o")], {"render": leaky}) == 0
    cap = capsys.readouterr()
    assert_clean(cap.out + cap.err, "stdout/stderr")
    assert "[REDACTED]" in cap.out and "[REDACTED]" in cap.err
