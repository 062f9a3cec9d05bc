"""One Kubernetes API client for checks, apply and diagnosis, and one kubeconfig loader.

:func:`load_kubeconfig` reads the kubeconfig files kubectl would read (``--kubeconfig``, else the
``KUBECONFIG`` list, else ``~/.kube/config``) and merges them as kubectl does; contexts for the
screens, the context check of the commands and :meth:`Kube.connect` all resolve through it.
A plain context (server and CA, client certificate or token or tokenFile, as data or files) is
connected without importing the ``kubernetes`` package; exec plugins, auth providers (OIDC),
basic auth, impersonation, proxies and TLS server names go through the package, given the same
file list and the context already chosen. Requests are raw JSON over a pooled connection, so no
time is spent building model objects. One :class:`Kube` is shared by every concurrent check
(urllib3 pools are thread-safe).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

_log = logging.getLogger("wizard.kube")

FIELD_MANAGER = "runner-wizard"
DEFAULT_TIMEOUT = 5.0

# kind -> (api prefix, plural, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("/api/v1", "namespaces", False),
    "ServiceAccount": ("/api/v1", "serviceaccounts", True),
    "Secret": ("/api/v1", "secrets", True),
    "ConfigMap": ("/api/v1", "configmaps", True),
    "Pod": ("/api/v1", "pods", True),
    "Service": ("/api/v1", "services", True),
    "Event": ("/api/v1", "events", True),
    "Node": ("/api/v1", "nodes", False),
    "ResourceQuota": ("/api/v1", "resourcequotas", True),
    "LimitRange": ("/api/v1", "limitranges", True),
    "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Deployment": ("/apis/apps/v1", "deployments", True),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True),
}


class KubeError(Exception):
    """A failed API call, with the server's status, reason and message."""

    def __init__(self, status: int, reason: str, message: str, body: dict[str, Any] | None = None):
        self.status = status
        self.reason = reason
        self.message = message
        self.body = body or {}
        super().__init__(f"{status} {reason}: {message}" if status else message)

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def forbidden(self) -> bool:
        return self.status == 403

    @property
    def conflict(self) -> bool:
        return self.status == 409


class KubeUnreachable(KubeError):
    """The API server could not be reached (DNS, TCP, TLS or timeout)."""

    def __init__(self, message: str):
        super().__init__(0, "Unreachable", message)


@dataclass(frozen=True)
class ContextInfo:
    name: str
    cluster: str
    user: str
    namespace: str | None
    server: str | None
    current: bool


def kubeconfig_paths(explicit: str | None = None) -> list[Path]:
    """The kubeconfig files kubectl would read: --kubeconfig, else $KUBECONFIG (a ':'-separated
    list), else ~/.kube/config."""
    if explicit:
        return [Path(explicit).expanduser()]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


@dataclass(frozen=True)
class Entry:
    """One named stanza (a context, cluster or user) and the file that defined it: relative
    paths in it (certificate-authority, client-key, tokenFile, exec command) are relative to
    that file, as kubectl resolves them."""

    name: str
    body: dict[str, Any]
    source: Path

    def path(self, key: str) -> Path | None:
        v = self.body.get(key)
        if not v:
            return None
        f = Path(os.path.expanduser(str(v)))
        return f if f.is_absolute() else self.source.parent / f


@dataclass(frozen=True)
class Kubeconfig:
    """The kubeconfig files merged as kubectl merges them: the first file that names a context,
    cluster or user wins it, and current-context comes from the first file that sets one."""

    paths: tuple[Path, ...]
    """The files read (existing ones, in order)."""
    current: str | None
    contexts: dict[str, Entry]
    clusters: dict[str, Entry]
    users: dict[str, Entry]
    problems: tuple[str, ...] = ()
    """Files that exist but could not be read or parsed."""

    @property
    def names(self) -> list[str]:
        return list(self.contexts)

    def resolve(self, context: str | None = None) -> tuple[str, Entry, Entry | None, Entry | None]:
        """(context name, context, its cluster, its user); KubeContextError when it cannot be used."""
        name = context or self.current
        if not name:
            raise KubeContextError(None, self.names, "the kubeconfig sets no current-context")
        ctx = self.contexts.get(name)
        if ctx is None:
            what = f"context {name!r} is not in the kubeconfig" if context else \
                f"the kubeconfig's current-context {name!r} names no context"
            raise KubeContextError(name, self.names, what)
        return name, ctx, self.clusters.get(ctx.body.get("cluster") or ""), \
            self.users.get(ctx.body.get("user") or "")


