"""One Kubernetes API client for checks, apply and diagnosis.

Uses the ``kubernetes`` package for what it does well (kubeconfig loading: client
certificates, tokens, exec plugins, ``KUBECONFIG`` lists, contexts) and talks raw
JSON over its pooled connection, so no time is spent building model objects.
One :class:`Kube` is shared by every concurrent check (urllib3 pools are
thread-safe); it is imported lazily to keep start-up light.
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
    """The kubeconfig files kubectl would read: --kubeconfig, else $KUBECONFIG, else ~/.kube/config."""
    if explicit:
        return [Path(explicit).expanduser()]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def list_contexts(kubeconfig: str | None = None) -> list[ContextInfo]:
    """Contexts from the kubeconfig(s), without importing the kubernetes package."""
    import yaml

    contexts: dict[str, dict[str, Any]] = {}
    clusters: dict[str, dict[str, Any]] = {}
    current = None
    for path in kubeconfig_paths(kubeconfig):
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        current = current or doc.get("current-context")
        for c in doc.get("contexts") or []:
            contexts.setdefault(c.get("name"), c.get("context") or {})
        for c in doc.get("clusters") or []:
            clusters.setdefault(c.get("name"), c.get("cluster") or {})
    out = []
    for name, ctx in contexts.items():
        cl = ctx.get("cluster", "")
        out.append(ContextInfo(name=name, cluster=cl, user=ctx.get("user", ""),
                               namespace=ctx.get("namespace"),
                               server=(clusters.get(cl) or {}).get("server"),
                               current=name == current))
    return out


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
        paths = kubeconfig_paths(kubeconfig)
        existing = [p for p in paths if p.is_file()]
        if not existing:
            where = ", ".join(str(p) for p in paths)
            raise KubeError(0, "NoKubeconfig", f"no kubeconfig found ({where}); pass --kubeconfig PATH "
                            "or set KUBECONFIG")
        if len(existing) == 1:
            light = _light_connect(existing[0], context, timeout)
            if light is not None:
                return light
        return cls._connect_with_client(existing, context, timeout)

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

        def auth() -> dict[str, str]:
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

    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif ca_pem:
        ctx = ssl.create_default_context(cadata=ca_pem)
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


def _light_connect(path: Path, context: str | None, timeout: float) -> Kube | None:
    """Read a single plain kubeconfig without the kubernetes package; None if it needs the package."""
    import base64

    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return None
    name = context or doc.get("current-context")
    ctx = next((c.get("context") or {} for c in doc.get("contexts") or [] if c.get("name") == name), None)
    if not name or ctx is None:
        return None
    cluster = next((c.get("cluster") or {} for c in doc.get("clusters") or [] if c.get("name") == ctx.get("cluster")),
                   None)
    user = next((u.get("user") or {} for u in doc.get("users") or [] if u.get("name") == ctx.get("user")), {})
    if not cluster or not cluster.get("server") or cluster.get("proxy-url") or cluster.get("tls-server-name"):
        return None
    if any(k in user for k in ("exec", "auth-provider", "username", "password", "as", "impersonate")):
        return None
    base = path.parent

    def data_or_file(obj: dict[str, Any], key: str) -> bytes | None:
        if obj.get(f"{key}-data"):
            return base64.b64decode(obj[f"{key}-data"])
        if obj.get(key):
            f = Path(os.path.expanduser(obj[key]))
            return (f if f.is_absolute() else base / f).read_bytes()
        return None

    try:
        ca = data_or_file(cluster, "certificate-authority")
        cert = data_or_file(user, "client-certificate")
        key = data_or_file(user, "client-key")
        token = user.get("token")
        token_file = user.get("tokenFile")
    except (OSError, ValueError):
        return None
    verify = not cluster.get("insecure-skip-tls-verify", False)
    pool = _pool(ca.decode() if ca else None, verify, cert, key)

    def auth() -> dict[str, str]:
        if token:
            return {"Authorization": f"Bearer {token}"}
        if token_file:  # re-read each time: projected tokens rotate
            tf = Path(os.path.expanduser(token_file))
            return {"Authorization": "Bearer " + (tf if tf.is_absolute() else base / tf).read_text().strip()}
        return {}

    return Kube(pool, cluster["server"], auth, context=name, timeout=timeout,
                ca_pem=ca.decode() if ca else None, verify=verify, closer=pool.clear)
