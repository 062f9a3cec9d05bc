"""A fake GitLab that follows the documented REST API (v4) closely enough for
the wizard's checks, over HTTP or HTTPS on loopback, threaded.

It models what matters for runner installation (see
shared/reference/gitlab-runner-facts.md section 4): user tokens with scopes,
runner creation via ``POST /user/runners``, runner-token endpoints with their
side effects (``/runners/verify`` heartbeats and find-or-creates a manager),
legacy registration tokens, and user-token runner management.

    with FakeGitLab() as fake:
        fake.add_user_token("glpat-x", ["create_runner"], groups={42: "owner"})
        gl = gitlab.Gitlab(fake.url, private_token="glpat-x")
        r = CurrentUserRunnerManager(gl).create({"runner_type": "group_type", "group_id": 42})
        assert fake.runners[r.id].token == r.token
"""

from __future__ import annotations

import datetime as _dt
import http.server
import itertools
import json
import re
import secrets
import threading
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from .tlsfactory import Cert, LoopbackHTTPServer, server_context

__all__ = ["FakeGitLab", "FakeRunner", "FakeManager", "FakeUser", "ACCESS_LEVELS", "RUNNER_TYPES"]

API = "/api/v4"
ACCESS_LEVELS = {"guest": 10, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50}
RUNNER_TYPES = ("instance_type", "group_type", "project_type")
KNOWN_SCOPES = {
    "api", "read_api", "read_user", "create_runner", "manage_runner",
    "read_repository", "write_repository", "read_registry", "write_registry",
    "sudo", "admin_mode", "ai_features", "k8s_proxy", "read_service_ping",
}


def _iso(ts: _dt.datetime | None) -> str | None:
    if ts is None:
        return None
    return ts.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _parse_ts(v: str | _dt.datetime | _dt.date | None) -> _dt.datetime | None:
    if v is None or isinstance(v, _dt.datetime):
        return v
    if isinstance(v, _dt.date):
        return _dt.datetime(v.year, v.month, v.day, tzinfo=_dt.timezone.utc)
    s = v.replace("Z", "+00:00")
    ts = _dt.datetime.fromisoformat(s)
    return ts if ts.tzinfo else ts.replace(tzinfo=_dt.timezone.utc)


@dataclass
class FakeUser:
    id: int
    username: str
    token: str
    scopes: list[str]
    admin: bool = False
    groups: dict[int, str] = field(default_factory=dict)
    projects: dict[int, str] = field(default_factory=dict)
    expires_at: _dt.date | None = None
    active: bool = True
    token_id: int = 0
    token_name: str = "wizard"

    def level_in(self, kind: str, ident: int | None) -> int:
        table = self.groups if kind == "group" else self.projects
        return ACCESS_LEVELS.get(table.get(ident, ""), 0) if ident is not None else 0

    def can_manage(self, runner: "FakeRunner") -> bool:
        if self.admin:
            return True
        if runner.runner_type == "group_type":
            return self.level_in("group", runner.group_id) >= ACCESS_LEVELS["maintainer"]
        if runner.runner_type == "project_type":
            return any(self.level_in("project", p) >= ACCESS_LEVELS["maintainer"] for p in runner.project_ids)
        return False


@dataclass
class FakeManager:
    id: int
    system_id: str
    created_at: _dt.datetime
    contacted_at: _dt.datetime | None = None
    version: str | None = None
    revision: str | None = None
    platform: str | None = None
    architecture: str | None = None
    ip_address: str | None = "127.0.0.1"

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "system_id": self.system_id,
            "version": self.version,
            "revision": self.revision,
            "platform": self.platform,
            "architecture": self.architecture,
            "created_at": _iso(self.created_at),
            "contacted_at": _iso(self.contacted_at),
            "ip_address": self.ip_address,
            "status": "online" if self.contacted_at else "never_contacted",
        }


