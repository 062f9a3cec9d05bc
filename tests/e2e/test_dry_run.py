"""``apply --dry-run`` looks and exits like ``kubectl diff``, against a real kube-apiserver (envtest).

stdout carries the unified diff alone (progress and summary go to stderr); exit 0 when nothing
would change, 1 when something would, 3 on an error; ``KUBECTL_EXTERNAL_DIFF`` gets two
folders of YAML files; Secret values never appear.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

from tests.e2e.test_apply import TOKEN, _env, _suffix, answers_file, kube_for, run_cli  # noqa: F401 - _env: autouse
from wizard import names
from wizard.answers import load
from wizard.diff import clean

pytestmark = pytest.mark.envtest


def _installed(envtest, tmp_path, capsys, **sections):
    sfx = _suffix()
    ans = answers_file(tmp_path, sfx, **sections)
    assert run_cli(envtest, ans, tmp_path / "o", "--yes") == 1  # no helm here: applied, not verified
    capsys.readouterr()
    return sfx, ans, load(ans)


def _role_path(a) -> str:
    return (f"/apis/rbac.authorization.k8s.io/v1/namespaces/{a.cluster.jobs_namespace}/roles/"
            f"{names.manager_role(a)}")


def _drop_last_rule(kube, a) -> dict:
    """Drift made with the wizard's own field manager (as an older version would leave it): no conflict,
    and the dry run puts the rule back."""
    role = clean(kube.get(_role_path(a)))
    dropped = role["rules"][-1]
    drifted = copy.deepcopy(role)
    drifted["rules"] = role["rules"][:-1]
    kube.apply(drifted)
    return dropped


def test_nothing_to_change_exits_0_and_prints_no_diff(envtest, tmp_path, capsys):
    sfx, ans, a = _installed(envtest, tmp_path, capsys)
    rc = run_cli(envtest, ans, tmp_path / "dry", "--dry-run")
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert cap.out == ""
    assert "nothing would change" in cap.err
    assert f"unchanged Role rj-{sfx}/{names.manager_role(a)}" in cap.err


def test_a_changed_role_exits_1_with_a_unified_diff_of_the_rule(envtest, tmp_path, capsys):
    sfx, ans, a = _installed(envtest, tmp_path, capsys)
    kube = kube_for(envtest)
    dropped = _drop_last_rule(kube, a)
    before = kube.get(_role_path(a))
    rc = run_cli(envtest, ans, tmp_path / "dry", "--dry-run")
    cap = capsys.readouterr()
    assert rc == 1, cap.err
    name = f"rbac.authorization.k8s.io.v1.Role.rj-{sfx}.{names.manager_role(a)}"
    lines = cap.out.splitlines()
    assert lines[0] == f"diff -u -N live/{name} merged/{name}"
    assert lines[1] == f"--- live/{name}" and lines[2] == f"+++ merged/{name}"
    assert lines[3].startswith("@@ ")
    added = [ln[1:] for ln in lines if ln.startswith("+") and not ln.startswith("+++")]
    removed = [ln for ln in lines if ln.startswith("-") and not ln.startswith("---")]
    assert removed == []
    for resource in dropped["resources"]:
        assert f"  - {resource}" in added
    for verb in dropped["verbs"]:
        assert f"  - {verb}" in added
    # only the Role differs: no other object, no server bookkeeping in the diff
    assert cap.out.count("diff -u -N") == 1
    for noise in ("managedFields", "resourceVersion", "uid:", "creationTimestamp", "generation"):
        assert noise not in cap.out
    assert f"would change Role rj-{sfx}/{names.manager_role(a)}" in cap.err
    assert kube.get(_role_path(a))["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


def test_new_objects_diff_from_nothing_and_secret_values_never_show(envtest, tmp_path, capsys, monkeypatch):
    sfx = _suffix()
    ans = answers_file(tmp_path, sfx)
    a = load(ans)
    rc = run_cli(envtest, ans, tmp_path / "dry", "--dry-run")
    cap = capsys.readouterr()
    assert rc == 1, cap.err
    assert f"--- /dev/null\n+++ merged/v1.Namespace..rs-{sfx}" in cap.out
    secret = f"v1.Secret.rs-{sfx}.{names.token_secret(a)}"
    assert f"+++ merged/{secret}" in cap.out
    assert "+  runner-token: '***'" in cap.out
    assert TOKEN not in cap.out + cap.err

    # the stored token changes: the diff says the value changes, never what it was or becomes
    assert run_cli(envtest, ans, tmp_path / "o", "--yes") == 1
    capsys.readouterr()
    monkeypatch.setenv("RUNNER_TOKEN", "glrt-t1_SecondToken00002")
    rc = run_cli(envtest, ans, tmp_path / "dry2", "--dry-run")
    cap = capsys.readouterr()
    assert rc == 1, cap.err
    assert "-  runner-token: '*** (before)'\n+  runner-token: '*** (after)'" in cap.out
    assert cap.out.count("diff -u -N") == 1
    for secret_text in (TOKEN, "glrt-t1_SecondToken00002"):
        assert secret_text not in cap.out + cap.err
    import base64

    for t in (TOKEN, "glrt-t1_SecondToken00002"):
        assert base64.b64encode(t.encode()).decode() not in cap.out


_RECORDER = r"""#!/usr/bin/env python3
import json, os, sys
live, merged = sys.argv[-2], sys.argv[-1]
def files(d):
    out = {}
    for n in sorted(os.listdir(d)):
        p = os.path.join(d, n)
        out[n] = {"text": open(p).read(), "mode": oct(os.stat(p).st_mode & 0o777)}
    return out
