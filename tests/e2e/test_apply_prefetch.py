"""Issue 15: apply's plan reads (live reads and server-side dry runs, which change nothing) start
while the live checks still run, and the checks share apply's cluster connection. The plan must
be the one a plan made afterwards would give, and nothing may be read early and used late."""

from __future__ import annotations

import threading
import uuid

import pytest
import yaml

from tests.support.apply_env import isolate_apply_env
from wizard import apply as apply_mod
from wizard.answers import load
from wizard.apply import apply
from wizard.apply import plan as plan_mod
from wizard.cli import main
from wizard.kube import Kube, Opening
from wizard.results import Result, Status

pytestmark = pytest.mark.envtest

TOKEN = "glrt-t1_PrefetchRunnerToken01"


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    isolate_apply_env(monkeypatch, tmp_path, TOKEN, verify_timeout="0")  # no helm: no release is installed


def _answers(tmp_path, **gitlab):
    sfx = uuid.uuid4().hex[:8]
    raw = {"version": 1, "gitlab": {"url": "https://gitlab.example.test/", "token": "env:RUNNER_TOKEN", **gitlab},
           "cluster": {"runner_namespace": f"pf-{sfx}", "jobs_namespace": f"pfj-{sfx}"},
           "node_runtime": "containerd"}
    p = tmp_path / f"answers-{sfx}.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


class _Spy:
    """Records the prefetches started and every plan_all call (who made it)."""

    def __init__(self, monkeypatch):
        self.prefetches: list[plan_mod.Prefetch] = []
        self.started = threading.Event()
        self.plan_all_threads: list[str] = []
        real_init, real_plan_all = plan_mod.Prefetch.__init__, plan_mod.plan_all

        def init(inner, *a, **kw):
            self.prefetches.append(inner)
            real_init(inner, *a, **kw)
            self.started.set()

        def plan_all(*a, **kw):
            self.plan_all_threads.append(threading.current_thread().name)
            return real_plan_all(*a, **kw)

        monkeypatch.setattr(plan_mod.Prefetch, "__init__", init)
        monkeypatch.setattr(plan_mod, "plan_all", plan_all)


def test_the_plan_is_read_while_the_checks_run_and_matches_a_later_plan(envtest, tmp_path, monkeypatch):
    spy = _Spy(monkeypatch)

    def checks_that_outlast_the_prefetch(a, kubeconfig, context):
        assert spy.started.wait(30), "the prefetch starts while the checks run"
        spy.started.clear()
        spy.prefetches[-1].wait()  # the checks end only after every read and dry run was made
        return []

    monkeypatch.setattr(apply_mod, "_default_checks", checks_that_outlast_the_prefetch)
    a = load(_answers(tmp_path))
    kube = Kube.connect(str(envtest.kubeconfig))
    first = apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True)
    assert first.changed and {o.action for o in first.objects} == {"created"}
    assert spy.plan_all_threads == ["plan-prefetch"]  # planned once, early, and that plan was used
    second = apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True)
    assert second.writes == 0 and not second.changed
    assert {o.action for o in second.objects} == {"unchanged"}
    assert spy.plan_all_threads == ["plan-prefetch", "plan-prefetch"]

    # The same answers planned afterwards, without a prefetch, find the same.
    monkeypatch.setattr(plan_mod, "PREFETCH_MAX_AGE", -1.0)
    third = apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True)
    assert [(o.ref, o.action) for o in third.objects] == [(o.ref, o.action) for o in second.objects]
    assert spy.plan_all_threads[-1] != "plan-prefetch"  # too old: planned again


