"""``runner-wizard apply`` against a real kube-apiserver (envtest), a fake GitLab and a real helm.

Every test uses fresh namespace names (the session's control plane is shared).
The live checks are replaced by a stub (``wizard.apply._default_checks``) except where a
test is about them; they are covered by their own suite.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import stat
import sys
import threading
import time
import tomllib
import uuid
from pathlib import Path

import pytest
import yaml

from tests.support import charts
from tests.support.apply_env import isolate_apply_env
from wizard import apply as apply_mod
from wizard import names
from wizard.answers import load
from wizard.apply import apply
from wizard.cli import main
from wizard.diff import normalize
from wizard.kube import Kube
from wizard.progress import Collecting
from wizard.results import Result, Status

pytestmark = pytest.mark.envtest

REPO = Path(__file__).resolve().parents[2]
TOKEN = "glrt-t1_TestRunnerToken0001"


# ---------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    """No helm unless a test asks; short verification; checks stubbed; helm state private."""
    isolate_apply_env(monkeypatch, tmp_path, TOKEN, verify_timeout="1")
    monkeypatch.setattr(apply_mod, "_default_checks", lambda a, kubeconfig, context: [])


def _suffix() -> str:
    return uuid.uuid4().hex[:8]


def answers_file(tmp_path: Path, sfx: str, *, gitlab_url: str = "https://gitlab.example.test/",
                 ca_file: str | None = None, **sections) -> Path:
    raw = {
        "version": 1,
        "gitlab": {"url": gitlab_url, "token": "env:RUNNER_TOKEN"},
        "cluster": {"runner_namespace": f"rs-{sfx}", "jobs_namespace": f"rj-{sfx}"},
        "runner": {"release_name": "gitlab-runner", "replicas": 1},
        "host_aliases": [{"ip": "10.1.2.3", "hostnames": ["gitlab.example.test"]}],
        "node_runtime": "containerd",
    }
    if ca_file:
        raw["gitlab"]["ca"] = {"file": ca_file}
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key].update(value)
        else:
            raw[key] = value
    if "create_runner" in raw["gitlab"]:
        raw["gitlab"].pop("token", None)
    p = tmp_path / f"answers-{sfx}.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


def run_cli(envtest, answers: Path, out: Path, *extra: str, kubeconfig: str | None = None) -> int:
    return main(["apply", "--answers", str(answers), "--out", str(out),
                 "--kubeconfig", kubeconfig or str(envtest.kubeconfig), *extra])


def kube_for(envtest) -> Kube:
    return Kube.connect(str(envtest.kubeconfig))


def get(kube: Kube, path: str):
    return kube.get_or_none(path)


def ns_objects(kube: Kube, a) -> dict[str, dict]:
    """Every object the wizard manages for these answers, without metadata noise, names made generic."""
    rns, jns = a.cluster.runner_namespace, a.cluster.jobs_namespace
    paths = {
        "ns-r": f"/api/v1/namespaces/{rns}",
        "ns-j": f"/api/v1/namespaces/{jns}",
        "sa-m": f"/api/v1/namespaces/{rns}/serviceaccounts/{a.cluster.manager_service_account}",
        "sa-j": f"/api/v1/namespaces/{jns}/serviceaccounts/{a.cluster.job_service_account}",
        "role": f"/apis/rbac.authorization.k8s.io/v1/namespaces/{jns}/roles/{names.manager_role(a)}",
        "rb": f"/apis/rbac.authorization.k8s.io/v1/namespaces/{jns}/rolebindings/{names.manager_role(a)}",
        "secret": f"/api/v1/namespaces/{rns}/secrets/{names.token_secret(a)}",
        "ca": f"/api/v1/namespaces/{rns}/secrets/{names.ca_secret(a)}",
    }
    out = {}
    for key, path in paths.items():
        obj = kube.get_or_none(path)
        if obj is None:
            out[key] = None
            continue
        obj = normalize(obj)
        obj.pop("status", None)
        text = json.dumps(obj, sort_keys=True).replace(rns, "RNS").replace(jns, "JNS")
        out[key] = json.loads(text)
    return out


def all_output(capsys) -> str:
    cap = capsys.readouterr()
    return cap.out + cap.err


def files_text(out: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in out.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------- first and second apply


def test_first_apply_creates_everything_and_second_changes_nothing(envtest, tmp_path, capsys):
    sfx = _suffix()
    ans = answers_file(tmp_path, sfx)
    out = tmp_path / "out"
    rc = run_cli(envtest, ans, out, "--yes")
    text = all_output(capsys)
    # no helm on PATH -> the release is not installed -> not verified, exact command given
    assert rc == 1, text
    assert "helm upgrade --install gitlab-runner" in text
    assert "NOT VERIFIED" in text
    assert "helm upgrade --install gitlab-runner" in (out / "NEXT-STEPS.md").read_text()

    a = load(ans)
    kube = kube_for(envtest)
    objs = ns_objects(kube, a)
    for key in ("ns-r", "ns-j", "sa-m", "sa-j", "role", "rb", "secret"):
        assert objs[key] is not None, key
    sec = kube.get(f"/api/v1/namespaces/{a.cluster.runner_namespace}/secrets/{names.token_secret(a)}")
    assert base64.b64decode(sec["data"]["runner-token"]).decode() == TOKEN
    assert base64.b64decode(sec["data"]["runner-registration-token"]).decode() == ""
    managers = {m["manager"] for m in sec["metadata"]["managedFields"]}
    assert managers == {"runner-wizard"}
    assert objs["rb"]["subjects"][0]["name"] == a.cluster.manager_service_account
    # the token never reaches disk or the terminal
    assert TOKEN not in text
    assert TOKEN not in files_text(out)

    t0 = time.monotonic()
    rc2 = run_cli(envtest, ans, out, "--yes")
    elapsed = time.monotonic() - t0
    text2 = all_output(capsys)
    assert rc2 == 1
    assert "Nothing changed: the cluster already matches the answers." in text2
    assert "created" not in text2.replace("created or changed", "")
    assert ns_objects(kube, a) == objs
    print(f"no-change second apply took {elapsed:.2f}s", file=sys.__stdout__)
    assert elapsed < 10


def test_python_api_second_apply_writes_nothing(envtest, tmp_path):
    a = load(answers_file(tmp_path, _suffix()))
    kube = kube_for(envtest)
    first = apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True)
    assert first.writes == 7 and first.changed
    events = Collecting()
    second = apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True, reporter=events)
    assert second.writes == 0
    assert not second.changed
    assert {o.action for o in second.objects} == {"unchanged"}
    assert any("nothing changed" in e.message for e in events.events)


# ---------------------------------------------------------------------------- dry run and backup


def test_dry_run_creates_nothing_and_shows_diff_after_an_edit(envtest, tmp_path, capsys):
    sfx = _suffix()
    ans = answers_file(tmp_path, sfx)
    a = load(ans)
    kube = kube_for(envtest)
    rc = run_cli(envtest, ans, tmp_path / "dry", "--dry-run")
    text = all_output(capsys)
    assert rc == 1, text  # like kubectl diff: something would change
    assert f"would create Namespace rs-{sfx}" in text
    assert f"would create Secret rs-{sfx}/gitlab-runner-token" in text
    assert "Nothing was changed" in text
    assert kube.get_or_none(f"/api/v1/namespaces/rs-{sfx}") is None
    assert TOKEN not in text

    assert run_cli(envtest, ans, tmp_path / "o", "--yes") == 1
    all_output(capsys)
    before = ns_objects(kube, a)

    edited = answers_file(tmp_path, sfx, cluster={"job_api_access": "view"})
    rc = run_cli(envtest, edited, tmp_path / "dry2", "--dry-run")
    text = all_output(capsys)
    assert rc == 1, text
    assert f"would change ServiceAccount rj-{sfx}/gitlab-runner-job" in text
    assert "-automountServiceAccountToken: false\n+automountServiceAccountToken: true" in text
    assert f"would create RoleBinding rj-{sfx}/gitlab-runner-job-view" in text
    assert f"unchanged Role rj-{sfx}/gitlab-runner-manager" in text
    assert ns_objects(kube, a) == before
    assert kube.get_or_none(f"/apis/rbac.authorization.k8s.io/v1/namespaces/rj-{sfx}/rolebindings/"
                            "gitlab-runner-job-view") is None


def test_backup_of_changed_objects_keeps_secret_keys_only(envtest, tmp_path, capsys, monkeypatch):
    sfx = _suffix()
    ans = answers_file(tmp_path, sfx)
    out = tmp_path / "o"
    run_cli(envtest, ans, out, "--yes")
    assert not list(out.glob("backup-*.yaml"))
    edited = answers_file(tmp_path, sfx, cluster={"job_api_access": "view"})
    monkeypatch.setenv("RUNNER_TOKEN", "glrt-t1_SecondToken00002")
    all_output(capsys)
    run_cli(envtest, edited, out, "--yes")
    text = all_output(capsys)
    backups = list(out.glob("backup-*.yaml"))
    assert len(backups) == 1, text
    b = backups[0]
    assert stat.S_IMODE(b.stat().st_mode) == 0o600
    content = b.read_text()
    docs = [d for d in yaml.safe_load_all(content) if d]
    sa = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert sa["automountServiceAccountToken"] is False  # the version before the change
    assert "managedFields" not in sa["metadata"] and "resourceVersion" not in sa["metadata"]
    assert not any(d["kind"] == "Secret" for d in docs)
    assert f"Secret rs-{sfx}/gitlab-runner-token" in content and "runner-token" in content
    assert TOKEN not in content and "glrt-t1_SecondToken00002" not in content
    assert "Backup of changed objects" in text


# ---------------------------------------------------------------------------- conflicts


def test_conflict_with_another_manager_is_reported_then_forced(envtest, tmp_path, capsys):
    sfx = _suffix()
    ans = answers_file(tmp_path, sfx)
    a = load(ans)
    out = tmp_path / "o"
    run_cli(envtest, ans, out, "--yes")
    kube = kube_for(envtest)
    role_path = f"/apis/rbac.authorization.k8s.io/v1/namespaces/rj-{sfx}/roles/{names.manager_role(a)}"
    theirs = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
              "metadata": {"name": names.manager_role(a), "namespace": f"rj-{sfx}"},
              "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}
    kube.apply(theirs, force=True, field_manager="someone-else")
    wanted_rules = ns_objects(kube, a)["role"]["rules"]
    assert wanted_rules == theirs["rules"]
    all_output(capsys)

    rc = run_cli(envtest, ans, out, "--yes")
    text = all_output(capsys)
    assert rc == 1
    assert f"conflict Role rj-{sfx}/{names.manager_role(a)}" in text
    assert "--force-conflicts" in text
    assert kube.get(role_path)["rules"] == theirs["rules"]  # not overwritten

    rc = run_cli(envtest, ans, out, "--yes", "--force-conflicts")
    text = all_output(capsys)
    rules = kube.get(role_path)["rules"]
    assert any("pods/attach" in r["resources"] for r in rules), text
    owners = {m["manager"] for m in kube.get(role_path)["metadata"]["managedFields"]
              if "f:rules" in json.dumps(m.get("fieldsV1", {}))}
    assert owners == {"runner-wizard"}


# ---------------------------------------------------------------------------- faults


# The stop-after-every-write loop, with the real checks, helm and both token modes, and the
# SIGKILL variant live in tests/e2e/test_resume.py.


def _ca_pem(tmp_path: Path) -> Path:
    """A throwaway self-signed CA for the CA-Secret path (content irrelevant to apply)."""
    p = tmp_path / "gitlab-ca.pem"
    if not p.exists():
        from tests.support.tlsfactory import make_loopback_pki

        pki = make_loopback_pki(tmp_path / "pki")
        shutil.copy(pki.ca_pem_path, p)
    return p


class _FreezingProxy:
    """A loopback TCP proxy to the API server that can start swallowing traffic (a hung server)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.frozen = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self._socks.append(c)
            if self.frozen.is_set():
                continue
            u = socket.create_connection(self.target)
            self._socks.append(u)
            threading.Thread(target=self._pipe, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()

    def _pipe(self, src, dst):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                return
            if self.frozen.is_set():
                continue  # swallow: the peer waits forever
            try:
                dst.sendall(data)
            except OSError:
                return

    def close(self):
        self.sock.close()
        for s in self._socks:
            try:
                s.close()
            except OSError:
                pass


def test_apiserver_that_stops_answering_mid_apply_gives_clear_error_within_seconds(envtest, tmp_path):
    from urllib.parse import urlsplit

    doc = yaml.safe_load(Path(envtest.kubeconfig).read_text())
    server = urlsplit(doc["clusters"][0]["cluster"]["server"])
    proxy = _FreezingProxy((server.hostname, server.port))
    try:
        doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
        kc = tmp_path / "proxied.kubeconfig"
        kc.write_text(yaml.safe_dump(doc))
        kube = Kube.connect(str(kc))
        a = load(answers_file(tmp_path, _suffix()))
        froze_at: list[float] = []

        def reporter(ev):
            if ev.step == "apply" and ev.message.startswith("created") and not froze_at:
                proxy.frozen.set()
                froze_at.append(time.monotonic())

        report = apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True, reporter=reporter)
        waited = time.monotonic() - froze_at[0]
        assert report.stopped == "error"
        assert "stopped answering" in report.error
        assert report.exit_code == 1
        assert waited < 12, f"took {waited:.1f}s to give up"
    finally:
        proxy.close()


