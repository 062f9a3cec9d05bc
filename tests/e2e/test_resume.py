"""A stopped apply is resumed by running apply again, from ANY point (issue 10, part 4).

Against a real kube-apiserver (envtest), real helm with the real chart, the fake GitLab and
the REAL live checks (not a stub): for every single write of an uninterrupted run, in turn,
apply is stopped right after that write, then run again; the objects, the Secrets' data, the
Helm release and (create-runner mode) the runners in GitLab must equal those of an
uninterrupted run. The stop is the write observer (``on_write``) raising, in-process; a few
points are also tried with a real SIGKILL of a ``runner-wizard apply`` process.

Each run uses its own namespaces (one apiserver for all; envtest never finishes deleting).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import yaml

from tests.support.apply_env import private_helm_home
from wizard import names
from wizard.answers import load
from wizard.apply import InjectedFault, apply
from wizard.checks import run_checks
from wizard.cli import main
from wizard.diff import normalize
from wizard.kube import Kube
from wizard.results import gate

pytestmark = pytest.mark.envtest

REPO = Path(__file__).resolve().parents[2]
HELM_VERSION = "3.19.0"
TOKEN_ENV = "RESUME_RUNNER_TOKEN"
API_ENV = "RESUME_GL_API_TOKEN"
API_TOKEN = "glpat-resume-api-token"


def _chart() -> Path | None:
    """The real gitlab-runner 0.86.0 chart (../shared/charts), else the repository's stand-in."""
    for base in (REPO.parent / "shared", REPO.parents[1] / "shared", Path("/work/shared")):
        p = base / "charts" / "gitlab-runner-0.86.0.tgz"
        if p.is_file():
            return p
    stand_in = REPO / "tests" / "data" / "chart" / "gitlab-runner"
    return stand_in if stand_in.is_dir() else None


def _helm_binary() -> Path | None:
    cache = Path(os.environ.get("RUNNER_WIZARD_CACHE") or Path.home() / ".cache" / "runner-wizard")
    p = cache / "bin" / f"helm-v{HELM_VERSION}"
    return p if p.is_file() and os.access(p, os.X_OK) else None


@pytest.fixture
def env(monkeypatch, tmp_path):
    """helm (real binary, real chart) on a private PATH, private helm state, short verification."""
    helm = _helm_binary()
    chart = _chart()
    if helm is None or chart is None:
        pytest.fail("helm and a gitlab-runner chart are needed (scripts/build-envtest-bins helm)")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "helm").symlink_to(helm)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.setenv("RUNNER_WIZARD_CHART", str(chart))
    monkeypatch.setenv("RUNNER_WIZARD_VERIFY_TIMEOUT", "1")
    # the stand-in GitLab never sees a manager (kwok pods run no runner): look once instead of 60 s per run
    monkeypatch.setenv("RUNNER_WIZARD_VERIFY_GITLAB_TIMEOUT", "0")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    private_helm_home(monkeypatch, tmp_path)
    monkeypatch.setenv(API_ENV, API_TOKEN)
    return {"helm": str(bindir / "helm"), "chart": str(chart)}


def _answers(tmp_path: Path, fake, *, create_runner: dict | None = None, description: str = "k8s runner") -> Path:
    sfx = uuid.uuid4().hex[:8]
    gitlab: dict = {"url": fake.url, "ca": {"file": str(fake.ca_pem_path)}}
    if create_runner is not None:
        gitlab["create_runner"] = {"api_token": f"env:{API_ENV}", "runner_type": "group_type",
                                   "description": description, "tags": ["k8s"], **create_runner}
    else:
        gitlab["token"] = f"env:{TOKEN_ENV}"
    raw = {"version": 1, "gitlab": gitlab,
           "cluster": {"runner_namespace": f"rs-{sfx}", "jobs_namespace": f"rj-{sfx}"},
           "runner": {"release_name": "gitlab-runner", "replicas": 1},
           "node_runtime": "containerd"}
    p = tmp_path / f"answers-{sfx}.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


