"""A small GitLab REST (v4) client for checks and apply.

Plain urllib3 over one connection pool: it honours a private CA (appended to the
system store, as the runner does) and a hard timeout, and never calls ``GET /user``
implicitly, so a token with only the ``create_runner`` scope works for
``create_runner``. Tokens are sent in headers or bodies only, never logged.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3

_log = logging.getLogger("wizard.gitlab")

API = "/api/v4"
CHECK_SYSTEM_ID = "runner-wizard-check"


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


def _ssl_context(ca_pem: str | None, verify: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if ca_pem:
        ctx.load_verify_locations(cadata=ca_pem)
    return ctx


class GitLabAPI:
    """``GitLabAPI("https://gitlab.example.com/", ca_pem=..., timeout=5)``.

    ``connect_to`` dials that address instead of resolving the URL's host (a host
    alias); the TLS name and ``Host`` header stay the URL's host.
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
        self._lock = threading.Lock()
        host_header = self.host if ":" not in self.host else f"[{self.host}]"
        default_port = 443 if self.scheme == "https" else 80
        if self.port != default_port:
            host_header += f":{self.port}"
        headers = {"User-Agent": user_agent, "Accept": "application/json", "Host": host_header}
        tmo = urllib3.Timeout(connect=timeout, read=timeout)
        dial = connect_to or self.host
        if self.scheme == "https":
            extra: dict[str, Any] = {"ca_pem": ca_pem, "verify_host": self.host} if verify else {}
            cls = RunnerVerifiedHTTPSPool if verify else UnverifiedHTTPSPool
            self._pool: urllib3.HTTPConnectionPool = cls(
                dial, self.port, maxsize=8, block=False, timeout=tmo, retries=False, headers=headers,
                ssl_context=_ssl_context(ca_pem, False), server_hostname=self.host,
                assert_hostname=False, cert_reqs="CERT_NONE", **extra)
        else:
            self._pool = urllib3.HTTPConnectionPool(dial, self.port, maxsize=8, block=False, timeout=tmo,
                                                    retries=False, headers=headers)

    def close(self) -> None:
        self._pool.close()

    # ---- transport

    def request(self, method: str, path: str, *, token: str | None = None, body: dict[str, Any] | None = None,
                query: dict[str, Any] | None = None, expect_json: bool = True) -> tuple[int, Any]:
        """One call; returns (status, decoded body) for 2xx, raises GitLabError otherwise."""
        full = self.prefix + API + path
        if query:
            full += "?" + urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)
        headers = {}
        if token is not None:
            headers["PRIVATE-TOKEN"] = token
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        t0 = time.monotonic()
        try:
            resp = self._pool.urlopen(method, full, body=payload, headers={**self._pool.headers, **headers},
                                      redirect=False, preload_content=True)
        except urllib3.exceptions.HTTPError as exc:
            _log.debug("gitlab %s %s: no answer after %.2fs: %s", method, API + path, time.monotonic() - t0,
                       type(exc).__name__)
            raise _transport_error(exc, self.host, self.port) from None
        _log.debug("gitlab %s %s: %s in %.2fs", method, API + path, resp.status, time.monotonic() - t0)
        data: Any = None
        if resp.data:
            try:
                data = json.loads(resp.data)
            except ValueError:
                data = resp.data.decode(errors="replace")[:200]
        if 200 <= resp.status < 300:
            return resp.status, data
        raise GitLabError(resp.status, _message(resp.status, data), body=data)

    # ---- endpoints

    def probe(self) -> int:
        """GET /version without a token: the HTTP status (401 still proves a GitLab API answers)."""
        try:
            status, _ = self.request("GET", "/version")
            return status
        except GitLabError as exc:
            if exc.status:
                return exc.status
            raise

    def version(self, token: str) -> dict[str, Any]:
        return self.request("GET", "/version", token=token)[1]

    def token_self(self, token: str) -> dict[str, Any]:
        """GET /personal_access_tokens/self: scopes, expires_at, active."""
        return self.request("GET", "/personal_access_tokens/self", token=token)[1]

    def current_user(self, token: str) -> dict[str, Any]:
        """GET /user (needs read_user or api; not usable with a create_runner-only token)."""
        return self.request("GET", "/user", token=token)[1]

    def verify_runner(self, runner_token: str, system_id: str = CHECK_SYSTEM_ID) -> dict[str, Any]:
        """POST /runners/verify. Side effect: heartbeats the runner and find-or-creates the manager
        row ``system_id``."""
        return self.request("POST", "/runners/verify",
                            body={"token": runner_token, "system_id": system_id})[1]

    def create_runner(self, api_token: str, runner_type: str, group_id: int | None = None,
                      project_id: int | None = None, description: str = "k8s runner",
                      tag_list: list[str] | None = None, run_untagged: bool = True,
                      **extra: Any) -> dict[str, Any]:
        """POST /user/runners -> {id, token, token_expires_at}. The token is shown only once."""
        body: dict[str, Any] = {"runner_type": runner_type, "description": description,
                                "run_untagged": run_untagged}
        if tag_list:
            body["tag_list"] = ",".join(tag_list)
        if group_id is not None:
            body["group_id"] = group_id
        if project_id is not None:
            body["project_id"] = project_id
        body.update({k: v for k, v in extra.items() if v is not None})
        return self.request("POST", "/user/runners", token=api_token, body=body)[1]

    def register_legacy(self, registration_token: str, description: str = "runner-wizard-check") -> dict[str, Any]:
        """POST /runners with a registration token (creates a runner; 410 when disallowed)."""
        return self.request("POST", "/runners", body={"token": registration_token,
                                                      "description": description})[1]

    def get_runner(self, token: str, runner_id: int) -> dict[str, Any]:
        return self.request("GET", f"/runners/{int(runner_id)}", token=token)[1]

    def runner_managers(self, token: str, runner_id: int) -> list[dict[str, Any]]:
        return self.request("GET", f"/runners/{int(runner_id)}/managers", token=token)[1] or []

    def delete_runner(self, token: str, runner_id: int) -> None:
        self.request("DELETE", f"/runners/{int(runner_id)}", token=token)

    def delete_runner_manager(self, runner_token: str, system_id: str = CHECK_SYSTEM_ID) -> None:
        """DELETE /runners/managers: removes one runner manager row (what verify_runner created)."""
        self.request("DELETE", "/runners/managers", body={"token": runner_token, "system_id": system_id})

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
        self.request("DELETE", "/runners", body={"token": runner_token})


