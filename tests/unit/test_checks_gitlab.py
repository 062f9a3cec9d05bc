"""gitlab.* checks and GitLabAPI against the fake GitLab over HTTPS (loopback)."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.tlsfactory import blackhole_server
from wizard.answers import parse
from wizard.checks import run_checks
from wizard.gitlab_api import CHECK_SYSTEM_ID, GitLabAPI, GitLabError
from wizard.results import Status, report_json


def _answers(fake, tmp_path, **gitlab):
    doc = {"version": 1, "gitlab": {"url": fake.url, "ca": {"file": fake.ca_pem_path}, **gitlab}}
    return parse(doc, base_dir=tmp_path)


def _run(answers, **kw):
    return {r.id: r for r in run_checks(answers, ids=["gitlab.*"], **kw)}


def test_valid_runner_token_leaves_no_manager_row(fake_gitlab, tmp_path, monkeypatch):
    """check changes nothing: the manager row that POST /runners/verify creates is removed again."""
    runner = fake_gitlab.add_runner()
    monkeypatch.setenv("RW_TOKEN", runner.token)
    res = _run(_answers(fake_gitlab, tmp_path, token="env:RW_TOKEN"))
    assert res["gitlab.reachable"].status is Status.PASS
    assert res["gitlab.token.type"].status is Status.PASS
    valid = res["gitlab.token.valid"]
    assert valid.status is Status.PASS and "records a contact" in valid.detail
    # verify ran under our explicit system_id (never '<legacy>') and that row was deleted again
    assert fake_gitlab.managers(runner.id) == []
    assert len(fake_gitlab.requests_to("/runners/managers", "DELETE")) == 1
    assert res["gitlab.token.expiry"].status is Status.PASS
    assert runner.token not in report_json(list(res.values()))
    # verify was called exactly once although two checks read its answer
    assert len(fake_gitlab.requests_to("/runners/verify", "POST")) == 1


def test_stale_token_403(fake_gitlab, tmp_path, monkeypatch):
    monkeypatch.setenv("RW_TOKEN", "glrt-deleted-or-reset-000")
    res = _run(_answers(fake_gitlab, tmp_path, token="env:RW_TOKEN"))
    valid = res["gitlab.token.valid"]
    assert valid.status is Status.FAIL and "E07" in valid.catalog and "403" in valid.detail
    assert res["gitlab.token.expiry"].status is Status.SKIP


def test_expiring_token_warns_about_rotation_trap(fake_gitlab, tmp_path, monkeypatch):
    exp = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=90)
    runner = fake_gitlab.add_runner(token_expires_at=exp)
    monkeypatch.setenv("RW_TOKEN", runner.token)
    res = _run(_answers(fake_gitlab, tmp_path, token="env:RW_TOKEN"))
    e = res["gitlab.token.expiry"]
    assert e.status is Status.WARN and "emptyDir" in e.detail and "E07" in e.catalog


def test_instance_prefixed_token_warns_about_unregister(fake_gitlab, tmp_path, monkeypatch):
    runner = fake_gitlab.add_runner(prefix="acme-glrt-")
    monkeypatch.setenv("RW_TOKEN", runner.token)
    res = _run(_answers(fake_gitlab, tmp_path, token="env:RW_TOKEN"))
    t = res["gitlab.token.type"]
    assert t.status is Status.WARN and "WHOLE RUNNER" in t.detail and t.data["prefix"] == "acme"


def test_registration_token_in_token_slot_fails(fake_gitlab, tmp_path, monkeypatch):
    monkeypatch.setenv("RW_TOKEN", "GR1348941abcdefabcdef")
    res = _run(_answers(fake_gitlab, tmp_path, token="env:RW_TOKEN"))
    assert res["gitlab.token.type"].status is Status.FAIL


def test_registration_token_is_warned_and_never_registers(fake_gitlab, tmp_path, monkeypatch):
    """A legacy registration token is deprecated; check must not create a probe runner to test it."""
    fake_gitlab.set_registration_token("GR1348941regtokenxyz", enabled=True)
    monkeypatch.setenv("RW_REG", "GR1348941regtokenxyz")
    res = _run(_answers(fake_gitlab, tmp_path, registration_token="env:RW_REG"))
    assert res["gitlab.token.type"].status is Status.WARN  # deprecated
    valid = res["gitlab.token.valid"]
    assert valid.status is Status.WARN and "E06" in valid.catalog and "20.0" in valid.detail
    assert fake_gitlab.requests_to("/runners", "POST") == []
    assert fake_gitlab.runners == {}


def test_create_runner_only_scope_works_without_get_user(fake_gitlab, tmp_path, monkeypatch):
    fake_gitlab.add_user_token("glpat-createonly", ["create_runner"], groups={42: "owner"})
    monkeypatch.setenv("RW_API", "glpat-createonly")
    a = _answers(fake_gitlab, tmp_path, create_runner={"api_token": "env:RW_API", "runner_type": "group_type",
                                                          "group_id": 42})
    res = _run(a)
    assert res["gitlab.create_runner.scope"].status is Status.PASS
    assert res["gitlab.version"].status is Status.SKIP  # create_runner scope cannot read /version
    assert res["gitlab.token.valid"].status is Status.SKIP
    api = GitLabAPI(fake_gitlab.url, ca_pem=open(fake_gitlab.ca_pem_path).read(), timeout=3)
    created = api.create_runner("glpat-createonly", "group_type", group_id=42, description="k8s",
                                tag_list=["k8s", "x"], run_untagged=False)
    assert created["token"].startswith("glrt-")
    r = fake_gitlab.runners[created["id"]]
    assert r.tag_list == ["k8s", "x"] and r.run_untagged is False
    assert not fake_gitlab.requests_to("/user", "GET")
    api.delete_runner_by_token(created["token"])
    assert created["id"] not in fake_gitlab.runners


def test_missing_scope_fails(fake_gitlab, tmp_path, monkeypatch):
    fake_gitlab.add_user_token("glpat-readonly", ["read_repository"])
    monkeypatch.setenv("RW_API", "glpat-readonly")
    a = _answers(fake_gitlab, tmp_path, create_runner={"api_token": "env:RW_API", "runner_type": "group_type",
                                                          "group_id": 42})
    assert _run(a)["gitlab.create_runner.scope"].status is Status.FAIL


def test_api_token_version_and_instance_rights(fake_gitlab, tmp_path, monkeypatch):
    fake_gitlab.add_user_token("glpat-api", ["api"], admin=False)
    monkeypatch.setenv("RW_API", "glpat-api")
    a = _answers(fake_gitlab, tmp_path, create_runner={"api_token": "env:RW_API", "runner_type": "instance_type"})
    res = _run(a)
    assert res["gitlab.version"].status is Status.PASS and "18.9.0" in res["gitlab.version"].detail
    assert res["gitlab.create_runner.rights"].status is Status.FAIL


def test_user_token_managers_api(fake_gitlab):
    fake_gitlab.add_user_token("glpat-admin", ["api"], admin=True)
    runner = fake_gitlab.add_runner()
    api = GitLabAPI(fake_gitlab.url, ca_pem=open(fake_gitlab.ca_pem_path).read(), timeout=3)
    assert api.get_runner("glpat-admin", runner.id)["id"] == runner.id
    assert api.runner_managers("glpat-admin", runner.id) == []
    api.verify_runner(runner.token)
    assert [m["system_id"] for m in api.runner_managers("glpat-admin", runner.id)] == [CHECK_SYSTEM_ID]
    api.delete_runner("glpat-admin", runner.id)
    with pytest.raises(GitLabError) as e:
        api.get_runner("glpat-admin", runner.id)
    assert e.value.status == 404


def test_hung_verify_is_bounded(fake_gitlab, tmp_path, monkeypatch):
    runner = fake_gitlab.add_runner()
    monkeypatch.setenv("RW_TOKEN", runner.token)
    fake_gitlab.set_delay("/runners/verify", 30)
    res = _run(_answers(fake_gitlab, tmp_path, token="env:RW_TOKEN"), timeout_scale=0.2)
    valid = res["gitlab.token.valid"]
    assert valid.status is Status.FAIL
    assert "no answer" in valid.detail
    assert res["gitlab.reachable"].status is Status.PASS


def test_blackhole_gitlab_is_bounded(tmp_path, monkeypatch):
    monkeypatch.setenv("RW_TOKEN", "glrt-whatever-123456")
    with blackhole_server() as bh:
        a = parse({"version": 1, "gitlab": {"url": bh.url, "token": "env:RW_TOKEN"}}, base_dir=tmp_path)
        res = {r.id: r for r in run_checks(a, ids=["gitlab.*", "tls.*"], timeout_scale=0.2)}
    for rid in ("gitlab.reachable", "tls.gitlab.chain"):
        assert res[rid].status is Status.FAIL, res[rid]
        assert "no answer" in res[rid].detail or "timeout" in res[rid].detail


def test_unreachable_gitlab_fails_reachable(tmp_path, monkeypatch, refused_port):
    monkeypatch.setenv("RW_TOKEN", "glrt-whatever-123456")
    a = parse({"version": 1, "gitlab": {"url": f"https://127.0.0.1:{refused_port}/", "token": "env:RW_TOKEN"}},
              base_dir=tmp_path)
    res = _run(a)
    assert res["gitlab.reachable"].status is Status.FAIL and "refused" in res["gitlab.reachable"].detail
    assert res["gitlab.token.valid"].status is Status.FAIL


def test_missing_secret_env_is_a_failure_naming_it(fake_gitlab, tmp_path, monkeypatch):
    """A check that cannot run for want of its secret fails (issue 11): a skip let check exit 0."""
    monkeypatch.delenv("RW_NOT_SET", raising=False)
    res = _run(_answers(fake_gitlab, tmp_path, token="env:RW_NOT_SET"))
    for cid in ("gitlab.token.valid", "gitlab.token.type"):
        assert res[cid].status is Status.FAIL, res[cid]
        assert "RW_NOT_SET" in res[cid].detail and res[cid].fix
