"""apply is plan -> execute: the Plan a dry run found is what a real run carries out (real kube-apiserver)."""

from __future__ import annotations

import pytest

from tests.e2e.test_apply import _env, _suffix, answers_file, kube_for  # noqa: F401 - _env: autouse
from wizard import diff as _diff
from wizard.answers import load
from wizard.apply import apply
from wizard.apply.plan import Plan

pytestmark = pytest.mark.envtest


def test_the_dry_run_plan_is_what_apply_writes(envtest, tmp_path):
    sfx = _suffix()
    a = load(answers_file(tmp_path, sfx))
    kube = kube_for(envtest)
    writes: list[str] = []
    try:
        dry = apply(a, kube=kube, dry_run=True, checks=False, out_dir=tmp_path / "dry",
                    on_write=lambda n, what: writes.append(what))
        plan = dry.plan
        assert isinstance(plan, Plan) and writes == [] and dry.writes == 0
        assert [p.result for p in plan.objects] == dry.objects  # the report shows the plan's objects
        assert all(p.result.action == _diff.CREATED and p.result.live is None for p in plan.objects)
        kinds = [p.obj["kind"] for p in plan.objects]
        assert kinds[0] == "Namespace" and kinds == sorted(kinds, key=["Namespace", "ServiceAccount", "Role",
                                                                        "RoleBinding", "Secret"].index)
        token = [p for p in plan.objects if p.token_secret]
        assert len(token) == 1 and token[0].obj["metadata"]["name"] == "gitlab-runner-token"
        assert plan.helm is not None and plan.helm.binary is None  # no helm on PATH in these tests

        real = apply(a, kube=kube, checks=False, out_dir=tmp_path / "o", on_write=lambda n, what: writes.append(what))
        planned = [f"{p.result.kind} {p.result.namespace}/{p.result.name}" if p.result.namespace
                   else f"{p.result.kind} {p.result.name}" for p in plan.objects]
        assert writes == planned, (writes, planned)  # every planned object written once, in the plan's order
        assert [o.ref for o in real.objects] == [o.ref for o in dry.objects]

        again = apply(a, kube=kube, dry_run=True, checks=False, out_dir=tmp_path / "dry2")
        assert again.plan is not None and not again.changed
        assert {p.result.action for p in again.plan.objects} == {_diff.UNCHANGED}
        assert all(p.result.live is not None for p in again.plan.objects)
    finally:
        kube.close()