def test_refused_apiserver_is_a_clear_error(envtest, tmp_path, capsys, refused_port):
    doc = yaml.safe_load(Path(envtest.kubeconfig).read_text())
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{refused_port}"
    kc = tmp_path / "refused.kubeconfig"
    kc.write_text(yaml.safe_dump(doc))
    t0 = time.monotonic()
    rc = run_cli(envtest, answers_file(tmp_path, _suffix()), tmp_path / "o", "--yes", kubeconfig=str(kc))
    text = all_output(capsys)
    assert rc == 1
    assert time.monotonic() - t0 < 10
    assert "stopped answering" in text and str(refused_port) in text


# ---------------------------------------------------------------------------- checks gate


def test_failing_check_stops_before_anything_is_touched(envtest, tmp_path, capsys, monkeypatch):
    sfx = _suffix()
    failing = Result(id="gitlab.reachable", area="gitlab", status=Status.FAIL, title="GitLab reachable",
                     detail="TCP connection refused", fix="start GitLab")
    warning = Result(id="x.warn", area="x", status=Status.WARN, title="something odd", detail="d")
    monkeypatch.setattr(apply_mod, "_default_checks", lambda a, kubeconfig, context: [warning, failing])
    rc = run_cli(envtest, answers_file(tmp_path, sfx), tmp_path / "o", "--yes")
    text = all_output(capsys)
    assert rc == 1
    assert "GitLab reachable: TCP connection refused" in text
    assert "nothing was changed" in text
    assert kube_for(envtest).get_or_none(f"/api/v1/namespaces/rs-{sfx}") is None

    # warnings alone are printed and accepted when headless
    monkeypatch.setattr(apply_mod, "_default_checks", lambda a, kubeconfig, context: [warning])
    rc = run_cli(envtest, answers_file(tmp_path, sfx), tmp_path / "o")
    text = all_output(capsys)
    assert "something odd" in text
    assert kube_for(envtest).get_or_none(f"/api/v1/namespaces/rs-{sfx}") is not None


