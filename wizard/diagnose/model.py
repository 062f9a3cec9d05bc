"""The data the diagnosis passes around: what was collected, what was found, the verdict.

Kept apart from the modules that produce and consume it (:mod:`.collect`,
:mod:`.analyzers`, :mod:`.engine`, :mod:`.fixes`, the recovery screen), so each of
them imports these types from one place and none imports another only for a type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wizard.diagnose import logs as logmod
from wizard.diagnose.infer import manager_service_account, parse_runner_config
from wizard.logsafe import redact
from wizard.results import Result, Status

TOKEN_KEYS = ("runner-token", "runner-registration-token")
MAX_EVIDENCE = 5


# --------------------------------------------------------------------------- collected state


@dataclass(frozen=True)
class ReleaseRef:
    """A gitlab-runner install found in the cluster."""

    namespace: str
    release: str
    fullname: str
    revision: int | None = None
    chart: str | None = None
    status: str | None = None
    source: str = "helm"
    """``helm`` (a release Secret) or ``deployment`` (only a Deployment was found)."""

    def __str__(self) -> str:
        return f"{self.namespace}/{self.release}"


@dataclass
class SecretInfo:
    namespace: str
    name: str
    type: str
    keys: dict[str, int]
    """Key name -> decoded length in bytes (no values are kept)."""
    whitespace: dict[str, bool] = field(default_factory=dict)
    """For token keys: does the value have leading/trailing whitespace (a newline)?"""
    pem: dict[str, bool] = field(default_factory=dict)
    """For ``*.crt`` keys: does the value hold at least one PEM certificate?"""


@dataclass
class LogText:
    """A collected log, named like ``pod/<name>/<container>[ (previous)]``."""

    name: str
    text: str
    source: str = "M"


@dataclass
class ClusterState:
    namespace: str
    release: str
    fullname: str
    jobs_namespace: str = ""
    release_ref: ReleaseRef | None = None
    values: dict[str, Any] = field(default_factory=dict)
    """User-supplied values (``helm get values``)."""
    chart_defaults: dict[str, Any] = field(default_factory=dict)
    values_source: str = ""
    config_toml: str | None = None
    """Rendered ``config.template.toml`` text."""
    config_source: str = ""
    deployment: dict[str, Any] | None = None
    configmap: dict[str, Any] | None = None
    manager_pods: list[dict[str, Any]] = field(default_factory=list)
    replicasets: list[dict[str, Any]] = field(default_factory=list)
    logs: list[LogText] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    job_pods: list[dict[str, Any]] = field(default_factory=list)
    access: dict[tuple[str, str, str], bool] = field(default_factory=dict)
    """(namespace, resource, verb) -> allowed, for the manager ServiceAccount."""
    secrets: dict[tuple[str, str], SecretInfo | None] = field(default_factory=dict)
    service_accounts: dict[tuple[str, str], bool] = field(default_factory=dict)
    namespaces: dict[str, dict[str, str] | None] = field(default_factory=dict)
    """Namespace -> labels (None: the namespace does not exist)."""
    nodes: list[dict[str, str]] = field(default_factory=list)
    quotas: list[dict[str, Any]] = field(default_factory=list)
    limitranges: list[dict[str, Any]] = field(default_factory=list)
    roles: list[dict[str, Any]] = field(default_factory=list)
    rolebindings: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    # ---- derived

    @property
    def merged_values(self) -> dict[str, Any]:
        return deep_merge(self.chart_defaults, self.values)

    @property
    def manager_sa(self) -> str:
        """The ServiceAccount the manager pods run as ("default" when the chart renders it empty)."""
        if self.deployment:
            spec = self.deployment.get("spec", {}).get("template", {}).get("spec", {})
            return spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
        return manager_service_account(self.merged_values, self.fullname)

    @property
    def config(self) -> dict[str, Any]:
        """The ``[[runners]]`` entry of the config template (empty when unknown)."""
        return parse_runner_config(self.config_toml)

    @property
    def kubernetes_config(self) -> dict[str, Any]:
        return self.config.get("kubernetes") or {}

    def secret(self, namespace: str, name: str) -> SecretInfo | None:
        return self.secrets.get((namespace, name))

    def deployment_secret_names(self) -> list[str]:
        """Secrets the manager Deployment mounts (projected and secret volumes)."""
        out: list[str] = []
        if not self.deployment:
            return out
        spec = self.deployment.get("spec", {}).get("template", {}).get("spec", {})
        for vol in spec.get("volumes") or []:
            if vol.get("secret", {}).get("secretName"):
                out.append(vol["secret"]["secretName"])
            for src in (vol.get("projected") or {}).get("sources") or []:
                if (src.get("secret") or {}).get("name"):
                    out.append(src["secret"]["name"])
        return list(dict.fromkeys(out))

    def token_secret_name(self) -> str | None:
        """The Secret with runner-token / runner-registration-token the Deployment projects."""
        if self.deployment:
            spec = self.deployment.get("spec", {}).get("template", {}).get("spec", {})
            for vol in spec.get("volumes") or []:
                for src in (vol.get("projected") or {}).get("sources") or []:
                    sec = src.get("secret") or {}
                    items = {i.get("key") for i in sec.get("items") or []}
                    if items & set(TOKEN_KEYS):
                        return sec.get("name")
        runners = self.merged_values.get("runners") or {}
        if runners.get("secret"):
            return str(runners["secret"])
        if self.values.get("runnerToken") is not None or self.values.get("runnerRegistrationToken") is not None:
            return self.fullname
        return None


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base or {})
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


# --------------------------------------------------------------------------- findings and the verdict


@dataclass
class Finding:
    """One diagnosis: what is wrong (one sentence), the evidence, and the fix."""

    catalog: str
    suffix: str
    status: Status
    title: str
    fix: str
    evidence: list[str] = field(default_factory=list)
    detail: str = ""
    fix_id: str | None = None
    """Key of :data:`wizard.diagnose.fixes.FIXES` when the tool can apply the fix."""
    fix_args: dict[str, Any] = field(default_factory=dict)
    origin: str = "cluster"
    """``cluster`` (objects), ``logs`` (log/event lines only) or ``cluster+logs``."""

    @property
    def id(self) -> str:
        return f"diagnose.{self.catalog}.{self.suffix}"

    @property
    def failed(self) -> bool:
        return self.status is Status.FAIL

    @property
    def fixable(self) -> bool:
        return self.fix_id is not None and self.status in (Status.FAIL, Status.WARN)

    def add_evidence(self, *lines: str) -> None:
        for line in lines:
            line = redact(line)
            if line and line not in self.evidence and len(self.evidence) < MAX_EVIDENCE:
                self.evidence.append(line)

    def to_result(self) -> Result:
        return Result(
            id=self.id, area="diagnose", status=self.status, title=redact(self.title),
            detail=redact(self.detail), fix=redact(self.fix), catalog=(self.catalog,),
            evidence=tuple(redact(e) for e in self.evidence),
            data={"fix_id": self.fix_id, "fix_args": dict(self.fix_args), "origin": self.origin},
        )


@dataclass
class Diagnosis:
    findings: list[Finding]
    state: ClusterState | None = None
    releases: list[ReleaseRef] = field(default_factory=list)
    notices: list[logmod.Notice] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    """Where the analyzed lines came from (pods, events, files)."""

    @property
    def results(self) -> list[Result]:
        out = [f.to_result() for f in self.findings]
        if self.errors:
            out.append(Result("diagnose.collect", "diagnose", Status.WARN,
                              f"{len(self.errors)} item(s) could not be read; findings that need them are missing",
                              "; ".join(self.errors[:5])))
        return out

    @property
    def failed(self) -> bool:
        return any(f.status is Status.FAIL for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.status in (Status.FAIL, Status.WARN)]

    @property
    def fixable(self) -> list[Finding]:
        return [f for f in self.findings if f.fixable]

    def catalog_ids(self, *statuses: Status) -> set[str]:
        want = statuses or (Status.FAIL, Status.WARN)
        return {f.catalog for f in self.findings if f.status in want}