doc = {"argv": sys.argv[1:], "live": files(live), "merged": files(merged), "env": dict(os.environ),
       "dir_modes": [oct(os.stat(d).st_mode & 0o777) for d in (live, merged)]}
with open(os.environ.get("HOME") + "/record.json", "w") as f:
    json.dump(doc, f)
sys.exit(int(open(os.environ.get("HOME") + "/exit").read()))
"""


@pytest.fixture
def recorder(tmp_path, monkeypatch):
    """A diff program that records its arguments, both folders and its environment (in $HOME)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "exit").write_text("1")
    prog = tmp_path / "record-diff"
    prog.write_text(_RECORDER.replace("/usr/bin/env python3", sys.executable))
    prog.chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KUBECTL_EXTERNAL_DIFF", f"{prog} -u -N --color=always $(rm) ;x")
    monkeypatch.setenv("RUNNER_WIZARD_SOMETHING", "not for the diff program")
    return home


def test_kubectl_external_diff_gets_two_folders_of_yaml(envtest, tmp_path, capsys, recorder):
    sfx, ans, a = _installed(envtest, tmp_path, capsys)
    dropped = _drop_last_rule(kube_for(envtest), a)
    rc = run_cli(envtest, ans, tmp_path / "dry", "--dry-run")
    cap = capsys.readouterr()
    assert rc == 1, cap.err
    assert cap.out == ""  # the program shows the diff, not runner-wizard
    doc = json.loads((recorder / "record.json").read_text())
    # kubectl's rule: extra words only when made of letters, digits, - and =; then LIVE and MERGED
    assert doc["argv"][:3] == ["-u", "-N", "--color=always"] and len(doc["argv"]) == 5
    live_dir, merged_dir = doc["argv"][3], doc["argv"][4]
    assert Path(live_dir).name.startswith("LIVE-") and Path(merged_dir).name.startswith("MERGED-")
    assert not Path(live_dir).exists() and not Path(merged_dir).exists()  # removed afterwards
    assert doc["dir_modes"] == ["0o700", "0o700"]
    role = f"rbac.authorization.k8s.io.v1.Role.rj-{sfx}.{names.manager_role(a)}"
    assert role in doc["live"] and role in doc["merged"]
    assert doc["live"][role]["text"] != doc["merged"][role]["text"]
    assert dropped["resources"][0] in doc["merged"][role]["text"]
    expected = {f"v1.Namespace..rs-{sfx}", f"v1.Namespace..rj-{sfx}", f"v1.Secret.rs-{sfx}.{names.token_secret(a)}",
                f"v1.ServiceAccount.rs-{sfx}.{a.cluster.manager_service_account}", role}
    assert expected <= set(doc["merged"])
    assert all(f["mode"] == "0o600" for f in [*doc["live"].values(), *doc["merged"].values()])
    texts = json.dumps(doc["live"]) + json.dumps(doc["merged"])
    assert TOKEN not in texts and "managedFields" not in texts and "resourceVersion" not in texts
    assert "runner-token: '***'" in doc["merged"][f"v1.Secret.rs-{sfx}.{names.token_secret(a)}"]["text"]
    # the minimal environment: no token, none of runner-wizard's variables, not even the diff setting
    env = doc["env"]
    assert "RUNNER_TOKEN" not in env and "KUBECTL_EXTERNAL_DIFF" not in env
    assert not [k for k in env if k.startswith("RUNNER_WIZARD")]
    assert set(env) <= {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TERM",
                        "COLORTERM", "NO_COLOR", "TZ", "TMPDIR", "DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR"}
    assert env["HOME"] == str(recorder)


