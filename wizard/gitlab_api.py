"""The GitLab REST (v4) client for checks and apply: python-gitlab, on a transport that
trusts exactly what the runner trusts.

Every call goes through :mod:`gitlab` (python-gitlab): ``gitlab.Gitlab(url, private_token=...,
timeout=..., retry_transient_errors=False)`` with managers where python-gitlab has one
(``runners``, ``personal_access_tokens``, ``CurrentUserRunnerManager`` for ``POST /user/runners``,
``CurrentUserManager``) and ``http_get`` / ``http_post`` / ``http_delete`` / ``http_list`` for the
runner-token endpoints it has no manager for (``/runners/verify`` with a ``system_id``,
``/runners/managers``, ``DELETE /runners``, ``/runners/:id/managers``, ``/version``).
``GET /user`` is never called implicitly, so a token with only the ``create_runner`` scope works.

TLS: python-gitlab speaks through requests, whose own verification is OpenSSL's, and OpenSSL's
verdict differs from the runner's (Go's ``crypto/x509``: a pinned server certificate,
anyExtendedKeyUsage, ...). A check must not fail where the runner succeeds, nor pass where it
fails. So the session's only adapter hands every request to one urllib3 pool for the URL's host
whose connections are judged by :mod:`wizard.tls` (Go's rules, the system pool plus the CA
bundle, the URL's host) on the very socket the request will use, after the handshake and before
any byte of the request, token included, is written. requests' ``verify`` has nothing left to
decide, so it is not consulted. Redirects are never followed (a token never leaves for another
host) and the environment (proxies, ``.netrc``) is not read.

python-gitlab and requests are imported on first use: start-up does not pay for them. Errors
come back as :class:`GitLabError` with the HTTP status (or ``kind`` when no answer came), their
messages passed through :mod:`wizard.logsafe` with the tokens of the call removed.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlsplit

import urllib3

if TYPE_CHECKING:  # pragma: no cover
    import gitlab
    import requests

_log = logging.getLogger("wizard.gitlab")

API = "/api/v4"
CHECK_SYSTEM_ID = "runner-wizard-check"
# python-gitlab retries 429s (sleeping) and, when asked, transient 5xx: a check has a deadline,
# and today's answers must be the ones reported, so every call is made exactly once.
_ONCE: dict[str, Any] = {"obey_rate_limit": False, "retry_transient_errors": False}


class GitLabError(Exception):
    """A failed call. ``status`` is the HTTP status, or 0 when no answer came back."""

    def __init__(self, status: int, message: str, *, kind: str = "", body: Any = None):
        super().__init__(f"{status} {message}" if status else message)
        self.status = status
        self.message = message
        self.kind = kind  # for status 0: dns | refused | timeout | tls | network
        self.body = body

    @property
    def insufficient_scope(self) -> bool:
        return self.status == 403 and isinstance(self.body, dict) and \
            self.body.get("error") == "insufficient_scope"


class UnverifiedHTTPSPool(urllib3.HTTPSConnectionPool):
    """An HTTPS pool for deliberate unverified probes (never used to send credentials):
    no InsecureRequestWarning, since not verifying is the point."""

    def _validate_conn(self, conn: Any) -> None:
        urllib3.HTTPConnectionPool._validate_conn(self, conn)
        if conn.is_closed:
            conn.connect()


class RunnerVerifiedHTTPSPool(UnverifiedHTTPSPool):
    """HTTPS that trusts exactly what the runner manager trusts: the chain is judged by
    ``wizard.tls`` (Go's crypto/x509 rules, system pool + the CA bundle, the URL's host)
    before any request, and so before any token, is sent on a connection. OpenSSL's own
    verdict differs (a pinned server certificate, anyExtendedKeyUsage), and a check must
    not fail where the runner will succeed."""

    def __init__(self, *a: Any, ca_pem: str | None = None, verify_host: str = "", **kw: Any) -> None:
        super().__init__(*a, **kw)
        self._ca_pem = ca_pem
        self._verify_host = verify_host

    def _validate_conn(self, conn: Any) -> None:
        super()._validate_conn(conn)
        if getattr(conn, "_runner_verified", False):
            return
        from .tls import go_verify, load_pem_certificates, system_roots
        from .tls.fetch import _unverified_chain

        roots = [*system_roots(), *(load_pem_certificates(self._ca_pem) if self._ca_pem else [])]
        verdict = go_verify(_unverified_chain(conn.sock), self._verify_host, roots)
        if not verdict.trusted:
            conn.close()
            raise ssl.SSLCertVerificationError(f"the runner would reject the certificate: {verdict.text}")
        conn._runner_verified = True


def _unverified_context() -> ssl.SSLContext:
    """The transport's TLS context: OpenSSL verifies nothing (the pool judges each connection with
    the runner's rules), so no trust store is loaded into it (5-20 ms of parsing per context)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _pinned_session(pool: urllib3.HTTPConnectionPool, host_header: str) -> "requests.Session":
    """A requests session whose every request goes to ``pool`` (see the module doc). It holds the
    pool, not the GitLabAPI: no reference cycle, so a dropped client frees its sockets at once."""
    import requests
    import requests.adapters

    class _Session(requests.Session):
        def send(self, request: Any, **kw: Any) -> Any:
            kw["allow_redirects"] = False  # a 3xx is an answer to report, not a place to send a token
            return super().send(request, **kw)

    class _PoolAdapter(requests.adapters.HTTPAdapter):
        def get_connection_with_tls_context(self, request: Any, verify: Any, proxies: Any = None,
                                            cert: Any = None) -> Any:
            return pool

        def get_connection(self, url: Any, proxies: Any = None) -> Any:  # requests < 2.32
            return pool

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            pass  # the pool judges every connection with the runner's (Go's) rules

        def request_url(self, request: Any, proxies: Any) -> str:
            return request.path_url

        def add_headers(self, request: Any, **kw: Any) -> None:
            request.headers["Host"] = host_header  # the URL's host, also when dialling an alias

        def send(self, request: Any, *a: Any, **kw: Any) -> Any:
            path = urlsplit(request.url).path
            t0 = time.monotonic()
            try:
                resp = super().send(request, *a, **kw)
            except Exception as exc:
                _log.debug("gitlab %s %s: no answer after %.2fs: %s", request.method, path,
                           time.monotonic() - t0, type(exc).__name__)
                raise
            _log.debug("gitlab %s %s: %s in %.2fs", request.method, path, resp.status_code, time.monotonic() - t0)
            return resp

        def close(self) -> None:
            pass  # the pool belongs to GitLabAPI

    s = _Session()
    s.trust_env = False  # no proxies, no .netrc credentials from the environment
    for prefix in ("http://", "https://"):
        s.mount(prefix, _PoolAdapter(max_retries=0))
    return s