def test_an_early_plan_is_not_used_after_something_changed_it(envtest, tmp_path, monkeypatch):
    """An object deleted after the prefetch read it, before apply goes on: with the prefetch too old to
    use, apply plans again and recreates it (with a fresh prefetch the window is that of any plan)."""
    spy = _Spy(monkeypatch)
    a = load(_answers(tmp_path))
    kube = Kube.connect(str(envtest.kubeconfig))
    monkeypatch.setattr(apply_mod, "_default_checks", lambda a, kubeconfig, context: [])
    assert apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True).changed
    spy.started.clear()
    sa = f"/api/v1/namespaces/{a.cluster.jobs_namespace}/serviceaccounts/{a.cluster.job_service_account}"

    def checks_during_which_the_cluster_changes(a_, kubeconfig, context):
        assert spy.started.wait(30)
        spy.prefetches[-1].wait()
        kube.delete(sa)
        return []

    monkeypatch.setattr(apply_mod, "_default_checks", checks_during_which_the_cluster_changes)
    monkeypatch.setattr(plan_mod, "PREFETCH_MAX_AGE", -1.0)
    report = apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True)
    assert kube.get_or_none(sa) is not None
    assert any(o.action == "created" and o.kind == "ServiceAccount" for o in report.objects)


def test_failed_checks_leave_no_prefetch_running_and_nothing_written(envtest, tmp_path, monkeypatch):
    spy = _Spy(monkeypatch)
    failing = Result(id="gitlab.reachable", area="gitlab", status=Status.FAIL, title="GitLab reachable",
                     detail="TCP connection refused")
    monkeypatch.setattr(apply_mod, "_default_checks", lambda a, kubeconfig, context: [failing])
    a = load(_answers(tmp_path))
    kube = Kube.connect(str(envtest.kubeconfig))
    report = apply(a, kube=kube, out_dir=tmp_path / "o", assume_yes=True)
    assert report.stopped == "checks"
    assert spy.prefetches and all(p._done.is_set() for p in spy.prefetches)
    assert kube.get_or_none(f"/api/v1/namespaces/{a.cluster.runner_namespace}") is None


def test_create_runner_answers_are_planned_after_the_checks_only(tmp_path):
    """Planning the token of gitlab.create_runner talks to GitLab and may ask a question: never early."""
    a = load(_answers(tmp_path))
    assert plan_mod.Prefetch.possible(a)
    raw = yaml.safe_load((p := _answers(tmp_path)).read_text())
    raw["gitlab"].pop("token")
    raw["gitlab"]["create_runner"] = {"api_token": "env:GL_API_TOKEN", "runner_type": "instance_type"}
    p.write_text(yaml.safe_dump(raw))
    assert not plan_mod.Prefetch.possible(load(p))


def test_a_shared_opening_hands_one_connection_to_every_taker(envtest):
    kc = str(envtest.kubeconfig)
    shared = Opening(kc, None, shared=True)
    k1 = shared.take(kc, None, wait=10)
    assert k1 is not None and shared.take(kc, None, wait=10) is k1
    single = Opening(kc, None)
    k2 = single.take(kc, None, wait=10)
    assert k2 is not None and single.take(kc, None, wait=10) is None
    for k in (k1, k2):
        k.close()


def test_the_apply_command_and_its_checks_use_one_connection(envtest, tmp_path, monkeypatch):
    seen: list[object] = []

    def checks(a, kubeconfig, context, kube_opening=None):
        seen.append(kube_opening.take(kubeconfig, context, wait=10) if kube_opening is not None else None)
        return []

    # the real function's identity decides whether the opening is passed: replace its body only
    monkeypatch.setattr(apply_mod, "_default_checks", checks)
    monkeypatch.setattr(apply_mod, "_REAL_DEFAULT_CHECKS", checks)
    used: list[object] = []
    real_apply = apply_mod.apply

    def spying_apply(answers, *, kube, **kw):
        used.append(kube)
        return real_apply(answers, kube=kube, **kw)

    monkeypatch.setattr(apply_mod, "apply", spying_apply)
    rc = main(["apply", "--answers", str(_answers(tmp_path)), "--out", str(tmp_path / "o"), "--yes",
               "--kubeconfig", str(envtest.kubeconfig)])
    assert rc in (0, 1)  # no helm here: the release is not installed, which is not this test's point
    assert seen and seen[0] is not None and used and seen[0] is used[0]
