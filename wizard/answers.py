"""The answers model: load, validate, save.

An answers file is YAML with ``version: 1``. Every error names the field path and the fix.
Secret values are never stored: a secret field holds a reference, ``env:NAME`` or
``file:PATH`` (:mod:`wizard.secretref`), resolved only when the value is needed.

Each field below is described once, with :func:`wizard.schema.fld`: label, help, range,
check, when it applies and whether it is a secret. Parsing, the canonical mapping, the
defaults, pruning, the wizard's fields and the README's field table are derived from it
(:mod:`wizard.schema`); ``scripts/schema-table`` writes that table into the README.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, is_dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from . import safeio
from . import schema as sc
from . import validate as v
from .answers_yaml import loads
from .errors import BadInput, FieldError, SecretUnavailable
from .schema import Parser, Secret, Virtual, fld, rule, unless, when
from .secretref import SecretRef, register_secrets, with_secret_values
from .text import printable
from .tls.names import fingerprint_error as _fingerprint_error
from .tls.names import normalize_fingerprint

_log = logging.getLogger("wizard.answers")

__all__ = ["Answers", "BadInput", "CreateRunner", "Cluster", "FieldError", "GitLab", "GitLabCA", "HostAlias",
           "Registry", "Resources", "Runner", "SecretRef", "SecretUnavailable", "Toleration", "dumps", "load",
           "loads", "parse", "register_secrets", "save", "to_dict", "with_secret_values"]

RunnerType = Literal["instance_type", "group_type", "project_type"]
JobApiAccess = Literal["none", "view"]
Mode = Literal["helm", "external"]
DockerBuilds = Literal["none", "dind", "host-socket"]
Scheme = Literal["https", "http"]
CredentialsVia = Literal["pull-secret", "node", "both"]
NodeRuntime = Literal["auto", "cri-o", "containerd"]
AliasTarget = Literal["manager", "jobs"]
TolerationOperator = Literal["Equal", "Exists"]
TolerationEffect = Literal["NoSchedule", "PreferNoSchedule", "NoExecute", ""]


# --------------------------------------------------------------------------- choices not stored in the file


def _infer_token_source(raw: sc.Raw) -> str:
    g = raw.get("gitlab") or {}
    if g.get("token"):
        return "token"
    if (g.get("create_runner") or {}).get("api_token"):
        return "create_runner"
    if g.get("registration_token"):
        return "registration_token"
    return "token"


def _infer_ca_mode(raw: sc.Raw) -> str:
    ca = (raw.get("gitlab") or {}).get("ca") or {}
    if ca.get("file"):
        return "file"
    if ca.get("fetch") or ca.get("fingerprint"):
        return "fetch"
    return "system"


TOKEN_SOURCE = sc.virtual(Virtual(
    "_token_source", "How does the runner get its token?", ("token", "create_runner", "registration_token"),
    {"token": "I have a runner authentication token (glrt-...)",
     "create_runner": "Create a runner for me through the GitLab API",
     "registration_token": "Legacy registration token (deprecated)"},
    "token", _infer_token_source,
    explain={"token": "gitlab.token is the token source", "create_runner": "the runner is created through the API",
             "registration_token": "the legacy registration token is used"}))
CA_MODE = sc.virtual(Virtual(
    "_ca_mode", "Trust for GitLab's certificate", ("system", "fetch", "file"),
    {"system": "Publicly trusted certificate (no extra CA)",
     "fetch": "Trust the presented chain, pinned by its root fingerprint",
     "file": "Load a CA bundle (PEM file)"},
    "system", _infer_ca_mode, implies={"fetch": {"gitlab.ca.fetch": True}},
    explain={"system": "GitLab's certificate is publicly trusted", "fetch": "the presented chain is pinned (fetch)",
             "file": "a CA bundle file is given"}))

_HELM = unless("cluster.mode", "external")
_CREATE = when("_token_source", "create_runner")


# --------------------------------------------------------------------------- checks of single values


def _positive(x: int) -> str | None:
    return None if x > 0 else f"{x} must be a positive id"


def _release_name(x: str) -> str | None:
    msg = v.dns_label(x, "release name")
    if msg:
        return msg
    if len(x) > 53:
        return f'"{x}" is {len(x)} characters; Helm release names have at most 53'
    return None


def _chart_version(x: str) -> str | None:
    from .chart import version_problem

    return v.semver(x) or version_problem(x)


def _namespace(x: str) -> str | None:
    return v.dns_label(x, "namespace name")


def _account(x: str) -> str | None:
    return v.dns_subdomain(x, "ServiceAccount name")


def _nonblank(x: str) -> str | None:
    return None if x.strip() else "must not be empty"


def _tag(t: object) -> str | None:
    if not isinstance(t, str) or not t.strip() or "," in t or t != t.strip():
        return f"{printable(repr(t), 60)} is not a tag (a non-empty word without commas or surrounding spaces)"
    return None


def _hostname(h: object) -> str | None:
    return v.hostname(h) if isinstance(h, str) else f"{printable(repr(h), 60)} is not a host name"


def _username(x: str) -> str | None:
    if not x.strip() or ":" in x or x != x.strip():
        return "a registry user name is one word without \":\" or surrounding spaces"
    return None


def _parse_username(p: Parser, val: Any, path: str) -> str | SecretRef | None:
    """A registry user name: a plain name, or a reference like the password."""
    if isinstance(val, str) and val.startswith(("env:", "file:")):
        try:
            return SecretRef.from_answer(val, path, p.base_dir)
        except sc.Problem as e:
            p.errors.append(e.field_error)
            return None
    ok, out = p.typed(val, path, str, _username)
    return out if ok else None


def _labels(m: dict[str, Any]) -> str | None:
    return next((msg for k, x in (m or {}).items() if (msg := v.label_key(str(k)) or v.label_value(x))), None)


def _parse_node_selector(p: Parser, val: Any, path: str) -> dict[str, str]:
    if val is None:
        p.err(path, "must not be empty")
        return {}
    ok, ns = p.typed(val, path, dict)
    if not ok:
        return {}
    for k, x in ns.items():
        kp = f"{path}.{printable(str(k), 60)}"
        if v.label_key(str(k)):
            p.err(kp, v.label_key(str(k)) or "")
        elif not isinstance(x, (str, int, bool)) or v.label_value(x):
            p.err(kp, v.label_value(x) or f"{x!r} must be a string")
    return {str(k): str(x).lower() if isinstance(x, bool) else str(x) for k, x in ns.items()}


def _parse_version(p: Parser, val: Any, path: str) -> int:
    if type(val) is not int or val != 1:
        p.err(path, "must be 1 (this runner-wizard reads answers file version 1), not "
              f"{printable(repr(val), 40)}")
    return 1


_VERSION_MSG = "must be 1 (this runner-wizard reads answers file version 1), not None"


# --------------------------------------------------------------------------- model


@dataclass
class GitLabCA:
    file: str | None = fld(None, label="CA bundle (PEM file)", file=True, optional=False, omit=(None, ""),
                           when=when("_ca_mode", "file"), placeholder="./gitlab-ca.pem",
                           doc="Relative paths are read from the answers file's folder.")
    fetch: bool = fld(False, label="Trust the chain GitLab presents", omit=(False,),
                      when=when("_ca_mode", "fetch"))
    fingerprint: str | None = fld(None, label="Root certificate fingerprint (SHA-256)", check=_fingerprint_error,
                                  convert=normalize_fingerprint, optional=False, omit=(None, ""),
                                  when=when("_ca_mode", "fetch"), placeholder="SHA256:AB:CD:...",
                                  help="Compare it with what your GitLab admin or CA publishes.")


@rule(GitLabCA)
def _ca_rules(p: Parser, ca: GitLabCA, m: dict[str, Any], path: str) -> None:
    if not ca.file and not ca.fetch:
        p.err(path, "set either file (a PEM bundle) or fetch: true with a fingerprint")


@dataclass
class CreateRunner:
    api_token: SecretRef = fld(label="API token with the create_runner scope",
                               required="is required: env:NAME or file:PATH of a token with the create_runner scope",
                               secret=Secret("API token", file="gitlab-api-token", env="GITLAB_API_TOKEN"),
                               placeholder="glpat-... or env:GITLAB_API_TOKEN")
    runner_type: RunnerType = fld("group_type", label="Runner type",
                                  labels={"instance_type": "Instance (admin only)", "group_type": "Group",
                                          "project_type": "Project"})
    group_id: int | None = fld(None, label="Group id", check=_positive, optional=False, omit=(None,),
                               when=_CREATE & when("gitlab.create_runner.runner_type", "group_type"),
                               placeholder="42")
    project_id: int | None = fld(None, label="Project id", check=_positive, optional=False, omit=(None,),
                                 when=_CREATE & when("gitlab.create_runner.runner_type", "project_type"),
                                 placeholder="1234")
    description: str = fld("k8s runner", label="Description")
    tags: list[str] = fld(factory=list, label="Tags", each=_tag, placeholder="k8s, linux")
    run_untagged: bool = fld(True, label="Run untagged jobs")


@rule(CreateRunner)
def _create_runner_rules(p: Parser, cr: CreateRunner, m: dict[str, Any], path: str) -> None:
    rt, gid, pid = cr.runner_type, cr.group_id, cr.project_id
    if rt == "group_type" and gid is None and "group_id" not in m:
        p.err(sc.join(path, "group_id"), "is required for runner_type group_type")
    if rt == "project_type" and pid is None and "project_id" not in m:
        p.err(sc.join(path, "project_id"), "is required for runner_type project_type")
    if rt == "instance_type" and (gid or pid):
        p.err(path, "an instance_type runner takes neither group_id nor project_id")
    if rt == "group_type" and pid:
        p.err(sc.join(path, "project_id"), "is only for runner_type project_type; remove it")
    if rt == "project_type" and gid:
        p.err(sc.join(path, "group_id"), "is only for runner_type group_type; remove it")


TOKEN_SOURCES = ("token", "create_runner", "registration_token")


@dataclass
class GitLab:
    url: str = fld(label="GitLab URL", required="is required, e.g. https://gitlab.company.com/",
                   check=v.gitlab_url, placeholder="https://gitlab.company.com/",
                   doc="The runner manager and every job's helper talk to this URL.")
    ca: GitLabCA | None = fld(None, label="Trust for GitLab's certificate", omit=(None,),
                              when=unless("_ca_mode", "system"),
                              doc="Without it, the system's trusted CAs decide.")
    token: SecretRef | None = fld(
        None, label="Runner authentication token", optional=False, omit=(None,), when=when("_token_source", "token"),
        secret=Secret("runner authentication token", "glrt-",
                      {"glpat-": "this is a personal access token, not a runner token; choose "
                                 "'Create a runner for me' to use it",
                       "GR1348941": "this is a legacy registration token; choose 'Legacy registration token'"},
                      file="runner-token", env="RUNNER_TOKEN"),
        placeholder="glrt-... or env:RUNNER_TOKEN")
    create_runner: CreateRunner | None = fld(None, label="Create the runner through the GitLab API", omit=(None,),
                                             when=_CREATE)
    registration_token: SecretRef | None = fld(
        None, label="Registration token (legacy)", optional=False, omit=(None,),
        when=when("_token_source", "registration_token"),
        secret=Secret("registration token", None,
                      {"glrt-": "this is a runner authentication token; choose "
                                "'I have a runner authentication token'"},
                      file="registration-token", env="REG_TOKEN"),
        placeholder="GR1348941... or env:REG_TOKEN")
    clone_url: str | None = fld(None, label="Clone URL (only if jobs must clone from another address)",
                                check=v.http_url)

    @property
    def host(self) -> str:
        """Host of the URL without port or brackets (what the runner uses for ``<host>.crt``)."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 443

    @property
    def ca_key(self) -> str:
        """Secret key the runner looks for under its certs dir: ``<host>.crt``, port stripped."""
        return f"{self.host}.crt"

    @property
    def token_source(self) -> str:
        if self.token is not None:
            return "token"
        if self.create_runner is not None:
            return "create_runner"
        return "registration_token"

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/") + "/"


