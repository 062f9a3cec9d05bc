"""Collect what the analyzers look at, for one gitlab-runner release, through one :class:`Kube`.

Everything is read, nothing is changed. Reads run concurrently (a small thread
pool; every request has the Kube's bounded timeout) and a failed read never stops
the others: it is recorded in :attr:`ClusterState.errors` and the analyzers that
needed it stay quiet.

What is collected (catalog section 0.1 signals):

* **V**  the Helm values, from the newest ``sh.helm.release.v1.<release>.v<N>``
  Secret (``data.release`` is base64(gzip(JSON)); ``config`` holds the user values,
  ``chart.values`` the chart defaults), else reconstructed from the Deployment.
* **T**  the ConfigMap ``config.template.toml`` (else ``runners.config`` from the values).
* **M**  manager pod logs, current and previous container (``tailLines=500``); the log
  source is injectable because envtest has no kubelet.
* **ME / JE** events in the runner and jobs namespaces, plus job pods ``runner-*``.
* **R**  one SubjectAccessReview per required (resource, verb) for the manager SA.
* Secrets' key names (values are never kept; token keys are only checked for
  whitespace), ServiceAccounts, namespace labels, quotas, limit ranges, Roles, nodes.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import logging
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from wizard.diagnose.model import TOKEN_KEYS, ClusterState, LogText, ReleaseRef, SecretInfo
from wizard.kube import Kube, KubeError, service_account_user
from wizard.rbac import required_checks

log = logging.getLogger("wizard.diagnose.collect")

LOG_TAIL_LINES = 500
MAX_WORKERS = 8
HELM_SECRET_RE = re.compile(r"^sh\.helm\.release\.v1\.(?P<release>.+)\.v(?P<rev>\d+)$")

LogSource = Callable[[str, str, str, bool], "str | None"]
"""``(namespace, pod, container, previous) -> text or None``."""


# --------------------------------------------------------------------------- helm release secrets


def decode_helm_release(secret: dict[str, Any]) -> dict[str, Any] | None:
    """Decode ``data.release`` of a Helm v3 release Secret into the release JSON."""
    from ..helm import decode_release

    return decode_release(secret)


def encode_helm_release(doc: dict[str, Any]) -> str:
    """Inverse of :func:`decode_helm_release` (the value for the Secret's ``data.release``)."""
    inner = base64.b64encode(gzip.compress(json.dumps(doc).encode()))
    return base64.b64encode(inner).decode()


def chart_fullname(release: str, values: dict[str, Any] | None = None) -> str:
    """``gitlab-runner.fullname`` of the chart (see :func:`wizard.names.chart_fullname`)."""
    from wizard.names import chart_fullname as fullname

    return fullname(release, values)


def _is_runner_deployment(dep: dict[str, Any]) -> bool:
    labels = dep.get("metadata", {}).get("labels") or {}
    if "gitlab-runner" in (labels.get("chart") or "") or "gitlab-runner" in (labels.get("app") or ""):
        return True
    spec = dep.get("spec", {}).get("template", {}).get("spec", {})
    return any("gitlab-runner" in (c.get("image") or "") and "helper" not in (c.get("image") or "")
               for c in spec.get("containers") or [])


def find_releases(kube: Kube, namespace: str | None = None) -> list[ReleaseRef]:
    """gitlab-runner installs: Helm release Secrets of the gitlab-runner chart, plus Deployments
    that look like the runner manager without a release Secret. Sorted by namespace, name."""
    found: dict[tuple[str, str], ReleaseRef] = {}
    sec_path = f"/api/v1/namespaces/{quote(namespace)}/secrets" if namespace else "/api/v1/secrets"
    dep_path = (f"/apis/apps/v1/namespaces/{quote(namespace)}/deployments" if namespace
                else "/apis/apps/v1/deployments")

    def secrets() -> list[dict[str, Any]]:
        try:
            return kube.get(sec_path, labelSelector="owner=helm").get("items") or []
        except KubeError as exc:
            log.debug("cannot list helm secrets: %s", exc)
            return []

    def deployments() -> list[dict[str, Any]]:
        try:
            return kube.get(dep_path).get("items") or []
        except KubeError as exc:
            log.debug("cannot list deployments: %s", exc)
            return []

    with ThreadPoolExecutor(max_workers=2) as pool:
        f_sec, f_dep = pool.submit(secrets), pool.submit(deployments)
        helm_secrets, deps = f_sec.result(), f_dep.result()

    best: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for s in helm_secrets:
        meta = s.get("metadata", {})
        m = HELM_SECRET_RE.match(meta.get("name", ""))
        if not m:
            continue
        key = (meta.get("namespace", ""), m.group("release"))
        rev = int(m.group("rev"))
        status = (meta.get("labels") or {}).get("status", "")
        rank = rev + (1_000_000 if status == "deployed" else 0)
        if key not in best or rank > best[key][0]:
            best[key] = (rank, s)
    for (ns, rel), (_rank, s) in best.items():
        doc = decode_helm_release(s)
        if not doc:
            continue
        chart_name = ((doc.get("chart") or {}).get("metadata") or {}).get("name", "")
        if chart_name and chart_name != "gitlab-runner":
            continue
        ver = ((doc.get("chart") or {}).get("metadata") or {}).get("version")
        found[(ns, rel)] = ReleaseRef(
            namespace=ns, release=rel, fullname=chart_fullname(rel, doc.get("config") or {}),
            revision=doc.get("version"), chart=f"gitlab-runner-{ver}" if ver else chart_name or None,
            status=(doc.get("info") or {}).get("status"), source="helm")
    fullnames = {(r.namespace, r.fullname) for r in found.values()}
    for d in deps:
        if not _is_runner_deployment(d):
            continue
        meta = d.get("metadata", {})
        ns, name = meta.get("namespace", ""), meta.get("name", "")
        if (ns, name) in fullnames:
            continue
        labels = meta.get("labels") or {}
        rel = labels.get("release") or (meta.get("annotations") or {}).get("meta.helm.sh/release-name") or name
        if (ns, rel) in found:
            continue
        found[(ns, rel)] = ReleaseRef(namespace=ns, release=rel, fullname=name, chart=labels.get("chart"),
                                      source="deployment")
    return sorted(found.values(), key=lambda r: (r.namespace, r.release))


# --------------------------------------------------------------------------- collection


def default_log_source(kube: Kube) -> LogSource:
    """Pod logs through the API server (``GET .../pods/<name>/log``; needs a kubelet)."""

    def read(namespace: str, pod: str, container: str, previous: bool) -> str | None:
        path = f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}/log"
        q = {"container": container, "tailLines": str(LOG_TAIL_LINES)}
        if previous:
            q["previous"] = "true"
        try:
            return get_text(kube, path, q)
        except KubeError as exc:
            log.debug("no log for %s/%s/%s previous=%s: %s", namespace, pod, container, previous, exc)
            return None

    return read