# ---------------------------------------------------------------------------- GitLab: create_runner


def _create_runner_answers(tmp_path, sfx, fake, tls_ca, **extra):
    return answers_file(tmp_path, sfx, gitlab_url=fake.url, ca_file=str(tls_ca.ca_pem_path),
                        gitlab={"create_runner": {"api_token": "env:GL_API_TOKEN", "runner_type": "group_type",
                                                  "group_id": 42, "description": "k8s runner",
                                                  "tags": ["k8s"]}}, **extra)


def test_create_runner_once_and_keep_its_token_only_in_the_secret(envtest, tmp_path, capsys, monkeypatch,
                                                                  fake_gitlab, tls_ca):
    fake_gitlab.add_user_token("glpat-createonly", ["create_runner"], groups={42: "owner"})
    monkeypatch.setenv("GL_API_TOKEN", "glpat-createonly")
    sfx = _suffix()
    ans = _create_runner_answers(tmp_path, sfx, fake_gitlab, tls_ca)
    out = tmp_path / "o"
    rc = run_cli(envtest, ans, out, "--yes")
    text = all_output(capsys)
    assert rc == 1, text  # no helm: not verified
    assert len(fake_gitlab.runners) == 1
    runner = next(iter(fake_gitlab.runners.values()))
    assert f"Runner id: {runner.id}" in text
    assert fake_gitlab.requests_to("/user", "GET") == []  # create_runner-only token: never GET /user
    a = load(ans)
    kube = kube_for(envtest)
    sec = kube.get(f"/api/v1/namespaces/rs-{sfx}/secrets/{names.token_secret(a)}")
    assert base64.b64decode(sec["data"]["runner-token"]).decode() == runner.token
    assert sec["metadata"]["annotations"]["runner-wizard/runner-id"] == str(runner.id)
    assert runner.token not in text
    assert runner.token not in files_text(out)
    assert runner.tag_list == ["k8s"]

    rc = run_cli(envtest, ans, out, "--yes")
    text = all_output(capsys)
    assert len(fake_gitlab.runners) == 1, "a second runner was created"
    assert "Nothing changed" in text
    assert runner.token not in text
    # the verify check leaves no manager row behind
    assert fake_gitlab.managers(runner.id) == []


