"""The answers model: round trip, defaults, validation messages, secret references."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wizard.answers import Answers, SecretRef, dumps, load, parse, save
from wizard.errors import BadInput, SecretUnavailable
from wizard.render import render

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = ROOT / "tests" / "data" / "answers"
CASES = sorted(p.name for p in ANSWERS.glob("*.yaml"))
SECTIONS = ("version", "gitlab", "cluster", "runner", "host_aliases", "registries", "node_runtime")
PATH_RE = re.compile(r"^(\(top level\)|(" + "|".join(SECTIONS) + r")(\[\d+\])?(\..+)?)$")

BASE = {"version": 1, "gitlab": {"url": "https://gitlab.company.com/", "token": "env:RUNNER_TOKEN"}}


def _with(**patch) -> dict:
    raw = copy.deepcopy(BASE)
    for dotted, value in patch.items():
        node = raw
        keys = dotted.split("__")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return raw


def _errors(raw: object) -> list[str]:
    with pytest.raises(BadInput) as exc:
        parse(raw, check_files=False)
    return [str(e) for e in exc.value.errors]


# --------------------------------------------------------------------------- round trip, defaults


@pytest.mark.parametrize("name", CASES)
def test_round_trip_is_stable(name: str, tmp_path: Path) -> None:
    a = load(ANSWERS / name)
    # keep relative file references valid next to the saved copy
    for f in ANSWERS.glob("*.pem"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    p = save(a, tmp_path / name)
    b = load(p)
    assert b == a
    assert dumps(b) == dumps(a)
    assert save(b, tmp_path / "again.yaml").read_text() == p.read_text()


def test_defaults() -> None:
    a = parse(BASE)
    assert a.cluster.runner_namespace == "ci-system" and a.cluster.jobs_namespace == "ci-jobs"
    assert a.cluster.create_namespaces is True and a.cluster.mode == "helm"
    assert a.cluster.manager_service_account == "gitlab-runner"
    assert a.cluster.job_service_account == "gitlab-runner-job"
    assert a.cluster.job_api_access == "none"
    r = a.runner
    assert (r.release_name, r.chart_version, r.name) == ("gitlab-runner", "0.86.0", "k8s-runner")
    assert (r.replicas, r.concurrent, r.check_interval, r.poll_timeout) == (1, 10, 3, 600)
    assert r.job_image == "docker.io/library/alpine:3.22" and r.helper_image is None
    assert (r.resources.cpu_request, r.resources.memory_request, r.resources.cpu_limit,
            r.resources.memory_limit) == ("250m", "256Mi", "1", "1Gi")
    assert r.docker_builds == "none" and r.privileged is False and r.metrics is True
    assert a.host_aliases == [] and a.registries == [] and a.node_runtime == "auto"
    h = parse(_with(host_aliases=[{"ip": "10.0.0.1", "hostnames": ["gitlab.company.com"]}])).host_aliases[0]
    assert h.targets == ["manager", "jobs"]
    reg = parse(_with(registries=[{"host": "registry.company.com:5000"}])).registries[0]
    assert reg.scheme == "https" and reg.credentials_via == "pull-secret" and not reg.needs_pull_secret


def test_ca_key_strips_port() -> None:
    a = load(ANSWERS / "seed000.yaml")
    assert a.gitlab.host == "192.168.80.14" and a.gitlab.port == 8929
    assert a.gitlab.ca_key == "192.168.80.14.crt"


# --------------------------------------------------------------------------- validation messages


@pytest.mark.parametrize("patch, expected", [
    ({"host_aliases": [{"ip": "10.0.0.1", "hostnames": ["a.company.com"]},
                       {"ip": "10.0.0.300", "hostnames": ["b.company.com"]}]},
     'host_aliases[1].ip: "10.0.0.300" is not an IPv4 or IPv6 address'),
    ({"gitlab__url": "http://gitlab.company.com/"}, "gitlab.url: "),
    ({"cluster__runner_namespace": "CI_System"}, "cluster.runner_namespace: "),
    ({"cluster__job_api_access": "admin"}, 'cluster.job_api_access: "admin" is not one of'),
    ({"runner__concurrent": 0}, "runner.concurrent: 0 is out of range"),
    ({"runner__resources": {"cpu_request": "2", "cpu_limit": "1"}}, "runner.resources.cpu_request: "),
    ({"runner__helper_image": "registry.local/helper:latest"}, "runner.helper_image: "),
    ({"runner__environment": ["NOEQUALS"]}, "runner.environment[0]: "),
    ({"registries": [{"host": "https://registry.company.com"}]}, "registries[0].host: "),
    ({"registries": [{"host": "r.company.com", "scheme": "http", "ca_file": "x.pem"}]}, "registries[0].ca_file: "),
    ({"registries": [{"host": "r.company.com", "username": "u"}]}, "registries[0]: set both"),
    ({"runner__docker_builds": "host-socket", "node_runtime": "cri-o"}, "runner.docker_builds: "),
    ({"gitlab__ca": {"fetch": True, "fingerprint": "nope"}}, "gitlab.ca.fingerprint: "),
    ({"runner__tolerations": [{"operator": "Exists", "value": "x"}]}, "runner.tolerations[0].value: "),
    ({"runner__replicas": 2, "cluster__mode": "external"}, "runner.replicas: "),
    ({"clusterr": {}}, 'clusterr: unknown key; did you mean "cluster"?'),
    ({"version": 2}, "version: must be 1"),
])
def test_each_rule_names_its_field(patch: dict, expected: str) -> None:
    errs = _errors(_with(**patch))
    assert any(e.startswith(expected) for e in errs), errs


def test_all_errors_reported_at_once() -> None:
    errs = _errors(_with(runner__concurrent=0, cluster__jobs_namespace="Bad_NS"))
    assert len(errs) == 2


@pytest.mark.parametrize("field, value", [
    ("gitlab__token", "glrt-abcdefghijklmnop"),
    ("gitlab__token", "secret:thing"),
    ("gitlab__registration_token", "GR1348941abcdef"),
])
def test_literal_secrets_rejected(field: str, value: str) -> None:
    raw = _with(**{field: value})
    if field != "gitlab__token":
        del raw["gitlab"]["token"]
    errs = _errors(raw)
    path = field.replace("__", ".")
    assert any(e.startswith(f"{path}: ") and "literal secret" in e for e in errs), errs
    assert not any(value in e for e in errs), "the message must not repeat the secret"


def test_literal_registry_password_rejected() -> None:
    errs = _errors(_with(registries=[{"host": "r.company.com", "username": "u", "password": "hunter2hunter2"}]))
    assert any(e.startswith("registries[0].password: ") for e in errs)


@pytest.mark.parametrize("gitlab", [
    {"url": "https://g.company.com/"},
    {"url": "https://g.company.com/", "token": "env:A", "registration_token": "env:B"},
    {"url": "https://g.company.com/", "token": "env:A",
     "create_runner": {"api_token": "env:B", "runner_type": "instance_type"}},
])
def test_exactly_one_token_source(gitlab: dict) -> None:
    errs = _errors({"version": 1, "gitlab": gitlab})
    assert any(e.startswith("gitlab: set exactly one of") for e in errs), errs


def test_create_runner_needs_its_id() -> None:
    raw = {"version": 1, "gitlab": {"url": "https://g.company.com/",
                                    "create_runner": {"api_token": "env:T", "runner_type": "project_type"}}}
    assert any(e.startswith("gitlab.create_runner.project_id: ") for e in _errors(raw))


# --------------------------------------------------------------------------- secret references


def test_secret_refs_resolved_only_when_asked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RW_TEST_TOKEN", raising=False)
    (tmp_path / "pass").write_text("s3cret-file\n")
    raw = _with(gitlab__token="env:RW_TEST_TOKEN",
                registries=[{"host": "r.company.com", "username": "u", "password": "file:pass"}])
    a = parse(raw, base_dir=tmp_path)  # missing env var: parsing still succeeds
    refs = a.secret_refs()
    assert set(refs) == {"gitlab.token", "registries[0].password"}
    assert all(isinstance(r, SecretRef) for r in refs.values())
    with pytest.raises(SecretUnavailable) as exc:
        refs["gitlab.token"].resolve("gitlab.token")
    assert exc.value.errors[0].path == "gitlab.token"
    assert "RW_TEST_TOKEN" in exc.value.errors[0].message
    monkeypatch.setenv("RW_TEST_TOKEN", "glrt-value\n")
    assert refs["gitlab.token"].resolve() == "glrt-value"
    assert refs["registries[0].password"].resolve() == "s3cret-file"
    (tmp_path / "pass").unlink()
    with pytest.raises(SecretUnavailable) as exc:
        refs["registries[0].password"].resolve("registries[0].password")
    assert exc.value.errors[0].path == "registries[0].password"
    assert "glrt-value" not in dumps(a) and "s3cret" not in dumps(a)
    assert "env:RW_TEST_TOKEN" in dumps(a)


# --------------------------------------------------------------------------- property tests

def _mostly(good: list, bad: list) -> st.SearchStrategy:
    """Valid values most of the time, so both branches of the property get exercised."""
    return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(good), st.sampled_from(bad))


_names = _mostly(["ci", "ci-jobs", "gitlab-runner"], ["Bad_Name", "", "a" * 70])
_ips = _mostly(["10.0.0.1", "192.168.80.14", "fd00::1"], ["10.0.0.300", "gitlab", ""])
_hosts = _mostly(["gitlab.company.com", "registry.company.com:5000", "10.0.0.5:5000", "r.company.com"],
                ["bad host", "https://x"])
_secret = _mostly(["env:TOKEN", "file:tok"], ["literal", "env:1BAD", None])

_raw = st.fixed_dictionaries(
    {"version": _mostly([1], [2]),
     "gitlab": st.fixed_dictionaries(
         {"url": _mostly(["https://gitlab.company.com/", "https://10.0.0.1:8929", "https://[fd00::1]:8443/"],
                         ["http://x", "nope"]), "token": _secret},
         optional={"registration_token": _mostly([None], ["env:REG"]),
                   "clone_url": _mostly(["https://git.company.com", None], ["ftp://x"])})},
    optional={
        "cluster": st.fixed_dictionaries({}, optional={
            "runner_namespace": _names, "jobs_namespace": _names,
            "create_namespaces": st.booleans(),
            "job_api_access": st.sampled_from(["none", "view", "all"]),
            "mode": st.sampled_from(["helm", "external", "vm"])}),
        "runner": st.fixed_dictionaries({}, optional={
            "replicas": st.integers(-1, 3), "concurrent": st.integers(-1, 20),
            "privileged": st.booleans(),
            "docker_builds": st.sampled_from(["none", "dind", "host-socket", "kaniko"]),
            "node_selector": st.dictionaries(st.sampled_from(["role", "kubernetes.io/arch", "bad key!"]),
                                             st.sampled_from(["ci", "amd64", "bad value!"]), max_size=2),
            "tolerations": st.lists(st.fixed_dictionaries({}, optional={
                "key": st.sampled_from(["dedicated", "bad key!"]),
                "operator": st.sampled_from(["Equal", "Exists", "Maybe"]),
                "value": st.sampled_from(["ci", None]),
                "effect": st.sampled_from(["NoSchedule", "", "Never"])}), max_size=2),
            "environment": st.lists(st.sampled_from(["A=b", "NOEQ", "X={{y}}"]), max_size=2),
            "helper_image": st.sampled_from([None, "r.local/helper:x86_64-v18.9.0", "r.local/helper:latest"]),
            "metrics": st.booleans()}),
        "host_aliases": st.lists(st.fixed_dictionaries(
            {"ip": _ips, "hostnames": st.lists(_mostly(["gitlab.company.com", "minio.company.com"],
                                                       ["1.2.3.4", "bad_host!"]), min_size=1, max_size=2)},
            optional={"targets": st.lists(_mostly(["manager", "jobs"], ["nodes"]), min_size=1, max_size=2)}),
            max_size=3),
        "registries": st.lists(st.fixed_dictionaries(
            {"host": _hosts},
            optional={"scheme": st.sampled_from(["https", "http", "ftp"]),
                      "username": st.sampled_from(["u", "env:U", None]),
                      "password": _secret,
                      "credentials_via": st.sampled_from(["pull-secret", "node", "both", "magic"])}),
            max_size=3),
        "node_runtime": _mostly(["auto", "cri-o", "containerd"], ["docker"]),
    })


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=_raw)
def test_property_accepted_renders_rejected_names_a_field(raw: dict) -> None:
    try:
        a = parse(raw, check_files=False)
    except BadInput as exc:
        assert exc.errors
        for e in exc.errors:
            assert e.path and PATH_RE.match(e.path), e.path
            assert e.message
        return
    assert isinstance(a, Answers)
    r = render(a)
    assert "manifests.yaml" in r.files and "NEXT-STEPS.md" in r.files
    for text in r.files.values():
        assert "tls_server_name" not in text or text.startswith("# Next steps")


# --------------------------------------------------------------------------- CLI


def test_cli_render_invalid_answers_exits_2_and_writes_nothing(tmp_path: Path, capsys) -> None:
    from wizard.cli import main

    bad = tmp_path / "answers.yaml"
    bad.write_text(yaml.safe_dump(_with(host_aliases=[{"ip": "10.0.0.300", "hostnames": ["g.company.com"]}])))
    out = tmp_path / "out"
    assert main(["render", "--answers", str(bad), "--out", str(out)]) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert 'host_aliases[0].ip: "10.0.0.300" is not an IPv4 or IPv6 address' in err


def test_cli_render_missing_secret_with_secrets_exits_2(tmp_path: Path, monkeypatch, capsys) -> None:
    from wizard.cli import main

    monkeypatch.delenv("RUNNER_TOKEN", raising=False)
    out = tmp_path / "out"
    assert main(["render", "--answers", str(ANSWERS / "minimal.yaml"), "--out", str(out),
                 "--with-secrets"]) == 2
    assert not out.exists() or not any(out.iterdir())
    assert "gitlab.token" in capsys.readouterr().err


def test_cli_render_ok(tmp_path: Path, capsys) -> None:
    from wizard.cli import main

    out = tmp_path / "out"
    assert main(["render", "--answers", str(ANSWERS / "seed000.yaml"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert str(out / "values.yaml") in printed and (out / "manifests.yaml").is_file()