class KubeContextError(Exception):
    """The context asked for (or the current one) is not in the kubeconfig."""

    def __init__(self, name: str | None, available: list[str], what: str):
        self.name = name
        self.available = available
        choices = ", ".join(available[:20]) if available else "none"
        super().__init__(f"{what}; pass --context NAME (contexts: {choices})")


def load_kubeconfig(kubeconfig: str | None = None) -> Kubeconfig:
    """Read the kubeconfig file(s) kubectl would read (see :func:`kubeconfig_paths`), without the
    kubernetes package. Missing files in a KUBECONFIG list are skipped, as kubectl does."""
    import yaml

    from .yamlload import safe_load

    current: str | None = None
    tables: dict[str, dict[str, Entry]] = {"contexts": {}, "clusters": {}, "users": {}}
    read: list[Path] = []
    problems: list[str] = []
    for path in kubeconfig_paths(kubeconfig):
        if not path.is_file():
            continue
        try:
            doc = safe_load(path.read_text(encoding="utf-8")) or {}  # libyaml when PyYAML has it
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(f"{path}: {type(exc).__name__}")
            continue
        if not isinstance(doc, dict):
            problems.append(f"{path}: not a kubeconfig (a YAML mapping)")
            continue
        read.append(path)
        if not current and isinstance(doc.get("current-context"), str) and doc["current-context"]:
            current = doc["current-context"]
        for table, key in (("contexts", "context"), ("clusters", "cluster"), ("users", "user")):
            for item in doc.get(table) or []:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                    continue
                body = item.get(key)
                tables[table].setdefault(item["name"], Entry(item["name"], body if isinstance(body, dict) else {},
                                                             path))
    return Kubeconfig(tuple(read), current, tables["contexts"], tables["clusters"], tables["users"],
                      tuple(problems))


def list_contexts(kubeconfig: str | None = None) -> list[ContextInfo]:
    """Contexts from the kubeconfig(s), without importing the kubernetes package."""
    kc = load_kubeconfig(kubeconfig)
    out = []
    for name, ctx in kc.contexts.items():
        cl = str(ctx.body.get("cluster") or "")
        cluster = kc.clusters.get(cl)
        out.append(ContextInfo(name=name, cluster=cl, user=str(ctx.body.get("user") or ""),
                               namespace=ctx.body.get("namespace"),
                               server=cluster.body.get("server") if cluster else None,
                               current=name == kc.current))
    return out


def require_context(kubeconfig: str | None, context: str | None, field: str = "--context") -> None:
    """Bad input (exit 2, naming ``field``) when a kubeconfig exists but the context named (or its
    current-context) is not in it. Nothing to say when there is no kubeconfig or no context at all:
    the cluster checks report that."""
    kc = load_kubeconfig(kubeconfig)
    if not kc.paths or not (context or kc.current):
        return
    try:
        kc.resolve(context)
    except KubeContextError as exc:
        from .errors import BadInput, FieldError

        where = field if context else "--context"
        raise BadInput([FieldError(where, str(exc))]) from None