class GitLabAPI:
    """``GitLabAPI("https://gitlab.example.com/", ca_pem=..., timeout=5)``.

    ``connect_to`` dials that address instead of resolving the URL's host (a host
    alias); the TLS name and ``Host`` header stay the URL's host. ``verify=False`` is for
    the deliberate unverified reachability probe only (it never carries a token).
    """

    def __init__(self, url: str, *, ca_pem: str | None = None, timeout: float = 5.0,
                 connect_to: str | None = None, verify: bool = True, user_agent: str = "runner-wizard"):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url.rstrip("/") + "/"
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout = timeout
        self.verify = verify
        self.user_agent = user_agent
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        self._clients: dict[str | None, gitlab.Gitlab] = {}
        host_header = self.host if ":" not in self.host else f"[{self.host}]"
        default_port = 443 if self.scheme == "https" else 80
        if self.port != default_port:
            host_header += f":{self.port}"
        self._host_header = host_header
        headers = {"User-Agent": user_agent, "Accept": "application/json", "Host": host_header}
        tmo = urllib3.Timeout(connect=timeout, read=timeout)
        dial = connect_to or self.host
        if self.scheme == "https":
            extra: dict[str, Any] = {"ca_pem": ca_pem, "verify_host": self.host} if verify else {}
            cls = RunnerVerifiedHTTPSPool if verify else UnverifiedHTTPSPool
            self._pool: urllib3.HTTPConnectionPool = cls(
                dial, self.port, maxsize=8, block=False, timeout=tmo, retries=False, headers=headers,
                ssl_context=_unverified_context(), server_hostname=self.host,
                assert_hostname=False, cert_reqs="CERT_NONE", **extra)
        else:
            self._pool = urllib3.HTTPConnectionPool(dial, self.port, maxsize=8, block=False, timeout=tmo,
                                                    retries=False, headers=headers)

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
            self._clients.clear()
        self._pool.close()

    # ---- python-gitlab

    def gitlab(self, token: str | None = None) -> "gitlab.Gitlab":
        """The python-gitlab client for *token* (None: anonymous), on this object's transport."""
        with self._lock:
            gl = self._clients.get(token)
            if gl is None:
                import gitlab

                if self._session is None:
                    self._session = _pinned_session(self._pool, self._host_header)
                # ssl_verify stays True: the transport verifies, with the runner's rules (module doc)
                gl = gitlab.Gitlab(self.url.rstrip("/"), private_token=token, timeout=self.timeout,
                                   ssl_verify=True, retry_transient_errors=False, user_agent=self.user_agent,
                                   session=self._session)
                self._clients[token] = gl
            return gl

    def _call(self, what: str, fn: Callable[[], Any], *secrets: str | None) -> Any:
        """Run one python-gitlab call; map its failures to GitLabError without secrets."""
        import gitlab.exceptions
        import requests

        try:
            result = fn()
            # http_get/http_post hand back the Response itself unless Content-Type is exactly
            # application/json (a charset parameter, a proxy's page): decode it here
            return _decode(result.content) if isinstance(result, requests.Response) else result
        except gitlab.exceptions.GitlabError as exc:
            status = int(exc.response_code or 0)
            body = _decode(exc.response_body)
            if status:
                err = GitLabError(status, _clean(_message(status, body), secrets), body=_scrub(body, secrets))
            else:  # python-gitlab's own complaint (a redirect, a response it cannot parse)
                err = GitLabError(0, _clean(f"{what}: {exc.error_message}", secrets), kind="network")
        except requests.exceptions.RequestException as exc:
            err = _transport_error(exc, self.host, self.port)
            err = GitLabError(0, _clean(err.message, secrets), kind=err.kind)
        raise err

    # ---- transport (kept for callers that need an endpoint without a method below)

    def request(self, method: str, path: str, *, token: str | None = None, body: dict[str, Any] | None = None,
                query: dict[str, Any] | None = None, expect_json: bool = True) -> tuple[int, Any]:
        """One call through python-gitlab; returns (status, decoded body) for 2xx, raises GitLabError."""
        gl = self.gitlab(token)

        def go() -> tuple[int, Any]:
            resp = gl.http_request(method.lower(), path, query_data=query, post_data=body, **_ONCE)
            return resp.status_code, _decode(resp.content)

        return self._call(f"{method} {path}", go, token,
                          *(v for k, v in (body or {}).items() if "token" in k.lower()))

    # ---- endpoints

    def probe(self) -> int:
        """GET /version without a token: the HTTP status (401 still proves a GitLab API answers)."""
        try:
            return self.request("GET", "/version")[0]
        except GitLabError as exc:
            if exc.status:
                return exc.status
            raise

    def version(self, token: str) -> dict[str, Any]:
        """GET /version (``Gitlab.version()`` would hide a 401/403 as "unknown")."""
        gl = self.gitlab(token)
        return _object("GET /version", self._call("GET /version", lambda: gl.http_get("/version", **_ONCE), token))

    def token_self(self, token: str) -> dict[str, Any]:
        """GET /personal_access_tokens/self: scopes, expires_at, active."""
        gl = self.gitlab(token)
        return self._call("GET /personal_access_tokens/self",
                          lambda: gl.personal_access_tokens.get("self", **_ONCE).attributes, token)

    def current_user(self, token: str) -> dict[str, Any]:
        """GET /user (needs read_user or api; not usable with a create_runner-only token)."""
        from gitlab.v4.objects import CurrentUserManager

        gl = self.gitlab(token)
        return self._call("GET /user", lambda: CurrentUserManager(gl).get(**_ONCE).attributes, token)

    def verify_runner(self, runner_token: str, system_id: str = CHECK_SYSTEM_ID) -> dict[str, Any]:
        """POST /runners/verify. Side effect: heartbeats the runner and find-or-creates the manager
        row ``system_id``. (``gl.runners.verify`` drops the answer and cannot send a system_id.)"""
        gl = self.gitlab(None)
        return _object("POST /runners/verify", self._call("POST /runners/verify", lambda: gl.http_post(
            "/runners/verify", post_data={"token": runner_token, "system_id": system_id}, **_ONCE), runner_token))

    def create_runner(self, api_token: str, runner_type: str, group_id: int | None = None,
                      project_id: int | None = None, description: str = "k8s runner",
                      tag_list: list[str] | None = None, run_untagged: bool = True,
                      **extra: Any) -> dict[str, Any]:
        """POST /user/runners -> {id, token, token_expires_at}. The token is shown only once."""
        from gitlab.v4.objects import CurrentUserRunnerManager

        body: dict[str, Any] = {"runner_type": runner_type, "description": description,
                                "run_untagged": run_untagged}
        if tag_list:
            body["tag_list"] = ",".join(tag_list)
        if group_id is not None:
            body["group_id"] = group_id
        if project_id is not None:
            body["project_id"] = project_id
        body.update({k: v for k, v in extra.items() if v is not None})
        gl = self.gitlab(api_token)
        # gl.user.runners needs gl.auth() (GET /user); the manager alone needs only create_runner
        return self._call("POST /user/runners",
                          lambda: CurrentUserRunnerManager(gl).create(body, **_ONCE).attributes, api_token)

    def register_legacy(self, registration_token: str, description: str = "runner-wizard-check") -> dict[str, Any]:
        """POST /runners with a registration token (creates a runner; 410 when disallowed)."""
        gl = self.gitlab(None)
        return self._call("POST /runners", lambda: gl.runners.create(
            {"token": registration_token, "description": description}, **_ONCE).attributes, registration_token)

    def get_runner(self, token: str, runner_id: int) -> dict[str, Any]:
        gl = self.gitlab(token)
        return self._call("GET /runners/:id", lambda: gl.runners.get(int(runner_id), **_ONCE).attributes, token)

    def runner_managers(self, token: str, runner_id: int) -> list[dict[str, Any]]:
        """GET /runners/:id/managers, every page (python-gitlab has no manager class for it)."""
        gl = self.gitlab(token)
        return list(self._call("GET /runners/:id/managers", lambda: gl.http_list(
            f"/runners/{int(runner_id)}/managers", get_all=True, **_ONCE), token) or [])

    def delete_runner(self, token: str, runner_id: int) -> None:
        gl = self.gitlab(token)
        self._call("DELETE /runners/:id", lambda: gl.runners.delete(int(runner_id), **_ONCE), token)

    def delete_runner_manager(self, runner_token: str, system_id: str = CHECK_SYSTEM_ID) -> None:
        """DELETE /runners/managers: removes one runner manager row (what verify_runner created)."""
        gl = self.gitlab(None)
        self._call("DELETE /runners/managers", lambda: gl.http_delete(
            "/runners/managers", post_data={"token": runner_token, "system_id": system_id}, **_ONCE), runner_token)

    def verify_runner_cleanly(self, runner_token: str) -> dict[str, Any]:
        """Verify a runner token, then remove the manager row the verify call created, so the
        only trace left in GitLab is the runner's contacted_at time."""
        info = self.verify_runner(runner_token, CHECK_SYSTEM_ID)
        try:
            self.delete_runner_manager(runner_token, CHECK_SYSTEM_ID)
        except GitLabError:
            pass
        return info

    def delete_runner_by_token(self, runner_token: str) -> None:
        """DELETE /runners: deletes the WHOLE runner the token belongs to."""
        gl = self.gitlab(None)
        self._call("DELETE /runners", lambda: gl.http_delete(
            "/runners", post_data={"token": runner_token}, **_ONCE), runner_token)