def test_stale_token_is_reregistered(envtest, tmp_path, capsys, monkeypatch, fake_gitlab, tls_ca):
    """Seed 003: the Secret holds a token GitLab rejects (403)."""
    fake_gitlab.add_user_token("glpat-api", ["api"], groups={42: "owner"})
    monkeypatch.setenv("GL_API_TOKEN", "glpat-api")
    old = fake_gitlab.add_runner("group_type", group_id=42)
    sfx = _suffix()
    ans = _create_runner_answers(tmp_path, sfx, fake_gitlab, tls_ca)
    a = load(ans)
    kube = kube_for(envtest)
    rns = f"rs-{sfx}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": rns}})
    stale = "glrt-t1_RevokedToken00000"
    kube.apply({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": names.token_secret(a), "namespace": rns,
                             "annotations": {"runner-wizard/runner-id": str(old.id)}},
                "data": {"runner-token": base64.b64encode(stale.encode()).decode(),
                         "runner-registration-token": ""}})
    dep = names.deployment(a)
    kube.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": dep, "namespace": rns},
                "spec": {"selector": {"matchLabels": {"app": dep}},
                         "template": {"metadata": {"labels": {"app": dep}},
                                      "spec": {"containers": [{"name": "r", "image": "busybox"}]}}}},
               field_manager="helm")

    # headless without --yes: the question takes its default (no) and nothing changes
    rc = run_cli(envtest, ans, tmp_path / "o")
    text = all_output(capsys)
    assert rc == 1
    assert "re-registration was declined" in text
    assert set(fake_gitlab.runners) == {old.id}

    rc = run_cli(envtest, ans, tmp_path / "o", "--yes")
    text = all_output(capsys)
    assert old.id not in fake_gitlab.runners, text
    assert len(fake_gitlab.runners) == 1
    new = next(iter(fake_gitlab.runners.values()))
    sec = kube.get(f"/api/v1/namespaces/{rns}/secrets/{names.token_secret(a)}")
    assert base64.b64decode(sec["data"]["runner-token"]).decode() == new.token
    assert sec["metadata"]["annotations"]["runner-wizard/runner-id"] == str(new.id)
    d = kube.get(f"/apis/apps/v1/namespaces/{rns}/deployments/{dep}")
    assert "runner-wizard/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
    assert "restarted the manager pods" in text
    assert new.token not in text and stale not in text
    backup = next((tmp_path / "o").glob("backup-*.yaml")).read_text()
    assert stale not in backup