class Kube:
    """A connection to one cluster. Thread-safe; reuse it."""

    def __init__(self, pool: Any, server: str, auth: Any, *, context: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT, ca_pem: str | None = None,
                 verify: bool = True, closer: Any = None):
        self._pool = pool
        self.server = server.rstrip("/")
        self._auth = auth  # () -> dict of auth headers (refreshes exec/expiring credentials)
        self.context = context
        self.timeout = timeout
        self.ca_pem = ca_pem
        """PEM of the CA the kubeconfig trusts for this server (None: system store)."""
        self.verify = verify
        self._closer = closer
        self._version: dict[str, Any] | None = None
        self._lock = threading.Lock()

    # ---- construction

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> Kube:
        """Load the kubeconfig like kubectl does. Raises KubeError with a clear message.

        Plain kubeconfigs (certificates, tokens, token files) are read directly, which keeps
        start-up light; exec plugins, auth providers, proxies and merged KUBECONFIG lists go
        through the ``kubernetes`` package.
        """
        kc = load_kubeconfig(kubeconfig)
        if not kc.paths:
            where = ", ".join(str(p) for p in kubeconfig_paths(kubeconfig))
            why = "; ".join(kc.problems) if kc.problems else f"no kubeconfig found ({where})"
            raise KubeError(0, "NoKubeconfig", f"{why}; pass --kubeconfig PATH or set KUBECONFIG")
        try:
            name, ctx, cluster, user = kc.resolve(context)
        except KubeContextError as exc:
            raise KubeError(0, "NoContext", str(exc)) from None
        light = _light_connect(name, ctx, cluster, user, timeout)
        if light is not None:
            return light
        return cls._connect_with_client(list(kc.paths), name, timeout)

    @classmethod
    def _connect_with_client(cls, existing: list[Path], context: str | None, timeout: float) -> Kube:
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config
        from kubernetes.config.config_exception import ConfigException

        conf = k8s_client.Configuration()
        try:
            k8s_config.load_kube_config(config_file=os.pathsep.join(map(str, existing)), context=context,
                                        client_configuration=conf, persist_config=False)
        except ConfigException as exc:
            raise KubeError(0, "BadKubeconfig", f"cannot use kubeconfig context {context or '(current)'}: {exc}") \
                from exc
        conf.connection_pool_maxsize = 32
        conf.retries = False
        api = k8s_client.ApiClient(configuration=conf)
        refreshing = threading.Lock()

        def auth() -> dict[str, str]:
            # One thread at a time: an expired credential would otherwise run the exec plugin once per
            # concurrent check, each rewriting the shared configuration while others read it.
            with refreshing:
                hook = getattr(conf, "refresh_api_key_hook", None)
                if hook is not None:
                    hook(conf)  # exec plugins and expiring tokens refresh here
                out: dict[str, str] = {}
                for setting in conf.auth_settings().values():
                    if setting.get("in") == "header" and setting.get("value"):
                        out[setting["key"]] = setting["value"]
                return out

        ca_pem = None
        if conf.ssl_ca_cert:
            try:
                ca_pem = Path(conf.ssl_ca_cert).read_text(encoding="utf-8")
            except OSError:
                ca_pem = None
        return cls(api.rest_client.pool_manager, conf.host, auth, context=context, timeout=timeout,
                   ca_pem=ca_pem, verify=bool(conf.verify_ssl), closer=api.close)

    @staticmethod
    def opening(kubeconfig: str | None = None, context: str | None = None,
                timeout: float = DEFAULT_TIMEOUT, *, shared: bool = False) -> Opening:
        """Start connecting in the background; see :class:`Opening`."""
        return Opening(kubeconfig, context, timeout, shared=shared)

    def with_token(self, token: str) -> Kube:
        """The same server and trust, authenticated by a bearer token (e.g. a ServiceAccount's)."""
        pool = _pool(self.ca_pem, self.verify, None, None)
        return Kube(pool, self.server, lambda: {"Authorization": f"Bearer {token}"}, context=self.context,
                    timeout=self.timeout, ca_pem=self.ca_pem, verify=self.verify, closer=pool.clear)

    def close(self) -> None:
        try:
            if self._closer:
                self._closer()
        except Exception:  # pragma: no cover - best effort
            pass

    def request(self, method: str, path: str, *, body: Any = None, query: dict[str, Any] | None = None,
                content_type: str = "application/json", timeout: float | None = None,
                headers: dict[str, str] | None = None) -> Any:
        """Send one request; return the decoded JSON body. Raise KubeError on non-2xx.

        ``headers`` adds request headers, e.g. ``Impersonate-User`` for a dry run as a ServiceAccount.
        """
        data = self.raw(method, path, body=body, query=query, content_type=content_type, timeout=timeout,
                        headers=headers)
        if not data:
            return {}
        try:
            return json.loads(data)
        except ValueError:
            return {"raw": data.decode(errors="replace")}

    def raw(self, method: str, path: str, *, body: Any = None, query: dict[str, Any] | None = None,
            content_type: str = "application/json", timeout: float | None = None,
            headers: dict[str, str] | None = None, accept: str = "application/json") -> bytes:
        """Send one request; return the body bytes. Raise KubeError on non-2xx."""
        import urllib3

        if query:
            path = f"{path}?{urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)}"
        hdrs = {"Accept": accept, "User-Agent": "runner-wizard"}
        if body is not None:
            hdrs["Content-Type"] = content_type
        hdrs.update(self._auth())
        if headers:
            hdrs.update(headers)
        t = timeout or self.timeout
        payload = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
        t0 = time.monotonic()
        try:
            resp = self._pool.request(
                method, self.server + path, body=payload, headers=hdrs,
                timeout=urllib3.Timeout(connect=t, read=t), retries=False, preload_content=True,
            )
        except urllib3.exceptions.HTTPError as exc:
            _log.debug("kube %s %s: unreachable after %.2fs: %s", method, path, time.monotonic() - t0, _reason(exc))
            raise KubeUnreachable(f"cannot reach the API server {self.server}: {_reason(exc)}") from exc
        data = resp.data
        _log.debug("kube %s %s: %s in %.2fs", method, path, resp.status, time.monotonic() - t0)
        if not 200 <= resp.status < 300:
            try:
                doc = json.loads(data)
            except (ValueError, TypeError):
                doc = {}
            msg = doc.get("message") or (data.decode(errors="replace") if data else resp.reason or "")
            raise KubeError(resp.status, str(doc.get("reason") or resp.reason or ""), msg.strip(), doc)
        return data or b""

    def get_text(self, path: str, **query: Any) -> str:
        """A GET whose body is text (pod logs). Raises KubeError like :meth:`request`."""
        return self.raw("GET", path, query=query or None, accept="*/*").decode("utf-8", errors="replace")

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, query=query or None)

    def get_or_none(self, path: str) -> Any:
        try:
            return self.get(path)
        except KubeError as exc:
            if exc.not_found:
                return None
            raise

    def create(self, collection: str, body: dict[str, Any], *, dry_run: bool = False,
               timeout: float | None = None) -> Any:
        q = {"dryRun": "All"} if dry_run else None
        return self.request("POST", collection, body=body, query=q, timeout=timeout)

    def apply(self, obj: dict[str, Any], *, dry_run: bool = False, force: bool = False,
              field_manager: str = FIELD_MANAGER) -> Any:
        """Server-side apply of one object."""
        q: dict[str, Any] = {"fieldManager": field_manager}
        if force:
            q["force"] = "true"
        if dry_run:
            q["dryRun"] = "All"
        return self.request("PATCH", object_path(obj), body=obj, query=q,
                            content_type="application/apply-patch+yaml")

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    # ---- common reads

    def version(self) -> dict[str, Any]:
        with self._lock:
            if self._version is None:
                self._version = self.get("/version")
            return self._version

    def access_review(self, *, verb: str, resource: str, namespace: str | None = None,
                      subresource: str = "", group: str = "", name: str = "",
                      user: str | None = None, groups: list[str] | None = None) -> tuple[bool, str]:
        """SubjectAccessReview for ``user`` (or SelfSubjectAccessReview when user is None)."""
        attrs: dict[str, Any] = {"verb": verb, "resource": resource, "group": group}
        if namespace:
            attrs["namespace"] = namespace
        if subresource:
            attrs["subresource"] = subresource
        if name:
            attrs["name"] = name
        if user is None:
            kind, plural = "SelfSubjectAccessReview", "selfsubjectaccessreviews"
            spec: dict[str, Any] = {"resourceAttributes": attrs}
        else:
            kind, plural = "SubjectAccessReview", "subjectaccessreviews"
            spec = {"resourceAttributes": attrs, "user": user, "groups": groups or []}
        doc = self.create(f"/apis/authorization.k8s.io/v1/{plural}",
                          {"apiVersion": "authorization.k8s.io/v1", "kind": kind, "spec": spec})
        st = doc.get("status", {})
        return bool(st.get("allowed")), st.get("reason", "") or st.get("evaluationError", "")


