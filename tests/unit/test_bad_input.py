"""Bad input, whole (issue 11, part 3): every input a user can produce ends with exit 2, the
field path and the fix, nothing written, no traceback, no hang, bounded output.

Two halves:

* named regressions, one per class measured in the issue (and a few neighbours), each run
  through the real CLI entry (``wizard.cli.main`` with argv, in-process);
* hypothesis fuzzing that mutates the valid answers files in ``tests/data/answers`` field by
  field (and byte by byte) with hostile values, through ``render`` and ``check``.
"""

from __future__ import annotations

import contextlib
import copy
import io
import ipaddress
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from wizard.cli import main

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = ROOT / "tests" / "data" / "answers"
SEEDS = sorted(ANSWERS.glob("*.yaml"))
MIN = "version: 1\ngitlab:\n  url: https://gitlab.company.com/\n  token: env:RW_TOKEN\n"
TOKEN = "glrt-t1_BadInputToken000001"
FIELD = re.compile(r"^(runner-wizard: (\S+: )?|  - )(?P<path>[^\s:]+): \S", re.M)
"""An error line names a field path: ``runner-wizard: [FILE: ]PATH: message`` or ``  - PATH: message``."""
MAX_OUTPUT = 64 * 1024


def _cli(argv: list[str]) -> tuple[Any, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse: usage errors
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def _written(out: Path) -> list[Path]:
    if not out.is_dir():
        return []
    return [p for p in out.rglob("*") if not p.is_dir() or any(p.iterdir())]


def assert_bad_input(rc: Any, out: str, err: str, out_dir: Path | None = None, field: str | None = None,
                     before: list[Path] | None = None) -> None:
    assert rc == 2, (rc, out[-2000:], err[-2000:])
    assert "Traceback" not in out + err
    assert len(out) + len(err) < MAX_OUTPUT
    assert FIELD.search(err), err
    if field is not None:
        assert field in err, err
    assert "nothing was written or applied." in err
    if out_dir is not None:
        assert sorted(_written(out_dir)) == sorted(before or []), "files were written for bad input"


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("RW_TOKEN", TOKEN)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.chdir(tmp_path)


def _render(tmp_path: Path, text: str | bytes | None = None, *extra: str, answers: Path | None = None,
            out: Path | None = None) -> tuple[Any, str, str, Path]:
    a = answers or tmp_path / "answers.yaml"
    if text is not None:
        a.write_bytes(text if isinstance(text, bytes) else text.encode())
    o = out if out is not None else tmp_path / "out"
    argv = ["render", "--answers", str(a)] + ([] if "--out" in extra else ["--out", str(o)]) + list(extra)
    return (*_cli(argv), o)


# --------------------------------------------------------------------------- named regressions

# (class name, answers text, field path expected in the message)
TEXT_CASES = [
    ("trailing newline in url", 'version: 1\ngitlab:\n  url: "https://gitlab.company.com/\\n"\n  token: env:RW_TOKEN\n',
     "gitlab.url"),
    ("trailing newline in namespace", MIN + 'cluster:\n  runner_namespace: "ci-system\\n"\n', "cluster.runner_namespace"),
    ("trailing newline in jobs namespace", MIN + 'cluster:\n  jobs_namespace: "ci-jobs\\n"\n', "cluster.jobs_namespace"),
    ("trailing newline in release name", MIN + 'runner:\n  release_name: "gitlab-runner\\n"\n', "runner.release_name"),
    ("trailing newline in runner name", MIN + 'runner:\n  name: "k8s\\n"\n', "runner.name"),
    ("trailing newline in service account", MIN + 'cluster:\n  manager_service_account: "sa\\n"\n',
     "cluster.manager_service_account"),
    ("trailing newline in quantity", MIN + 'runner:\n  resources: {memory_limit: "1Gi\\n"}\n',
     "runner.resources.memory_limit"),
    ("trailing newline in chart version", MIN + 'runner:\n  chart_version: "0.86.0\\n"\n', "runner.chart_version"),
    ("trailing newline in image", MIN + 'runner:\n  job_image: "alpine:3\\n"\n', "runner.job_image"),
    ("trailing newline in host name", MIN + 'host_aliases:\n  - {ip: 10.0.0.5, hostnames: ["g.company.com\\n"]}\n',
     "host_aliases[0].hostnames[0]"),
    ("trailing newline in ip", MIN + 'host_aliases:\n  - {ip: "10.0.0.5\\n", hostnames: [g.company.com]}\n',
     "host_aliases[0].ip"),
    ("trailing newline in registry", MIN + 'registries:\n  - {host: "r.company.com\\n"}\n', "registries[0].host"),
    ("trailing newline in environment", MIN + 'runner:\n  environment: ["A=b\\nB=c"]\n', "runner.environment[0]"),
    ("trailing newline in tag", 'version: 1\ngitlab:\n  url: https://g.company.com/\n  create_runner:\n'
     '    api_token: env:RW_TOKEN\n    group_id: 1\n    tags: ["a\\n"]\n', "gitlab.create_runner.tags[0]"),
    ("trailing newline in reference", MIN.replace("env:RW_TOKEN", '"env:RW_TOKEN\\n"'), "gitlab.token"),
    ("port 0", MIN.replace("gitlab.company.com/", "gitlab.company.com:0/"), "gitlab.url"),
    ("port 65536", MIN.replace("gitlab.company.com/", "gitlab.company.com:65536/"), "gitlab.url"),
    ("registry port 0", MIN + "registries:\n  - {host: 'r.company.com:0'}\n", "registries[0].host"),
    ("version true", MIN.replace("version: 1", "version: true"), "version"),
    ("version 1.0", MIN.replace("version: 1", "version: 1.0"), "version"),
    ("version '1'", MIN.replace("version: 1", "version: '1'"), "version"),
    ("duplicate key hiding a literal token", MIN + "  token: glrt-literal0000000000\n", "gitlab.token"),
    ("duplicate top-level key", MIN + "version: 1\n", "version"),
    ("control character in name", MIN + 'runner:\n  name: "k8s\\x1b[31m"\n', "runner.name"),
    ("bidi override in name", MIN + 'runner:\n  name: "k8s\\u202etxt.exe"\n', "runner.name"),
    ("zero width in namespace", MIN + 'cluster:\n  runner_namespace: "ci\\u200bsystem"\n', "cluster.runner_namespace"),
    ("NUL in value", MIN + 'runner:\n  name: "a\\0b"\n', "runner.name"),
    ("control character in context", MIN + 'cluster:\n  context: "prod\\ndev"\n', "cluster.context"),
    ("control character in description", 'version: 1\ngitlab:\n  url: https://g.company.com/\n  create_runner:\n'
     '    api_token: env:RW_TOKEN\n    group_id: 1\n    description: "a\\u2028b"\n', "gitlab.create_runner.description"),
    ("ipv6 zone id", MIN + 'host_aliases:\n  - {ip: "fe80::1%eth0", hostnames: [g.company.com]}\n', "host_aliases[0].ip"),
    ("ipv6 zone id in url", MIN.replace("gitlab.company.com/", "[fe80::1%25eth0]/"), "gitlab.url"),
    ("ipv6 zone id in registry", MIN + "registries:\n  - {host: '[fe80::1%eth0]:5000'}\n", "registries[0].host"),
    ("one host name, two IPs", MIN + "host_aliases:\n  - {ip: 10.0.0.1, hostnames: [g.company.com]}\n"
     "  - {ip: 10.0.0.2, hostnames: [G.Company.com]}\n", "host_aliases[1].hostnames[0]"),
    ("same registry twice", MIN + "registries:\n  - {host: r.company.com:5000}\n  - {host: R.company.com:5000}\n",
     "registries[1].host"),
    ("same registry twice (ipv6 spelling)", MIN + "registries:\n  - {host: '[fd00::1]:5000'}\n"
     "  - {host: '[fd00:0::1]:5000'}\n", "registries[1].host"),
    ("alias bomb", "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n", "a: uses a YAML anchor"),
    ("anchor on a value", MIN + "runner:\n  name: &n x\n", "runner.name"),
    ("deep nesting (flow)", "version: 1\nx: " + "[" * 50000 + "]" * 50000 + "\n", "x"),
    ("deep nesting (block)", "version: 1\n" + "".join(" " * i + f"k{i}:\n" for i in range(200)), "k0"),
    ("literal token", MIN.replace("env:RW_TOKEN", "glrt-AbCdEf0123456789"), "gitlab.token"),
    ("env: with a token", MIN.replace("env:RW_TOKEN", "env:glrt-AbCdEf0123456789"), "gitlab.token"),
    ("env: with a 40-character literal", MIN.replace("env:RW_TOKEN", "env:aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6kL9"),
     "gitlab.token"),
    ("file: with a token", MIN.replace("env:RW_TOKEN", "file:glrt-AbCdEf0123456789"), "gitlab.token"),
    ("quantity with a huge exponent", MIN + 'runner:\n  resources: {cpu_limit: "1e999999999"}\n',
     "runner.resources.cpu_limit"),
    ("quantity in unicode digits", MIN + 'runner:\n  resources: {cpu_limit: "\u0661"}\n', "runner.resources.cpu_limit"),
    ("chart version in unicode digits", MIN + 'runner:\n  chart_version: "\u0660.86.0"\n', "runner.chart_version"),
    ("huge string", MIN + "runner:\n  name: " + "x" * 200000 + "\n", "runner.name"),
    ("thousands of unknown keys", MIN + "runner:\n" + "".join(f"  k{i}: 1\n" for i in range(5000)), "runner.k0"),
    ("too many values", MIN + "runner:\n  environment: [" + ", ".join(["A=b"] * 60000) + "]\n", "runner.environment"),
    ("binary value", MIN + "runner:\n  name: !!binary aGVsbG8=\n", "runner.name"),
    ("date where a string goes", MIN.replace("https://gitlab.company.com/", "2001-01-01"), "gitlab.url"),
    ("complex key", MIN + "? [a, b]\n: 1\n", "(top level)"),
    ("python tag", MIN + "runner:\n  name: !!python/object:os.system x\n", "(yaml)"),
    ("not a mapping", "- a\n- b\n", "(top level)"),
    ("empty file", "", "(top level)"),
    ("bad yaml", "version: 1\ngitlab: [\n", "(yaml)"),
    ("ansi escape in a key", MIN + '"k\\x1b[2J": 1\n', "k\\x1b[2J"),
    ("url with spaces", MIN.replace("https://gitlab.company.com/", '"https://gitlab.company.com/ x"'), "gitlab.url"),
    ("url with credentials", MIN.replace("https://", "https://u:p@"), "gitlab.url"),
    ("registry user name with a colon", MIN + "registries:\n  - {host: r.company.com, username: 'a:b', "
     "password: env:RW_TOKEN}\n", "registries[0].username"),
    ("alias target listed twice", MIN + "host_aliases:\n  - {ip: 10.0.0.5, hostnames: [g.company.com], "
     "targets: [jobs, jobs]}\n", "host_aliases[0].targets"),
]


@pytest.mark.parametrize("name,text,field", TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_bad_answers_text(tmp_path, name, text, field):
    rc, out, err, o = _render(tmp_path, text)
    assert_bad_input(rc, out, err, o, field)


BYTE_CASES = [
    ("utf-16 answers", MIN.encode("utf-16"), "--answers"),
    ("utf-16-be answers", b"\xfe\xff" + MIN.encode("utf-16-be"), "--answers"),
    ("latin-1 answers", (MIN + "# caf\xe9\n").encode("latin-1"), "--answers"),
    ("NUL bytes in answers", MIN.encode() + b"\x00\x00", "--answers"),
    ("binary answers", bytes(range(256)) * 4, "--answers"),
]


@pytest.mark.parametrize("name,data,field", BYTE_CASES, ids=[c[0] for c in BYTE_CASES])
def test_bad_answers_bytes(tmp_path, name, data, field):
    rc, out, err, o = _render(tmp_path, data)
    assert_bad_input(rc, out, err, o, field)


def test_utf8_bom_is_fine(tmp_path):
    rc, out, err, _ = _render(tmp_path, b"\xef\xbb\xbf" + MIN.encode())
    assert rc == 0, err


def test_bom_inside_the_file_is_refused(tmp_path):
    """Only the start may carry a BOM: inside a key libyaml dropped it and PyYAML kept it."""
    rc, out, err, o = _render(tmp_path, (MIN + "\ufeffrunner:\n  release_name: x\n").encode())
    assert_bad_input(rc, out, err, o, "(yaml)")
    assert "U+FEFF" in err and f"line {MIN.count(chr(10)) + 1}" in err


def test_answers_fifo_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "answers.yaml")
    rc, out, err, o = _render(tmp_path)
    assert_bad_input(rc, out, err, o, "--answers")
    assert "not a regular file" in err


def test_answers_directory(tmp_path):
    (tmp_path / "answers.yaml").mkdir()
    rc, out, err, o = _render(tmp_path)
    assert_bad_input(rc, out, err, o, "--answers")


def test_answers_50_mb_is_refused_without_reading_it(tmp_path):
    with open(tmp_path / "answers.yaml", "wb") as f:
        f.truncate(50 << 20)  # sparse: 50 MB of NULs
    rc, out, err, o = _render(tmp_path)
    assert_bad_input(rc, out, err, o, "--answers")
    assert "at most" in err


def test_answers_dev_zero_and_stdin(tmp_path):
    for dev in ("/dev/zero", "/dev/stdin", "/dev/tty"):
        if os.path.exists(dev):
            rc, out, err, o = _render(tmp_path, None, answers=Path(dev))
            assert_bad_input(rc, out, err, o, "--answers")


@pytest.mark.parametrize("kind", ["fifo", "binary", "empty", "blank line", "two lines", "dir", "huge", "nul",
                                  "missing", "bidi"])
def test_bad_token_file_with_secrets(tmp_path, kind):
    tok = tmp_path / "tok"
    if kind == "fifo":
        os.mkfifo(tok)
    elif kind == "binary":
        tok.write_bytes(b"\xff\xfe\x00\x01\x02glrt")
    elif kind == "empty":
        tok.write_bytes(b"")
    elif kind == "blank line":
        tok.write_bytes(b"  \n")
    elif kind == "two lines":
        tok.write_bytes(b"glrt-aaaaaaaaaaaa\nglrt-bbbbbbbbbbbb\n")
    elif kind == "dir":
        tok.mkdir()
    elif kind == "huge":
        with open(tok, "wb") as f:
            f.truncate(50 << 20)
    elif kind == "nul":
        tok.write_bytes(b"glrt-aaaa\x00bbbbbbbb")
    elif kind == "bidi":
        tok.write_text("glrt-aaaa\u202ebbbbbbbb")
    rc, out, err, o = _render(tmp_path, MIN.replace("env:RW_TOKEN", "file:tok"), "--with-secrets")
    assert_bad_input(rc, out, err, o, "gitlab.token")
    assert "aaaa" not in err


@pytest.mark.parametrize("value", ["", "\n", "   ", "glrt-aaaaaaaaaaaa\nglrt-bbbbbbbbbbbb", "glrt-aa\x1bbbbbbbbb"])
def test_bad_token_env_with_secrets(tmp_path, monkeypatch, value):
    monkeypatch.setenv("RW_TOKEN", value)
    rc, out, err, o = _render(tmp_path, MIN, "--with-secrets")
    assert_bad_input(rc, out, err, o, "gitlab.token")


def test_token_with_trailing_newline_is_stripped(tmp_path):
    (tmp_path / "tok").write_text(TOKEN + "\r\n")
    rc, out, err, o = _render(tmp_path, MIN.replace("env:RW_TOKEN", "file:tok"), "--with-secrets")
    assert rc == 0, err
    import base64

    assert base64.b64encode(TOKEN.encode()).decode() in (o / "secrets.yaml").read_text()


# ---- --out and --log-file


def test_out_empty(tmp_path):
    rc, out, err, _ = _render(tmp_path, MIN, "--out", "")
    assert_bad_input(rc, out, err, None, "--out")
    assert list(tmp_path.iterdir()) == [tmp_path / "answers.yaml"]


def test_out_is_a_file(tmp_path):
    (tmp_path / "out").write_text("x")
    rc, out, err, _ = _render(tmp_path, MIN)
    assert_bad_input(rc, out, err, None, "--out")
    assert (tmp_path / "out").read_text() == "x"


def test_out_symlink_loop(tmp_path):
    os.symlink(tmp_path / "out", tmp_path / "out")
    rc, out, err, _ = _render(tmp_path, MIN)
    assert_bad_input(rc, out, err, None, "--out")


def test_out_below_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    rc, out, err, _ = _render(tmp_path, MIN, out=tmp_path / "f" / "out")
    assert_bad_input(rc, out, err, None, "--out")


def test_out_with_a_directory_where_a_file_goes_writes_nothing(tmp_path):
    o = tmp_path / "out"
    (o / "values.yaml").mkdir(parents=True)
    before = _written(o)
    rc, out, err, _ = _render(tmp_path, MIN)
    assert_bad_input(rc, out, err, o, "--out", before=before)
    assert "values.yaml" in err


def test_out_with_a_file_where_a_folder_goes_writes_nothing(tmp_path):
    o = tmp_path / "out"
    seed = ANSWERS / "seed000.yaml"
    for pem in ANSWERS.glob("*.pem"):
        shutil.copy(pem, tmp_path)
    shutil.copy(seed, tmp_path / "answers.yaml")
    o.mkdir()
    (o / "nodes").write_text("in the way")
    before = _written(o)
    rc, out, err, _ = _render(tmp_path, None)
    assert_bad_input(rc, out, err, o, "--out", before=before)


def test_out_unwritable(tmp_path):
    rc, out, err, _ = _render(tmp_path, MIN, out=Path("/proc/runner-wizard-test/out"))
    assert_bad_input(rc, out, err, None, "--out")


def test_a_folder_made_meanwhile_by_another_writer_is_fine(tmp_path, monkeypatch):
    """A fleet renders its clusters at once into out/<context>: the shared parent may appear between
    the look and the mkdir (it was "--out: File exists" for one cluster, now and then)."""
    import pathlib

    real = pathlib.Path.mkdir
    parent = tmp_path / "fleet"

    def racing(self, *a, **kw):
        if self == parent and not self.exists():
            real(self)  # the other cluster's writer wins the race
        return real(self, *a, **kw)

    monkeypatch.setattr(pathlib.Path, "mkdir", racing)
    rc, out, err, o = _render(tmp_path, MIN, out=parent / "one")
    assert rc == 0, err
    assert (o / "values.yaml").is_file()


def test_write_failure_midway_leaves_nothing(tmp_path, monkeypatch):
    """A failure while writing (disk full) removes what was staged: all files or none."""
    import wizard.render as r

    real = os.fdopen
    calls = {"n": 0}

    def flaky(fd, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            os.close(fd)
            raise OSError(28, "No space left on device")
        return real(fd, *a, **kw)

    monkeypatch.setattr(r.os, "fdopen", flaky)
    rc, out, err, o = _render(tmp_path, MIN)
    assert_bad_input(rc, out, err, o, "--out")
    assert not o.exists()


@pytest.mark.parametrize("kind", ["dir", "fifo", "empty", "missing folder"])
def test_bad_log_file(tmp_path, kind):
    lf = tmp_path / "log"
    if kind == "dir":
        lf.mkdir()
    elif kind == "fifo":
        os.mkfifo(lf)
    elif kind == "missing folder":
        lf = tmp_path / "nope" / "log"
    (tmp_path / "a.yaml").write_text(MIN)
    rc, out, err = _cli(["--log-file", "" if kind == "empty" else str(lf), "render", "--answers",
                         str(tmp_path / "a.yaml"), "--out", str(tmp_path / "out")])
    assert_bad_input(rc, out, err, tmp_path / "out", "--log-file")


@pytest.mark.parametrize("flag,value", [("--answers", ""), ("--kubeconfig", "/dev/zero"), ("--context", "a\nb"),
                                        ("--kubeconfig", "/nonexistent/kc")])
def test_bad_flags(tmp_path, flag, value):
    (tmp_path / "a.yaml").write_text(MIN)
    argv = ["render", "--answers", str(tmp_path / "a.yaml"), "--out", str(tmp_path / "out")]
    if flag == "--answers":
        argv[2] = value
    else:
        argv = [flag, value] + argv
    rc, out, err = _cli(argv)
    assert_bad_input(rc, out, err, tmp_path / "out", flag)


@pytest.mark.parametrize("argv", [["--namespace", "Bad_NS"], ["--release", "x\n"], ["--log", "/dev/zero"],
                                  ["--log", "FIFO"], ["--answers", "FIFO"]])
def test_bad_diagnose_input(tmp_path, argv):
    os.mkfifo(tmp_path / "FIFO")
    argv = [str(tmp_path / "FIFO") if a == "FIFO" else a for a in argv]
    rc, out, err = _cli(["diagnose", *argv])
    assert_bad_input(rc, out, err)


def test_ca_file_fifo_and_huge(tmp_path):
    os.mkfifo(tmp_path / "ca.pem")
    text = MIN + "  ca: {file: ca.pem}\n"
    rc, out, err, o = _render(tmp_path, text)
    assert_bad_input(rc, out, err, o, "gitlab.ca.file")
    os.unlink(tmp_path / "ca.pem")
    with open(tmp_path / "ca.pem", "wb") as f:
        f.truncate(50 << 20)
    rc, out, err, o = _render(tmp_path, text)
    assert_bad_input(rc, out, err, o, "gitlab.ca.file")


def test_check_with_unset_token_env_fails(tmp_path, monkeypatch, refused_port):
    """check exits 1, not 0, when the token's environment variable is unset (issue 11, part 4)."""
    monkeypatch.delenv("RW_TOKEN")
    (tmp_path / "a.yaml").write_text(MIN.replace("https://gitlab.company.com/", f"https://127.0.0.1:{refused_port}/"))
    rc, out, err = _cli(["check", "--answers", str(tmp_path / "a.yaml")])
    assert rc == 1
    assert re.search(r"FAIL\s+gitlab\.token\.(type|valid)", out) and "RW_TOKEN" in out, out


# --------------------------------------------------------------------------- fuzzing

HOSTILE_STRINGS = [
    "", " ", "\n", "\r\n", "\t", "\x00", "\x1b[2J", "\u202e", "\u200b", "\u2028", "\ufeff", "\ud7ff", "é", "🙂",
    "0", "-1", "1e999", "NaN", "true", "null", "~", "yes", "0x10", "0o17", "１２３",
    "env:", "file:", "env:A B", "env:1A", "file:/dev/zero", "file:/dev/stdin", "file:/proc/self/environ",
    "file:../../../../etc/shadow", "glrt-AbCdEf0123456789xyz", "env:glrt-AbCdEf0123456789", "GR1348941abcdefgh",
    "${HOME}", "{{ .Values }}", "$(id)", "`id`", "'; rm -rf /", "\"quoted\"", "a" * 300, "a" * 5000,
    "https://gitlab.company.com:0/", "https://[fe80::1%25eth0]/", "http://gitlab.company.com/",
    "fe80::1%eth0", "10.0.0.300", "::1", "999.1.1.1", "localhost", "-leading", "trailing-", "UPPER",
    "a..b", "a/b", "a:b", "[::1]:0", "1Gi\n", "0.86.0\n", "0.86.0-rc.1", "1.2", "250m", "1e3", "+1",
]


def _mutations(s: str) -> list[str]:
    return [s + "\n", s + " ", " " + s, s + "\x00", s + "\u202e", s.upper(), s * 40, s + "\r"]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


def _get(node: Any, path: tuple) -> Any:
    for p in path:
        node = node[p]
    return node


def _set(node: Any, path: tuple, value: Any, mode: str) -> None:
    for p in path[:-1]:
        node = node[p]
    last = path[-1]
    if mode == "delete":
        del node[last]
    elif mode == "sibling" and isinstance(node, dict):
        node[f"{last}_x"] = value
    else:
        node[last] = value


_scalar = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8", categories=("Cc", "Cf", "Zl", "Zp", "Nd", "Ll")), max_size=12),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.binary(max_size=8),
)
_value = st.one_of(_scalar, st.lists(_scalar, max_size=3), st.dictionaries(st.text(max_size=8), _scalar, max_size=3))


BENIGN = st.sampled_from(["x", "a-b", "ci", "1", 1, 2, True, False, "10.0.0.9", "g.company.com", "🙂 runner", "é",
                          "250m", "2Gi", "https://127.0.0.1:9/", "127.0.0.1:9", "jobs", "manager", "containerd"])


@st.composite
def mutated_answers(draw, max_changes: int = 3, benign: float = 0.0) -> tuple[str, dict, list[tuple[tuple, str, str]]]:
    seed = draw(st.sampled_from(SEEDS))
    raw = yaml.safe_load(seed.read_text())
    changes = []
    for _ in range(draw(st.integers(1, max_changes))):
        paths = _paths(raw)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        old = _get(raw, path)
        mode = draw(st.sampled_from(["replace", "replace", "replace", "delete", "sibling", "mutate"]))
        if mode == "mutate" and isinstance(old, (str, int)):
            value: Any = draw(st.sampled_from(_mutations(str(old))))
            mode = "replace"
        else:
            value = draw(BENIGN) if draw(st.floats(0, 1)) < benign else draw(_value)
            if mode == "mutate":
                mode = "replace"
        try:
            _set(raw, path, value, mode)
        except (KeyError, IndexError, TypeError):
            continue
        changes.append((path, mode, repr(value)[:60]))
    return seed.name, raw, changes


def _stage(raw: Any) -> tuple[Path, Path]:
    d = Path(tempfile.mkdtemp(prefix="rw-fuzz-"))
    for pem in ANSWERS.glob("*.pem"):
        shutil.copy(pem, d)
    (d / "secrets").mkdir()
    (d / "secrets" / "gitlab-registry-password").write_text("registry-pass\n")
    (d / "secrets" / "runner-token").write_text(TOKEN + "\n")
    a = d / "answers.yaml"
    try:
        a.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8",
                     errors="surrogatepass")
    except (yaml.YAMLError, UnicodeError, ValueError):
        a.write_bytes(yaml.safe_dump(raw, sort_keys=False).encode("utf-8", "surrogatepass"))
    return d, a