def test_unregister_warning_for_a_non_glrt_token(envtest, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RUNNER_TOKEN", "legacy0123456789abcdef")
    run_cli(envtest, answers_file(tmp_path, _suffix()), tmp_path / "o", "--yes")
    text = all_output(capsys)
    assert "unregisterRunners" in text and "WHOLE runner" in text
    assert "legacy0123456789abcdef" not in text


# ---------------------------------------------------------------------------- external manager


def test_external_mode_writes_config_toml_with_a_token_request_token(envtest, tmp_path, capsys):
    import tomllib

    sfx = _suffix()
    ans = answers_file(tmp_path, sfx, cluster={"mode": "external"})
    out = tmp_path / "o"
    rc = run_cli(envtest, ans, out, "--yes")
    text = all_output(capsys)
    cfg = out / "config.toml"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    doc = tomllib.loads(cfg.read_text())
    k = doc["runners"][0]["kubernetes"]
    assert k["host"] == Kube.connect(str(envtest.kubeconfig)).server
    assert Path(k["ca_file"]).is_file()
    from wizard.tokens import _jwt_claims

    claims = _jwt_claims(k["bearer_token"])
    assert claims["sub"] == f"system:serviceaccount:rs-{sfx}:gitlab-runner"
    assert 8700 * 3600 < claims["exp"] - claims["iat"] <= 8760 * 3600
    assert k["bearer_token"] not in text
    assert "external manager credentials" in text and "may create pods" in text
    assert rc == 0, text
    # no non-expiring token Secret unless asked for
    kube = kube_for(envtest)
    a = load(ans)
    assert kube.get_or_none(f"/api/v1/namespaces/rs-{sfx}/secrets/{names.external_token_secret(a)}") is None

    rc = run_cli(envtest, ans, out, "--yes")
    text = all_output(capsys)
    assert rc == 0
    assert "Nothing changed" in text
    assert tomllib.loads(cfg.read_text())["runners"][0]["kubernetes"]["bearer_token"] == k["bearer_token"]


# ---------------------------------------------------------------------------- helm


@pytest.fixture
def helm_on_path(tmp_path, monkeypatch):
    """The real helm on PATH and the real upstream chart 0.86.0 (a local .tgz: no network)."""
    binary = charts.helm_binary()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "helm").symlink_to(binary)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.setenv("RUNNER_WIZARD_CHART", str(charts.chart_tgz("0.86.0")))
    return bindir / "helm"