@dataclass
class FakeRunner:
    id: int
    token: str
    runner_type: str = "group_type"
    group_id: int | None = None
    project_ids: list[int] = field(default_factory=list)
    description: str = ""
    token_expires_at: _dt.datetime | None = None
    contacted_at: _dt.datetime | None = None
    created_at: _dt.datetime = field(default_factory=_utcnow)
    orphaned: bool = False
    paused: bool = False
    locked: bool = False
    run_untagged: bool = True
    tag_list: list[str] = field(default_factory=list)
    access_level: str = "not_protected"
    maximum_timeout: int | None = None
    maintenance_note: str | None = None
    registration_type: str = "authenticated_user"  # or "registration_token"
    managers: dict[str, FakeManager] = field(default_factory=dict)

    @property
    def project_id(self) -> int | None:
        return self.project_ids[0] if self.project_ids else None

    @property
    def status(self) -> str:
        if self.paused:
            return "paused"
        return "online" if self.contacted_at else "never_contacted"

    def registration_details(self) -> dict[str, Any]:
        return {"id": self.id, "token": self.token, "token_expires_at": _iso(self.token_expires_at)}

    def details(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "description": self.description,
            "ip_address": None,
            "active": not self.paused,
            "paused": self.paused,
            "is_shared": self.runner_type == "instance_type",
            "runner_type": self.runner_type,
            "name": "gitlab-runner" if self.contacted_at else None,
            "online": self.contacted_at is not None,
            "status": self.status,
            "created_at": _iso(self.created_at),
            "contacted_at": _iso(self.contacted_at),
            "maintenance_note": self.maintenance_note,
            "tag_list": list(self.tag_list),
            "run_untagged": self.run_untagged,
            "locked": self.locked,
            "maximum_timeout": self.maximum_timeout,
            "access_level": self.access_level,
            "version": None,
            "revision": None,
            "platform": None,
            "architecture": None,
            "projects": [{"id": p} for p in self.project_ids],
            "groups": [{"id": self.group_id}] if self.group_id is not None else [],
        }