def _check_outcome(rc: Any, out: str, err: str, o: Path, allowed: tuple[int, ...], note: Any) -> None:
    event(f"exit {rc}")
    assert isinstance(rc, int) and rc in allowed, (rc, note, err[-3000:])
    assert "Traceback" not in out + err, note
    assert len(out) + len(err) < MAX_OUTPUT, (len(out), len(err), note)
    if rc == 2:
        assert FIELD.search(err), (err, note)
        assert "nothing was written or applied." in err
        assert not _written(o), note
    assert "the check itself failed" not in out, (note, out)


FUZZ_ENV = {"RUNNER_TOKEN": TOKEN, "REG1_USER": "u1", "REG1_PASS": "p-one-1", "REG2_PASS": "p-two-2",
            "GITLAB_REGISTRY_USER": "u3", "GITLAB_API_TOKEN": "glpat-0123456789abcdefghij", "REG_USER": "u",
            "REG_PASS": "pass-word", "HARBOR_USER": "robot$ci", "HARBOR_PASS": "harbor-pass", "REG_TOKEN": "GR1348941abcdefghij"}


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(case=mutated_answers(max_changes=2, benign=0.4), with_secrets=st.booleans())
def test_fuzz_render_field_by_field(case, with_secrets, monkeypatch):
    name, raw, changes = case
    for k, v in FUZZ_ENV.items():
        monkeypatch.setenv(k, v)
    d, a = _stage(raw)
    try:
        o = d / "out"
        rc, out, err = _cli(["render", "--answers", str(a), "--out", str(o)]
                            + (["--with-secrets"] if with_secrets else []))
        _check_outcome(rc, out, err, o, (0, 2), (name, changes))
        if rc == 0:
            text = "\n".join(p.read_text() for p in o.rglob("*") if p.is_file())
            assert "\x00" not in text and "\u202e" not in text and "\x1b" not in text, (name, changes)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(SEEDS), pos=st.floats(0, 1), junk=st.one_of(
    st.binary(min_size=1, max_size=16),
    st.sampled_from([b"&a ", b"*a", b"<<: ", b"\t", b": :", b"\x00", b"\xff\xfe", b"\r", b"- ", b"{", b"[", b"!!",
                     b"%YAML 1.1\n", b"---\n", b"...\n", b"? ", b"|\n", b"\"\\x", b"\xe2\x80\xae", b"\n  token: x\n"])))