def _secret_view(obj: dict | None, fake) -> dict | None:
    """A Secret with its token replaced by what it is (the runner GitLab knows, by id)."""
    if obj is None:
        return None
    obj = normalize(obj)
    data = dict(obj.get("data") or {})
    tok = base64.b64decode(data.get("runner-token", "")).decode()
    if tok:
        runner = fake.runner_by_token(tok)
        data["runner-token"] = f"<token of runner {'known to GitLab' if runner else 'UNKNOWN'}>"
        ann = (obj["metadata"].get("annotations") or {})
        if "runner-wizard/runner-id" in ann:
            same = runner is not None and ann["runner-wizard/runner-id"] == str(runner.id)
            ann["runner-wizard/runner-id"] = "<id of that runner>" if same else f"<WRONG {ann['runner-wizard/runner-id']}>"
    obj["data"] = data
    return obj


def _helm_state(env: dict, kubeconfig: str, a) -> dict | None:
    ns, rel = a.cluster.runner_namespace, a.runner.release_name
    base = [env["helm"], "--kubeconfig", kubeconfig, "-n", ns]
    rows = json.loads(subprocess.run([*base, "list", "--all", "-o", "json"], capture_output=True, text=True,
                                     check=True).stdout or "[]")
    row = next((r for r in rows if r["name"] == rel), None)
    if row is None:
        return None
    values = json.loads(subprocess.run([*base, "get", "values", rel, "-o", "json"], capture_output=True, text=True,
                                       check=True).stdout or "null")
    return {"status": row["status"], "chart": row["chart"], "revision": row["revision"], "values": values}


def snapshot(kube: Kube, a, fake, env: dict, kubeconfig: str) -> dict:
    """Everything apply owns for these answers, names made generic, tokens replaced by what they are."""
    rns, jns = a.cluster.runner_namespace, a.cluster.jobs_namespace
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    paths = {
        "ns-r": f"/api/v1/namespaces/{rns}",
        "ns-j": f"/api/v1/namespaces/{jns}",
        "sa-m": f"/api/v1/namespaces/{rns}/serviceaccounts/{a.cluster.manager_service_account}",
        "sa-j": f"/api/v1/namespaces/{jns}/serviceaccounts/{a.cluster.job_service_account}",
        "role": f"{rbac}/namespaces/{jns}/roles/{names.manager_role(a)}",
        "rb": f"{rbac}/namespaces/{jns}/rolebindings/{names.manager_role(a)}",
        "ca-r": f"/api/v1/namespaces/{rns}/secrets/{names.ca_secret(a)}",
        "ca-j": f"/api/v1/namespaces/{jns}/secrets/{names.ca_secret(a)}",
    }
    out: dict = {}
    for key, path in paths.items():
        obj = normalize(kube.get_or_none(path))
        if obj is not None:
            obj.pop("status", None)
        out[key] = obj
    out["token"] = _secret_view(kube.get_or_none(f"/api/v1/namespaces/{rns}/secrets/{names.token_secret(a)}"), fake)
    out["helm"] = _helm_state(env, kubeconfig, a)
    text = json.dumps(out, sort_keys=True).replace(rns, "RNS").replace(jns, "JNS")
    return json.loads(text)


def _runners_of(fake, mark: str) -> list:
    return [r for r in fake.runners.values() if mark in (r.maintenance_note or "")]


def _mark(kube: Kube, a) -> str:
    from wizard.tokens import install_mark

    return install_mark(a, kube)


