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
