"""Fleets: ``check`` / ``apply`` / ``diagnose`` on two real kube-apiservers at once.

Cluster ``one`` is the session's control plane; cluster ``two`` is a second etcd +
kube-apiserver (no controllers: cheap), started once for the session; ``dead`` is a context
whose server is a loopback port nothing listens on. One kubeconfig holds all three.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path

import pytest
import yaml

from tests.support.envtest import Envtest, _free_ports
from wizard.cli import main
from wizard.kube import Kube

pytestmark = pytest.mark.envtest

TOKEN_ENV = "RW_FLEET_TOKEN"


@pytest.fixture(scope="session")
def second_envtest(envtest):
    """A second cluster: etcd + kube-apiserver only, for the whole session."""
    env = Envtest(control_plane=False)
    try:
        env.start()
    except Exception as e:  # noqa: BLE001 - a broken harness must be loud, never a skip
        pytest.fail(f"second envtest could not start:\n{e}", pytrace=False)
    try:
        yield env
    finally:
        env.stop()


def _renamed(path: Path, name: str) -> tuple[dict, dict, dict]:
    doc = yaml.safe_load(Path(path).read_text())
    ctx = next(c for c in doc["contexts"] if c["name"] == doc["current-context"])
    cl = next(c for c in doc["clusters"] if c["name"] == ctx["context"]["cluster"])
    us = next(u for u in doc["users"] if u["name"] == ctx["context"]["user"])
    return ({"name": name, "cluster": dict(cl["cluster"])}, {"name": name, "user": dict(us["user"])},
            {"name": name, "context": {"cluster": name, "user": name}})


@pytest.fixture(scope="session")
def fleet_kubeconfig(envtest, second_envtest, tmp_path_factory) -> str:
    """contexts one (the session's plane), two (the second apiserver), dead (nothing listens)."""
    parts = [_renamed(envtest.kubeconfig, "one"), _renamed(second_envtest.kubeconfig, "two")]
    dead = _renamed(envtest.kubeconfig, "dead")
    dead[0]["cluster"]["server"] = f"https://127.0.0.1:{_free_ports(1)[0]}"
    parts.append(dead)
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "one",
           "clusters": [p[0] for p in parts], "users": [p[1] for p in parts], "contexts": [p[2] for p in parts]}
    p = tmp_path_factory.mktemp("fleet") / "kubeconfig"
    p.write_text(yaml.safe_dump(doc))
    p.chmod(0o600)
    return str(p)


@pytest.fixture
def token(fake_gitlab, monkeypatch) -> str:
    runner = fake_gitlab.add_runner("group_type", group_id=42)
    monkeypatch.setenv(TOKEN_ENV, runner.token)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return runner.token


def answers(tmp_path: Path, fake, clusters: list[dict] | None, sfx: str) -> Path:
    raw: dict = {"version": 1,
                 "gitlab": {"url": fake.url, "ca": {"file": str(fake.ca_pem_path)}, "token": f"env:{TOKEN_ENV}"},
                 "cluster": {"runner_namespace": f"fs-{sfx}", "jobs_namespace": f"fj-{sfx}"},
                 "runner": {"release_name": "gitlab-runner", "replicas": 1},
                 "node_runtime": "containerd"}
    if clusters is not None:
        raw["clusters"] = clusters
    p = tmp_path / f"fleet-{sfx}.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


def run(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(argv))
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_check_on_two_clusters_with_overrides_and_json(fleet_kubeconfig, tmp_path, fake_gitlab, token, capsys):
    sfx = uuid.uuid4().hex[:8]
    f = answers(tmp_path, fake_gitlab, [{"context": "one"},
                                        {"context": "two", "cluster": {"runner_namespace": f"ft-{sfx}"}}], sfx)
    rc, out, err = run(capsys, "check", "--answers", str(f), "--kubeconfig", fleet_kubeconfig,
                       "--all-contexts", "--json")
    doc = json.loads(out)  # stdout is one JSON document
    assert [c["context"] for c in doc["clusters"]] == ["one", "two"]
    assert rc == doc["exit"] == max(c["exit"] for c in doc["clusters"])
    for c in doc["clusters"]:
        assert c["report"]["results"], c
        assert c["checks"]["passed"] > 0 and c["checks"]["failed"] == 0, c
        assert c["exit"] == 0, c
    # the override reached cluster two only: its namespace checks name ft-…, cluster one's fs-…
    one, two = (json.dumps(c["report"]) for c in doc["clusters"])
    assert f"ft-{sfx}" in two and f"ft-{sfx}" not in one and f"fs-{sfx}" in one
    assert token not in out + err
    assert re.search(r"fleet: one: exit 0", err) and re.search(r"fleet: two: exit 0", err)


def test_one_dead_cluster_does_not_stop_the_other(fleet_kubeconfig, tmp_path, fake_gitlab, token, capsys):
    f = answers(tmp_path, fake_gitlab, None, uuid.uuid4().hex[:8])
    rc, out, err = run(capsys, "check", "--answers", str(f), "--kubeconfig", fleet_kubeconfig,
                       "--context", "dead", "--context", "one")
    assert rc == 1
    sections = re.split(r"^=== ", out, flags=re.M)
    assert sections[1].startswith("dead (exit 1") and sections[2].startswith("one (ok")
    assert "cluster." in sections[2] and "PASS" in sections[2].upper()
    table = out[out.index("check on 2 clusters"):]
    rows = {ln.split()[0]: ln.split() for ln in table.splitlines()[2:]}
    assert rows["dead"][5] == "1" and rows["one"][5] == "0"
    assert int(rows["one"][1]) > 0 and rows["one"][2] == "0"
    assert int(rows["dead"][2]) >= 1


