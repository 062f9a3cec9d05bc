"""wizard.gitlab_api is python-gitlab on the runner's TLS rules: every call goes through
python-gitlab, failures come back as the same plain GitLabError, tokens never appear in an
error or a log line, redirects are answers (never followed), and a host alias is dialled with
the URL's name kept for TLS and Host. Against the stand-in GitLab over HTTPS (loopback)."""

from __future__ import annotations

import logging
import traceback

import gitlab
import pytest

from tests.support.fake_gitlab import FakeGitLab
from tests.support.tlsfactory import make_ca, make_leaf
from wizard.gitlab_api import CHECK_SYSTEM_ID, GitLabAPI, GitLabError


def _api(fake: FakeGitLab, **kw) -> GitLabAPI:
    return GitLabAPI(fake.url, ca_pem=open(fake.ca_pem_path).read(), timeout=3, **kw)


@pytest.fixture
def spy(monkeypatch):
    """Every (verb, path) python-gitlab's Gitlab.http_request was asked for."""
    calls: list[tuple[str, str]] = []
    real = gitlab.Gitlab.http_request

    def wrapped(self, verb, path, *a, **kw):
        calls.append((verb.upper(), path))
        return real(self, verb, path, *a, **kw)

    monkeypatch.setattr(gitlab.Gitlab, "http_request", wrapped)
    return calls


def test_every_call_goes_through_python_gitlab(fake_gitlab, spy):
    fake_gitlab.add_user_token("glpat-admin", ["api"], admin=True, groups={42: "owner"})
    fake_gitlab.set_registration_token("GR1348941legacyreg", enabled=True)
    api = _api(fake_gitlab)
    try:
        assert api.probe() == 401
        assert api.version("glpat-admin")["version"] == "18.9.0"
        assert "api" in api.token_self("glpat-admin")["scopes"]
        assert api.current_user("glpat-admin")["is_admin"] is True
        created = api.create_runner("glpat-admin", "group_type", group_id=42, tag_list=["a", "b"])
        rid, token = created["id"], created["token"]
        assert fake_gitlab.runners[rid].tag_list == ["a", "b"]
        assert api.verify_runner_cleanly(token)["id"] == rid
        assert api.get_runner("glpat-admin", rid)["id"] == rid
        assert api.runner_managers("glpat-admin", rid) == []
        api.delete_runner("glpat-admin", rid)
        legacy = api.register_legacy("GR1348941legacyreg")
        api.delete_runner_by_token(legacy["token"])
        assert fake_gitlab.runners == {}
    finally:
        api.close()
    sent = [(m, p) for m, p, _ in fake_gitlab.requests]
    assert len(spy) == len(sent) == 12, (spy, sent)
    assert {p for _, p in spy} >= {"/version", "/personal_access_tokens/self", "/user", "/user/runners",
                                   "/runners/verify", "/runners/managers", "/runners"}
    # python-gitlab's requests, our user agent, never GET /user behind the caller's back
    assert all(h["user-agent"] == "runner-wizard" for _, _, h in fake_gitlab.request_headers)
    assert sent.count(("GET", "/api/v4/user")) == 1


def test_runner_managers_reads_every_page(fake_gitlab):
    """GET /runners/:id/managers is paginated (20 a page by default): all pages are read."""
    fake_gitlab.add_user_token("glpat-admin", ["api"], admin=True)
    runner = fake_gitlab.add_runner()
    api = _api(fake_gitlab)
    try:
        for i in range(25):
            api.verify_runner(runner.token, system_id=f"s_{i:03d}")
        got = api.runner_managers("glpat-admin", runner.id)
    finally:
        api.close()
    assert sorted(m["system_id"] for m in got) == [f"s_{i:03d}" for i in range(25)]
    assert len(fake_gitlab.requests_to(f"/runners/{runner.id}/managers", "GET")) == 2