class _HTTPError(Exception):
    def __init__(self, status: int, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _message(status: int, detail: str | None = None) -> _HTTPError:
    base = {
        400: "400 Bad request", 401: "401 Unauthorized", 403: "403 Forbidden", 404: "404 Not Found",
        410: "410 Gone", 422: "422 Unprocessable Entity", 500: "500 Internal Server Error",
        502: "502 Bad Gateway", 503: "503 Service Unavailable",
    }.get(status, f"{status} Error")
    return _HTTPError(status, {"message": f"{base} - {detail}" if detail else base})


def _insufficient_scope(scopes: Sequence[str]) -> _HTTPError:
    return _HTTPError(
        403,
        {
            "error": "insufficient_scope",
            "error_description": "The request requires higher privileges than provided by the access token.",
            "scope": " ".join(scopes),
        },
        {"WWW-Authenticate": 'Bearer realm="", error="insufficient_scope", '
                             'error_description="The request requires higher privileges than provided by the access token.", '
                             f'scope="{" ".join(scopes)}"'},
    )


def _missing(name: str) -> _HTTPError:
    # Grape's parameter validation shape
    return _HTTPError(400, {"error": f"{name} is missing"})


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    return str(v).lower() in ("1", "true", "yes", "on")


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _dispatch(self) -> None:
        fake: FakeGitLab = self.server.app  # type: ignore[attr-defined]
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path
        root = fake.relative_url_root
        if root:  # below the relative URL root, or outside GitLab altogether
            path = path[len(root):] if path == root or path.startswith(root + "/") else "/-outside-root" + path
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, body, headers = fake._handle(self.command, path, parsed.query, self.headers, raw)
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _dispatch


Route = tuple[str, "re.Pattern[str]", Callable[..., Any]]


class FakeGitLab:
    """Fake GitLab REST API v4 on 127.0.0.1.

    ``FakeGitLab(tls=([leaf, intermediate], leaf.key))`` serves HTTPS, else HTTP.
    *ca* (optional) is only remembered, as ``.ca`` / ``.ca_pem``, for clients.
    """

    def __init__(
        self,
        *,
        tls: tuple[Sequence[Cert], Any] | None = None,
        version: str = "18.9.0",
        revision: str = "0123456789a",
        ca: Cert | None = None,
        host: str = "127.0.0.1",
        relative_url_root: str = "",
    ) -> None:
        self.version = version
        # GitLab installed under a path (gitlab.rb external_url 'https://host/gitlab'): every
        # route, the API's included, lives below it and nothing answers outside it
        self.relative_url_root = "/" + relative_url_root.strip("/") if relative_url_root.strip("/") else ""
        self.revision = revision
        self.ca = ca
        self.ca_pem_path: str | None = None  # fixtures may set this for clients
        ctx = server_context(list(tls[0]), tls[1]) if tls else None
        self._server = LoopbackHTTPServer(_Handler, ssl_context=ctx, app=self, host=host)
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._manager_ids = itertools.count(1)
        self._users: dict[str, FakeUser] = {}
        self._user_ids: dict[str, int] = {}
        self._runners: dict[int, FakeRunner] = {}
        self._requests: list[tuple[str, str, int]] = []
        self._bodies: list[tuple[str, str, dict[str, Any]]] = []
        self._headers: list[tuple[str, str, dict[str, str]]] = []
        self._delays: dict[str, float] = {}
        self._statuses: dict[str, tuple[int, Any, dict[str, str]]] = {}
        self.registration_token: str | None = "GR1348941" + secrets.token_hex(10)
        self.registration_enabled = False
        self.registration_scope: tuple[str, int | None] = ("instance_type", None)
        self.restrict_user_runner_creation = False
        self._routes: list[Route] = []
        self._add_routes()

    # -- lifecycle --------------------------------------------------------
    @property
    def url(self) -> str:
        return self._server.url.rstrip("/") + self.relative_url_root + "/"

    @property
    def api_url(self) -> str:
        return self.url.rstrip("/") + API

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def scheme(self) -> str:
        return self._server.scheme

    @property
    def ca_pem(self) -> bytes | None:
        return self.ca.pem if self.ca else None

    def start(self) -> "FakeGitLab":
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> "FakeGitLab":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- state set-up -----------------------------------------------------
    def add_user_token(
        self,
        token: str,
        scopes: Sequence[str],
        *,
        admin: bool = False,
        groups: dict[int, str] | None = None,
        projects: dict[int, str] | None = None,
        username: str = "alice",
        expires_at: str | _dt.date | None = None,
        active: bool = True,
        name: str = "wizard",
    ) -> FakeUser:
        bad = set(scopes) - KNOWN_SCOPES
        if bad:
            raise ValueError(f"unknown scopes: {sorted(bad)}")
        for table in (groups or {}, projects or {}):
            for lvl in table.values():
                if lvl not in ACCESS_LEVELS:
                    raise ValueError(f"unknown access level {lvl!r}")
        exp = _dt.date.fromisoformat(expires_at) if isinstance(expires_at, str) else expires_at
        with self._lock:
            uid = self._user_ids.setdefault(username, 100 + len(self._user_ids) + 1)
            user = FakeUser(
                id=uid, username=username, token=token, scopes=list(scopes), admin=admin,
                groups=dict(groups or {}), projects=dict(projects or {}), expires_at=exp,
                active=active, token_id=len(self._users) + 1, token_name=name,
            )
            self._users[token] = user
            return user

    def revoke_user_token(self, token: str) -> None:
        with self._lock:
            self._users[token].active = False

    def add_runner(
        self,
        runner_type: str = "group_type",
        group_id: int | None = 42,
        token: str | None = None,
        token_expires_at: str | _dt.datetime | None = None,
        prefix: str = "glrt-",
        description: str = "runner-wizard",
        *,
        project_id: int | None = None,
        registration_type: str = "authenticated_user",
    ) -> FakeRunner:
        if runner_type not in RUNNER_TYPES:
            raise ValueError(f"runner_type must be one of {RUNNER_TYPES}")
        with self._lock:
            rid = next(self._ids)
            r = FakeRunner(
                id=rid,
                token=token or self._new_token(prefix),
                runner_type=runner_type,
                group_id=group_id if runner_type == "group_type" else None,
                project_ids=[project_id] if runner_type == "project_type" and project_id is not None else [],
                description=description,
                token_expires_at=_parse_ts(token_expires_at),
                registration_type=registration_type,
            )
            self._runners[rid] = r
            return r

    def orphan_runner(self, runner_id: int) -> None:
        """Mark the runner's owning group/project as deleted."""
        with self._lock:
            r = self._runners[runner_id]
            r.orphaned = True

    def set_registration_token(
        self, token: str | None, *, enabled: bool = True,
        runner_type: str = "instance_type", group_id: int | None = None, project_id: int | None = None,
    ) -> None:
        with self._lock:
            self.registration_token = token
            self.registration_enabled = enabled
            ident = group_id if runner_type == "group_type" else project_id
            self.registration_scope = (runner_type, ident)

    def set_delay(self, path: str, seconds: float) -> None:
        """Sleep *seconds* before answering requests to *path* (``/api/v4/...``
        or short ``/runners/verify``). 0 removes it. The sleep ends early when
        the server stops."""
        with self._lock:
            p = self._norm(path)
            if seconds:
                self._delays[p] = seconds
            else:
                self._delays.pop(p, None)

    def set_status(self, path: str, code: int | None, body: Any = None,
                   headers: dict[str, str] | None = None) -> None:
        """Answer *path* with *code* (and GitLab-shaped JSON *body*, default
        ``{"message": "<code> ..."}``, plus *headers*, e.g. a ``Location``) without
        touching state. None removes it."""
        with self._lock:
            p = self._norm(path)
            if code is None:
                self._statuses.pop(p, None)
            else:
                self._statuses[p] = (code, body if body is not None else _message(code).body, dict(headers or {}))

    # -- inspection -------------------------------------------------------
    @property
    def requests(self) -> list[tuple[str, str, int]]:
        with self._lock:
            return list(self._requests)

    @property
    def request_bodies(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(method, path, params) with runner/user tokens as sent (tests only)."""
        with self._lock:
            return list(self._bodies)

    @property
    def request_headers(self) -> list[tuple[str, str, dict[str, str]]]:
        """(method, path, headers as sent, names lower-cased) (tests only)."""
        with self._lock:
            return list(self._headers)

    def requests_to(self, path: str, method: str | None = None) -> list[tuple[str, str, int]]:
        p = self._norm(path)
        return [r for r in self.requests if r[1] == p and (method is None or r[0] == method)]

    @property
    def runners(self) -> dict[int, FakeRunner]:
        with self._lock:
            return dict(self._runners)

    def runner_by_token(self, token: str) -> FakeRunner | None:
        with self._lock:
            return next((r for r in self._runners.values() if r.token == token), None)

    def managers(self, runner_id: int) -> list[FakeManager]:
        with self._lock:
            r = self._runners.get(runner_id)
            return list(r.managers.values()) if r else []

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()
            self._bodies.clear()
            self._headers.clear()

    # -- internals --------------------------------------------------------
    @staticmethod
    def _norm(path: str) -> str:
        path = "/" + path.lstrip("/")
        return path if path.startswith("/api/") else API + path

    @staticmethod
    def _new_token(prefix: str) -> str:
        return prefix + secrets.token_urlsafe(15).replace("-", "x").replace("_", "y")[:20]

    def _add_routes(self) -> None:
        r = self._routes.append
        c = re.compile
        r(("GET", c(r"/version"), self._version))
        r(("GET", c(r"/metadata"), self._version))
        r(("GET", c(r"/user"), self._user))
        r(("GET", c(r"/personal_access_tokens/self"), self._pat_self))
        r(("POST", c(r"/user/runners"), self._create_user_runner))
        r(("POST", c(r"/runners/verify"), self._verify))
        r(("POST", c(r"/runners/reset_authentication_token"), self._reset_token))
        r(("DELETE", c(r"/runners/managers"), self._delete_manager))
        r(("POST", c(r"/runners"), self._register_legacy))
        r(("DELETE", c(r"/runners"), self._delete_by_token))
        r(("GET", c(r"/runners/all"), self._list_all_runners))
        r(("GET", c(r"/groups/(?P<id>\d+)/runners"), self._list_group_runners))
        r(("GET", c(r"/projects/(?P<id>\d+)/runners"), self._list_project_runners))
        r(("GET", c(r"/runners/(?P<id>\d+)"), self._get_runner))
        r(("GET", c(r"/runners/(?P<id>\d+)/managers"), self._get_managers))
        r(("DELETE", c(r"/runners/(?P<id>\d+)"), self._delete_runner))

    def _handle(self, method: str, path: str, query: str, headers: Any, raw: bytes) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            delay = self._delays.get(path, 0.0)
            forced = self._statuses.get(path)
        if delay:
            self._server.stopping.wait(delay)
        params: dict[str, Any] = {k: v[-1] for k, v in urllib.parse.parse_qs(query).items()}
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if raw:
                if ctype == "application/json":
                    data = json.loads(raw.decode() or "{}")
                    if not isinstance(data, dict):
                        raise _HTTPError(400, {"error": "body must be a JSON object"})
                    params.update(data)
                else:
                    params.update({k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()})
            if forced is not None:
                status, body, hdrs = forced[0], forced[1], dict(forced[2])
            else:
                status, body, hdrs = self._route(method, path, params, headers)
        except _HTTPError as e:
            status, body, hdrs = e.status, e.body, e.headers
        except (ValueError, json.JSONDecodeError) as e:
            status, body, hdrs = 400, {"error": f"invalid request: {e}"}, {}
        with self._lock:
            self._requests.append((method, path, status))
            self._bodies.append((method, path, dict(params)))
            self._headers.append((method, path, {k.lower(): v for k, v in headers.items()}))
        return status, body, hdrs

    def _route(self, method: str, path: str, params: dict[str, Any], headers: Any) -> tuple[int, Any, dict[str, str]]:
        if not path.startswith(API + "/"):
            raise _message(404)
        sub = path[len(API):]
        allowed = False
        for m, pat, fn in self._routes:
            mt = pat.fullmatch(sub)
            if not mt:
                continue
            allowed = True
            if m == method or (m == "GET" and method == "HEAD"):
                with self._lock:
                    res = fn(params=params, headers=headers, **mt.groupdict())
                status, body = res if isinstance(res, tuple) else (200, res)
                if isinstance(body, list) and method in ("GET", "HEAD"):
                    return self._paginate(path, body, params)
                return status, body, {}
        if allowed:
            raise _HTTPError(405, {"error": "405 Not Allowed"})
        raise _HTTPError(404, {"error": "404 Not Found"})

    def _paginate(self, path: str, items: list[Any], params: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        """Offset pagination as documented for every list endpoint: ``page`` (default 1) and
        ``per_page`` (default 20, at most 100), answered with X-Page, X-Per-Page, X-Total,
        X-Total-Pages, X-Next-Page, X-Prev-Page and a Link header (first, last, prev, next)."""
        page = max(1, self._int_param(params, "page") or 1)
        per_page = min(100, max(1, self._int_param(params, "per_page") or 20))
        total = len(items)
        pages = max(1, -(-total // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        keep = {k: v for k, v in params.items() if k not in ("page", "per_page") and isinstance(v, (str, int))}

        def link(n: int) -> str:
            q = urllib.parse.urlencode({**keep, "page": n, "per_page": per_page})
            return f'<{self.url.rstrip("/")}{path}?{q}>'

        rels = [(page - 1, "prev")] if page > 1 else []
        rels += [(page + 1, "next")] if page < pages else []
        rels += [(1, "first"), (pages, "last")]
        headers = {
            "X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(total),
            "X-Total-Pages": str(pages), "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "Link": ", ".join(f'{link(n)}; rel="{rel}"' for n, rel in rels),
        }
        return 200, chunk, headers

    # authentication helpers
    def _user_for(self, headers: Any, params: dict[str, Any]) -> FakeUser:
        token = headers.get("PRIVATE-TOKEN")
        auth = headers.get("Authorization") or ""
        if not token and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        if not token:
            token = params.get("private_token") or params.get("access_token")
        user = self._users.get(token or "")
        if user is None or not user.active or (user.expires_at and user.expires_at <= _utcnow().date()):
            raise _message(401)
        return user

    @staticmethod
    def _require_scope(user: FakeUser, method: str, extra: Sequence[str]) -> None:
        # `api` always; `read_api` for GET; plus endpoint-specific scopes
        ok = {"api", *extra}
        if method == "GET":
            ok.add("read_api")
        if not ok & set(user.scopes):
            needed = ["api"] + (["read_api"] if method == "GET" else []) + list(extra)
            raise _insufficient_scope(needed)

    def _runner_for(self, params: dict[str, Any], *, heartbeat: bool) -> FakeRunner:
        token = params.get("token")
        if not token:
            raise _missing("token")
        r = next((x for x in self._runners.values() if x.token == token), None)
        if r is None:
            raise _message(403)
        if r.token_expires_at is not None and r.token_expires_at <= _utcnow():
            raise _message(403)
        if heartbeat:
            now = _utcnow()
            r.contacted_at = now
            sid = str(params.get("system_id") or "<legacy>")
            m = r.managers.get(sid)
            if m is None:
                m = FakeManager(id=next(self._manager_ids), system_id=sid, created_at=now)
                r.managers[sid] = m
            m.contacted_at = now
            info = params.get("info")
            if isinstance(info, dict):
                for k in ("version", "revision", "platform", "architecture"):
                    if info.get(k):
                        setattr(m, k, info[k])
        return r

    @staticmethod
    def _int_param(params: dict[str, Any], name: str) -> int | None:
        v = params.get(name)
        if v is None or v == "":
            return None
        try:
            return int(v)
        except (TypeError, ValueError):
            raise _HTTPError(400, {"error": f"{name} is invalid"}) from None

    # endpoints --------------------------------------------------------------
    def _version(self, *, params: dict[str, Any], headers: Any) -> Any:
        # GitLab's API::Version/API::Metadata: api, read_api, and (GET only)
        # read_user / ai_features. A create_runner-only token gets 403 here.
        u = self._user_for(headers, params)
        self._require_scope(u, "GET", ["read_user", "ai_features"])
        return {"version": self.version, "revision": self.revision,
                "kas": {"enabled": False, "externalUrl": None, "version": None}, "enterprise": False}

    def _user(self, *, params: dict[str, Any], headers: Any) -> Any:
        u = self._user_for(headers, params)
        self._require_scope(u, "GET", ["read_user"])
        body = {
            "id": u.id, "username": u.username, "name": u.username.title(), "state": "active",
            "locked": False, "avatar_url": None, "web_url": f"{self.url}{u.username}",
            "created_at": "2024-01-01T00:00:00.000Z", "email": f"{u.username}@example.test",
            "can_create_group": True, "can_create_project": True, "two_factor_enabled": False,
            "external": False, "bot": False,
        }
        if u.admin:
            body["is_admin"] = True
        return body

    def _pat_self(self, *, params: dict[str, Any], headers: Any) -> Any:
        u = self._user_for(headers, params)  # any scope may view itself
        return {
            "id": u.token_id, "name": u.token_name, "revoked": False,
            "created_at": "2025-01-01T00:00:00.000Z", "description": None,
            "scopes": list(u.scopes), "user_id": u.id, "last_used_at": _iso(_utcnow()),
            "active": u.active, "expires_at": u.expires_at.isoformat() if u.expires_at else None,
        }

    def _create_user_runner(self, *, params: dict[str, Any], headers: Any) -> Any:
        u = self._user_for(headers, params)
        self._require_scope(u, "POST", ["create_runner"])
        rtype = params.get("runner_type")
        if not rtype:
            raise _missing("runner_type")
        if rtype not in RUNNER_TYPES:
            raise _HTTPError(400, {"error": "runner_type does not have a valid value"})
        gid = self._int_param(params, "group_id")
        pid = self._int_param(params, "project_id")
        if rtype == "group_type" and gid is None:
            raise _missing("group_id")
        if rtype == "project_type" and pid is None:
            raise _missing("project_id")
        if rtype == "instance_type":
            if not u.admin:
                raise _message(403)
        elif rtype == "group_type":
            if not u.admin and u.level_in("group", gid) < ACCESS_LEVELS["maintainer"]:
                raise _message(403)
        else:
            if not u.admin and u.level_in("project", pid) < ACCESS_LEVELS["maintainer"]:
                raise _message(403)
        if self.restrict_user_runner_creation and not u.admin:
            raise _message(403)
        r = self.add_runner(
            rtype, group_id=gid, description=str(params.get("description") or ""),
            project_id=pid, token_expires_at=params.get("token_expires_at"),
        )
        r.paused = _to_bool(params.get("paused", False))
        r.locked = _to_bool(params.get("locked", False))
        r.run_untagged = _to_bool(params.get("run_untagged", True))
        tags = params.get("tag_list") or []
        r.tag_list = [t.strip() for t in (tags.split(",") if isinstance(tags, str) else tags) if t.strip()]
        r.access_level = str(params.get("access_level") or "not_protected")
        r.maintenance_note = params.get("maintenance_note")
        r.maximum_timeout = self._int_param(params, "maximum_timeout")
        return 201, r.registration_details()

    def _verify(self, *, params: dict[str, Any], headers: Any) -> Any:
        r = self._runner_for(params, heartbeat=True)  # side effects happen first, as in GitLab
        if r.orphaned:
            raise _HTTPError(422, {"message": "Runner is orphaned"})
        return 200, r.registration_details()

    def _reset_token(self, *, params: dict[str, Any], headers: Any) -> Any:
        r = self._runner_for(params, heartbeat=True)
        prefix = "glrt-" if r.token.startswith("glrt-") else ("glrtr-" if r.token.startswith("glrtr-") else "")
        r.token = self._new_token(prefix)
        if r.token_expires_at is not None:
            r.token_expires_at = _utcnow() + _dt.timedelta(days=30)
        return 201, {"token": r.token, "token_expires_at": _iso(r.token_expires_at)}

    def _register_legacy(self, *, params: dict[str, Any], headers: Any) -> Any:
        token = params.get("token")
        if not token:
            raise _missing("token")
        if not self.registration_token or token != self.registration_token:
            raise _message(403, "invalid token supplied")
        if not self.registration_enabled:
            raise _message(410, "runner registration disallowed")
        rtype, ident = self.registration_scope
        r = self.add_runner(
            rtype, group_id=ident if rtype == "group_type" else None,
            project_id=ident if rtype == "project_type" else None,
            prefix="glrtr-", description=str(params.get("description") or ""),
            registration_type="registration_token",
        )
        return 201, r.registration_details()

    def _delete_by_token(self, *, params: dict[str, Any], headers: Any) -> Any:
        r = self._runner_for(params, heartbeat=False)
        del self._runners[r.id]
        return 204, None

    def _delete_manager(self, *, params: dict[str, Any], headers: Any) -> Any:
        r = self._runner_for(params, heartbeat=False)
        sid = params.get("system_id")
        if not sid:
            raise _missing("system_id")
        if sid not in r.managers:
            raise _HTTPError(404, {"message": "404 Not found"})
        del r.managers[sid]
        return 204, None

    def _managed_runner(self, params: dict[str, Any], headers: Any, rid: str, method: str) -> FakeRunner:
        u = self._user_for(headers, params)
        self._require_scope(u, method, ["manage_runner"])
        r = self._runners.get(int(rid))
        if r is None:
            raise _HTTPError(404, {"message": "404 Runner Not Found"})
        if not u.can_manage(r):
            raise _message(403)
        return r

    def _get_runner(self, *, params: dict[str, Any], headers: Any, id: str) -> Any:  # noqa: A002
        return self._managed_runner(params, headers, id, "GET").details()

    def _get_managers(self, *, params: dict[str, Any], headers: Any, id: str) -> Any:  # noqa: A002
        r = self._managed_runner(params, headers, id, "GET")
        return [m.as_json() for m in r.managers.values()]

    # runner lists (GitLab docs, "Runners API": list all / group's / project's runners). Summary fields
    # only (no maintenance_note); filters type, paused, tag_list; paged like every list (_paginate).
    def _list(self, runners: Iterable[FakeRunner], params: dict[str, Any]) -> Any:
        rtype = params.get("type")
        if rtype is not None and rtype not in RUNNER_TYPES:
            raise _HTTPError(400, {"error": "type does not have a valid value"})
        tags = params.get("tag_list")
        want_tags = [t.strip() for t in tags.split(",")] if isinstance(tags, str) and tags else []
        out = [r for r in sorted(runners, key=lambda x: x.id)
               if (rtype is None or r.runner_type == rtype) and all(t in r.tag_list for t in want_tags)
               and ("paused" not in params or r.paused == _to_bool(params["paused"]))]
        keys = ("id", "description", "ip_address", "active", "paused", "is_shared", "runner_type", "name",
                "online", "status")
        return [{k: r.details()[k] for k in keys} for r in out]  # _route pages every list (_paginate)

    def _list_all_runners(self, *, params: dict[str, Any], headers: Any) -> Any:
        u = self._user_for(headers, params)
        self._require_scope(u, "GET", ["manage_runner"])
        if not u.admin:
            raise _message(403)
        return self._list(self._runners.values(), params)

    def _list_group_runners(self, *, params: dict[str, Any], headers: Any, id: str) -> Any:  # noqa: A002
        u = self._user_for(headers, params)
        self._require_scope(u, "GET", ["manage_runner"])
        gid = int(id)
        if not u.admin and u.level_in("group", gid) < ACCESS_LEVELS["maintainer"]:
            raise _message(403)
        return self._list([r for r in self._runners.values()
                           if r.runner_type == "instance_type" or r.group_id == gid], params)

    def _list_project_runners(self, *, params: dict[str, Any], headers: Any, id: str) -> Any:  # noqa: A002
        u = self._user_for(headers, params)
        self._require_scope(u, "GET", ["manage_runner"])
        pid = int(id)
        if not u.admin and u.level_in("project", pid) < ACCESS_LEVELS["maintainer"]:
            raise _message(403)
        return self._list([r for r in self._runners.values()
                           if r.runner_type == "instance_type" or pid in r.project_ids], params)

    def _delete_runner(self, *, params: dict[str, Any], headers: Any, id: str) -> Any:  # noqa: A002
        r = self._managed_runner(params, headers, id, "DELETE")
        del self._runners[r.id]
        return 204, None