@rule(GitLab)
def _gitlab_rules(p: Parser, g: GitLab, m: dict[str, Any], path: str) -> None:
    present = [k for k in TOKEN_SOURCES if m.get(k) is not None]
    if len(present) != 1:
        which = ", ".join(f"gitlab.{k}" for k in present) if present else "none"
        p.err(path, f"set exactly one of gitlab.token, gitlab.create_runner, gitlab.registration_token "
              f"(found: {which}); a new install should use gitlab.token (glrt-...) or gitlab.create_runner")


@dataclass
class Cluster:
    context: str | None = fld(None, label="Kubeconfig context", ask="choice", dynamic="contexts",
                              help="Empty means the kubeconfig's current context.")
    runner_namespace: str = fld("ci-system", label="Runner (manager) namespace", check=_namespace)
    jobs_namespace: str = fld("ci-jobs", label="Jobs namespace", check=_namespace)
    create_namespaces: bool = fld(True, label="Create the namespaces if missing")
    manager_service_account: str = fld("gitlab-runner", label="Manager ServiceAccount", check=_account)
    job_service_account: str = fld("gitlab-runner-job", label="Job ServiceAccount", check=_account)
    job_api_access: JobApiAccess = fld("none", label="Kubernetes API access for jobs",
                                       labels={"none": "None (recommended)", "view": "Read-only (view)"})
    mode: Mode = fld("helm", label="Where the runner manager runs",
                     labels={"helm": "In the cluster (Helm release)",
                             "external": "On a VM outside the cluster (config.toml)"})