def test_fuzz_bytes(seed, pos, junk):
    data = seed.read_bytes()
    i = int(pos * len(data))
    d, a = _stage({})
    try:
        a.write_bytes(data[:i] + junk + data[i:])
        o = d / "out"
        rc, out, err = _cli(["render", "--answers", str(a), "--out", str(o)])
        _check_outcome(rc, out, err, o, (0, 2), (seed.name, i, junk))
    finally:
        shutil.rmtree(d, ignore_errors=True)


_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect


def _loopback_only_getaddrinfo(host, *a, **kw):
    h = host.decode() if isinstance(host, bytes) else host
    if h in ("localhost", None):
        return _real_getaddrinfo(h, *a, **kw)
    try:
        ip = ipaddress.ip_address(str(h).split("%")[0])
    except ValueError:
        raise socket.gaierror(socket.EAI_NONAME, "fuzz: names other than localhost do not resolve") from None
    if not ip.is_loopback:
        raise socket.gaierror(socket.EAI_NONAME, "fuzz: only loopback")
    return _real_getaddrinfo(h, *a, **kw)


def _loopback_only_connect(self, addr):
    try:
        ip = ipaddress.ip_address(str(addr[0]).split("%")[0])
    except (ValueError, TypeError, IndexError):
        raise ConnectionRefusedError("fuzz: only loopback") from None
    if not ip.is_loopback:
        raise ConnectionRefusedError("fuzz: only loopback")
    return _real_connect(self, addr)