def _message(status: int, data: Any) -> str:
    if isinstance(data, dict):
        for key in ("message", "error_description", "error"):
            if data.get(key):
                m = data[key]
                return m if isinstance(m, str) else json.dumps(m)
    if isinstance(data, str) and data.strip():
        return data.strip()[:200]
    return {401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 410: "Gone"}.get(status, "error")


def _transport_error(exc: Exception, host: str, port: int) -> GitLabError:
    import socket

    where = f"{host}:{port}"
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 8:
        chain.append(cur)
        cur = _next_cause(cur)
        if cur in chain:
            break
    text = " ".join(str(c) for c in chain)
    if any(isinstance(c, ssl.SSLError) or isinstance(c, urllib3.exceptions.SSLError) for c in chain):
        return GitLabError(0, f"TLS to {where} failed: {chain[-1]}", kind="tls")
    if any(isinstance(c, (urllib3.exceptions.NameResolutionError, socket.gaierror)) for c in chain):
        return GitLabError(0, f"the name {host} does not resolve from here", kind="dns")
    if any(isinstance(c, ConnectionRefusedError) for c in chain) or "refused" in text.lower():
        return GitLabError(0, f"TCP connection to {where} refused", kind="refused")
    if any(isinstance(c, (urllib3.exceptions.TimeoutError, socket.timeout, TimeoutError)) for c in chain):
        return GitLabError(0, f"no answer from {where} within the timeout", kind="timeout")
    return GitLabError(0, f"cannot reach {where}: {chain[-1]}", kind="network")


def _next_cause(exc: BaseException) -> BaseException | None:
    """The exception behind ``exc``: urllib3's ``reason`` when it is an exception (an
    ``ssl.SSLCertVerificationError``'s ``reason`` is a string), else its cause or context."""
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, BaseException) else (exc.__cause__ or exc.__context__)
