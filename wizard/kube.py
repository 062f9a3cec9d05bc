"""One Kubernetes API client for checks, apply and diagnosis.

Uses the ``kubernetes`` package for what it does well (kubeconfig loading: client
certificates, tokens, exec plugins, ``KUBECONFIG`` lists, contexts) and talks raw
JSON over its pooled connection, so no time is spent building model objects.
One :class:`Kube` is shared by every concurrent check (urllib3 pools are
thread-safe); it is imported lazily to keep start-up light.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

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

    def __init__(self, api_client: Any, context: str | None, timeout: float = DEFAULT_TIMEOUT):
        self._api = api_client
        self.context = context
        self.timeout = timeout
        self.server: str = api_client.configuration.host
        self._version: dict[str, Any] | None = None
        self._lock = threading.Lock()

    # ---- construction

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None,
                timeout: float = DEFAULT_TIMEOUT) -> Kube:
        """Load the kubeconfig like kubectl does. Raises KubeError with a clear message."""
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config
        from kubernetes.config.config_exception import ConfigException

        paths = kubeconfig_paths(kubeconfig)
        existing = [p for p in paths if p.is_file()]
        if not existing:
            where = ", ".join(str(p) for p in paths)
            raise KubeError(0, "NoKubeconfig", f"no kubeconfig found ({where}); pass --kubeconfig PATH "
                            "or set KUBECONFIG")
        conf = k8s_client.Configuration()
        try:
            if len(existing) == 1:
                k8s_config.load_kube_config(config_file=str(existing[0]), context=context,
                                            client_configuration=conf, persist_config=False)
            else:
                k8s_config.load_kube_config(config_file=os.pathsep.join(map(str, existing)),
                                            context=context, client_configuration=conf,
                                            persist_config=False)
        except ConfigException as exc:
            raise KubeError(0, "BadKubeconfig", f"cannot use kubeconfig context {context or '(current)'}: {exc}") \
                from exc
        conf.connection_pool_maxsize = 32
        conf.retries = False
        api = k8s_client.ApiClient(configuration=conf)
        api.user_agent = "runner-wizard"
        return cls(api, context, timeout)

    def close(self) -> None:
        try:
            self._api.close()
        except Exception:  # pragma: no cover - best effort
            pass

    # ---- raw requests

    def _auth_headers(self) -> dict[str, str]:
        conf = self._api.configuration
        hook = getattr(conf, "refresh_api_key_hook", None)
        if hook is not None:
            hook(conf)  # exec plugins and expiring tokens refresh here
        out: dict[str, str] = {}
        for setting in conf.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                out[setting["key"]] = setting["value"]
        return out

    def request(self, method: str, path: str, *, body: Any = None, query: dict[str, Any] | None = None,
                content_type: str = "application/json", timeout: float | None = None,
                headers: dict[str, str] | None = None) -> Any:
        """Send one request; return the decoded JSON body. Raise KubeError on non-2xx.

        ``headers`` adds request headers, e.g. ``Impersonate-User`` for a dry run as a ServiceAccount.
        """
        import urllib3

        if query:
            path = f"{path}?{urlencode({k: v for k, v in query.items() if v is not None}, doseq=True)}"
        hdrs = {"Accept": "application/json", "User-Agent": "runner-wizard"}
        if body is not None:
            hdrs["Content-Type"] = content_type
        hdrs.update(self._auth_headers())
        if headers:
            hdrs.update(headers)
        t = timeout or self.timeout
        payload = None if body is None else (body if isinstance(body, (bytes, str)) else json.dumps(body))
        try:
            resp = self._api.rest_client.pool_manager.request(
                method, self.server + path, body=payload, headers=hdrs,
                timeout=urllib3.Timeout(connect=t, read=t), retries=False, preload_content=True,
            )
        except urllib3.exceptions.HTTPError as exc:
            raise KubeUnreachable(f"cannot reach the API server {self.server}: {_reason(exc)}") from exc
        data = resp.data
        if not 200 <= resp.status < 300:
            try:
                doc = json.loads(data)
            except (ValueError, TypeError):
                doc = {}
            msg = doc.get("message") or (data.decode(errors="replace") if data else resp.reason or "")
            raise KubeError(resp.status, str(doc.get("reason") or resp.reason or ""), msg.strip(), doc)
        if not data:
            return {}
        try:
            return json.loads(data)
        except ValueError:
            return {"raw": data.decode(errors="replace")}

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