class Opening:
    """A connection opened in the background (:meth:`Kube.connect`, then ``/version``), started
    before the answers are read so the TLS handshake and the first round trip overlap the
    parsing. :meth:`take` hands it over when it is for the same kubeconfig and context: to one
    taker, or with ``shared=True`` to every taker (``apply``: its live checks and the apply itself
    use one connection; the caller that closes it waits for the checks first)."""

    def __init__(self, kubeconfig: str | None, context: str | None, timeout: float = DEFAULT_TIMEOUT,
                 *, shared: bool = False):
        self.kubeconfig, self.context, self.timeout = kubeconfig, context, timeout
        self.shared = shared
        self._done = threading.Event()
        self._kube: Kube | None = None
        self._error: BaseException | None = None
        self._taken = False
        self._take_lock = threading.Lock()
        threading.Thread(target=self._run, name="kube-open", daemon=True).start()

    def _run(self) -> None:
        try:
            k = Kube.connect(self.kubeconfig, self.context, timeout=self.timeout)
            k.version()
            self._kube = k
        except BaseException as exc:  # noqa: BLE001 - handed to whoever takes the connection
            self._error = exc
        finally:
            self._done.set()

    def take(self, kubeconfig: str | None, context: str | None, wait: float | None = None) -> Kube | None:
        """The connection (or its KubeError) if it was opened for ``kubeconfig`` and ``context``
        (``None``: the current context); None when it was not, or is taken, or not ready within
        ``wait`` seconds (then the caller connects itself)."""
        if self._taken or kubeconfig != self.kubeconfig:
            return None
        if not self._done.wait(wait):
            return None
        if context is not None and context != self.context:
            opened_for = self._kube.context if self._kube is not None else None
            if opened_for != context:  # the current context was not the one wanted
                return None
        with self._take_lock:  # one taker, even when several ask at once
            if self._taken:
                return None
            self._taken = not self.shared
        if self._error is not None:
            if isinstance(self._error, KubeError):
                raise self._error
            return None
        return self._kube