def test_one_context_keeps_todays_output(fleet_kubeconfig, tmp_path, fake_gitlab, token, capsys):
    sfx = uuid.uuid4().hex[:8]
    plain = answers(tmp_path, fake_gitlab, None, sfx)
    rc1, out1, _ = run(capsys, "check", "--answers", str(plain), "--kubeconfig", fleet_kubeconfig, "--context", "one")
    fleet = answers(tmp_path, fake_gitlab, [{"context": "one"}, {"context": "two"}], sfx)
    rc2, out2, _ = run(capsys, "check", "--answers", str(fleet), "--kubeconfig", fleet_kubeconfig, "--context", "one")
    assert rc1 == rc2 == 0
    assert "===" not in out2 and "clusters in" not in out2
    strip = lambda s: re.sub(r"\d+(\.\d+)?\s*(ms|s)\b", "T", s)  # noqa: E731 - timings differ
    assert strip(out1) == strip(out2)


def test_bad_override_fails_its_cluster_only(fleet_kubeconfig, tmp_path, fake_gitlab, token, capsys):
    sfx = uuid.uuid4().hex[:8]
    f = answers(tmp_path, fake_gitlab, [{"context": "one"}, {"context": "two", "cluster": {"jobs_namespace": "Bad_NS"}}],
                sfx)
    rc, out, err = run(capsys, "check", "--answers", str(f), "--kubeconfig", fleet_kubeconfig, "--all-contexts")
    assert rc == 2
    assert "clusters[1].cluster.jobs_namespace" in out
    table = out[out.index("check on 2 clusters"):]
    rows = {ln.split()[0]: ln.split() for ln in table.splitlines()[2:]}
    assert rows["one"][5] == "0" and rows["two"][5] == "2"
    # a mistake in the base is every cluster's: bad input for the whole run, nothing runs
    f.write_text(f.read_text().replace("replicas: 1", "replicas: -3"))
    rc, out, err = run(capsys, "check", "--answers", str(f), "--kubeconfig", fleet_kubeconfig, "--all-contexts")
    assert rc == 2 and "runner.replicas" in err and "clusters in" not in out


def test_apply_then_diagnose_on_two_clusters(fleet_kubeconfig, tmp_path, fake_gitlab, token, capsys, monkeypatch):
    monkeypatch.setenv("RUNNER_WIZARD_VERIFY_TIMEOUT", "1")
    monkeypatch.setenv("RUNNER_WIZARD_VERIFY_GITLAB_TIMEOUT", "0")
    from wizard import apply as apply_mod

    monkeypatch.setattr(apply_mod, "_default_checks", lambda a, kubeconfig, context: [])
    sfx = uuid.uuid4().hex[:8]
    f = answers(tmp_path, fake_gitlab, [{"context": "one"},
                                        {"context": "two", "cluster": {"runner_namespace": f"ft-{sfx}"},
                                         "node_runtime": "cri-o"}], sfx)
    rc, out, err = run(capsys, "apply", "--answers", str(f), "--kubeconfig", fleet_kubeconfig, "--all-contexts",
                       "--yes", "--out", str(tmp_path / "out"))
    table = out[out.index("apply on 2 clusters"):]
    rows = {ln.split()[0]: ln.split() for ln in table.splitlines()[2:]}
    assert int(rows["one"][3]) > 0 and int(rows["two"][3]) > 0, out
    assert rc == max(int(rows["one"][5]), int(rows["two"][5]))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["one", "two"]
    assert (tmp_path / "out" / "two" / "values.yaml").is_file()
    for ctx, ns in (("one", f"fs-{sfx}"), ("two", f"ft-{sfx}")):
        k = Kube.connect(fleet_kubeconfig, ctx)
        try:
            sec = k.get(f"/api/v1/namespaces/{ns}/secrets/gitlab-runner-token")
            assert base64.b64decode(sec["data"]["runner-token"]).decode() == token
        finally:
            k.close()
    assert token not in out + err
    # rerun: the same end state, nothing changes on either cluster
    rc2, out2, _ = run(capsys, "apply", "--answers", str(f), "--kubeconfig", fleet_kubeconfig, "--all-contexts",
                       "--yes")
    table = out2[out2.index("apply on 2 clusters"):]
    rows = {ln.split()[0]: ln.split() for ln in table.splitlines()[2:]}
    assert rows["one"][3] == "0" and rows["two"][3] == "0", out2
    rc3, out3, _ = run(capsys, "diagnose", "--answers", str(f), "--kubeconfig", fleet_kubeconfig,
                       "--context", "one", "--context", "two", "--json")
    doc = json.loads(out3)
    assert [c["context"] for c in doc["clusters"]] == ["one", "two"]
    assert all(c["report"] and c["checks"] is not None for c in doc["clusters"]), doc
    assert rc3 == doc["exit"]
