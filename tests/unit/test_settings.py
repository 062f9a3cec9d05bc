"""Options, not knobs: :mod:`wizard.settings` decides once; every bad value is bad input naming its source."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from hypothesis import given, settings as hsettings, strategies as st

from tests.support import charts
from wizard import settings as S
from wizard.cli import main
from wizard.errors import BadInput

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = ROOT / "tests" / "data" / "answers"


def _args(**kw):
    return SimpleNamespace(**kw)


def test_defaults_without_options_or_variables():
    s = S.from_env({})
    assert s == S.DEFAULTS
    assert (s.chart, s.chart_version, s.verify_timeout, s.helm_timeout, s.token_lifetime_hours, s.external_token) == \
        ("gitlab/gitlab-runner", None, 180.0, 180.0, 8760, "token-request")
    with pytest.raises(Exception):
        s.helm_timeout = 1  # type: ignore[misc] - frozen


def test_options_parse_and_win_over_variables():
    env = {"RUNNER_WIZARD_VERIFY_TIMEOUT": "10", "RUNNER_WIZARD_HELM_TIMEOUT": "not a time",
           "RUNNER_WIZARD_CHART": "gitlab/gitlab-runner", "RUNNER_WIZARD_TOKEN_LIFETIME": "24"}
    s = S.from_args(_args(chart="oci://registry.example.test/charts/gitlab-runner", chart_version="0.83.3",
                          verify_timeout="5m", helm_timeout="90s", token_lifetime_hours="720h",
                          external_token="Secret"), env)
    assert s.chart == "oci://registry.example.test/charts/gitlab-runner" and s.chart_from == "--chart"
    assert (s.chart_version, s.verify_timeout, s.helm_timeout, s.token_lifetime_hours, s.external_token) == \
        ("0.83.3", 300.0, 90.0, 720, "secret")


def test_variables_are_the_fallback_and_empty_means_unset():
    s = S.from_env({"RUNNER_WIZARD_VERIFY_TIMEOUT": "0", "RUNNER_WIZARD_HELM_TIMEOUT": "1h",
                    "RUNNER_WIZARD_CHART": str(charts.shared_charts_dir()), "RUNNER_WIZARD_TOKEN_LIFETIME": "",
                    "RUNNER_WIZARD_EXTERNAL_TOKEN": "secret"})
    assert s.verify_timeout == 0 and s.helm_timeout == 3600 and s.token_lifetime_hours == 8760
    assert s.chart == str(charts.shared_charts_dir()) and s.chart_from == "RUNNER_WIZARD_CHART"
    assert s.external_token == "secret"


@pytest.mark.parametrize("field,raw,words", [
    ("chart", "", "is empty"),
    ("chart", "oci://registry.example.test", "oci://REGISTRY/PATH/CHART"),
    ("chart", "oci://registry.example.test/charts/gitlab-runner:0.86.0", "not a :tag"),
    ("chart", "ftp://charts.example.test", "only https://"),
    ("chart", "https://[charts", "not a URL"),
    ("chart", "./missing-chart.tgz", "no such file"),
    ("chart", "just some words", "not a chart reference"),
    ("chart", "gitlab/gitlab-runner\x1b[31m", "contains"),
    ("chart_version", "latest", "is not a chart version"),
    ("chart_version", "0.60.0", "older than 0.66.0"),
    ("verify_timeout", "-5", "not a duration"),
    ("verify_timeout", "nan", "not a duration"),
    ("verify_timeout", "99999999999", "more than 24h"),
    ("verify_gitlab_timeout", "1 minute", "not a duration"),
    ("helm_timeout", "0", "is zero"),
    ("helm_timeout", "3 minutes", "not a duration"),
    ("token_lifetime_hours", "0", "at least 1 hour"),
    ("token_lifetime_hours", "1.5", "not a number of hours"),
    ("token_lifetime_hours", "99999999", "more than a TokenRequest"),
    ("external_token", "forever", "token-request"),
])
def test_bad_values_are_named_by_option_and_by_variable(field, raw, words):
    with pytest.raises(BadInput) as exc:
        S.from_args(_args(**{field: raw}), {})
    (err,) = exc.value.errors
    assert err.path == S.OPTION[field] and words in err.message, err
    if field in S.ENV and raw:
        with pytest.raises(BadInput) as exc:
            S.from_env({S.ENV[field]: raw})
        assert exc.value.errors[0].path == S.ENV[field]


def test_every_problem_is_listed_at_once():
    with pytest.raises(BadInput) as exc:
        S.from_args(_args(helm_timeout="x", verify_timeout="y"), {"RUNNER_WIZARD_CHART": "./nope.tgz"})
    assert {e.path for e in exc.value.errors} == {"--helm-timeout", "--verify-timeout", "RUNNER_WIZARD_CHART"}


@pytest.mark.parametrize("ref", ["gitlab/gitlab-runner", "mirror/gitlab-runner", "https://charts.gitlab.io/",
                                 "oci://registry.example.test/charts/gitlab-runner"])
def test_remote_chart_references(ref):
    assert S.from_args(_args(chart=ref), {}).chart == ref.rstrip("/")


def test_local_chart_references(tmp_path):
    tgz = charts.chart_tgz("0.86.0")
    assert S.from_args(_args(chart=str(tgz)), {}).chart == str(tgz)
    assert S.from_args(_args(chart=str(tgz.parent)), {}).chart == str(tgz.parent)
    notes = tmp_path / "notes.txt"
    notes.write_text("x")
    with pytest.raises(BadInput, match="packaged .tgz or a folder"):
        S.from_args(_args(chart=str(notes)), {})


@hsettings(max_examples=300, deadline=None)
@given(field=st.sampled_from(sorted(S.OPTION)), raw=st.text(max_size=40))
def test_any_text_is_a_value_or_bad_input(field, raw):
    try:
        s = S.from_args(_args(**{field: raw}), {})
    except BadInput as exc:
        assert exc.errors and exc.errors[0].path == S.OPTION[field]
        return
    assert isinstance(s, S.Settings)
    assert s.verify_timeout >= 0 and s.helm_timeout > 0 and s.token_lifetime_hours >= 1


def test_no_module_but_settings_reads_the_variables():
    """The knobs are read in one place: no other module of the core reads them or names them in code
    (help texts and docs may mention them)."""
    knobs = "|".join(n.removeprefix("RUNNER_WIZARD_") for n in S.ENV.values())
    read = re.compile(rf"""(environ(\.get\(|\[)|getenv\()\s*["']RUNNER_WIZARD_({knobs})["']""")
    const = re.compile(rf"""^\w+\s*=\s*["']RUNNER_WIZARD_({knobs})["']""", re.M)
    offenders = []
    for p in sorted((ROOT / "wizard").rglob("*.py")):
        if p == ROOT / "wizard" / "settings.py":
            continue
        text = p.read_text(encoding="utf-8")
        offenders += [f"{p.relative_to(ROOT)}: {m.group(0)}" for m in (*read.finditer(text), *const.finditer(text))]
    assert not offenders, offenders
    assert read.search('os.environ.get("RUNNER_WIZARD_CHART")') and const.search('X_ENV = "RUNNER_WIZARD_HELM_TIMEOUT"')


# ---------------------------------------------------------------------------- the command line


def test_bad_option_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["render", "--answers", str(ANSWERS / "seed000.yaml"), "--out", str(out), "--chart-version", "1.0"])
    err = capsys.readouterr().err
    assert rc == 2 and "--chart-version:" in err and "nothing was written or applied" in err
    assert not out.exists()


def test_bad_variable_exits_2_naming_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RUNNER_WIZARD_VERIFY_TIMEOUT", "soon")
    rc = main(["apply", "--answers", str(ANSWERS / "seed000.yaml"), "--dry-run", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "RUNNER_WIZARD_VERIFY_TIMEOUT: 'soon' is not a duration" in err
    assert not (tmp_path / "o").exists()


def test_chart_version_option_overrides_the_answers(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["render", "--answers", str(ANSWERS / "seed000.yaml"), "--out", str(out), "--chart-version", "0.77.2"])
    assert rc == 0, capsys.readouterr().err
    text = (out / "values.yaml").read_text()
    assert "Values for the gitlab-runner chart 0.77.2" in text  # the answers say 0.86.0
    assert "namespace" not in yaml.safe_load(text)  # 0.77.2 has no top-level namespace value


def test_help_documents_the_options_and_their_variables(capsys):
    with pytest.raises(SystemExit):
        main(["apply", "--help"])
    text = capsys.readouterr().out
    for flag, var in (("--chart", "RUNNER_WIZARD_CHART"), ("--verify-timeout", "RUNNER_WIZARD_VERIFY_TIMEOUT"),
                      ("--helm-timeout", "RUNNER_WIZARD_HELM_TIMEOUT"), ("--token-lifetime", "RUNNER_WIZARD_TOKEN_LIFETIME"),
                      ("--external-token", "RUNNER_WIZARD_EXTERNAL_TOKEN"),
                      ("--verify-gitlab-timeout", "RUNNER_WIZARD_VERIFY_GITLAB_TIMEOUT")):
        assert flag in text and var in text
    assert "--chart-version" in text and "KUBECTL_EXTERNAL_DIFF" in text


def test_helm_target_takes_chart_and_timeout_from_settings(tmp_path):
    from wizard import helm
    from wizard.answers import load

    a = load(ANSWERS / "seed000.yaml")
    oci = S.Settings(chart="oci://registry.example.test/charts/gitlab-runner", helm_timeout=42.0)
    t = helm.target(a, tmp_path / "values.yaml", binary=None, settings=oci)
    argv = t.upgrade_argv()
    assert argv[4] == "oci://registry.example.test/charts/gitlab-runner" and "--repo" not in argv
    assert t.timeout == 42.0
    repo = S.Settings(chart="https://charts.example.test/gitlab")
    argv = helm.target(a, tmp_path / "values.yaml", binary=None, settings=repo).upgrade_argv()
    assert argv[4] == "gitlab-runner" and argv[argv.index("--repo") + 1] == "https://charts.example.test/gitlab"


def test_helm_upgrade_uses_the_helm_timeout(tmp_path, monkeypatch):
    from wizard import helm

    seen = {}

    def fake_run(argv, *, timeout_s=None, env=None):
        import subprocess

        seen["timeout"] = timeout_s
        return subprocess.CompletedProcess(argv, 0, "STATUS: deployed\nREVISION: 1\n", "")

    monkeypatch.setattr(helm, "run", fake_run)
    t = helm.HelmTarget(release="r", namespace="n", chart="gitlab/gitlab-runner", chart_version="0.86.0",
                        values_file=tmp_path / "v.yaml", timeout=7.5, binary="helm")
    helm.upgrade(t)
    assert seen["timeout"] == 7.5


@pytest.mark.parametrize("command,flags", [
    ("upgrade", ("--chart", "--verify-timeout", "--verify-gitlab-timeout", "--helm-timeout")),
    ("rollback", ("--verify-timeout", "--helm-timeout")),
    ("uninstall", ("--helm-timeout",)),
    ("adopt", ("--chart", "--verify-timeout", "--helm-timeout")),
    ("diagnose", ("--chart", "--helm-timeout")),
    ("render", ("--chart", "--chart-version")),
])
def test_commands_that_run_helm_or_verify_take_the_options(command, flags, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    for flag in flags:
        assert flag in text, (command, flag)


def test_a_bad_option_of_a_lifecycle_command_is_bad_input(capsys):
    rc = main(["rollback", "--namespace", "ns", "--release", "r", "--helm-timeout", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and "--helm-timeout:" in err and "nothing was written or applied" in err


def test_lifecycle_target_carries_the_settings(monkeypatch):
    from wizard.cli import GlobalOptions
    from wizard.lifecycle.common import target_from_args

    s = S.Settings(helm_timeout=12.0)
    opts = GlobalOptions(kubeconfig=None, context=None, log_file=None, no_color=True, settings=s)
    t = target_from_args(SimpleNamespace(namespace="ns", release="r"), opts)
    assert t.config() is s
    opts.settings = None
    monkeypatch.delenv("RUNNER_WIZARD_HELM_TIMEOUT", raising=False)
    assert target_from_args(SimpleNamespace(namespace="ns", release="r"), opts).config().helm_timeout == 180.0