@dataclass
class Resources:
    cpu_request: str = fld("250m", label="Job CPU request", check=v.quantity)
    memory_request: str = fld("256Mi", label="Job memory request", check=v.quantity)
    cpu_limit: str = fld("1", label="Job CPU limit", check=v.quantity)
    memory_limit: str = fld("1Gi", label="Job memory limit", check=v.quantity)


@rule(Resources)
def _resources_rules(p: Parser, r: Resources, m: dict[str, Any], path: str) -> None:
    for kind in ("cpu", "memory"):
        req, lim = getattr(r, f"{kind}_request"), getattr(r, f"{kind}_limit")
        try:
            if v.parse_quantity(req) > v.parse_quantity(lim):
                p.err(f"{path}.{kind}_request",
                      f"{req} is more than {kind}_limit {lim}; a request cannot exceed its limit")
        except ValueError:
            pass


@dataclass
class Toleration:
    key: str | None = fld(None, label="Taint key", check=v.label_key, omit=(None, ""))
    operator: TolerationOperator = fld("Equal", label="Operator")
    value: str | None = fld(None, label="Taint value", omit=(None, ""))
    effect: TolerationEffect = fld("", label="Effect", omit=(None, ""), doc='"" matches every effect.')


@rule(Toleration)
def _toleration_rules(p: Parser, t: Toleration, m: dict[str, Any], path: str) -> None:
    if t.operator == "Exists" and t.value:
        p.err(f"{path}.value", 'must be empty when operator is "Exists"')
    if t.operator == "Equal" and not t.key:
        p.err(f"{path}.key", 'is required when operator is "Equal"')