def _helm_release(kube: Kube, ns: str, release: str) -> dict:
    """The newest Helm release record of ``release`` (decoded release Secret)."""
    from wizard.diagnose.collect import decode_helm_release

    secs = kube.get(f"/api/v1/namespaces/{ns}/secrets?labelSelector=owner%3Dhelm%2Cname%3D{release}")["items"]
    assert secs, f"no Helm release Secret for {ns}/{release}"
    newest = max(secs, key=lambda s: int(s["metadata"]["labels"]["version"]))
    doc = decode_helm_release(newest)
    assert doc is not None
    return doc


def test_helm_installs_the_real_chart_and_verify_sees_the_rollout(envtest, tmp_path, capsys, monkeypatch,
                                                                  helm_on_path):
    """Apply installs the upstream chart 0.86.0 into the API server; the objects helm created are what
    the manager pod needs, and the harness's controller-manager, scheduler and kwok nodes roll it out."""
    monkeypatch.setenv("RUNNER_WIZARD_VERIFY_TIMEOUT", "60")
    sfx = _suffix()
    ans = answers_file(tmp_path, sfx, ca_file=str(_ca_pem(tmp_path)), runner={"replicas": 2})
    out = tmp_path / "o"
    rc = run_cli(envtest, ans, out, "--yes")
    text = all_output(capsys)
    assert "installed Helm release" in text
    # the harness's controller-manager, scheduler and kwok nodes roll the Deployment out
    assert f"Deployment rs-{sfx}/gitlab-runner available: 2/2 ready" in text, text
    # no user token: GitLab's side cannot be looked at, which is said, not failed
    assert "runner manager connected to GitLab: not checked" in text
    assert rc == 0 and "Verified." in text
    a = load(ans)
    rns = f"rs-{sfx}"
    kube = kube_for(envtest)
    rel = _helm_release(kube, rns, a.runner.release_name)
    assert rel["info"]["status"] == "deployed"
    assert rel["chart"]["metadata"]["version"] == "0.86.0" and rel["chart"]["metadata"]["name"] == "gitlab-runner"
    dep = kube.get(f"/apis/apps/v1/namespaces/{rns}/deployments/{names.deployment(a)}")
    assert dep["metadata"]["labels"]["chart"] == "gitlab-runner-0.86.0"
    assert dep["metadata"]["annotations"]["meta.helm.sh/release-name"] == a.runner.release_name
    spec = dep["spec"]["template"]["spec"]
    assert dep["spec"]["replicas"] == 2
    assert spec["serviceAccountName"] == "gitlab-runner"
    assert spec["hostAliases"] == [{"ip": "10.1.2.3", "hostnames": ["gitlab.example.test"]}]
    vols = {v["name"]: v for v in spec["volumes"]}
    (tok,) = [s["secret"] for s in vols["projected-secrets"]["projected"]["sources"]]
    assert tok["name"] == names.token_secret(a)
    assert {i["key"] for i in tok["items"]} == {"runner-token", "runner-registration-token"}
    assert vols["custom-certs"]["secret"]["secretName"] == names.ca_secret(a)
    (c,) = spec["containers"]
    assert {"name": "custom-certs", "mountPath": "/home/gitlab-runner/.gitlab-runner/certs/",
            "readOnly": True} in c["volumeMounts"]
    # the Secrets the Deployment mounts exist, with the keys the chart and the runner look for
    sec = kube.get(f"/api/v1/namespaces/{rns}/secrets/{names.token_secret(a)}")
    assert set(sec["data"]) == {"runner-token", "runner-registration-token"}
    ca = kube.get(f"/api/v1/namespaces/{rns}/secrets/{names.ca_secret(a)}")
    assert list(ca["data"]) == ["gitlab.example.test.crt"]
    cm = kube.get(f"/api/v1/namespaces/{rns}/configmaps/{names.configmap(a)}")
    run = tomllib.loads(cm["data"]["config.template.toml"])["runners"][0]
    assert run["kubernetes"]["namespace"] == f"rj-{sfx}"
    assert run["kubernetes"]["host_aliases"] == [{"ip": "10.1.2.3", "hostnames": ["gitlab.example.test"]}]
    # the chart made no RBAC object and no ServiceAccount of its own
    for path in (f"/apis/rbac.authorization.k8s.io/v1/namespaces/{rns}/roles",
                 f"/apis/rbac.authorization.k8s.io/v1/namespaces/{rns}/rolebindings",
                 f"/api/v1/namespaces/{rns}/serviceaccounts"):
        helm_made = [o["metadata"]["name"] for o in kube.get(path)["items"]
                     if (o["metadata"].get("labels") or {}).get("heritage") == "Helm"]
        assert helm_made == [], path

    t0 = time.monotonic()
    rc = run_cli(envtest, ans, out, "--yes")
    elapsed = time.monotonic() - t0
    text = all_output(capsys)
    assert "is up to date" in text
    assert "Nothing changed" in text
    assert _helm_release(kube, rns, a.runner.release_name)["version"] == rel["version"]
    print(f"no-change second apply with helm took {elapsed:.2f}s", file=sys.__stdout__)

    # a dry run now, release included: nothing would change, exit 0, no diff on stdout
    rc = run_cli(envtest, ans, tmp_path / "dry0", "--dry-run")
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert cap.out == "" and "is up to date" in cap.err

    # the dry run of an edit shows the pending upgrade
    edited = answers_file(tmp_path, sfx, ca_file=str(_ca_pem(tmp_path)), runner={"replicas": 3})
    rc = run_cli(envtest, edited, tmp_path / "dry", "--dry-run")
    text = all_output(capsys)
    assert rc == 1
    assert "would run: helm upgrade --install gitlab-runner" in text
    # the release's change is a values diff
    assert f"+++ merged/helm.sh.v3.Release.{rns}.gitlab-runner" in text
    assert "-  replicas: 2\n+  replicas: 3" in text, text