def _kill_loop(envtest, tmp_path, fake, env, make, *, create_runner: bool) -> tuple[int, float, list[str]]:
    """Reference run, then for n = 1..total: stop after write n, run again, compare. Returns
    (writes of a clean run, seconds for the loop, what each write was)."""
    kubeconfig = str(envtest.kubeconfig)
    kube = Kube.connect(kubeconfig)
    seen: list[str] = []
    a = load(make())
    ref = apply(a, kube=kube, out_dir=tmp_path / "ref", assume_yes=True, kubeconfig=kubeconfig,
                on_write=lambda n, what: seen.append(what))
    assert ref.stopped == "", ref.error
    assert ref.helm_action == "installed", ref.helm_action
    total = ref.writes
    assert total == len(seen)
    reference = snapshot(kube, a, fake, env, kubeconfig)
    assert reference["token"] is not None and "UNKNOWN" not in json.dumps(reference["token"])
    if create_runner:
        assert len(_runners_of(fake, _mark(kube, a))) == 1
    # a finished install leaves nothing for apply to do and nothing failing
    after = run_checks(a, kubeconfig=kubeconfig)
    g = gate(after)
    assert not g.todo, [r.id for r in g.todo]
    assert g.ok, [(r.id, r.detail) for r in g.blocking]

    t0 = time.monotonic()
    for n in range(1, total + 1):
        a = load(make())
        with pytest.raises(InjectedFault, match=f"after write {n} "):
            apply(a, kube=kube, out_dir=tmp_path / f"f{n}", assume_yes=True, kubeconfig=kubeconfig,
                  fail_after_writes=n)
        rerun = apply(a, kube=kube, out_dir=tmp_path / f"f{n}", assume_yes=True, kubeconfig=kubeconfig)
        where = f"stopped after write {n} of {total} ({seen[n - 1]})"
        assert rerun.stopped == "", f"{where}: the rerun stopped ({rerun.stopped}): {rerun.error} " + \
            "; ".join(f"{r.id}: {r.detail}" for r in rerun.checks if r.status.value == "fail")
        assert not [r for r in rerun.checks if r.status.value == "fail"], where
        if n < total:
            assert rerun.writes >= 1 and rerun.changed, where
        assert snapshot(kube, a, fake, env, kubeconfig) == reference, f"{where}: the end state differs"
        if create_runner:
            mine = _runners_of(fake, _mark(kube, a))
            assert len(mine) == 1, f"{where}: {len(mine)} runners for this install in GitLab"
    return total, time.monotonic() - t0, seen


@pytest.mark.slow
def test_kill_after_every_write_token_mode(envtest, tmp_path, fake_gitlab, env, monkeypatch, capsys):
    runner = fake_gitlab.add_runner("group_type", group_id=42)
    monkeypatch.setenv(TOKEN_ENV, runner.token)

    total, seconds, seen = _kill_loop(envtest, tmp_path, fake_gitlab, env,
                                      lambda: _answers(tmp_path, fake_gitlab), create_runner=False)
    # 2 namespaces, 2 ServiceAccounts, Role, RoleBinding, CA Secret x2, token Secret, helm
    assert total == 10, seen
    with capsys.disabled():
        print(f"\nkill loop, token mode: {total} writes ({'; '.join(seen)}), {seconds:.1f}s for {total} "
              "stopped + resumed runs")


@pytest.mark.slow
def test_kill_after_every_write_create_runner_mode(envtest, tmp_path, fake_gitlab, env, capsys):
    fake_gitlab.add_user_token(API_TOKEN, ["api"], groups={g: "owner" for g in range(1000, 1100)})
    groups = iter(range(1000, 1100))

    def make() -> Path:
        return _answers(tmp_path, fake_gitlab, create_runner={"group_id": next(groups)})

    total, seconds, seen = _kill_loop(envtest, tmp_path, fake_gitlab, env, make, create_runner=True)
    assert total == 11, seen  # the 10 above plus POST /user/runners
    assert seen.index(next(s for s in seen if s.startswith("created runner"))) + 1 == \
        seen.index(next(s for s in seen if "-token" in s and s.startswith("Secret"))), \
        f"the token Secret must be the write right after the runner is created: {seen}"
    with capsys.disabled():
        print(f"\nkill loop, create-runner mode: {total} writes ({'; '.join(seen)}), {seconds:.1f}s for "
              f"{total} stopped + resumed runs")


# ---------------------------------------------------------------------------- SIGKILL, a real process