@dataclass
class Runner:
    release_name: str = fld("gitlab-runner", label="Helm release name", check=_release_name, when=_HELM, prune=False)
    chart_version: str = fld("0.86.0", label="Chart version", check=_chart_version, when=_HELM, prune=False)
    name: str = fld("k8s-runner", label="Runner name", check=_nonblank)
    replicas: int = fld(1, label="Manager replicas", range=(1, 50), when=_HELM, prune=False)
    concurrent: int = fld(10, label="Concurrent jobs", range=(1, 1000),
                          why=" (0 is not allowed: the runner exits on concurrent = 0)")
    check_interval: int = fld(3, label="Check interval (s)", range=(1, 3600))
    job_image: str = fld("docker.io/library/alpine:3.22", label="Default job image", check=v.image_ref)
    helper_image: str | None = fld(None, label="Helper image (mirrored registries)", check=v.helper_image,
                                   doc="Pinned to the runner version (x86_64-v18.9.0).")
    privileged: bool = fld(False, label="Privileged job pods")
    docker_builds: DockerBuilds = fld("none", label="Docker builds",
                                      labels={"none": "None", "dind": "Docker-in-Docker (privileged)",
                                              "host-socket": "Node's Docker socket"})
    resources: Resources = fld(factory=Resources, label="Resources of job pods")
    node_selector: dict[str, str] = fld(factory=dict, label="Node selector", parse=_parse_node_selector, check=_labels,
                                        placeholder="kubernetes.io/os=linux")
    tolerations: list[Toleration] = fld(factory=list, label="Tolerations of job pods", skip_empty=True)
    environment: list[str] = fld(factory=list, label="Job environment", each=v.env_assignment,
                                 placeholder="GIT_SUBMODULE_STRATEGY=recursive")
    poll_timeout: int = fld(600, label="Pod start timeout (s)", range=(1, 86400))
    metrics: bool = fld(True, label="Expose metrics")


