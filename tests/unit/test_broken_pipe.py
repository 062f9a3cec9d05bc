"""A reader that goes away early (``runner-wizard check ... | head -1``): every command ends
quietly with 141, the status a shell shows for git or kubectl killed by SIGPIPE; no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wizard.cli import EXIT_BROKEN_PIPE, main

REPO = Path(__file__).resolve().parents[2]


def _run_with_closed_stdout(tmp_path: Path, *argv: str, **env_extra: str) -> subprocess.CompletedProcess:
    """Run ``python -m runner_wizard ARGV`` with stdout a pipe whose reader has already gone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNNER_WIZARD_", "PYTEST"))}
    env.update(KUBECONFIG=str(tmp_path / "no-kubeconfig"), PYTHONPATH=str(REPO), NO_COLOR="1", **env_extra)
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run([sys.executable, "-m", "runner_wizard", *argv], cwd=REPO, env=env, stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)


def test_check_into_a_closed_pipe_exits_141_without_a_traceback(tmp_path, refused_port):
    answers = tmp_path / "a.yaml"
    answers.write_text(f"version: 1\ngitlab:\n  url: https://127.0.0.1:{refused_port}/\n  token: env:RW_TOKEN\n")
    p = _run_with_closed_stdout(tmp_path, "check", "--answers", str(answers), RW_TOKEN="glrt-t1_PipeTest000000")
    assert p.returncode == EXIT_BROKEN_PIPE == 141, p.stderr
    assert p.stderr == ""


def test_render_into_a_closed_pipe_exits_141_without_a_traceback(tmp_path):
    p = _run_with_closed_stdout(tmp_path, "render", "--answers", str(REPO / "tests/data/answers/seed001.yaml"),
                                "--out", str(tmp_path / "out"))
    assert p.returncode == 141, p.stderr
    assert p.stderr == ""


def test_help_into_a_closed_pipe_is_quiet(tmp_path):
    p = _run_with_closed_stdout(tmp_path, "--help")
    assert p.returncode in (0, 141) and p.stderr == ""


class _Gone:
    """A stdout whose reader left: every write and flush raises BrokenPipeError."""

    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self) -> None:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize("when", ["print", "flush"])
def test_any_command_whose_output_meets_a_closed_pipe_returns_141(monkeypatch, capsys, when):
    def command(args, opts):
        if when == "print":
            print("x" * 100)
        else:
            sys.stdout.write("one line\n")  # buffered; the departed reader shows at the final flush
        return 0

    monkeypatch.setattr(sys, "stdout", _Gone() if when == "print" else _BufferedGone())
    assert main(["render", "--answers", "x.yaml", "--out", "o"], {"render": command}) == 141
    assert capsys.readouterr().err == ""


class _BufferedGone(_Gone):
    def write(self, s: str) -> int:
        return len(s)
