"""The command line of contract section 1: help, version, exit codes."""

import subprocess
import sys

import pytest

from wizard import __version__
from wizard.cli import main

COMMANDS = ["tui", "prompt", "render", "check", "apply", "diagnose"]
GLOBALS = ["--kubeconfig", "--context", "--log-file", "--version", "--help"]


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help_and_global_options(command, capsys):
    argv = ([command] if command else []) + ["--help"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for opt in GLOBALS:
        assert opt in out, f"{opt} missing from `{' '.join(argv)}`"


@pytest.mark.parametrize("command", COMMANDS)
def test_version_on_every_command(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--version"])
    assert exc.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_bad_flag_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["render", "--no-such-flag"])
    assert exc.value.code == 2


def test_missing_answers_file_exits_2_and_names_it(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["render", "--answers", str(tmp_path / "nope.yaml"), "--out", str(out)])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--answers" in err and "nope.yaml" in err
    assert not out.exists()


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "wizard.cli", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and __version__ in r.stdout


# --------------------------------------------------------------------------- Ctrl-C (issue 11)

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


def _child_env(tmp_path, **extra):
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNER_WIZARD_", "PYTEST"))}
    env.update(KUBECONFIG=str(tmp_path / "no-kubeconfig"), PYTHONPATH=str(REPO), NO_COLOR="1", **extra)
    return env


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.3, 1.0])
def test_sigint_during_check_exits_130_and_says_interrupted(blackhole, tmp_path, delay):
    """SIGINT while checks wait on a hung endpoint: 130 and "interrupted", no traceback, at any moment."""
    import signal
    import time

    answers = tmp_path / "a.yaml"
    answers.write_text(f"version: 1\ngitlab:\n  url: {blackhole.url}\n  token: env:RW_TOKEN\n")
    proc = subprocess.Popen([sys.executable, "-m", "wizard.cli", "check", "--answers", str(answers)], cwd=REPO,
                            env=_child_env(tmp_path, RW_TOKEN="glrt-t1_InterruptTest0000"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while blackhole.accepted == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert blackhole.accepted, "check never reached the endpoint"
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert "interrupted" in err
    assert "Traceback" not in err + out


def test_keyboard_interrupt_in_command_returns_130(monkeypatch, capsys):
    def boom(args, opts):
        raise KeyboardInterrupt

    assert main(["render", "--answers", "x.yaml", "--out", "o"], {"render": boom}) == 130
    assert "interrupted" in capsys.readouterr().err


def test_diagnose_fails_when_the_api_server_is_unreachable(tmp_path, refused_port, capsys):
    kc = tmp_path / "kubeconfig"
    kc.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{refused_port}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: abc}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    rc = main(["--kubeconfig", str(kc), "diagnose", "--namespace", "ci-system", "--release", "gitlab-runner"])
    err = capsys.readouterr().err
    assert rc == 1 and "cannot reach the cluster" in err, err
