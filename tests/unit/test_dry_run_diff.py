"""The pieces of ``apply --dry-run``'s kubectl-style diff (:mod:`wizard.diff`), without a cluster.
The e2e suite (tests/e2e/test_dry_run.py) runs them against the real API server."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st

from wizard import console, diff

LIVE_ROLE = {
    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
    "metadata": {"name": "m", "namespace": "jobs", "uid": "u-1", "resourceVersion": "42", "generation": 3,
                 "creationTimestamp": "2026-01-01T00:00:00Z",
                 "managedFields": [{"manager": "runner-wizard", "operation": "Apply"}],
                 "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
    "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
}


def _merged_role():
    import copy

    m = copy.deepcopy(LIVE_ROLE)
    m["metadata"]["resourceVersion"] = "43"
    m["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]})
    return m


def test_file_names_follow_kubectl():
    assert diff.file_name(LIVE_ROLE) == "rbac.authorization.k8s.io.v1.Role.jobs.m"
    assert diff.file_name({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ci"}}) == "v1.Namespace..ci"
    assert diff.file_name({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "../x", "namespace": "a/b"}}) \
        == "v1.Secret.a_b..._x"  # one file name, never a path


def test_noise_is_stripped():
    c = diff.clean({**LIVE_ROLE, "status": {"x": 1}})
    assert set(c["metadata"]) == {"name", "namespace"}
    assert "status" not in c


def test_unified_diff_of_a_changed_role():
    text = diff.unified([diff.object_pair(LIVE_ROLE, _merged_role())])
    lines = text.splitlines()
    assert lines[:3] == ["diff -u -N live/rbac.authorization.k8s.io.v1.Role.jobs.m "
                         "merged/rbac.authorization.k8s.io.v1.Role.jobs.m",
                         "--- live/rbac.authorization.k8s.io.v1.Role.jobs.m",
                         "+++ merged/rbac.authorization.k8s.io.v1.Role.jobs.m"]
    assert "+  - secrets" in lines and "+  - create" in lines
    assert not [ln for ln in lines if ln.startswith("-") and not ln.startswith("---")]
    assert "resourceVersion" not in text and "uid" not in text


def test_nothing_changed_prints_nothing_and_new_objects_come_from_dev_null():
    assert diff.unified([diff.object_pair(LIVE_ROLE, {**LIVE_ROLE, "metadata": {**LIVE_ROLE["metadata"],
                                                                               "resourceVersion": "99"}})]) == ""
    text = diff.unified([diff.object_pair(None, _merged_role())])
    assert "--- /dev/null\n+++ merged/rbac.authorization.k8s.io.v1.Role.jobs.m\n" in text


def _secret(**data):
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t", "namespace": "r"}, "type": "Opaque",
            "data": data}


def test_secret_values_are_masked_and_changes_marked():
    live = _secret(**{"runner-token": "b2xk", "same": "c2FtZQ==", "gone": "eA=="})
    merged = _secret(**{"runner-token": "bmV3", "same": "c2FtZQ==", "added": "eQ=="})
    p = diff.object_pair(live, merged)
    text = diff.unified([p])
    for raw in ("b2xk", "bmV3", "c2FtZQ==", "eA==", "eQ=="):
        assert raw not in p.live + p.merged + text
    assert "-  runner-token: '*** (before)'" in text.splitlines() and "+  runner-token: '*** (after)'" in text.splitlines()
    assert "  same: '***'" in p.live and "  same: '***'" in p.merged
    assert "-  gone: '***'" in text and "+  added: '***'" in text
    assert live["data"]["runner-token"] == "b2xk"  # the inputs are not changed


_KEYS = st.from_regex(r"[a-z][a-z0-9.-]{0,10}", fullmatch=True)
_VALUES = st.from_regex(r"S3cr3t[A-Za-z0-9+/]{4,20}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=4), st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_no_secret_value_ever_reaches_the_diff(a, b):
    live, merged = _secret(**a), {**_secret(**b), "stringData": dict(b)}
    p = diff.object_pair(live, merged)
    shown = p.live + p.merged + diff.unified([p])
    assert "S3cr3t" not in shown
    assert set(a) <= set(__import__("yaml").safe_load(p.live)["data"])  # the keys are shown


def test_release_values_diff_masks_token_like_keys():
    state = SimpleNamespace(chart="gitlab-runner-0.86.0", status="deployed",
                            values={"replicas": 2, "runnerToken": "glrt-oldsecret", "certsSecretName": "ca"})
    p = diff.release_pair("ns", "rel", state, "gitlab-runner-0.86.0", {"replicas": 3, "certsSecretName": "ca"})
    text = diff.unified([p])
    assert p.name == "helm.sh.v3.Release.ns.rel"
    assert "-  replicas: 2" in text.splitlines() and "+  replicas: 3" in text.splitlines()
    assert "glrt-oldsecret" not in text and "-  runnerToken: '***'" in text
    assert "certsSecretName: ca" in text  # a Secret's name is not a secret
    same = diff.release_pair("ns", "rel", state, "gitlab-runner-0.86.0", state.values)
    assert not same.changed
    new = diff.release_pair("ns", "rel", None, "gitlab-runner-0.86.0", {"replicas": 1})
    assert "--- /dev/null" in diff.unified([new])


def test_external_command_follows_kubectls_rules():
    assert diff.external_command({}) is None
    assert diff.external_command({"KUBECTL_EXTERNAL_DIFF": "  "}) is None
    assert diff.external_command({"KUBECTL_EXTERNAL_DIFF": "meld"}) == ["meld"]
    assert diff.external_command({"KUBECTL_EXTERNAL_DIFF": "colordiff -N -u --color=always $(rm -rf) a;b"}) == \
        ["colordiff", "-N", "-u", "--color=always"]


def test_child_env_is_minimal():
    env = diff.child_env({"PATH": "/bin", "HOME": "/h", "LANG": "C", "RUNNER_TOKEN": "x", "GITLAB_API_TOKEN": "y",
                          "KUBECTL_EXTERNAL_DIFF": "d", "RUNNER_WIZARD_CHART": "c", "AWS_SECRET_ACCESS_KEY": "z",
                          "TERM": "xterm"})
    assert env == {"PATH": "/bin", "HOME": "/h", "LANG": "C", "TERM": "xterm"}


def test_run_external_writes_both_folders_and_cleans_up(tmp_path):
    seen = {}

    def runner(argv, env, stdin):
        live, merged = Path(argv[-2]), Path(argv[-1])
        seen["argv"] = argv
        seen["live"] = sorted(p.name for p in live.iterdir())
        seen["merged"] = {p.name: p.read_text() for p in merged.iterdir()}
        seen["env"] = env
        return subprocess.CompletedProcess(argv, 1)

    pairs = [diff.object_pair(LIVE_ROLE, _merged_role()), diff.object_pair(None, _secret(k="dg=="))]
    assert diff.run_external(["mydiff", "-u"], pairs, environ={"PATH": "/bin", "RUNNER_TOKEN": "x"},
                             runner=runner) == 1
    assert seen["argv"][:2] == ["mydiff", "-u"]
    assert Path(seen["argv"][2]).name.startswith("LIVE-") and Path(seen["argv"][3]).name.startswith("MERGED-")
    assert not Path(seen["argv"][2]).exists()
    assert seen["live"] == ["rbac.authorization.k8s.io.v1.Role.jobs.m"]  # a new object has no live file
    assert set(seen["merged"]) == {"rbac.authorization.k8s.io.v1.Role.jobs.m", "v1.Secret.r.t"}
    assert "dg==" not in seen["merged"]["v1.Secret.r.t"]
    assert seen["env"] == {"PATH": "/bin"}


@pytest.mark.parametrize("rc", [2, 127, -9])
def test_run_external_failure_is_an_error(rc):
    with pytest.raises(diff.DiffProgramError, match=f"exited {rc}"):
        diff.run_external(["d"], [], environ={}, runner=lambda argv, env, stdin: subprocess.CompletedProcess(argv, rc))


def _report(**kw):
    base = dict(stopped="", changed=False, objects=[], release=None, helm_action="", out_dir=None)
    base.update(kw)
    return SimpleNamespace(**base)


_ANSWERS = SimpleNamespace(cluster=SimpleNamespace(mode="helm", runner_namespace="ns"),
                           runner=SimpleNamespace(release_name="rel", chart_version="0.86.0"))


def test_exit_codes_like_kubectl_diff(tmp_path):
    same = SimpleNamespace(live=LIVE_ROLE, wanted=LIVE_ROLE)
    changed = SimpleNamespace(live=LIVE_ROLE, wanted=_merged_role())
    out = io.StringIO()
    assert console.show_dry_run(_report(objects=[same]), _ANSWERS, out=out, environ={}) == 0 and out.getvalue() == ""
    assert console.show_dry_run(_report(objects=[same, changed], changed=True), _ANSWERS, out=out, environ={}) == 1
    assert out.getvalue().count("diff -u -N") == 1
    assert console.show_dry_run(_report(stopped="checks"), _ANSWERS, out=io.StringIO(), environ={}) == 3
    # the release: an upgrade shows as a values diff
    (tmp_path / "values.yaml").write_text("replicas: 3\n")
    state = SimpleNamespace(chart="gitlab-runner-0.86.0", status="deployed", values={"replicas": 2})
    out = io.StringIO()
    rc = console.show_dry_run(_report(helm_action="would-upgrade", release=state, out_dir=tmp_path, changed=True),
                           _ANSWERS, out=out, environ={})
    assert rc == 1 and "+++ merged/helm.sh.v3.Release.ns.rel" in out.getvalue()