@dataclass
class HostAlias:
    ip: str = fld(label="IP", required="is required", check=v.ip_address, placeholder="192.168.80.14")
    hostnames: list[str] = fld(factory=list, label="Host names", each=_hostname, optional=False,
                               min_items="needs at least one host name", placeholder="gitlab.company.com")
    targets: list[AliasTarget] = fld(factory=lambda: ["manager", "jobs"], label="Applies to",
                                     min_items="needs manager, jobs or both", unique="lists a target twice")


@dataclass
class Registry:
    host: str = fld(label="Host[:port]", required="is required, e.g. registry.company.com:5000",
                    check=v.registry_host, placeholder="registry.company.com:5000")
    scheme: Scheme = fld("https", label="Scheme")
    ca_file: str | None = fld(None, label="CA file", file=True, when=unless("scheme", "http"),
                              placeholder="./registry-ca.pem")
    username: str | SecretRef | None = fld(None, label="User name", ask="text", parse=_parse_username,
                                           placeholder="ci-pull", doc="A name, or env:NAME / file:PATH.")
    password: SecretRef | None = fld(None, label="Password", secret=Secret("password"), placeholder="env:REG_PASS")
    credentials_via: CredentialsVia = fld("pull-secret", label="Credentials via",
                                          doc="pull-secret: an imagePullSecret; node: the nodes' "
                                               "container runtime; both.")

    @property
    def has_credentials(self) -> bool:
        return self.password is not None

    @property
    def needs_pull_secret(self) -> bool:
        return self.has_credentials and self.credentials_via in ("pull-secret", "both")

    @property
    def needs_node_credentials(self) -> bool:
        return self.has_credentials and self.credentials_via in ("node", "both")


@rule(Registry)
def _registry_rules(p: Parser, r: Registry, m: dict[str, Any], path: str) -> None:
    if r.scheme == "http" and r.ca_file:
        p.err(f"{path}.ca_file", "a plain-http registry has no certificate; remove ca_file or use https")
    if (r.username is None) != (r.password is None):
        p.err(path, "set both username and password, or neither")


@dataclass
class Answers:
    version: int = fld(1, kw_only=True, parse=_parse_version, required=_VERSION_MSG,
                       label="Answers file version")
    gitlab: GitLab = fld(required="is required (at least gitlab.url and one token source)", label="GitLab",
                         doc="Set exactly one token source: token, create_runner or registration_token.")
    cluster: Cluster = fld(factory=Cluster, label="Cluster")
    runner: Runner = fld(factory=Runner, label="Runner")
    host_aliases: list[HostAlias] = fld(factory=list, nullable=True, shape="a list of {ip, hostnames, targets}",
                                        label="Host aliases",
                                        doc="Names written into /etc/hosts of the manager, the jobs or both.")
    registries: list[Registry] = fld(factory=list, nullable=True, shape="a list of registries",
                                     label="Registries")
    node_runtime: NodeRuntime = fld("auto", label="Container runtime on the nodes",
                                    labels={"auto": "Detect from the nodes", "cri-o": "CRI-O",
                                            "containerd": "containerd"},
                                    help="Decides how private registries are configured on the nodes.")
    base_dir: Path = fld(Path("."), compare=False, repr=False, internal=True)
    """Directory relative paths (ca files, file: refs) are resolved against."""

    # ---- derived values used by render, check and apply

    @property
    def privileged_jobs(self) -> bool:
        return self.runner.privileged or self.runner.docker_builds == "dind"

    def resolve_path(self, p: str) -> Path:
        path = Path(os.path.expanduser(p))
        return path if path.is_absolute() else self.base_dir / path

    def secret_refs(self) -> dict[str, SecretRef]:
        """Every secret reference in the answers, keyed by field path."""
        return {path: val for path, val in _leaves(self, "") if isinstance(val, SecretRef)}


def _leaves(obj: Any, path: str) -> Any:
    for info in sc.infos(type(obj)):
        val, p = getattr(obj, info.name), sc.join(path, info.name)
        if isinstance(val, list):
            for i, item in enumerate(val):
                if is_dataclass(item):
                    yield from _leaves(item, f"{p}[{i}]")
        elif is_dataclass(val) and not isinstance(val, SecretRef):
            yield from _leaves(val, p)
        else:
            yield p, val