def get_text(kube: Kube, path: str, query: dict[str, str]) -> str:
    """A GET whose body is plain text (pod logs), on the Kube's connection pool."""
    return kube.get_text(path, **query)


@dataclass
class Collector:
    """Reads one release's state. ``log_source`` replaces the pod-log reader (tests)."""

    kube: Kube
    log_source: LogSource | None = None
    progress: Callable[[str], None] | None = None
    workers: int = MAX_WORKERS

    def _say(self, msg: str) -> None:
        if self.progress:
            try:
                self.progress(msg)
            except Exception:  # pragma: no cover - a UI callback must never break collection
                pass

    def _try(self, state: ClusterState, what: str, fn: Callable[[], Any], default: Any = None) -> Any:
        try:
            return fn()
        except KubeError as exc:
            if exc.not_found:
                return default
            state.errors.append(f"cannot read {what}: {exc}")
            return default

    def _items(self, state: ClusterState, what: str, path: str, **query: Any) -> list[dict[str, Any]]:
        doc = self._try(state, what, lambda: self.kube.get(path, **query), {}) or {}
        return list(doc.get("items") or [])

    # ---- phase 1: the release itself

    def collect(self, namespace: str, release: str, *, ref: ReleaseRef | None = None) -> ClusterState:
        kube = self.kube
        self._say(f"reading release {namespace}/{release}")
        state = ClusterState(namespace=namespace, release=release, fullname=chart_fullname(release),
                             release_ref=ref)
        helm = self._helm_release(state)
        if helm:
            state.values = helm.get("config") or {}
            state.chart_defaults = ((helm.get("chart") or {}).get("values")) or {}
            state.values_source = f"helm release secret (revision {helm.get('version')})"
            state.fullname = chart_fullname(release, state.values)
        if ref and ref.fullname:
            state.fullname = ref.fullname if not helm else state.fullname
        ns_q = quote(namespace)
        state.deployment = self._try(state, "the runner Deployment",
                                     lambda: kube.get_or_none(
                                         f"/apis/apps/v1/namespaces/{ns_q}/deployments/{quote(state.fullname)}"))
        state.configmap = self._try(state, "the runner ConfigMap",
                                    lambda: kube.get_or_none(
                                        f"/api/v1/namespaces/{ns_q}/configmaps/{quote(state.fullname)}"))
        from wizard.diagnose import infer

        if not helm and state.deployment:
            state.values = infer.values_from_deployment(state.deployment, state.configmap)
            state.values_source = "reconstructed from the Deployment and ConfigMap"
        cm_text = ((state.configmap or {}).get("data") or {}).get("config.template.toml")
        if cm_text is not None:
            state.config_toml, state.config_source = cm_text, f"ConfigMap {namespace}/{state.fullname}"
        else:
            raw = ((state.merged_values.get("runners") or {}).get("config"))
            if raw:
                state.config_toml = infer.render_config_template(raw, namespace, release, state.merged_values)
                state.config_source = "values runners.config"
        state.jobs_namespace = infer.jobs_namespace(state.merged_values, state.config, namespace)
        self._phase2(state)
        return state

    def _helm_release(self, state: ClusterState) -> dict[str, Any] | None:
        items = self._items(state, "Helm release secrets",
                            f"/api/v1/namespaces/{quote(state.namespace)}/secrets",
                            labelSelector=f"owner=helm,name={state.release}")
        best: tuple[int, dict[str, Any]] | None = None
        for s in items:
            m = HELM_SECRET_RE.match(s.get("metadata", {}).get("name", ""))
            if not m or m.group("release") != state.release:
                continue
            status = (s.get("metadata", {}).get("labels") or {}).get("status", "")
            rank = int(m.group("rev")) + (1_000_000 if status == "deployed" else 0)
            if best is None or rank > best[0]:
                best = (rank, s)
        return decode_helm_release(best[1]) if best else None

    # ---- phase 2: everything else, concurrently

    def _phase2(self, state: ClusterState) -> None:
        kube = self.kube
        ns, jns = state.namespace, state.jobs_namespace
        sa = state.manager_sa
        kcfg = state.kubernetes_config
        tasks: list[tuple[str, Callable[[], None]]] = []

        def add(label: str, fn: Callable[[], None]) -> None:
            tasks.append((label, fn))

        # pods, then their logs
        def pods() -> None:
            sel = f"app={state.fullname}"
            items = self._items(state, "manager pods", f"/api/v1/namespaces/{quote(ns)}/pods", labelSelector=sel)
            state.manager_pods = items
            state.replicasets = self._items(state, "replica sets",
                                            f"/apis/apps/v1/namespaces/{quote(ns)}/replicasets", labelSelector=sel)
            self._logs(state)

        add("manager pods and logs", pods)

        def events() -> None:
            evs: list[dict[str, Any]] = []
            for n in dict.fromkeys([ns, jns]):
                evs += self._items(state, f"events in {n}", f"/api/v1/namespaces/{quote(n)}/events", limit=500)
            state.events = evs

        add("events", events)

        def job_pods() -> None:
            items = self._items(state, f"pods in {jns}", f"/api/v1/namespaces/{quote(jns)}/pods", limit=500)
            state.job_pods = [p for p in items if p.get("metadata", {}).get("name", "").startswith("runner-")]

        add("job pods", job_pods)

        user, groups = service_account_user(ns, sa)

        def sar(resource: str, verb: str) -> Callable[[], None]:
            def run() -> None:
                base, _, sub = resource.partition("/")
                try:
                    ok, _why = kube.access_review(verb=verb, resource=base, subresource=sub, namespace=jns,
                                                  user=user, groups=groups)
                except KubeError as exc:
                    state.errors.append(f"cannot run SubjectAccessReview {verb} {resource}: {exc}")
                    return
                state.access[(jns, resource, verb)] = ok
            return run

        for perm, verb in required_checks():
            add(f"access {perm.resource} {verb}", sar(perm.resource, verb))

        # secrets
        wanted: set[tuple[str, str]] = set()
        for name in state.deployment_secret_names():
            wanted.add((ns, name))
        tok = state.token_secret_name()
        if tok:
            wanted.add((ns, tok))
        mv = state.merged_values
        if mv.get("certsSecretName"):
            wanted.add((ns, str(mv["certsSecretName"])))
        for vol in ((kcfg.get("volumes") or {}).get("secret") or []):
            if isinstance(vol, dict) and vol.get("name"):
                wanted.add((jns, str(vol["name"])))
        for name in kcfg.get("image_pull_secrets") or []:
            wanted.add((jns, str(name)))
        for key in wanted:
            add(f"secret {key[0]}/{key[1]}", lambda key=key: self._secret(state, *key))

        # service accounts
        sas = {(ns, sa)}
        if kcfg.get("service_account"):
            sas.add((jns, str(kcfg["service_account"])))
        for key in sas:
            def read_sa(key: tuple[str, str] = key) -> None:
                obj = self._try(state, f"ServiceAccount {key[0]}/{key[1]}", lambda: kube.get_or_none(
                    f"/api/v1/namespaces/{quote(key[0])}/serviceaccounts/{quote(key[1])}"), None)
                state.service_accounts[key] = obj is not None
            add(f"sa {key}", read_sa)

        for n in dict.fromkeys([ns, jns]):
            def read_ns(n: str = n) -> None:
                obj = self._try(state, f"namespace {n}", lambda: kube.get_or_none(f"/api/v1/namespaces/{quote(n)}"))
                state.namespaces[n] = (obj.get("metadata", {}).get("labels") or {}) if obj else None
            add(f"namespace {n}", read_ns)

        def nodes() -> None:
            out = []
            for nd in self._items(state, "nodes", "/api/v1/nodes"):
                info = nd.get("status", {}).get("nodeInfo") or {}
                labels = nd.get("metadata", {}).get("labels") or {}
                out.append({"name": nd.get("metadata", {}).get("name", ""),
                            "runtime": info.get("containerRuntimeVersion", ""),
                            "arch": labels.get("kubernetes.io/arch") or info.get("architecture", ""),
                            "os": labels.get("kubernetes.io/os") or info.get("operatingSystem", "")})
            state.nodes = out

        add("nodes", nodes)

        def quotas() -> None:
            state.quotas = self._items(state, "resource quotas", f"/api/v1/namespaces/{quote(jns)}/resourcequotas")
            state.limitranges = self._items(state, "limit ranges", f"/api/v1/namespaces/{quote(jns)}/limitranges")

        add("quotas", quotas)

        def rbac() -> None:
            base = f"/apis/rbac.authorization.k8s.io/v1/namespaces/{quote(jns)}"
            state.roles = self._items(state, f"roles in {jns}", f"{base}/roles")
            state.rolebindings = self._items(state, f"role bindings in {jns}", f"{base}/rolebindings")

        add("roles", rbac)

        self._say(f"collecting {len(tasks)} items")
        first_error = len(state.errors)
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="diagnose") as pool:
            futures = [(label, pool.submit(fn)) for label, fn in tasks]
            for label, fut in futures:
                try:
                    fut.result()
                except Exception as exc:  # a reader bug must not hide the other results
                    log.debug("collector %s failed", label, exc_info=True)
                    state.errors.append(f"cannot collect {label}: {exc}")
        # the readers append in the order they finish: one order for the same cluster, whatever the timing
        state.errors[first_error:] = sorted(state.errors[first_error:])

    def _secret(self, state: ClusterState, namespace: str, name: str) -> None:
        obj = self._try(state, f"Secret {namespace}/{name}", lambda: self.kube.get_or_none(
            f"/api/v1/namespaces/{quote(namespace)}/secrets/{quote(name)}"))
        if obj is None:
            state.secrets[(namespace, name)] = None
            return
        keys: dict[str, int] = {}
        ws: dict[str, bool] = {}
        pem: dict[str, bool] = {}
        for k, v in (obj.get("data") or {}).items():
            try:
                raw = base64.b64decode(v or "")
            except (binascii.Error, ValueError):
                raw = b""
            keys[k] = len(raw)
            if k in TOKEN_KEYS:
                ws[k] = bool(raw) and raw != raw.strip()
            if k.endswith(".crt"):
                pem[k] = b"-----BEGIN CERTIFICATE-----" in raw
            del raw
        state.secrets[(namespace, name)] = SecretInfo(namespace, name, obj.get("type", ""), keys, ws, pem)

    def _logs(self, state: ClusterState) -> None:
        source = self.log_source or default_log_source(self.kube)
        for pod in state.manager_pods:
            pname = pod.get("metadata", {}).get("name", "")
            statuses = {c.get("name"): c for c in pod.get("status", {}).get("containerStatuses") or []}
            for c in pod.get("spec", {}).get("containers") or []:
                cname = c.get("name", "")
                for previous in (False, True):
                    if previous and not (statuses.get(cname) or {}).get("restartCount") and self.log_source is None:
                        continue
                    text = source(state.namespace, pname, cname, previous)
                    if text:
                        suffix = " (previous)" if previous else ""
                        state.logs.append(LogText(f"pod/{pname}/{cname}{suffix}", text, "M"))