@pytest.mark.parametrize("status", [401, 403, 404, 410, 422, 500])
def test_statuses_map_to_plain_errors(fake_gitlab, status):
    body = {"message": f"{status} something"}
    fake_gitlab.set_status("/runners/verify", status, body)
    api = _api(fake_gitlab)
    try:
        with pytest.raises(GitLabError) as e:
            api.verify_runner("glrt-whatever-1234567")
    finally:
        api.close()
    assert e.value.status == status and e.value.message == f"{status} something" and e.value.kind == ""
    assert len(fake_gitlab.requests_to("/runners/verify")) == 1  # python-gitlab did not retry


def test_real_answers_map_like_before(fake_gitlab):
    fake_gitlab.add_user_token("glpat-create", ["create_runner"], groups={42: "owner"})
    fake_gitlab.set_registration_token("GR1348941disabled", enabled=False)
    api = _api(fake_gitlab)
    try:
        with pytest.raises(GitLabError) as e:
            api.version("glpat-create")
        assert e.value.status == 403 and e.value.insufficient_scope
        with pytest.raises(GitLabError) as e:
            api.version("glpat-unknown")
        assert e.value.status == 401
        with pytest.raises(GitLabError) as e:
            api.register_legacy("GR1348941disabled")
        assert e.value.status == 410 and "registration disallowed" in e.value.message
        with pytest.raises(GitLabError) as e:
            api.create_runner("glpat-create", "group_type", group_id=7)
        assert e.value.status == 403
        with pytest.raises(GitLabError) as e:
            api.delete_runner_manager("glrt-nope-nope-nope")
        assert e.value.status == 403
    finally:
        api.close()


def test_tokens_never_reach_errors_or_logs(fake_gitlab, caplog):
    """A GitLab (or proxy) that echoes the request back must not put the token in our errors,
    their tracebacks or the debug log."""
    runner_token = "glrt-SENTINELrunner0000"
    user_token = "glpat-SENTINELuser00000"
    fake_gitlab.set_status("/runners/verify", 403, {"message": f"token {runner_token} is not valid",
                                                    "echo": {"token": runner_token}})
    fake_gitlab.set_status("/version", 500, {"message": f"upstream said PRIVATE-TOKEN: {user_token}"})
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="wizard")  # an earlier in-process CLI run leaves it at WARNING
    api = _api(fake_gitlab)
    errors = []
    try:
        for call in (lambda: api.verify_runner(runner_token), lambda: api.version(user_token)):
            with pytest.raises(GitLabError) as e:
                call()
            errors.append(e.value)
    finally:
        api.close()
    for err in errors:
        shown = "".join(traceback.format_exception(err)) + repr(err.body) + str(err)
        assert runner_token not in shown and user_token not in shown, shown
        assert "SENTINEL" not in shown
    assert "not valid" in errors[0].message and errors[1].status == 500
    assert "SENTINEL" not in caplog.text
    assert "gitlab POST /api/v4/runners/verify: 403" in caplog.text


def test_redirects_are_reported_never_followed(fake_gitlab, fake_gitlab_http):
    """A 3xx is an answer: the token is not carried to the Location (another host here)."""
    fake_gitlab.add_user_token("glpat-api", ["api"])
    fake_gitlab_http.add_user_token("glpat-api", ["api"])
    fake_gitlab.set_status("/version", 302, {"message": "moved"},
                           headers={"Location": fake_gitlab_http.api_url + "/version"})
    api = _api(fake_gitlab)
    try:
        assert api.probe() == 302
        with pytest.raises(GitLabError) as e:
            api.version("glpat-api")
        assert e.value.status == 302
    finally:
        api.close()
    assert fake_gitlab_http.requests == []