def test_no_change_apply_starts_no_helm_process(envtest, tmp_path, capsys, helm_on_path, monkeypatch):
    """The first apply installs with the real helm; a second apply that changes nothing reads the
    release from its Secret: a stand-in ``helm`` that records every call (and would fail) records none.
    Then an edit: the upgrade needs helm again, and the stand-in is called."""
    sfx = _suffix()
    ans = answers_file(tmp_path, sfx)
    rc = run_cli(envtest, ans, tmp_path / "o", "--yes")
    text = all_output(capsys)
    assert rc in (0, 1), text
    assert "installed Helm release" in text, text
    # the release as read from its Secret is what `helm list` and `helm get values` report
    from wizard import helm

    a = load(ans)
    t = helm.target(a, tmp_path / "o" / "values.yaml", kubeconfig=str(envtest.kubeconfig),
                    binary=str(helm_on_path), kube=kube_for(envtest))
    from_secret = helm.release_state(t)
    t.kube = None
    from_helm = helm.release_state(t)
    assert from_secret is not None and from_secret == from_helm
    assert from_secret.values and helm.up_to_date(t, from_secret)

    calls = tmp_path / "helm-calls.txt"
    fake_dir = tmp_path / "fake-bin"
    fake_dir.mkdir()
    fake = fake_dir / "helm"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {calls}\necho 'Error: the stand-in helm' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_dir}:/usr/bin:/bin")
    rc = run_cli(envtest, ans, tmp_path / "o2", "--yes")
    text = all_output(capsys)
    assert "is up to date" in text, text
    assert "Nothing changed" in text, text
    assert not calls.exists(), calls.read_text()

    # the dry run of an edit reads the release the same way; the real change needs helm
    edited = answers_file(tmp_path, sfx, runner={"replicas": 3})
    rc = run_cli(envtest, edited, tmp_path / "dry", "--dry-run")
    text = all_output(capsys)
    assert rc == 1, text  # like kubectl diff: something would change
    assert "would run: helm upgrade --install gitlab-runner" in text
    assert not calls.exists(), calls.read_text()
    rc = run_cli(envtest, edited, tmp_path / "o3", "--yes")
    text = all_output(capsys)
    assert rc == 1 and "helm upgrade --install failed" in text, text
    assert calls.read_text().splitlines()[0].startswith("upgrade --install gitlab-runner"), calls.read_text()