def _object(what: str, data: Any) -> dict[str, Any]:
    """A 2xx whose body is not a JSON object is not GitLab answering (a proxy's page, a captive portal)."""
    if isinstance(data, dict):
        return data
    return _raise(GitLabError(0, f"{what}: the answer is not GitLab's JSON (a proxy in the way?)", kind="network"))


def _raise(err: GitLabError) -> Any:
    raise err


def _decode(raw: Any) -> Any:
    if raw is None or raw == b"" or raw == "":
        return None
    if isinstance(raw, (dict, list)):
        return raw
    try:
        return json.loads(raw)
    except (ValueError, TypeError):
        return (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw))[:200]


def _clean(text: str, secrets: tuple[Any, ...]) -> str:
    """The message without this call's tokens or anything shaped like a secret."""
    from .logsafe import redact

    return redact(text, [s for s in secrets if isinstance(s, str) and len(s) >= 4])


def _scrub(body: Any, secrets: tuple[Any, ...]) -> Any:
    if isinstance(body, dict):
        return {k: _scrub(v, secrets) for k, v in body.items()}
    if isinstance(body, list):
        return [_scrub(v, secrets) for v in body]
    if isinstance(body, str):
        return _clean(body, secrets)
    return body


def _message(status: int, data: Any) -> str:
    if isinstance(data, dict):
        for key in ("message", "error_description", "error"):
            if data.get(key):
                m = data[key]
                return m if isinstance(m, str) else json.dumps(m)
    if isinstance(data, str) and data.strip():
        return data.strip()[:200]
    return {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 410: "Gone"}.get(status, "error")


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it wraps: requests -> urllib3 (reason) -> ssl/socket."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 16:
        cur = todo.pop(0)
        if any(cur is s for s in seen):
            continue
        seen.append(cur)
        nxt = [getattr(cur, "reason", None), cur.__cause__, cur.__context__,
               *(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))]
        todo.extend(n for n in nxt if isinstance(n, BaseException))
    return seen