_KILLER = textwrap.dedent("""
    import os, signal, sys
    import wizard.apply as m
    n = int(sys.argv[1])
    real = m.apply

    def killed_after(count, what):
        if count >= n:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def apply(*a, **k):
        return real(*a, on_write=killed_after, **k)

    m.apply = apply
    from wizard.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def _killed_cli(envtest, answers: Path, out: Path, n: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _KILLER, str(n), "apply", "--answers", str(answers), "--out",
                           str(out), "--kubeconfig", str(envtest.kubeconfig), "--yes"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env=dict(os.environ))


@pytest.mark.slow
@pytest.mark.parametrize("mode,points", [("token", (6, 7)), ("create_runner", (9, 10))],
                         ids=["token-after-rolebinding-and-ca-secret", "create-runner-after-post-and-secret"])
def test_sigkill_of_the_process_then_rerun(envtest, tmp_path, fake_gitlab, env, monkeypatch, capsys, mode, points):
    kubeconfig = str(envtest.kubeconfig)
    kube = Kube.connect(kubeconfig)
    if mode == "token":
        runner = fake_gitlab.add_runner("group_type", group_id=42)
        monkeypatch.setenv(TOKEN_ENV, runner.token)

        def make() -> Path:
            return _answers(tmp_path, fake_gitlab)
    else:
        fake_gitlab.add_user_token(API_TOKEN, ["api"], groups={g: "owner" for g in range(2000, 2010)})
        groups = iter(range(2000, 2010))

        def make() -> Path:
            return _answers(tmp_path, fake_gitlab, create_runner={"group_id": next(groups)})

    ref_file = make()
    assert main(["apply", "--answers", str(ref_file), "--out", str(tmp_path / "ref"), "--kubeconfig", kubeconfig,
                 "--yes"]) in (0, 1)
    reference = snapshot(kube, load(ref_file), fake_gitlab, env, kubeconfig)
    for n in points:
        f = make()
        proc = _killed_cli(envtest, f, tmp_path / f"k{n}", n)
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
        capsys.readouterr()
        rc = main(["apply", "--answers", str(f), "--out", str(tmp_path / f"k{n}"), "--kubeconfig", kubeconfig,
                   "--yes"])
        text = capsys.readouterr().out
        assert "Apply stopped" not in text and "nothing was changed" not in text, text
        assert rc in (0, 1)  # 1: the Deployment does not become available within the 1 s verify timeout
        a = load(f)
        assert snapshot(kube, a, fake_gitlab, env, kubeconfig) == reference, f"after SIGKILL at write {n}"
        if mode == "create_runner":
            assert len(_runners_of(fake_gitlab, _mark(kube, a))) == 1


# ---------------------------------------------------------------------------- orphans without list rights


def test_create_runner_only_token_says_it_cannot_look_for_orphans(envtest, tmp_path, fake_gitlab, env, monkeypatch):
    """A create_runner-only token cannot list runners: a rerun after a stop right after POST /user/runners
    cannot find the runner that run created, and says so (the window is one HTTP round trip)."""
    fake_gitlab.add_user_token("glpat-createonly", ["create_runner"], groups={77: "owner"})
    monkeypatch.setenv(API_ENV, "glpat-createonly")
    kubeconfig = str(envtest.kubeconfig)
    kube = Kube.connect(kubeconfig)
    a = load(_answers(tmp_path, fake_gitlab, create_runner={"group_id": 77}))
    seen: list[str] = []

    def stop_after_post(n: int, what: str) -> None:
        seen.append(what)
        if what.startswith("created runner"):
            raise InjectedFault("stopped right after POST /user/runners")

    with pytest.raises(InjectedFault):
        apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True, kubeconfig=kubeconfig, on_write=stop_after_post)
    rerun = apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True, kubeconfig=kubeconfig)
    assert rerun.stopped == "", rerun.error
    assert any("may not list runners" in w for w in rerun.warnings), rerun.warnings
    # both runners carry the install's mark, so a token with the api scope can still clean up later
    assert len(_runners_of(fake_gitlab, _mark(kube, a))) == 2


# ---------------------------------------------------------------------------- one meaning: check and --ignore


def test_check_names_what_apply_creates_and_exits_0(envtest, tmp_path, fake_gitlab, env, monkeypatch, capsys):
    runner = fake_gitlab.add_runner("group_type", group_id=42)
    monkeypatch.setenv(TOKEN_ENV, runner.token)
    f = _answers(tmp_path, fake_gitlab)
    kc = str(envtest.kubeconfig)
    rc = main(["check", "--answers", str(f), "--kubeconfig", kc, "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0, [r for r in doc["results"] if r["status"] == "fail"]
    todo = set(doc["apply"])
    assert {"cluster.namespace.runner", "cluster.namespace.jobs", "cluster.sa.manager", "cluster.sa.job",
            "cluster.secret.ca.runner", "cluster.secret.ca.jobs", "cluster.secret.token",
            "rbac.manager.pods-attach.create"} <= todo
    rows = {r["id"]: r for r in doc["results"]}
    assert rows["cluster.secret.ca.jobs"]["status"] == "warn" and rows["cluster.secret.ca.jobs"]["apply"] == "creates"
    assert doc["ignored"] == []
    rc = main(["check", "--answers", str(f), "--kubeconfig", kc])
    text = capsys.readouterr().out
    assert rc == 0
    assert "+ APPLY cluster.secret.ca.jobs" in text and "apply creates this" in text
    assert f"{len(todo)} for apply to create or repair" in text

    # half an install (the seed-000 shape: CA Secret only in the runner namespace, Role without
    # pods/attach) is still work for apply, not a failure
    a = load(f)
    kube = Kube.connect(kc)
    seen = []

    def stop_after_ca(n, what):
        seen.append(what)
        if what.startswith("Secret") and names.ca_secret(a) in what:
            raise InjectedFault("stop")

    with pytest.raises(InjectedFault):
        apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True, kubeconfig=kc, on_write=stop_after_ca)
    role = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{a.cluster.jobs_namespace}/roles/{names.manager_role(a)}"
    live = kube.get(role)
    kube.apply({"apiVersion": live["apiVersion"], "kind": "Role", "metadata": {
        "name": live["metadata"]["name"], "namespace": live["metadata"]["namespace"]},
        "rules": [r for r in live["rules"] if r["resources"] != ["pods/attach"]]})  # as an older version wrote it
    rc = main(["check", "--answers", str(f), "--kubeconfig", kc, "--json"])
    doc = json.loads(capsys.readouterr().out)
    rows = {r["id"]: r for r in doc["results"]}
    assert rc == 0, [r for r in doc["results"] if r["status"] == "fail"]
    assert rows["cluster.secret.ca.jobs"]["apply"] == "creates"
    assert rows["cluster.secret.ca.runner"]["status"] == "pass"
    assert rows["rbac.manager.pods-attach.create"]["apply"] == "repairs"
    assert rows["cluster.secret.token"]["apply"] == "creates"
    report = apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True, kubeconfig=kc)
    assert report.stopped == "", report.error
    assert {r.id for r in report.todo} >= {"cluster.secret.ca.jobs", "rbac.manager.pods-attach.create"}
    g = gate(run_checks(a, kubeconfig=kc))
    assert g.ok and not g.todo, [(r.id, r.detail) for r in g.todo + g.blocking]


def test_ignore_on_check_and_apply(envtest, tmp_path, fake_gitlab, env, monkeypatch, capsys, refused_port):
    runner = fake_gitlab.add_runner("group_type", group_id=42)
    monkeypatch.setenv(TOKEN_ENV, runner.token)
    f = _answers(tmp_path, fake_gitlab)
    raw = yaml.safe_load(f.read_text())
    raw["gitlab"]["url"] = f"https://127.0.0.1:{refused_port}/"  # GitLab down
    f.write_text(yaml.safe_dump(raw))
    kc = str(envtest.kubeconfig)
    rc = main(["check", "--answers", str(f), "--kubeconfig", kc, "--json"])
    doc = json.loads(capsys.readouterr().out)
    failing = sorted(r["id"] for r in doc["results"] if r["status"] == "fail")
    assert rc == 1 and "gitlab.reachable" in failing

    # apply stops, names the ids to ignore
    rc = main(["apply", "--answers", str(f), "--out", str(tmp_path / "o"), "--kubeconfig", kc, "--yes"])
    text = capsys.readouterr().out
    hint = next(ln for ln in text.splitlines() if "go on anyway with --ignore" in ln)
    assert rc == 1 and "nothing was changed" in text
    assert sorted(hint.split("--ignore ", 1)[1].strip().split(",")) == failing

    # --ignore those ids (comma list, and repeated): check exits 0 and lists them
    rc = main(["check", "--answers", str(f), "--kubeconfig", kc, "--json", "--ignore", ",".join(failing[:1]),
               "--ignore", ",".join(failing[1:]) or failing[0]])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["ignored"] == failing
    assert all(r.get("ignored") for r in doc["results"] if r["id"] in failing)
    rc = main(["check", "--answers", str(f), "--kubeconfig", kc, "--ignore", "all"])
    text = capsys.readouterr().out
    assert rc == 0 and "(ignored)" in text and "ignored (--ignore): " in text

    # a typo is bad input: exit 2, nothing run
    rc = main(["check", "--answers", str(f), "--kubeconfig", kc, "--ignore", "gitlab.reachble"])
    err = capsys.readouterr().err
    assert rc == 2 and "did you mean 'gitlab.reachable'" in err

    # apply --ignore all goes on, and says what it ignored
    a = load(f)
    rc = main(["apply", "--answers", str(f), "--out", str(tmp_path / "o"), "--kubeconfig", kc, "--yes",
               "--ignore", "all"])
    text = capsys.readouterr().out
    assert "Ignored (--ignore): " in text and "gitlab.reachable (fail)" in text
    kube = Kube.connect(kc)
    assert kube.get_or_none(f"/api/v1/namespaces/{a.cluster.runner_namespace}/secrets/{names.token_secret(a)}")

    # the Python API the TUI's "continue anyway" uses
    report = apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True, kubeconfig=kc, ignore=failing)
    assert report.stopped == "" and sorted(r.id for r in report.ignored) == failing
    report = apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True, kubeconfig=kc)
    assert report.stopped == "checks"


# ---------------------------------------------------------------------------- helm stopped halfway


def _leave_release_pending(kube: Kube, ns: str, rel: str, status: str) -> None:
    """Make the newest release record look like a helm process killed in the middle of its work."""
    import gzip

    items = kube.get(f"/api/v1/namespaces/{ns}/secrets", labelSelector=f"owner=helm,name={rel}")["items"]
    sec = max(items, key=lambda s: int(s["metadata"]["labels"]["version"]))
    doc = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(sec["data"]["release"]))))
    doc["info"]["status"] = status
    sec["data"]["release"] = base64.b64encode(base64.b64encode(gzip.compress(json.dumps(doc).encode()))).decode()
    sec["metadata"]["labels"]["status"] = status
    kube.request("PUT", f"/api/v1/namespaces/{ns}/secrets/{sec['metadata']['name']}", body=sec)


@pytest.mark.parametrize("status", ["pending-install", "pending-upgrade"])
def test_helm_stopped_halfway_is_resumed_with_consent(envtest, tmp_path, fake_gitlab, env, monkeypatch, status):
    runner = fake_gitlab.add_runner("group_type", group_id=42)
    monkeypatch.setenv(TOKEN_ENV, runner.token)
    kc = str(envtest.kubeconfig)
    kube = Kube.connect(kc)
    f = _answers(tmp_path, fake_gitlab)
    a = load(f)
    first = apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True, kubeconfig=kc)
    assert first.helm_action == "installed", first.error
    if status == "pending-upgrade":  # an upgrade to a second revision, stopped halfway
        raw = yaml.safe_load(f.read_text())
        raw["runner"]["replicas"] = 2
        f.write_text(yaml.safe_dump(raw))
        a = load(f)
        assert apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True, kubeconfig=kc).helm_action == "upgraded"
    reference = snapshot(kube, a, fake_gitlab, env, kc)
    _leave_release_pending(kube, a.cluster.runner_namespace, a.runner.release_name, status)

    # without consent (headless, no --yes) apply stops and names the way out
    declined = apply(a, kube=kube, out_dir=tmp_path / "o", kubeconfig=kc)
    assert declined.stopped == "error" and status in declined.error
    assert any("--yes" in s for s in declined.next_steps)

    resumed = apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True, kubeconfig=kc)
    assert resumed.stopped == "", resumed.error
    assert resumed.helm_action == ("installed" if status == "pending-install" else "upgraded")
    state = snapshot(kube, a, fake_gitlab, env, kc)
    assert state["helm"]["status"] == "deployed"
    assert state["helm"]["values"] == reference["helm"]["values"]
    state["helm"].pop("revision"), reference["helm"].pop("revision")
    assert state == reference


# ---------------------------------------------------------------------------- re-registration, stopped anywhere


@pytest.mark.slow
def test_reregistration_stopped_after_every_write(envtest, tmp_path, fake_gitlab, env, monkeypatch, capsys):
    """Seed 003 (the Secret holds a token GitLab rejects) with apply stopped after each of its writes
    (deleting the stale runner, creating the new one, the Secret, the restart...): the rerun ends with
    exactly one runner for the install, its token in the Secret, the stale runner gone, pods restarted."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no helm: the Deployment below stands in for the release
    kc = str(envtest.kubeconfig)
    kube = Kube.connect(kc)
    fake_gitlab.add_user_token(API_TOKEN, ["api"], groups={g: "owner" for g in range(3000, 3100)})
    groups = iter(range(3000, 3100))

    def setup():
        gid = next(groups)
        a = load(_answers(tmp_path, fake_gitlab, create_runner={"group_id": gid}))
        old = fake_gitlab.add_runner("group_type", group_id=gid, description="k8s runner")
        rns = a.cluster.runner_namespace
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": rns}}, field_manager="kubectl")
        kube.apply({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": names.token_secret(a), "namespace": rns,
                                 "annotations": {"runner-wizard/runner-id": str(old.id)}},
                    "data": {"runner-token": base64.b64encode(b"glrt-t1_RevokedToken00000").decode(),
                             "runner-registration-token": ""}})
        dep = names.deployment(a)
        kube.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": dep, "namespace": rns},
                    "spec": {"selector": {"matchLabels": {"app": dep}},
                             "template": {"metadata": {"labels": {"app": dep}},
                                          "spec": {"containers": [{"name": "r", "image": "busybox"}]}}}},
                   field_manager="helm")
        return a, old

    def end_state(a, old) -> dict:
        rns = a.cluster.runner_namespace
        mine = _runners_of(fake_gitlab, _mark(kube, a))
        sec = kube.get(f"/api/v1/namespaces/{rns}/secrets/{names.token_secret(a)}")
        held = fake_gitlab.runner_by_token(base64.b64decode(sec["data"]["runner-token"]).decode())
        d = kube.get(f"/apis/apps/v1/namespaces/{rns}/deployments/{names.deployment(a)}")
        return {"runners of the install": len(mine), "stale runner left": old.id in fake_gitlab.runners,
                "Secret holds the install's runner": held is not None and [held.id] == [r.id for r in mine],
                "annotation is its id": held is not None and
                sec["metadata"]["annotations"]["runner-wizard/runner-id"] == str(held.id),
                "restarted": "runner-wizard/restartedAt" in (d["spec"]["template"]["metadata"].get("annotations")
                                                            or {})}

    want = {"runners of the install": 1, "stale runner left": False, "Secret holds the install's runner": True,
            "annotation is its id": True, "restarted": True}
    a, old = setup()
    seen: list[str] = []
    ref = apply(a, kube=kube, out_dir=tmp_path / "ref", assume_yes=True, kubeconfig=kc,
                on_write=lambda n, what: seen.append(what))
    assert ref.stopped == "" and ref.token.action == "reregister", ref.error
    assert end_state(a, old) == want
    total = ref.writes
    assert [w.split(" #")[0] for w in seen if "runner" in w and not w.startswith(("Secret", "Service", "Role"))][:2] \
        == ["deleted stale runner", "created runner"], seen
    t0 = time.monotonic()
    for n in range(1, total + 1):
        a, old = setup()
        with pytest.raises(InjectedFault):
            apply(a, kube=kube, out_dir=tmp_path / f"r{n}", assume_yes=True, kubeconfig=kc, fail_after_writes=n)
        rerun = apply(a, kube=kube, out_dir=tmp_path / f"r{n}", assume_yes=True, kubeconfig=kc)
        assert rerun.stopped == "", (n, seen[n - 1], rerun.error)
        assert end_state(a, old) == want, f"stopped after write {n} ({seen[n - 1]})"
    with capsys.disabled():
        print(f"\nkill loop, re-registration: {total} writes ({'; '.join(seen)}), "
              f"{time.monotonic() - t0:.1f}s")
