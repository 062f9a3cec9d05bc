"""Keep the fake GitLab honest: drive it with real python-gitlab calls (and raw
urllib where python-gitlab has no call), asserting the documented behaviour and
side effects (shared/reference/gitlab-runner-facts.md section 4)."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import gitlab
import pytest
from gitlab.v4.objects import CurrentUserRunnerManager

from tests.support.fake_gitlab import FakeGitLab


def _gl(fake: FakeGitLab, token: str, **kw) -> gitlab.Gitlab:
    verify = fake.ca_pem_path if fake.scheme == "https" else True
    return gitlab.Gitlab(fake.url, private_token=token, ssl_verify=verify, timeout=5, retry_transient_errors=False, **kw)


def _raw(fake: FakeGitLab, method: str, path: str, *, data=None, token=None, bearer=None, json_body=False, timeout=5):
    """(status, parsed JSON or None, headers) via urllib."""
    url = fake.api_url + path
    headers = {}
    body = None
    if data is not None:
        if json_body:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        else:
            body = urllib.parse.urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
    if token:
        headers["PRIVATE-TOKEN"] = token
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    ctx = None
    if fake.scheme == "https":
        import ssl
        ctx = ssl.create_default_context(cafile=fake.ca_pem_path)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None), resp.headers
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, (json.loads(raw) if raw else None), e.headers


# --------------------------------------------------------------------- auth


def test_version_needs_a_valid_token(fake_gitlab: FakeGitLab):
    fake_gitlab.add_user_token("glpat-ok", ["read_api"])
    assert _gl(fake_gitlab, "glpat-ok").version() == ("18.9.0", "0123456789a")
    status, body, _ = _raw(fake_gitlab, "GET", "/version")
    assert status == 401 and body == {"message": "401 Unauthorized"}
    status, body, _ = _raw(fake_gitlab, "GET", "/version", bearer="glpat-ok")
    assert status == 200 and body["version"] == "18.9.0"
    status, _, _ = _raw(fake_gitlab, "GET", "/version", token="glpat-wrong")
    assert status == 401
    # as in GitLab (API::Version scopes: api, read_api, read_user, ai_features),
    # a token limited to create_runner cannot read /version
    fake_gitlab.add_user_token("glpat-cr", ["create_runner"], username="cr")
    status, body, _ = _raw(fake_gitlab, "GET", "/version", token="glpat-cr")
    assert status == 403 and body["error"] == "insufficient_scope"
    fake_gitlab.add_user_token("glpat-ru", ["read_user"], username="ru")
    assert _raw(fake_gitlab, "GET", "/version", token="glpat-ru")[0] == 200


def test_create_runner_only_token_cannot_auth(fake_gitlab: FakeGitLab):
    fake_gitlab.add_user_token("glpat-cr", ["create_runner"], groups={42: "owner"})
    gl = _gl(fake_gitlab, "glpat-cr")
    with pytest.raises(gitlab.GitlabGetError) as ei:  # 401 only maps to GitlabAuthenticationError
        gl.auth()
    assert ei.value.response_code == 403
    status, body, headers = _raw(fake_gitlab, "GET", "/user", token="glpat-cr")
    assert status == 403
    assert body["error"] == "insufficient_scope"
    assert "read_user" in body["scope"]
    assert "insufficient_scope" in headers["WWW-Authenticate"]


def test_read_user_and_api_tokens_can_auth(fake_gitlab: FakeGitLab):
    fake_gitlab.add_user_token("glpat-ru", ["read_user"], username="bob")
    fake_gitlab.add_user_token("glpat-api", ["api"], admin=True, username="root")
    gl = _gl(fake_gitlab, "glpat-ru")
    gl.auth()
    assert gl.user.username == "bob"
    gl2 = _gl(fake_gitlab, "glpat-api")
    gl2.auth()
    assert gl2.user.is_admin is True


def test_personal_access_token_self(fake_gitlab: FakeGitLab):
    fake_gitlab.add_user_token("glpat-s", ["create_runner", "read_api"], expires_at="2099-01-31")
    gl = _gl(fake_gitlab, "glpat-s")
    info = gl.personal_access_tokens.get("self")
    assert info.scopes == ["create_runner", "read_api"]
    assert info.expires_at == "2099-01-31"
    assert info.active is True
    # any token may read itself: the way to learn a create_runner-only token's scopes
    fake_gitlab.add_user_token("glpat-only-cr", ["create_runner"], username="cr")
    status, body, _ = _raw(fake_gitlab, "GET", "/personal_access_tokens/self", token="glpat-only-cr")
    assert status == 200 and body["scopes"] == ["create_runner"] and body["expires_at"] is None


def test_expired_or_revoked_token_is_401(fake_gitlab: FakeGitLab):
    fake_gitlab.add_user_token("glpat-old", ["api"], expires_at="2001-01-01", username="old")
    fake_gitlab.add_user_token("glpat-rev", ["api"], username="rev")
    fake_gitlab.revoke_user_token("glpat-rev")
    for t in ("glpat-old", "glpat-rev"):
        assert _raw(fake_gitlab, "GET", "/version", token=t)[0] == 401


# ------------------------------------------------------------ user runners


def test_create_group_runner_with_create_runner_scope(fake_gitlab: FakeGitLab):
    fake_gitlab.add_user_token("glpat-cr", ["create_runner"], groups={42: "maintainer"})
    gl = _gl(fake_gitlab, "glpat-cr")
    created = CurrentUserRunnerManager(gl).create(
        {"runner_type": "group_type", "group_id": 42, "description": "wiz", "tag_list": ["k8s", "x"]}
    )
    assert created.token.startswith("glrt-")
    assert created.token_expires_at is None
    runner = fake_gitlab.runners[created.id]
    assert runner.group_id == 42 and runner.description == "wiz"
    assert runner.tag_list == ["k8s", "x"]
    assert runner.contacted_at is None and fake_gitlab.managers(created.id) == []
    assert ("POST", "/api/v4/user/runners", 201) in fake_gitlab.requests


def test_create_runner_permissions_and_validation(fake_gitlab: FakeGitLab):
    fake_gitlab.add_user_token("glpat-dev", ["create_runner"], groups={42: "developer"}, projects={7: "maintainer"})
    fake_gitlab.add_user_token("glpat-ro", ["read_api"], groups={42: "owner"}, username="ro")
    gl = _gl(fake_gitlab, "glpat-dev")
    mgr = CurrentUserRunnerManager(gl)
    with pytest.raises(gitlab.GitlabCreateError) as ei:
        mgr.create({"runner_type": "group_type", "group_id": 42})
    assert ei.value.response_code == 403
    with pytest.raises(gitlab.GitlabCreateError) as ei:
        mgr.create({"runner_type": "instance_type"})
    assert ei.value.response_code == 403
    with pytest.raises(gitlab.GitlabCreateError) as ei:
        mgr.create({"runner_type": "group_type"})
    assert ei.value.response_code == 400 and "group_id is missing" in ei.value.error_message
    with pytest.raises(gitlab.GitlabCreateError) as ei:
        mgr.create({"runner_type": "cluster_type"})
    assert ei.value.response_code == 400
    assert mgr.create({"runner_type": "project_type", "project_id": 7}).token.startswith("glrt-")
    # form-encoded body and missing runner_type
    status, body, _ = _raw(fake_gitlab, "POST", "/user/runners", data={"group_id": "42"}, token="glpat-dev")
    assert status == 400 and body == {"error": "runner_type is missing"}
    # read_api cannot create
    status, body, _ = _raw(fake_gitlab, "POST", "/user/runners",
                           data={"runner_type": "group_type", "group_id": 42}, token="glpat-ro")
    assert status == 403 and body["error"] == "insufficient_scope"


def test_admin_creates_instance_runner(fake_gitlab: FakeGitLab):
    fake_gitlab.add_user_token("glpat-adm", ["api"], admin=True, username="root")
    out = _gl(fake_gitlab, "glpat-adm").http_post("/user/runners", post_data={"runner_type": "instance_type"})
    assert fake_gitlab.runners[out["id"]].runner_type == "instance_type"


# ------------------------------------------------------- runner-token calls


def test_verify_creates_legacy_manager_and_heartbeats(fake_gitlab: FakeGitLab):
    r = fake_gitlab.add_runner()
    gl = _gl(fake_gitlab, "unused")
    gl.runners.verify(r.token)
    runner = fake_gitlab.runners[r.id]
    assert runner.contacted_at is not None
    assert [m.system_id for m in fake_gitlab.managers(r.id)] == ["<legacy>"]
    # again: same manager is found, not a second one
    gl.runners.verify(r.token)
    assert len(fake_gitlab.managers(r.id)) == 1


def test_verify_with_system_id_via_http_post(fake_gitlab: FakeGitLab):
    r = fake_gitlab.add_runner(token_expires_at="2099-06-01T00:00:00Z")
    gl = _gl(fake_gitlab, "unused")
    out = gl.http_post("/runners/verify", post_data={"token": r.token, "system_id": "s_wizard_check"})
    assert out == {"id": r.id, "token": r.token, "token_expires_at": "2099-06-01T00:00:00.000Z"}
    assert [m.system_id for m in fake_gitlab.managers(r.id)] == ["s_wizard_check"]


def test_verify_invalid_expired_and_orphaned(fake_gitlab: FakeGitLab):
    gl = _gl(fake_gitlab, "unused")
    with pytest.raises(gitlab.GitlabVerifyError) as ei:
        gl.runners.verify("glrt-nope")
    assert ei.value.response_code == 403
    old = fake_gitlab.add_runner(token_expires_at="2001-01-01T00:00:00Z")
    with pytest.raises(gitlab.GitlabVerifyError):
        gl.runners.verify(old.token)
    orphan = fake_gitlab.add_runner()
    fake_gitlab.orphan_runner(orphan.id)
    with pytest.raises(gitlab.GitlabVerifyError) as ei:
        gl.runners.verify(orphan.token)
    assert ei.value.response_code == 422 and "orphaned" in ei.value.error_message
    # GitLab authenticates (and heartbeats) before the orphan check
    assert [m.system_id for m in fake_gitlab.managers(orphan.id)] == ["<legacy>"]


def test_delete_by_token_deletes_whole_runner(fake_gitlab: FakeGitLab):
    r = fake_gitlab.add_runner()
    gl = _gl(fake_gitlab, "unused")
    gl.http_post("/runners/verify", post_data={"token": r.token, "system_id": "s_a"})
    gl.http_post("/runners/verify", post_data={"token": r.token, "system_id": "s_b"})
    assert len(fake_gitlab.managers(r.id)) == 2
    gl.runners.delete(token=r.token)  # DELETE /runners?token=...
    assert r.id not in fake_gitlab.runners
    assert ("DELETE", "/api/v4/runners", 204) in fake_gitlab.requests
    other = fake_gitlab.add_runner()
    status, body, _ = _raw(fake_gitlab, "DELETE", "/runners", data={"token": other.token})  # form body
    assert status == 204 and body is None
    assert fake_gitlab.runners == {}
    assert _raw(fake_gitlab, "POST", "/runners/verify", data={"token": r.token})[0] == 403


def test_delete_single_manager(fake_gitlab: FakeGitLab):
    r = fake_gitlab.add_runner()
    for sid in ("s_a", "s_b"):
        assert _raw(fake_gitlab, "POST", "/runners/verify", data={"token": r.token, "system_id": sid}, json_body=True)[0] == 200
    status, _, _ = _raw(fake_gitlab, "DELETE", "/runners/managers", data={"token": r.token, "system_id": "s_a"})
    assert status == 204
    assert [m.system_id for m in fake_gitlab.managers(r.id)] == ["s_b"]
    assert r.id in fake_gitlab.runners
    assert _raw(fake_gitlab, "DELETE", "/runners/managers", data={"token": r.token, "system_id": "s_a"})[0] == 404
    status, body, _ = _raw(fake_gitlab, "DELETE", "/runners/managers", data={"token": r.token})
    assert status == 400 and body == {"error": "system_id is missing"}


def test_reset_authentication_token(fake_gitlab: FakeGitLab):
    r = fake_gitlab.add_runner()
    old = r.token
    status, body, _ = _raw(fake_gitlab, "POST", "/runners/reset_authentication_token", data={"token": old})
    assert status == 201 and body["token"].startswith("glrt-") and body["token"] != old
    assert _raw(fake_gitlab, "POST", "/runners/verify", data={"token": old})[0] == 403
    assert _raw(fake_gitlab, "POST", "/runners/verify", data={"token": body["token"]})[0] == 200


def test_legacy_registration(fake_gitlab: FakeGitLab):
    fake_gitlab.set_registration_token("GR1348941abc", enabled=False)
    gl = _gl(fake_gitlab, "unused")
    with pytest.raises(gitlab.GitlabCreateError) as ei:
        gl.runners.create({"token": "GR1348941abc", "description": "legacy"})
    assert ei.value.response_code == 410
    assert "runner registration disallowed" in ei.value.error_message
    with pytest.raises(gitlab.GitlabCreateError) as ei:
        gl.runners.create({"token": "GR1348941wrong"})
    assert ei.value.response_code == 403
    fake_gitlab.registration_enabled = True
    runner = gl.runners.create({"token": "GR1348941abc", "description": "legacy"})
    assert runner.token.startswith("glrtr-")
    assert fake_gitlab.runners[runner.id].registration_type == "registration_token"


# ------------------------------------------------------ user-token runner API


def test_get_runner_and_managers_without_side_effects(fake_gitlab: FakeGitLab):
    fake_gitlab.add_user_token("glpat-m", ["read_api"], groups={42: "maintainer"})
    fake_gitlab.add_user_token("glpat-d", ["api"], groups={42: "developer"}, username="dev")
    r = fake_gitlab.add_runner(group_id=42)
    gl = _gl(fake_gitlab, "glpat-m")
    got = gl.runners.get(r.id)
    assert got.runner_type == "group_type" and got.status == "never_contacted"
    assert gl.http_get(f"/runners/{r.id}/managers") == []
    assert fake_gitlab.runners[r.id].contacted_at is None  # reads do not heartbeat
    gl.http_post("/runners/verify", post_data={"token": r.token, "system_id": "s_pod"})
    managers = gl.http_get(f"/runners/{r.id}/managers")
    assert [m["system_id"] for m in managers] == ["s_pod"] and managers[0]["contacted_at"]
    with pytest.raises(gitlab.GitlabGetError) as ei:
        _gl(fake_gitlab, "glpat-d").runners.get(r.id)
    assert ei.value.response_code == 403
    with pytest.raises(gitlab.GitlabGetError) as ei:
        gl.runners.get(999)
    assert ei.value.response_code == 404


def test_delete_runner_by_id_needs_rights_and_write_scope(fake_gitlab: FakeGitLab):
    fake_gitlab.add_user_token("glpat-ro", ["read_api"], groups={42: "owner"})
    fake_gitlab.add_user_token("glpat-mr", ["manage_runner"], groups={42: "owner"}, username="own")
    r = fake_gitlab.add_runner(group_id=42)
    with pytest.raises(gitlab.GitlabDeleteError) as ei:
        _gl(fake_gitlab, "glpat-ro").runners.delete(r.id)
    assert ei.value.response_code == 403
    _gl(fake_gitlab, "glpat-mr").runners.delete(r.id)
    assert fake_gitlab.runners == {}


def test_list_endpoints_paginate_as_documented(fake_gitlab: FakeGitLab):
    """Offset pagination (page, per_page; X-Total, X-Total-Pages, X-Next-Page, Link) as python-gitlab reads it."""
    fake_gitlab.add_user_token("glpat-m", ["read_api"], groups={42: "maintainer"})
    r = fake_gitlab.add_runner(group_id=42)
    gl = _gl(fake_gitlab, "glpat-m")
    for i in range(25):
        gl.http_post("/runners/verify", post_data={"token": r.token, "system_id": f"s_{i:02d}"})
    first = gl.http_list(f"/runners/{r.id}/managers", iterator=True, per_page=10)
    assert (first.total, first.total_pages, first.current_page, first.next_page) == (25, 3, 1, 2)
    assert [m["system_id"] for m in first] == [f"s_{i:02d}" for i in range(25)]  # follows Link: next
    assert len(gl.http_list(f"/runners/{r.id}/managers", get_all=False)) == 20  # default per_page
    status, body, headers = _raw(fake_gitlab, "GET", f"/runners/{r.id}/managers?page=3&per_page=10", token="glpat-m")
    assert status == 200 and len(body) == 5 and headers["X-Next-Page"] == "" and headers["X-Prev-Page"] == "2"
    assert 'rel="prev"' in headers["Link"] and 'rel="next"' not in headers["Link"]


# ------------------------------------------------------- failure injection


def test_set_status_and_set_delay(fake_gitlab: FakeGitLab):
    r = fake_gitlab.add_runner()
    fake_gitlab.set_status("/runners/verify", 502)
    status, body, _ = _raw(fake_gitlab, "POST", "/runners/verify", data={"token": r.token})
    assert status == 502 and body == {"message": "502 Bad Gateway"}
    assert fake_gitlab.managers(r.id) == []  # forced answers have no side effects
    fake_gitlab.set_status("/runners/verify", None)
    fake_gitlab.set_delay("/api/v4/runners/verify", 5)
    t0 = time.monotonic()
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        _raw(fake_gitlab, "POST", "/runners/verify", data={"token": r.token}, timeout=0.3)
    assert time.monotonic() - t0 < 2
    fake_gitlab.set_delay("/runners/verify", 0)
    assert _raw(fake_gitlab, "POST", "/runners/verify", data={"token": r.token})[0] == 200


def test_stop_is_clean_even_with_a_hanging_request():
    before = set(threading.enumerate())
    fake = FakeGitLab().start()
    r = fake.add_runner()
    fake.set_delay("/runners/verify", 30)
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        _raw(fake, "POST", "/runners/verify", data={"token": r.token}, timeout=0.2)
    t0 = time.monotonic()
    fake.stop()
    assert time.monotonic() - t0 < 3
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert leftover == []


def test_http_variant(fake_gitlab_http: FakeGitLab):
    assert fake_gitlab_http.url.startswith("http://127.0.0.1:")
    fake_gitlab_http.add_user_token("glpat-x", ["read_api"])
    assert _gl(fake_gitlab_http, "glpat-x").version()[0] == "18.9.0"