@pytest.mark.parametrize("version", charts.VERSIONS)
def test_release_named_x_gitlab_runner_is_found_where_the_chart_put_it(envtest, tmp_path, capsys, helm_on_path,
                                                                        monkeypatch, version):
    """The chart does not shorten ``x-gitlab-runner`` (it only drops the chart name when the release
    starts with it): the Deployment is ``x-gitlab-runner-gitlab-runner`` and verify waits for that.
    Installed from each real chart version (a folder of packages resolves to chart_version's)."""
    monkeypatch.setenv("RUNNER_WIZARD_CHART", str(charts.shared_charts_dir()))
    sfx = _suffix()
    ans = answers_file(tmp_path, sfx, runner={"release_name": "x-gitlab-runner", "chart_version": version})
    rc = run_cli(envtest, ans, tmp_path / "o", "--yes")
    text = all_output(capsys)
    assert rc in (0, 1), text
    a = load(ans)
    kube = kube_for(envtest)
    assert _helm_release(kube, f"rs-{sfx}", "x-gitlab-runner")["chart"]["metadata"]["version"] == version
    assert names.deployment(a) == "x-gitlab-runner-gitlab-runner"
    assert kube.get_or_none(f"/apis/apps/v1/namespaces/rs-{sfx}/deployments/x-gitlab-runner-gitlab-runner")
    assert kube.get_or_none(f"/apis/apps/v1/namespaces/rs-{sfx}/deployments/x-gitlab-runner") is None
    assert "Deployment rs-{}/x-gitlab-runner-gitlab-runner".format(sfx) in text
    assert "does not exist" not in text


def test_a_failed_helm_install_is_reported_and_a_rerun_recovers(envtest, tmp_path, capsys, helm_on_path,
                                                                  monkeypatch):
    """helm itself fails (the API server rejects an object of the fault chart; the release is recorded
    as failed): apply says so with the next step; rerun with the real chart, apply upgrades the failed
    release to the working state."""
    sfx = _suffix()
    ans = answers_file(tmp_path, sfx)
    monkeypatch.setenv("RUNNER_WIZARD_CHART", str(REPO / "tests" / "data" / "fault-chart" / "gitlab-runner"))
    rc = run_cli(envtest, ans, tmp_path / "o", "--yes")
    text = all_output(capsys)
    assert rc == 1, text
    assert "helm upgrade --install failed" in text and "Not_A_Valid_Name" in text, text
    assert "then run: helm upgrade --install gitlab-runner" in text
    kube = kube_for(envtest)
    rns = f"rs-{sfx}"
    assert _helm_release(kube, rns, "gitlab-runner")["info"]["status"] == "failed"
    a = load(ans)
    assert kube.get_or_none(f"/api/v1/namespaces/{rns}/secrets/{names.token_secret(a)}") is not None

    monkeypatch.setenv("RUNNER_WIZARD_CHART", str(charts.chart_tgz("0.86.0")))
    rc = run_cli(envtest, ans, tmp_path / "o", "--yes")
    text = all_output(capsys)
    assert rc in (0, 1), text
    assert "upgraded Helm release" in text, text
    rel = _helm_release(kube, rns, "gitlab-runner")
    assert rel["info"]["status"] == "deployed" and rel["chart"]["metadata"]["version"] == "0.86.0"
    assert kube.get_or_none(f"/apis/apps/v1/namespaces/{rns}/deployments/{names.deployment(a)}") is not None


# ---------------------------------------------------------------------------- the real checks


_REAL_CHECKS = apply_mod._default_checks


def test_real_checks_gate_apply(envtest, tmp_path, capsys, monkeypatch, fake_gitlab, tls_ca, refused_port):
    monkeypatch.setattr(apply_mod, "_default_checks", _REAL_CHECKS)
    runner = fake_gitlab.add_runner("group_type", group_id=42)
    monkeypatch.setenv("RUNNER_TOKEN", runner.token)
    # GitLab unreachable: a failing check stops apply before anything is touched
    sfx = _suffix()
    bad = answers_file(tmp_path, sfx, gitlab_url=f"https://127.0.0.1:{refused_port}/",
                       ca_file=str(tls_ca.ca_pem_path))
    rc = run_cli(envtest, bad, tmp_path / "bad", "--yes")
    text = all_output(capsys)
    assert rc == 1
    assert "check(s) failed; nothing was changed" in text
    kube = kube_for(envtest)
    assert kube.get_or_none(f"/api/v1/namespaces/rs-{sfx}") is None
    # reachable GitLab: envtest has no nodes (a warning), accepted headless, then applied
    good = answers_file(tmp_path, sfx, gitlab_url=fake_gitlab.url, ca_file=str(tls_ca.ca_pem_path))
    rc = run_cli(envtest, good, tmp_path / "good")
    text = all_output(capsys)
    assert rc == 1 and "NOT VERIFIED" in text  # no helm here
    assert kube.get_or_none(f"/api/v1/namespaces/rs-{sfx}/secrets/gitlab-runner-token") is not None
    assert runner.token not in text