def test_host_alias_keeps_the_urls_name(tmp_path):
    """connect_to dials the alias; TLS is judged for the URL's host and Host names it."""
    ca = make_ca("alias CA")
    leaf = make_leaf(ca, cn="gitlab.example.test", dns=["gitlab.example.test"])
    with FakeGitLab(tls=([leaf], leaf.key), ca=ca) as fake:
        fake.add_user_token("glpat-api", ["api"])
        url = f"https://gitlab.example.test:{fake.port}/"
        api = GitLabAPI(url, ca_pem=ca.pem.decode(), timeout=3, connect_to="127.0.0.1")
        try:
            assert api.version("glpat-api")["version"] == "18.9.0"
        finally:
            api.close()
        assert fake.request_headers[-1][2]["host"] == f"gitlab.example.test:{fake.port}"


def test_transport_failures_keep_their_kind(refused_port, blackhole):
    api = GitLabAPI(f"https://127.0.0.1:{refused_port}/", timeout=1)
    with pytest.raises(GitLabError) as e:
        api.verify_runner("glrt-x-123456789")
    assert e.value.status == 0 and e.value.kind == "refused"
    api = GitLabAPI(blackhole.url, timeout=0.5)
    with pytest.raises(GitLabError) as e:
        api.version("glpat-x-123456789")
    assert e.value.status == 0 and e.value.kind == "timeout" and "glpat" not in str(e.value)


def test_system_id_is_sent_in_the_body(fake_gitlab):
    runner = fake_gitlab.add_runner()
    api = _api(fake_gitlab)
    try:
        api.verify_runner(runner.token)
    finally:
        api.close()
    (method, path, params), = [b for b in fake_gitlab.request_bodies if b[1].endswith("/runners/verify")]
    assert params == {"token": runner.token, "system_id": CHECK_SYSTEM_ID}
    hdrs = [h for m, p, h in fake_gitlab.request_headers if p.endswith("/runners/verify")][0]
    assert hdrs["content-type"].startswith("application/json") and "private-token" not in hdrs


def test_a_page_that_is_not_gitlab_json_is_not_an_answer(fake_gitlab):
    """A 200 that is not a JSON object (a proxy's or portal's page) is reported, not trusted."""
    fake_gitlab.set_status("/runners/verify", 200, ["not", "an", "object"])
    fake_gitlab.set_status("/version", 200, "<html>login</html>")
    api = _api(fake_gitlab)
    try:
        for call in (lambda: api.verify_runner("glrt-whatever-1234567"), lambda: api.version("glpat-x-12345")):
            with pytest.raises(GitLabError) as e:
                call()
            assert e.value.status == 0 and "not GitLab's JSON" in e.value.message
    finally:
        api.close()


def test_relative_url_root(tls_ca):
    """GitLab under a path: python-gitlab's base URL keeps it, and a URL without it finds no API."""
    with FakeGitLab(tls=([tls_ca.leaf], tls_ca.leaf.key), ca=tls_ca.ca, relative_url_root="/gitlab") as fake:
        fake.add_user_token("glpat-api", ["api"])
        runner = fake.add_runner()
        assert fake.url.endswith("/gitlab/")
        api = GitLabAPI(fake.url, ca_pem=tls_ca.ca.pem.decode(), timeout=3)
        bare = GitLabAPI(fake.url.replace("/gitlab/", "/"), ca_pem=tls_ca.ca.pem.decode(), timeout=3)
        try:
            assert api.version("glpat-api")["version"] == "18.9.0"
            assert api.verify_runner_cleanly(runner.token)["id"] == runner.id
            assert bare.probe() == 404
        finally:
            api.close()
            bare.close()
        assert fake.managers(runner.id) == []
        assert ("GET", "/api/v4/version", 200) in fake.requests


def test_a_dropped_client_frees_its_connections(fake_gitlab):
    """No reference cycle between the client, its python-gitlab session and its pool: dropping
    the client (callers do not always close it) closes its sockets at once, not at some GC."""
    import gc
    import weakref

    fake_gitlab.add_user_token("glpat-api", ["api"])
    api = _api(fake_gitlab)
    api.version("glpat-api")
    ref = weakref.ref(api)
    gc.disable()
    try:
        del api
        assert ref() is None
    finally:
        gc.enable()