def test_kubectl_external_diff_failing_or_missing_is_an_error(envtest, tmp_path, capsys, recorder, monkeypatch):
    sfx, ans, a = _installed(envtest, tmp_path, capsys)
    (recorder / "exit").write_text("2")
    rc = run_cli(envtest, ans, tmp_path / "dry", "--dry-run")
    cap = capsys.readouterr()
    assert rc == 3, cap.err
    assert "KUBECTL_EXTERNAL_DIFF" in cap.err and "exited 2" in cap.err
    # nothing differs and the program says so: 0
    (recorder / "exit").write_text("0")
    assert run_cli(envtest, ans, tmp_path / "dry", "--dry-run") == 0
    capsys.readouterr()
    monkeypatch.setenv("KUBECTL_EXTERNAL_DIFF", str(tmp_path / "no-such-diff"))
    rc = run_cli(envtest, ans, tmp_path / "dry", "--dry-run")
    cap = capsys.readouterr()
    assert rc == 3 and "cannot run" in cap.err


def test_an_unreachable_cluster_is_an_error_not_a_difference(envtest, tmp_path, capsys, refused_port):
    import yaml

    sfx = _suffix()
    ans = answers_file(tmp_path, sfx)
    kc = yaml.safe_load(Path(envtest.kubeconfig).read_text())
    for c in kc["clusters"]:
        c["cluster"]["server"] = f"https://127.0.0.1:{refused_port}"
    bad = tmp_path / "refused.kubeconfig"
    bad.write_text(yaml.safe_dump(kc))
    rc = run_cli(envtest, ans, tmp_path / "dry", "--dry-run", kubeconfig=str(bad))
    cap = capsys.readouterr()
    assert rc == 3, cap.out + cap.err
    assert cap.out == ""


def test_bad_settings_are_bad_input_and_nothing_is_written(envtest, tmp_path, capsys, monkeypatch):
    sfx = _suffix()
    ans = answers_file(tmp_path, sfx)
    out = tmp_path / "never"
    for extra, named in ((["--verify-timeout", "soon"], "--verify-timeout"),
                         (["--helm-timeout", "0"], "--helm-timeout"),
                         (["--chart", "oci://registry.example.test"], "--chart"),
                         (["--chart-version", "0.12.0"], "--chart-version"),
                         (["--token-lifetime", "0h"], "--token-lifetime")):
        rc = run_cli(envtest, ans, out, "--yes", *extra)
        cap = capsys.readouterr()
        assert rc == 2, cap.err
        assert f"{named}:" in cap.err and "nothing was written or applied" in cap.err
        assert not out.exists()
    monkeypatch.setenv("RUNNER_WIZARD_HELM_TIMEOUT", "forever")
    rc = run_cli(envtest, ans, out, "--yes")
    cap = capsys.readouterr()
    assert rc == 2 and "RUNNER_WIZARD_HELM_TIMEOUT:" in cap.err
    assert not out.exists()
    assert kube_for(envtest).get_or_none(f"/api/v1/namespaces/rs-{sfx}") is None
    # the option wins over its variable
    rc = run_cli(envtest, ans, tmp_path / "dry", "--dry-run", "--helm-timeout", "60")
    capsys.readouterr()
    assert rc == 1


def test_settings_reach_the_code_that_uses_them(envtest, tmp_path, capsys):
    """--token-lifetime reaches the TokenRequest, --verify-timeout the wait (external mode: no helm)."""
    import tomllib

    from wizard.tokens import _jwt_claims

    sfx = _suffix()
    ans = answers_file(tmp_path, sfx, cluster={"mode": "external"})
    out = tmp_path / "o"
    rc = run_cli(envtest, ans, out, "--yes", "--token-lifetime", "2h", "--verify-timeout", "0")
    cap = capsys.readouterr()
    assert rc == 0, cap.out + cap.err
    k = tomllib.loads((out / "config.toml").read_text())["runners"][0]["kubernetes"]
    claims = _jwt_claims(k["bearer_token"])
    assert 7000 < claims["exp"] - claims["iat"] <= 7200
