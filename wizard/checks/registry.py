"""Registries: /v2/ reachability, TLS trust, credentials (E09, E21, E22, E23).

Passwords are sent only over a verified TLS connection (or over the plain-HTTP
registry the user chose) and never appear in any result.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import urllib3

from .. import tls
from ..answers import SecretRef
from ..gitlab_api import UnverifiedHTTPSPool
from ..results import Status
from .engine import CheckContext, CheckSpec, Skip

NODE_TRUST_FIX = ("set ca_file for this registry and install the CA on every node (containerd: "
                  "/etc/containerd/certs.d/<host:port>/hosts.toml; CRI-O: /etc/containers/certs.d/<host:port>/ca.crt); "
                  "runner-wizard render writes these node files")
PLAIN_HTTP_FIX = ("allow it on every node: CRI-O [[registry]] insecure = true in registries.conf.d; containerd "
                  "certs.d/<host:port>/hosts.toml with server = \"http://<host:port>\" (runner-wizard render writes "
                  "these), or put TLS in front of the registry")


def split_host(hostport: str, scheme: str) -> tuple[str, int]:
    parts = urlsplit(f"//{hostport}")
    return parts.hostname or hostport, parts.port or (443 if scheme == "https" else 80)


@dataclass
class Probe:
    host: str
    port: int
    scheme: str
    status: int = 0
    challenge: str = ""
    error: str = ""
    error_kind: str = ""
    speaks_http: bool = False
    verdict: tls.Verdict | None = None
    ca_faults: list[tls.Fault] = field(default_factory=list)
    roots: list[Any] = field(default_factory=list)

    @property
    def reachable(self) -> bool:
        return self.status > 0

    @property
    def tls_ok(self) -> bool:
        return self.scheme == "http" or (self.verdict is not None and self.verdict.ok and self.verdict.trusted)


def _ctx_verified(roots: list[Any], *, system: bool = True) -> ssl.SSLContext:
    """A verifying context trusting ``roots``, and the system store unless ``system`` is False
    (loading the store costs ~20 ms of CPU per context)."""
    if not system and roots:
        return ssl.create_default_context(cadata=tls.to_pem(roots))
    c = ssl.create_default_context()
    if roots:
        c.load_verify_locations(cadata=tls.to_pem(roots))
    return c


def _needs_system_store(p: Probe) -> bool:
    """False when the registry's own chain was trusted through ``ca_file`` alone and every
    certificate there is a self-signed root: OpenSSL then completes the chain without the store.
    (A ca_file holding an intermediate needs the system root above it: Go accepts a pool
    certificate as an anchor, OpenSSL here does not.)"""
    v = p.verdict
    if v is None or v.trusted_by != "extra" or not p.roots:
        return True
    return not all(tls.is_self_signed(c) for c in p.roots)


REGISTRY_TIMEOUT = 2.0
"""Per-step network timeout for registry probes: a registry answers a TLS handshake and /v2/ in
milliseconds; one that has not answered in 2 s is reported as unreachable."""


def _pool(p: Probe, *, verify: bool, timeout: float, connect_to: str | None) -> urllib3.HTTPConnectionPool:
    tmo = urllib3.Timeout(connect=timeout, read=timeout)
    dial = connect_to or p.host
    if p.scheme == "https":
        if verify:
            sslctx = _ctx_verified(p.roots, system=_needs_system_store(p))
        else:
            sslctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # no trust store to load: nothing is verified
            sslctx.check_hostname = False
            sslctx.verify_mode = ssl.CERT_NONE
        cls = urllib3.HTTPSConnectionPool if verify else UnverifiedHTTPSPool
        return cls(dial, p.port, timeout=tmo, retries=False, maxsize=2,
                                           ssl_context=sslctx, server_hostname=p.host,
                                           assert_hostname=p.host if verify else False,
                                           cert_reqs="CERT_REQUIRED" if verify else "CERT_NONE")
    return urllib3.HTTPConnectionPool(dial, p.port, timeout=tmo, retries=False, maxsize=2)


def _get(pool: urllib3.HTTPConnectionPool, path: str, headers: dict[str, str], host_header: str) -> Any:
    return pool.urlopen("GET", path, headers={"Host": host_header, "User-Agent": "runner-wizard",
                                              "Accept": "application/json", **headers},
                        redirect=False, preload_content=True)


def _classify(exc: Exception, host: str, port: int) -> tuple[str, str, bool]:
    text = repr(exc)
    speaks_http = "WRONG_VERSION_NUMBER" in text.upper() or "record layer failure" in text
    if speaks_http:
        return "handshake", f"{host}:{port} does not speak TLS (it answers plain HTTP)", True
    if "refused" in text.lower():
        return "refused", f"TCP connection to {host}:{port} refused", False
    cur: BaseException | None = exc
    while cur is not None:
        if isinstance(cur, ConnectionRefusedError):
            return "refused", f"TCP connection to {host}:{port} refused", False
        if isinstance(cur, (urllib3.exceptions.NameResolutionError,)):
            return "dns", f"the name {host} does not resolve from here", False
        if isinstance(cur, (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError)):
            return "timeout", f"no answer from {host}:{port} within the timeout", False
        if isinstance(cur, ConnectionRefusedError):
            return "refused", f"TCP connection to {host}:{port} refused", False
        cur = _next_cause(cur)
    if "refused" in text.lower():
        return "refused", f"TCP connection to {host}:{port} refused", False
    if "ssl" in text.lower():
        return "handshake", f"TLS handshake with {host}:{port} failed: {exc}", False
    return "network", f"cannot reach {host}:{port}: {exc}", False


def _host_header(p: Probe) -> str:
    default = 443 if p.scheme == "https" else 80
    return p.host if p.port == default else f"{p.host}:{p.port}"


def probe(ctx: CheckContext, index: int) -> Probe:
    """Reach /v2/ and analyze TLS once per registry per run."""
    reg = ctx.answers.registries[index]

    def run() -> Probe:
        host, port = split_host(reg.host, reg.scheme)
        p = Probe(host, port, reg.scheme)
        connect_to = ctx.alias_ip(host, "jobs")
        if reg.ca_file:
            try:
                p.roots = tls.load_pem_certificates(ctx.answers.resolve_path(reg.ca_file).read_bytes())
            except OSError as exc:
                p.ca_faults = [tls.Fault("leaf_as_ca", f"cannot read ca_file {reg.ca_file}: {exc}")]
            else:
                p.ca_faults = tls.ca_bundle_faults(p.roots, None, f"registries[{index}].ca_file")
        if reg.scheme == "https":
            try:
                chain = tls.fetch_chain(host, port, timeout=ctx.t(REGISTRY_TIMEOUT), connect_to=connect_to)
                p.verdict = tls.verify(chain, host, extra_roots=p.roots, port=port)
            except tls.FetchError as exc:
                p.error_kind, p.error = exc.kind, exc.message
                p.speaks_http = "plain HTTP" in exc.message
                return p
        try:
            pool = _pool(p, verify=False, timeout=ctx.t(REGISTRY_TIMEOUT), connect_to=connect_to)
            resp = _get(pool, "/v2/", {}, _host_header(p))
            pool.close()
            p.status = resp.status
            p.challenge = resp.headers.get("WWW-Authenticate", "")
        except urllib3.exceptions.HTTPError as exc:
            p.error_kind, p.error, p.speaks_http = _classify(exc, host, port)
        return p

    return ctx.fact(f"registry:{index}", run)


# --------------------------------------------------------------------------- checks


def check_reach(ctx: CheckContext):
    reg = ctx.item
    p = probe(ctx, ctx.index)
    if p.speaks_http and reg.scheme == "https":
        return ctx.fail(f"{reg.host} answers plain HTTP, not HTTPS", f"set registries[{ctx.index}].scheme: http "
                        "(and allow it on the nodes), or put TLS in front of it", ("E23",))
    if not p.reachable:
        return ctx.fail(f"{p.error_kind}: {p.error}", "check the host, port and firewalls between the nodes and "
                        "the registry", ("E09",), data={"kind": p.error_kind})
    if p.status == 200 or (p.status == 401 and p.challenge):
        scheme = p.challenge.split(" ", 1)[0] if p.challenge else "no"
        return ctx.ok(f"{reg.scheme}://{reg.host}/v2/ answers HTTP {p.status} ({scheme} auth)", catalog=("E09",),
                      data={"status": p.status})
    if p.status == 404:
        return ctx.fail(f"{reg.scheme}://{reg.host}/v2/ answers 404: not a container registry API at this address",
                        "check the host and port", ("E09",))
    return ctx.warn(f"{reg.scheme}://{reg.host}/v2/ answers HTTP {p.status}", "check the registry's health",
                    ("E09",))


def check_tls(ctx: CheckContext):
    reg = ctx.item
    p = probe(ctx, ctx.index)
    if reg.scheme == "http":
        if p.reachable:
            return ctx.warn(f"{reg.host} is a plain-HTTP registry: node runtimes refuse it by default (http: server "
                            "gave HTTP response to HTTPS client) unless each node is configured for it",
                            PLAIN_HTTP_FIX, ("E22", "E23"))
        raise Skip(f"{reg.host} is not reachable (see registry.{ctx.index}.reach)")
    if p.speaks_http:
        return ctx.fail(f"{reg.host} does not speak TLS", f"set registries[{ctx.index}].scheme: http", ("E23",))
    if p.verdict is None:
        raise Skip(f"no certificate to check: {p.error}")
    if p.ca_faults:
        return ctx.fail(p.ca_faults[0].message, "give the CA certificate that signed the registry's certificate",
                        ("E22",))
    v = p.verdict
    leaf = v.chain[0]
    data = {"chain": [c.as_dict() for c in v.chain], "trusted_by": v.trusted_by}
    fails = [f for f in v.faults if f.severity == "fail"]
    if fails or not v.trusted:
        msg = "; ".join(f.message for f in fails) or "the chain is not trusted"
        src = f"system store + ca_file {reg.ca_file}" if reg.ca_file else "the system store (no ca_file given)"
        return ctx.fail(f"not trusted by {src}: {msg}", NODE_TRUST_FIX, ("E22",), data=data)
    warns = [f.message for f in v.faults if f.severity == "warn"]
    by = "the system store" if v.trusted_by == "system" else f"ca_file {reg.ca_file}"
    detail = f"trusted by {by}; {leaf.one_line()}"
    if warns:
        return ctx.warn(detail + "; " + "; ".join(warns), "renew the registry's certificate", ("E22",), data=data)
    if v.trusted_by != "system":
        detail += "; every node must trust this CA as well (the node runtime pulls images)"
    return ctx.ok(detail, catalog=("E22",), data=data)


def _parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = value.partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


def check_auth(ctx: CheckContext):
    reg = ctx.item
    p = probe(ctx, ctx.index)
    if not p.reachable:
        raise Skip(f"{reg.host} is not reachable (see registry.{ctx.index}.reach)")
    if not reg.has_credentials:
        if p.status == 401:
            return ctx.warn(f"{reg.host} requires credentials, but none are configured: pulls will be denied",
                            f"set registries[{ctx.index}].username and password (env:/file: references)", ("E21",))
        return ctx.ok(f"{reg.host} allows anonymous access to /v2/", catalog=("E21",))
    if reg.scheme == "https" and not p.tls_ok:
        return ctx.skip(f"credentials not sent: TLS to {reg.host} is not trusted (see registry.{ctx.index}.tls)",
                        ("E21",))
    username = ctx.secret(f"registries[{ctx.index}].username") if isinstance(reg.username, SecretRef) \
        else (reg.username or "")
    password = ctx.secret(f"registries[{ctx.index}].password")
    if p.status == 200 and not p.challenge:
        return ctx.ok(f"{reg.host} needs no authentication; credentials for {username} not tested",
                      catalog=("E21",))
    scheme, params = _parse_challenge(p.challenge)
    basic = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
    connect_to = ctx.alias_ip(p.host, "jobs")
    pool = _pool(p, verify=True, timeout=ctx.t(REGISTRY_TIMEOUT), connect_to=connect_to)
    try:
        if scheme == "bearer":
            realm = params.get("realm", "")
            q = {k: params[k] for k in ("service", "scope") if k in params}
            sslctx = _ctx_verified(p.roots)
            http = urllib3.PoolManager(ssl_context=sslctx, timeout=urllib3.Timeout(ctx.t(REGISTRY_TIMEOUT)), retries=False)
            tr = http.request("GET", realm + ("?" + urlencode(q) if q else ""), headers={"Authorization": basic})
            if tr.status in (401, 403):
                return ctx.fail(f"the token service ({urlsplit(realm).netloc}) rejects the credentials of "
                                f"{username} (HTTP {tr.status})", "fix the username/password (or robot token)",
                                ("E21",))
            try:
                body = json.loads(tr.data or b"{}")
            except ValueError:
                body = {}
            bearer = body.get("token") or body.get("access_token")
            ctx.register_secret(bearer)
            if not bearer:
                return ctx.fail(f"the token service answered HTTP {tr.status} without a token", "", ("E21",))
            auth = f"Bearer {bearer}"
        else:
            auth = basic
        resp = _get(pool, "/v2/", {"Authorization": auth}, _host_header(p))
    except urllib3.exceptions.HTTPError as exc:
        kind, msg, _ = _classify(exc, p.host, p.port)
        return ctx.fail(f"{kind}: {msg}", "", ("E21",))
    finally:
        pool.close()
    if resp.status == 200:
        return ctx.ok(f"{reg.host} accepts the credentials of {username} ({scheme or 'basic'} auth)",
                      catalog=("E21",))
    if resp.status in (401, 403):
        return ctx.fail(f"{reg.host} rejects the credentials of {username} (HTTP {resp.status})",
                        f"fix registries[{ctx.index}].username/password; pulls would fail with 'unauthorized'",
                        ("E21",))
    return ctx.warn(f"{reg.host} answered HTTP {resp.status} with credentials", "", ("E21",))


def _each(a) -> list[Any]:
    return list(a.registries)


CHECKS = [
    CheckSpec("registry.<n>.reach", "registry", "registries", "Registry {item.host} answers /v2/", check_reach,
              timeout=6.0, each=_each, catalog=("E09",)),
    CheckSpec("registry.<n>.tls", "registry", "registries", "Registry {item.host} TLS", check_tls, timeout=6.0,
              each=_each, catalog=("E22",)),
    CheckSpec("registry.<n>.auth", "registry", "registries", "Registry {item.host} credentials", check_auth,
              timeout=8.0, each=_each, catalog=("E21",), on_timeout=Status.WARN),
]


def _next_cause(exc: BaseException) -> BaseException | None:
    """The exception behind ``exc``: urllib3's ``reason`` when it is an exception (an
    ``ssl.SSLCertVerificationError``'s ``reason`` is a string), else its cause or context."""
    reason = getattr(exc, "reason", None)
    return reason if isinstance(reason, BaseException) else (exc.__cause__ or exc.__context__)