@rule(Answers)
def _answers_rules(p: Parser, a: Answers, m: dict[str, Any], path: str) -> None:
    seen: set[str] = set()
    for i, reg in enumerate(a.registries):
        key = v.registry_key(reg.host) if reg.host else ""
        if key and key in seen:
            p.err(f"registries[{i}].host", f'"{reg.host}" is listed twice (host names ignore case); '
                  "merge the two entries")
        seen.add(key)
    r, c = a.runner, a.cluster
    where: dict[tuple[str, str], tuple[int, str]] = {}
    for i, h in enumerate(a.host_aliases):
        for j, name in enumerate(h.hostnames):
            for target in h.targets:
                k = (target, name.lower().rstrip("."))
                if k in where and where[k][1] != h.ip:
                    first, ip = where[k]
                    where[k] = (first, h.ip)  # one message per host name
                    p.err(f"host_aliases[{i}].hostnames[{j}]",
                          f'"{name}" is already mapped to {ip} by host_aliases[{first}] for {target}; '
                          "a host name can have one address: remove one of the entries")
                where.setdefault(k, (i, h.ip))
    if r.docker_builds == "host-socket" and r.privileged:
        p.err("runner.privileged", "host-socket builds use the node's Docker socket and need no "
              "privileged pods; set privileged: false (or use docker_builds: dind)")
    if r.docker_builds == "host-socket" and a.node_runtime in ("cri-o", "containerd"):
        p.err("runner.docker_builds", f'"host-socket" needs Docker on the nodes, but node_runtime is '
              f"{a.node_runtime}; use dind, or a daemonless builder such as buildah or kaniko")
    if c.mode == "external" and r.replicas != 1:
        p.err("runner.replicas", "applies only to mode: helm; an external manager is one process")


# --------------------------------------------------------------------------- public API


def parse(raw: object, *, base_dir: Path | str = ".", source: str | None = None,
          check_files: bool = True) -> Answers:
    """Validate a raw mapping into :class:`Answers`; raise :class:`BadInput` listing every error."""
    p = Parser(Path(base_dir), check_files)
    answers = None
    if isinstance(raw, Mapping):
        raw = {k: v for k, v in raw.items() if k != "clusters"}  # clusters: read by wizard.fleet
        answers = p.obj(Answers, raw, "")
        answers.base_dir = p.base_dir
    else:
        p.mapping(raw, "", ())
    if p.errors or answers is None:
        raise BadInput(p.errors or [FieldError("(top level)", "empty answers file")], source)
    return answers


def load(path: str | os.PathLike[str], *, field_name: str = "--answers") -> Answers:
    """Read and validate an answers file: a regular UTF-8 file of at most 1 MiB, YAML without
    anchors or duplicate keys. Registers every secret it can read for redaction."""
    p = Path(path)
    if not str(path):
        raise BadInput([FieldError(field_name, "is empty; give the path of an answers file")])
    data = safeio.read_regular(p, limit=safeio.ANSWERS_LIMIT, field=field_name, what="answers file")
    text = safeio.decode_text(data, field=field_name, source=str(p), what="answers file")
    raw = loads(text, source=str(p))
    answers = parse(raw, base_dir=p.resolve().parent, source=str(p))
    register_secrets(answers)
    _log.info("read answers file %s (%d bytes): gitlab %s, release %s/%s, %d host alias(es), %d registry(ies)",
              p, len(data), answers.gitlab.url, answers.cluster.runner_namespace, answers.runner.release_name,
              len(answers.host_aliases), len(answers.registries))
    return answers


def to_dict(a: Answers) -> dict[str, Any]:
    """Canonical, complete mapping of the answers (secrets as references)."""
    return sc.to_dict(a)


HEADER = ("# runner-wizard answers file (version 1). Secrets are references only:\n"
          "# env:NAME reads an environment variable, file:PATH reads a file.\n"
          "# Replay with: runner-wizard apply --answers THIS_FILE\n")


def dumps(a: Answers) -> str:
    import yaml

    return HEADER + yaml.safe_dump(to_dict(a), sort_keys=False, default_flow_style=False,
                                   allow_unicode=True, width=100)


def save(a: Answers, path: str | os.PathLike[str]) -> Path:
    """Write the answers file atomically. Returns the path."""
    p = safeio.write_atomic(path, dumps(a))
    _log.info("wrote answers file %s", p)
    return p