def service_account_user(namespace: str, name: str) -> tuple[str, list[str]]:
    """The user name and groups the API server gives a ServiceAccount's token."""
    return (f"system:serviceaccount:{namespace}:{name}",
            ["system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"])


def collection_path(kind: str, namespace: str | None = None) -> str:
    prefix, plural, namespaced = KINDS[kind]
    if namespaced:
        if not namespace:
            raise ValueError(f"{kind} needs a namespace")
        return f"{prefix}/namespaces/{quote(namespace)}/{plural}"
    return f"{prefix}/{plural}"


def object_path(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{collection_path(obj['kind'], meta.get('namespace'))}/{quote(meta['name'])}"


def describe(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{obj['kind']} {ns}/{meta['name']}" if ns else f"{obj['kind']} {meta['name']}"


def _reason(exc: Exception) -> str:
    inner = getattr(exc, "reason", None)
    return str(inner or exc)


# --------------------------------------------------------------------------- light kubeconfig loading


def _pool(ca_pem: str | None, verify: bool, cert_pem: bytes | None, key_pem: bytes | None) -> Any:
    import ssl
    import tempfile

    import urllib3

    # One context, and the system trust store only when the kubeconfig names no CA: loading it
    # costs 5-50 ms per context, and with a CA the store is not used.
    if not verify:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_pem:
        ctx = ssl.create_default_context(cadata=ca_pem)
    else:
        ctx = ssl.create_default_context()
    if cert_pem and key_pem:
        # ssl can only load a client key from a file: a private 0600 temp file, removed at once
        with tempfile.TemporaryDirectory(prefix="rw-kube-") as d:
            cp, kp = Path(d) / "c.pem", Path(d) / "k.pem"
            for p, data in ((cp, cert_pem), (kp, key_pem)):
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            ctx.load_cert_chain(str(cp), str(kp))
    return urllib3.PoolManager(num_pools=4, maxsize=8, block=True, ssl_context=ctx, retries=False)


def _light_connect(name: str, ctx: Entry, cluster: Entry | None, user: Entry | None,
                   timeout: float) -> Kube | None:
    """A resolved plain context (server + CA, client certificate, token or tokenFile) without the
    kubernetes package; None when it needs the package (exec plugins, auth providers, basic auth,
    impersonation, proxies, a TLS server name)."""
    import base64

    if cluster is None or not cluster.body.get("server"):
        return None
    cb, ub = cluster.body, (user.body if user else {})
    if cb.get("proxy-url") or cb.get("tls-server-name"):
        return None
    if any(k in ub for k in ("exec", "auth-provider", "username", "password", "as", "as-groups",
                             "as-uid", "as-user-extra", "impersonate")):
        return None

    def data_or_file(e: Entry | None, key: str) -> bytes | None:
        if e is None:
            return None
        if e.body.get(f"{key}-data"):
            return base64.b64decode(e.body[f"{key}-data"], validate=False)
        f = e.path(key)
        return f.read_bytes() if f else None

    try:
        ca = data_or_file(cluster, "certificate-authority")
        cert = data_or_file(user, "client-certificate")
        key = data_or_file(user, "client-key")
    except (OSError, ValueError):
        return None  # the package reports unreadable files in its own words
    token = ub.get("token")
    token_file = user.path("tokenFile") if user else None
    verify = not cb.get("insecure-skip-tls-verify", False)
    pool = _pool(ca.decode() if ca else None, verify, cert, key)

    def auth() -> dict[str, str]:
        if token:
            return {"Authorization": f"Bearer {token}"}
        if token_file:  # re-read each time: projected tokens rotate
            return {"Authorization": "Bearer " + token_file.read_text().strip()}
        return {}

    return Kube(pool, cb["server"], auth, context=name, timeout=timeout,
                ca_pem=ca.decode() if ca else None, verify=verify, closer=pool.clear)