@pytest.fixture
def loopback_only(monkeypatch):
    """The fuzzed answers name arbitrary hosts: nothing but loopback may be contacted."""
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_only_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", _loopback_only_connect)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
@given(case=mutated_answers(max_changes=1, benign=0.6), as_json=st.booleans())
def test_fuzz_check_field_by_field(case, as_json, monkeypatch, loopback_only, refused_port):
    name, raw, changes = case
    for k, v in FUZZ_ENV.items():
        monkeypatch.setenv(k, v)
    g = raw.get("gitlab") if isinstance(raw, dict) else None
    if isinstance(g, dict) and isinstance(g.get("url"), str) and g["url"].startswith("https://"):
        g["url"] = f"https://127.0.0.1:{refused_port}/"
        if isinstance(g.get("ca"), dict):
            g["ca"].pop("fingerprint", None)
    d, a = _stage(raw)
    try:
        rc, out, err = _cli(["check", "--answers", str(a)] + (["--json"] if as_json else []))
        _check_outcome(rc, out, err, d / "out", (1, 2), (name, changes))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_prompt_save_to_a_directory(tmp_path):
    rc, out, err = _cli(["prompt", "--save", str(tmp_path)])
    assert_bad_input(rc, out, err, None, "--save")


def test_kubeconfig_env_fifo(tmp_path, monkeypatch):
    os.mkfifo(tmp_path / "kc")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kc"))
    (tmp_path / "a.yaml").write_text(MIN)
    rc, out, err = _cli(["check", "--answers", str(tmp_path / "a.yaml")])
    assert_bad_input(rc, out, err, None, "KUBECONFIG")


def test_list_sizes_are_bounded(tmp_path):
    text = MIN + "registries:\n" + "".join(f"  - {{host: r{i}.company.com}}\n" for i in range(500))
    rc, out, err, o = _render(tmp_path, text)
    assert_bad_input(rc, out, err, o, "registries: has 500 entries")


@pytest.mark.parametrize("url", ["https://[/", "https://gitlab]/", "https://[::1/"])
def test_unbalanced_brackets_in_the_gitlab_url_are_bad_input(url):
    """urlsplit raises on these (found by test_fuzz_bytes); the validator says what is wrong instead."""
    from wizard.validate import gitlab_url, http_url

    for check in (gitlab_url, http_url):
        msg = check(url)
        assert msg and "without its pair" in msg