def _transport_error(exc: Exception, host: str, port: int) -> GitLabError:
    import socket

    where = f"{host}:{port}"
    chain = _causes(exc)
    text = " ".join(str(c) for c in chain)
    tls = [c for c in chain if isinstance(c, ssl.SSLError)]
    if tls or any(isinstance(c, urllib3.exceptions.SSLError) or type(c).__name__ == "SSLError" for c in chain):
        return GitLabError(0, f"TLS to {where} failed: {(tls or chain)[-1]}", kind="tls")
    if any(isinstance(c, (urllib3.exceptions.NameResolutionError, socket.gaierror)) for c in chain):
        return GitLabError(0, f"the name {host} does not resolve from here", kind="dns")
    if any(isinstance(c, ConnectionRefusedError) for c in chain) or "refused" in text.lower():
        return GitLabError(0, f"TCP connection to {where} refused", kind="refused")
    if any(isinstance(c, (urllib3.exceptions.TimeoutError, socket.timeout, TimeoutError)) or
           type(c).__name__ in ("Timeout", "ConnectTimeout", "ReadTimeout") for c in chain):
        return GitLabError(0, f"no answer from {where} within the timeout", kind="timeout")
    return GitLabError(0, f"cannot reach {where}: {chain[-1]}", kind="network")
