"""The wizard's steps: the one definition behind the full-screen wizard, the line
prompts and headless replay.

A step has an id (shared with the check engine), a title, a short help text that
says what goes wrong without it, and its fields. A field names its place in the
answers mapping (``gitlab.url``), how it is asked (``kind``), its default (taken
from the answers dataclasses), a validator from :mod:`wizard.validate` and, where
it applies only sometimes, a ``when`` condition on the other answers.

The front ends work on a *raw* mapping shaped like the answers file. A few
``_``-prefixed keys in it hold choices that are not stored in the file but decide
which fields apply (the token source, how GitLab's certificate is trusted);
:func:`finalize` removes them and every field whose condition is false, then
builds :class:`~wizard.answers.Answers` through :func:`wizard.answers.parse`, so
the same rules apply to every front end and to the answers file.

No UI library is imported here.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import answers as am
from . import validate as v

KINDS = ("text", "secret-ref", "secret-value", "choice", "multichoice", "bool", "int", "list",
         "mapping", "records")
"""How a field is asked.

* ``text``: one line. ``int``: a whole number. ``bool``: yes/no.
* ``choice``: one of ``choices``; ``multichoice``: a subset of ``choices`` (a list).
* ``list``: several words (typed comma-separated); ``mapping``: ``key=value`` pairs.
* ``secret-ref``: the answers hold ``env:NAME`` or ``file:PATH``; the user may type
  the secret itself, which the front end then stores (see :func:`store_secret`).
* ``secret-value``: a secret that is only used during the session, never saved.
* ``records``: a list of mappings, each asked through ``item_fields``.
"""

Raw = dict[str, Any]
Validator = Callable[[Any], "str | None"]
Condition = Callable[[Raw], bool]

TOKEN_SOURCES = ("token", "create_runner", "registration_token")
TOKEN_SOURCE_LABELS = {
    "token": "I have a runner authentication token (glrt-...)",
    "create_runner": "Create a runner for me through the GitLab API",
    "registration_token": "Legacy registration token (deprecated)",
}
CA_MODES = ("system", "fetch", "file")
CA_MODE_LABELS = {
    "system": "Publicly trusted certificate (no extra CA)",
    "fetch": "Trust the presented chain, pinned by its root fingerprint",
    "file": "Load a CA bundle (PEM file)",
}
VIRTUAL_KEYS = ("_token_source", "_ca_mode")


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Field:
    """One question."""

    path: str
    """Place in the answers mapping (dotted; relative to the record for ``item_fields``)."""
    label: str
    kind: str = "text"
    help: str = ""
    choices: tuple[str, ...] = ()
    choice_labels: dict[str, str] = field(default_factory=dict)
    default: Any = None
    validator: Validator | None = None
    when: Condition | None = None
    optional: bool = False
    """An empty answer is allowed (stored as null / left out)."""
    placeholder: str = ""
    item_fields: tuple[Field, ...] = ()
    """For ``records``: the fields of one record."""
    dynamic_choices: str | None = None
    """Choices filled at run time by the front end (``"contexts"``: kubeconfig contexts)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.path}: unknown kind {self.kind}")

    @property
    def virtual(self) -> bool:
        """Decides which fields apply; not written to the answers file."""
        return self.path.startswith("_")

    def active(self, raw: Raw) -> bool:
        return self.when is None or bool(self.when(raw))

    def label_for(self, choice: str) -> str:
        return self.choice_labels.get(choice, choice)


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    help: str
    fields: tuple[Field, ...] = ()
    checks: tuple[str, ...] = ()
    """Check-engine step ids run for this step."""

    def active_fields(self, raw: Raw) -> list[Field]:
        return [f for f in self.fields if f.active(raw)]

    def field(self, path: str) -> Field:
        for f in self.fields:
            if f.path == path:
                return f
        raise KeyError(path)


# --------------------------------------------------------------------------- defaults


def _defaults() -> Raw:
    d = am.to_dict(am.Answers(gitlab=am.GitLab(url="")))
    cr = am.CreateRunner(api_token=am.SecretRef("env", "GITLAB_API_TOKEN"))
    d["gitlab"]["create_runner"] = {"api_token": "", "runner_type": cr.runner_type, "group_id": None,
                                    "project_id": None, "description": cr.description,
                                    "tags": list(cr.tags), "run_untagged": cr.run_untagged}
    d["gitlab"]["ca"] = {"file": None, "fetch": False, "fingerprint": None}
    return d


DEFAULTS: Raw = _defaults()
"""The answers mapping a fresh install starts from (dataclass defaults)."""

_REGISTRY_DEFAULTS = {"host": "", "scheme": am.Registry(host="").scheme, "ca_file": None,
                      "username": None, "password": None,
                      "credentials_via": am.Registry(host="").credentials_via}
_ALIAS_DEFAULTS = {"ip": "", "hostnames": [], "targets": list(am.HostAlias(ip="", hostnames=[]).targets)}


def _d(path: str) -> Any:
    return copy.deepcopy(get_value(DEFAULTS, path))


# --------------------------------------------------------------------------- raw mapping helpers

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parts(path: str) -> list[str | int]:
    out: list[str | int] = []
    for m in _PART.finditer(path):
        out.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    return out


_MISSING = object()


def get_value(raw: Raw, path: str, default: Any = None) -> Any:
    """Value at a dotted path (``registries[0].host``), or ``default`` when absent."""
    cur: Any = raw
    for p in _parts(path):
        if isinstance(p, int):
            if not isinstance(cur, list) or p >= len(cur):
                return default
            cur = cur[p]
        else:
            if not isinstance(cur, dict) or p not in cur:
                return default
            cur = cur[p]
    return cur


def set_value(raw: Raw, path: str, value: Any) -> None:
    """Set the value at a dotted path, creating mappings on the way."""
    parts = _parts(path)
    cur: Any = raw
    for i, p in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(p, int):
            while len(cur) <= p:
                cur.append({})
            if not isinstance(cur[p], (dict, list)):
                cur[p] = [] if isinstance(nxt, int) else {}
            cur = cur[p]
        else:
            if not isinstance(cur.get(p), (dict, list)):
                cur[p] = [] if isinstance(nxt, int) else {}
            cur = cur[p]
    last = parts[-1]
    if isinstance(last, int):
        while len(cur) <= last:
            cur.append(None)
    cur[last] = value


def token_source(raw: Raw) -> str:
    src = raw.get("_token_source")
    if src in TOKEN_SOURCES:
        return src
    g = raw.get("gitlab") or {}
    if g.get("token"):
        return "token"
    if (g.get("create_runner") or {}).get("api_token"):
        return "create_runner"
    if g.get("registration_token"):
        return "registration_token"
    return "token"


def ca_mode(raw: Raw) -> str:
    mode = raw.get("_ca_mode")
    if mode in CA_MODES:
        return mode
    ca = (raw.get("gitlab") or {}).get("ca") or {}
    if ca.get("file"):
        return "file"
    if ca.get("fetch") or ca.get("fingerprint"):
        return "fetch"
    return "system"


def initial_raw(answers: am.Answers | None = None) -> Raw:
    """The working mapping for a run: defaults, overlaid with an answers file when given."""
    raw = copy.deepcopy(DEFAULTS)
    if answers is not None:
        given = am.to_dict(answers)
        for key, val in given.items():
            if key == "gitlab":
                g = raw["gitlab"]
                for gk, gv in val.items():
                    if gk in ("create_runner", "ca") and isinstance(gv, dict):
                        g[gk].update(copy.deepcopy(gv))
                    else:
                        g[gk] = copy.deepcopy(gv)
            else:
                raw[key] = copy.deepcopy(val)
    raw["_token_source"] = token_source(raw)
    raw["_ca_mode"] = ca_mode(raw)
    return raw


# --------------------------------------------------------------------------- validators


def _required(what: str) -> Validator:
    def check(x: Any) -> str | None:
        return None if isinstance(x, str) and x.strip() else f"{what} is required"
    return check


def int_range(lo: int, hi: int, why: str = "") -> Validator:
    def check(x: Any) -> str | None:
        try:
            n = int(str(x).strip())
        except (TypeError, ValueError):
            return f'"{x}" is not a whole number'
        return None if lo <= n <= hi else f"{n} is out of range; use {lo}..{hi}{why}"
    return check


def _positive_id(x: Any) -> str | None:
    try:
        n = int(str(x).strip())
    except (TypeError, ValueError):
        return f'"{x}" is not a numeric id (find it on the group or project overview page)'
    return None if n > 0 else f"{n} must be a positive id"


def secret_input(what: str, prefix: str | None = None, other: dict[str, str] | None = None) -> Validator:
    """A secret reference (env:NAME / file:PATH), or a typed secret the front end will store."""
    def check(x: Any) -> str | None:
        s = "" if x is None else str(x).strip()
        if not s:
            return f"{what} is required: type it, or write env:NAME or file:PATH"
        kind, sep, target = s.partition(":")
        if sep and kind in ("env", "file"):
            if not target:
                return f'"{s}" names no {"variable" if kind == "env" else "file"}'
            if kind == "env":
                return v.env_name(target)
            return None
        if any(c.isspace() for c in s):
            return f"{what} contains spaces; paste it again"
        for pre, msg in (other or {}).items():
            if s.startswith(pre):
                return msg
        if prefix and not s.startswith(prefix):
            return f"{what}s start with {prefix}; check you copied the right token"
        return None
    return check


def _fingerprint(x: Any) -> str | None:
    return am._fingerprint_error(str(x or ""))


def _file_path(x: Any) -> str | None:
    return None if isinstance(x, str) and x.strip() else "a file path is required"


def _each(check: Callable[[str], str | None]) -> Validator:
    def run(items: Any) -> str | None:
        for item in items or []:
            msg = check(item)
            if msg:
                return msg
        return None
    return run


def _nonempty_list(what: str, check: Callable[[str], str | None]) -> Validator:
    def run(items: Any) -> str | None:
        if not items:
            return f"at least one {what} is required"
        return _each(check)(items)
    return run


def _labels(m: Any) -> str | None:
    for k, val in (m or {}).items():
        msg = v.label_key(str(k)) or v.label_value(val)
        if msg:
            return msg
    return None


def _release(x: Any) -> str | None:
    return am._release_name(str(x))


# --------------------------------------------------------------------------- conditions


def _src(name: str) -> Condition:
    return lambda raw: token_source(raw) == name


def _rtype(name: str) -> Condition:
    return lambda raw: (token_source(raw) == "create_runner"
                        and get_value(raw, "gitlab.create_runner.runner_type") == name)


def _ca(name: str) -> Condition:
    return lambda raw: ca_mode(raw) == name


def _helm(raw: Raw) -> bool:
    return get_value(raw, "cluster.mode") != "external"


# --------------------------------------------------------------------------- the steps

STEPS: tuple[Step, ...] = (
    Step(
        "cluster", "Cluster",
        "Pick the Kubernetes cluster the runner goes to. The wizard talks to it with your "
        "kubeconfig, exactly as kubectl would, and checks that you may create what the runner "
        "needs. A runner whose manager cannot reach the API server fails every job with "
        "'no configuration has been provided' or an x509 error.",
        (
            Field("cluster.context", "Kubeconfig context", "choice", dynamic_choices="contexts",
                  optional=True, default=_d("cluster.context"),
                  help="Empty means the kubeconfig's current context."),
            Field("cluster.mode", "Where the runner manager runs", "choice", choices=am.MODES,
                  choice_labels={"helm": "In the cluster (Helm release)",
                                 "external": "On a VM outside the cluster (config.toml)"},
                  default=_d("cluster.mode")),
            Field("node_runtime", "Container runtime on the nodes", "choice", choices=am.NODE_RUNTIMES,
                  choice_labels={"auto": "Detect from the nodes", "cri-o": "CRI-O",
                                 "containerd": "containerd"},
                  default=_d("node_runtime"),
                  help="Decides how private registries are configured on the nodes."),
        ),
        checks=("cluster",),
    ),
    Step(
        "gitlab", "GitLab URL",
        "The runner manager and every job's helper talk to this URL. With a private CA the "
        "manager fails with 'x509: certificate signed by unknown authority' until it is given "
        "the CA, named after the host (<host>.crt), in both namespaces. The wizard shows the "
        "certificate GitLab presents so you can trust it knowingly.",
        (
            Field("gitlab.url", "GitLab URL", "text", validator=v.gitlab_url,
                  placeholder="https://gitlab.company.com/", default=""),
            Field("_ca_mode", "Trust for GitLab's certificate", "choice", choices=CA_MODES,
                  choice_labels=CA_MODE_LABELS, default="system"),
            Field("gitlab.ca.fingerprint", "Root certificate fingerprint (SHA-256)", "text",
                  validator=_fingerprint, when=_ca("fetch"), placeholder="SHA256:AB:CD:...",
                  help="Compare it with what your GitLab admin or CA publishes."),
            Field("gitlab.ca.file", "CA bundle (PEM file)", "text", validator=_file_path,
                  when=_ca("file"), placeholder="./gitlab-ca.pem"),
            Field("gitlab.clone_url", "Clone URL (only if jobs must clone from another address)",
                  "text", validator=v.http_url, optional=True, default=_d("gitlab.clone_url")),
        ),
        checks=("gitlab",),
    ),
    Step(
        "token", "Runner token",
        "The runner authenticates with a runner authentication token (glrt-...). Creating "
        "the runner in GitLab first and using its token is the current way; the old "
        "registration token still works but is deprecated, ignores several settings and "
        "leaves a runner that keeps a stale token after re-registration, answering 403 "
        "Forbidden.",
        (
            Field("_token_source", "How does the runner get its token?", "choice",
                  choices=TOKEN_SOURCES, choice_labels=TOKEN_SOURCE_LABELS, default="token"),
            Field("gitlab.token", "Runner authentication token", "secret-ref",
                  validator=secret_input("runner authentication token", "glrt-",
                                         {"glpat-": "this is a personal access token, not a runner "
                                          "token; choose 'Create a runner for me' to use it",
                                          "GR1348941": "this is a legacy registration token; choose "
                                          "'Legacy registration token'"}),
                  when=_src("token"), placeholder="glrt-... or env:RUNNER_TOKEN"),
            Field("gitlab.create_runner.api_token", "API token with the create_runner scope",
                  "secret-ref", validator=secret_input("API token"), when=_src("create_runner"),
                  placeholder="glpat-... or env:GITLAB_API_TOKEN"),
            Field("gitlab.create_runner.runner_type", "Runner type", "choice", choices=am.RUNNER_TYPES,
                  choice_labels={"instance_type": "Instance (admin only)", "group_type": "Group",
                                 "project_type": "Project"},
                  when=_src("create_runner"), default=_d("gitlab.create_runner.runner_type")),
            Field("gitlab.create_runner.group_id", "Group id", "int", validator=_positive_id,
                  when=_rtype("group_type"), placeholder="42"),
            Field("gitlab.create_runner.project_id", "Project id", "int", validator=_positive_id,
                  when=_rtype("project_type"), placeholder="1234"),
            Field("gitlab.create_runner.description", "Description", "text",
                  validator=_required("a description"), when=_src("create_runner"),
                  default=_d("gitlab.create_runner.description")),
            Field("gitlab.create_runner.tags", "Tags", "list",
                  validator=_each(lambda t: None if t and "," not in t else f"{t!r} is not a tag"),
                  when=_src("create_runner"), optional=True, placeholder="k8s, linux"),
            Field("gitlab.create_runner.run_untagged", "Run untagged jobs", "bool",
                  when=_src("create_runner"), default=_d("gitlab.create_runner.run_untagged")),
            Field("gitlab.registration_token", "Registration token (legacy)", "secret-ref",
                  validator=secret_input("registration token", None,
                                         {"glrt-": "this is a runner authentication token; choose "
                                          "'I have a runner authentication token'"}),
                  when=_src("registration_token"), placeholder="GR1348941... or env:REG_TOKEN"),
        ),
        checks=("token",),
    ),
    Step(
        "namespaces", "Namespaces and accounts",
        "The manager lives in one namespace and starts job pods in another. Without a Role in "
        "the jobs namespace it fails with 'secrets is forbidden' or 'pods/attach is forbidden'; "
        "without the job ServiceAccount, pods are never created; and a CA Secret that exists in "
        "only one namespace breaks jobs with 'secret not found'. The wizard creates all of it.",
        (
            Field("cluster.runner_namespace", "Runner (manager) namespace", "text",
                  validator=lambda x: v.dns_label(x, "namespace name"),
                  default=_d("cluster.runner_namespace")),
            Field("cluster.jobs_namespace", "Jobs namespace", "text",
                  validator=lambda x: v.dns_label(x, "namespace name"),
                  default=_d("cluster.jobs_namespace")),
            Field("cluster.create_namespaces", "Create the namespaces if missing", "bool",
                  default=_d("cluster.create_namespaces")),
            Field("cluster.manager_service_account", "Manager ServiceAccount", "text",
                  validator=lambda x: v.dns_subdomain(x, "ServiceAccount name"),
                  default=_d("cluster.manager_service_account")),
            Field("cluster.job_service_account", "Job ServiceAccount", "text",
                  validator=lambda x: v.dns_subdomain(x, "ServiceAccount name"),
                  default=_d("cluster.job_service_account")),
            Field("cluster.job_api_access", "Kubernetes API access for jobs", "choice",
                  choices=am.JOB_API_ACCESS,
                  choice_labels={"none": "None (recommended)", "view": "Read-only (view)"},
                  default=_d("cluster.job_api_access")),
        ),
        checks=("namespaces",),
    ),
    Step(
        "host_aliases", "Host aliases",
        "When GitLab's name only resolves on your workstation or in an internal DNS the pods "
        "do not use, the manager registers fine from one place but jobs fail to fetch the "
        "repository ('Could not resolve host'). A host alias writes the name into /etc/hosts "
        "of the manager, the job pods, or both.",
        (
            Field("host_aliases", "Host aliases", "records", optional=True, default=[],
                  item_fields=(
                      Field("ip", "IP", "text", validator=v.ip_address, placeholder="192.168.80.14"),
                      Field("hostnames", "Host names", "list",
                            validator=_nonempty_list("host name", v.hostname),
                            placeholder="gitlab.company.com"),
                      Field("targets", "Applies to", "multichoice", choices=am.ALIAS_TARGETS,
                            validator=lambda x: None if x else "choose manager, jobs or both",
                            default=list(_ALIAS_DEFAULTS["targets"])),
                  )),
        ),
        checks=("host_aliases",),
    ),
    Step(
        "registries", "Private registries",
        "Job images from a private registry need trust and credentials on the nodes, not only "
        "in the runner: without them pulls fail with 'x509' or 'unauthorized', and a plain-http "
        "registry must be declared insecure to CRI-O or containerd. The wizard writes the "
        "pull secret and the node drop-ins for you.",
        (
            Field("registries", "Registries", "records", optional=True, default=[],
                  item_fields=(
                      Field("host", "Host[:port]", "text", validator=v.registry_host,
                            placeholder="registry.company.com:5000"),
                      Field("scheme", "Scheme", "choice", choices=am.SCHEMES,
                            default=_REGISTRY_DEFAULTS["scheme"]),
                      Field("ca_file", "CA file", "text", optional=True,
                            when=lambda r: r.get("scheme") != "http", placeholder="./registry-ca.pem"),
                      Field("username", "User name", "text", optional=True, placeholder="ci-pull"),
                      Field("password", "Password", "secret-ref", optional=True,
                            validator=secret_input("password"), placeholder="env:REG_PASS"),
                      Field("credentials_via", "Credentials via", "choice", choices=am.CREDENTIALS_VIA,
                            default=_REGISTRY_DEFAULTS["credentials_via"]),
                  )),
        ),
        checks=("registries",),
    ),
    Step(
        "runner", "Runner options",
        "These become the Helm values and config.toml. Concurrency 0 makes the runner exit; a "
        "helper image that is not pinned to the runner version breaks air-gapped installs; "
        "privileged pods are only needed for Docker-in-Docker builds and widen what a job can "
        "do to the node.",
        (
            Field("runner.release_name", "Helm release name", "text", validator=_release,
                  default=_d("runner.release_name"), when=_helm),
            Field("runner.chart_version", "Chart version", "text", validator=am._chart_version,
                  default=_d("runner.chart_version"), when=_helm),
            Field("runner.name", "Runner name", "text", validator=_required("a runner name"),
                  default=_d("runner.name")),
            Field("runner.replicas", "Manager replicas", "int", validator=int_range(1, 50),
                  default=_d("runner.replicas"), when=_helm),
            Field("runner.concurrent", "Concurrent jobs", "int",
                  validator=int_range(1, 1000, " (0 makes the runner exit)"),
                  default=_d("runner.concurrent")),
            Field("runner.check_interval", "Check interval (s)", "int", validator=int_range(1, 3600),
                  default=_d("runner.check_interval")),
            Field("runner.job_image", "Default job image", "text", validator=v.image_ref,
                  default=_d("runner.job_image")),
            Field("runner.helper_image", "Helper image (mirrored registries)", "text",
                  validator=v.helper_image, optional=True, default=_d("runner.helper_image")),
            Field("runner.docker_builds", "Docker builds", "choice", choices=am.DOCKER_BUILDS,
                  choice_labels={"none": "None", "dind": "Docker-in-Docker (privileged)",
                                 "host-socket": "Node's Docker socket"},
                  default=_d("runner.docker_builds")),
            Field("runner.privileged", "Privileged job pods", "bool", default=_d("runner.privileged")),
            Field("runner.resources.cpu_request", "Job CPU request", "text", validator=v.quantity,
                  default=_d("runner.resources.cpu_request")),
            Field("runner.resources.memory_request", "Job memory request", "text", validator=v.quantity,
                  default=_d("runner.resources.memory_request")),
            Field("runner.resources.cpu_limit", "Job CPU limit", "text", validator=v.quantity,
                  default=_d("runner.resources.cpu_limit")),
            Field("runner.resources.memory_limit", "Job memory limit", "text", validator=v.quantity,
                  default=_d("runner.resources.memory_limit")),
            Field("runner.node_selector", "Node selector", "mapping", validator=_labels, optional=True,
                  default=_d("runner.node_selector"), placeholder="kubernetes.io/os=linux"),
            Field("runner.environment", "Job environment", "list", validator=_each(v.env_assignment),
                  optional=True, default=_d("runner.environment"),
                  placeholder="GIT_SUBMODULE_STRATEGY=recursive"),
            Field("runner.poll_timeout", "Pod start timeout (s)", "int", validator=int_range(1, 86400),
                  default=_d("runner.poll_timeout")),
            Field("runner.metrics", "Expose metrics", "bool", default=_d("runner.metrics")),
        ),
        checks=("runner",),
    ),
    Step(
        "review", "Review",
        "Everything the wizard will write, before anything changes. Save the answers file to "
        "replay this install headless (runner-wizard apply --answers FILE); it holds references "
        "to secrets, never the secrets themselves.",
        (),
        checks=("cluster", "gitlab", "token", "namespaces", "host_aliases", "registries", "runner"),
    ),
    Step(
        "apply", "Apply",
        "Applies the objects server-side, installs or upgrades the Helm release, then waits "
        "until the runner is online in GitLab. If a step fails, recovery mode reads the "
        "cluster state and the runner's logs and names the fix.",
        (),
        checks=(),
    ),
)

STEP_IDS: tuple[str, ...] = tuple(s.id for s in STEPS)
FORM_STEP_IDS: tuple[str, ...] = tuple(s.id for s in STEPS if s.fields)


def step(step_id: str) -> Step:
    for s in STEPS:
        if s.id == step_id:
            return s
    raise KeyError(step_id)


def all_fields() -> Iterator[tuple[Step, Field]]:
    for s in STEPS:
        for f in s.fields:
            yield s, f


def find_field(path: str) -> Field:
    """Field by its path; record item fields as ``registries[].host`` or ``registries[0].host``."""
    base = re.sub(r"\[\d*\]", "", path)
    for _, f in all_fields():
        if f.path == base:
            return f
        if f.kind == "records" and base.startswith(f.path + "."):
            sub = base[len(f.path) + 1:]
            for item in f.item_fields:
                if item.path == sub:
                    return item
    raise KeyError(path)


def step_of(path: str) -> str | None:
    """The step a field path (or an answers error path) belongs to."""
    base = re.sub(r"\[\d*\]", "", path)
    best: tuple[int, str] | None = None
    for s, f in all_fields():
        for p in (f.path, f.path.rsplit(".", 1)[0] if f.path.count(".") > 1 else f.path):
            if base == p or base.startswith(p + "."):
                if best is None or len(p) > best[0]:
                    best = (len(p), s.id)
    if best is None:
        if base.startswith("gitlab.create_runner") or base in ("gitlab",):
            return "token"
        if base.startswith("gitlab"):
            return "gitlab"
    return best[1] if best else None


# --------------------------------------------------------------------------- value conversion


def parse_input(f: Field, text: str) -> Any:
    """Typed text (as a line prompt or an Input holds it) to the field's value.

    Returns the text unchanged when it cannot be converted, so the validator can
    name the problem and nothing the user typed is lost.
    """
    s = text.strip()
    if f.kind == "int":
        if not s:
            return None
        try:
            return int(s)
        except ValueError:
            return text
    if f.kind == "list" or f.kind == "multichoice":
        return [p.strip() for p in s.split(",") if p.strip()]
    if f.kind == "mapping":
        out: dict[str, str] = {}
        for part in s.split(","):
            if not part.strip():
                continue
            k, sep, val = part.partition("=")
            out[k.strip()] = val.strip() if sep else ""
        return out
    if f.kind == "bool":
        return s.lower() in ("y", "yes", "true", "1", "on")
    if f.kind in ("text", "secret-ref", "secret-value", "choice"):
        return s if s or not f.optional else None
    return text


def format_value(f: Field, value: Any) -> str:
    """A field's value as editable text (the inverse of :func:`parse_input`)."""
    if value is None:
        return ""
    if f.kind in ("list", "multichoice"):
        return ", ".join(str(x) for x in value) if isinstance(value, list) else str(value)
    if f.kind == "mapping":
        return ", ".join(f"{k}={val}" for k, val in value.items()) if isinstance(value, dict) else str(value)
    if f.kind == "bool":
        return "yes" if value else "no"
    return str(value)


def validate_field(path: str, value: Any) -> str | None:
    """Syntax check of one field's value (no I/O). ``None`` when fine."""
    f = find_field(path)
    return check_value(f, value)


def check_value(f: Field, value: Any) -> str | None:
    empty = value is None or value == "" or value == [] or value == {}
    if empty:
        if f.optional or f.kind in ("bool",):
            return None
        if f.kind == "choice" and f.dynamic_choices:
            return None
        if f.validator is not None:
            return f.validator(value if value is not None else "")
        return f"{f.label} is required"
    if f.kind == "int" and not isinstance(value, int):
        return f'"{value}" is not a whole number'
    if f.kind == "choice" and f.choices and value not in f.choices:
        return f'"{value}" is not one of: {" | ".join(f.choices)}'
    if f.kind == "multichoice":
        bad = [x for x in value if x not in f.choices]
        if bad:
            return f'"{bad[0]}" is not one of: {" | ".join(f.choices)}'
    if f.validator is not None:
        return f.validator(value)
    return None


def validate_step(raw: Raw, step_id: str, base_dir: Path | str = ".") -> dict[str, str]:
    """Every problem of one step: field syntax first, then the answers model's
    cross-field rules (e.g. group_id required for a group runner). Keys are paths."""
    s = step(step_id)
    errors: dict[str, str] = {}
    for f in s.active_fields(raw):
        if f.kind == "records":
            for i, rec in enumerate(get_value(raw, f.path) or []):
                for item in f.item_fields:
                    if item.when is not None and not item.when(rec):
                        continue
                    msg = check_value(item, rec.get(item.path))
                    if msg:
                        errors[f"{f.path}[{i}].{item.path}"] = msg
            continue
        msg = check_value(f, get_value(raw, f.path))
        if msg:
            errors[f.path] = msg
    if errors or not s.fields:
        return errors
    try:
        finalize(provisional(raw), base_dir=base_dir, check_files=False)
    except am.BadInput as exc:
        for e in exc.errors:
            if step_of(e.path) == step_id:
                errors.setdefault(e.path, e.message)
    return errors


# --------------------------------------------------------------------------- finishing


def prune(raw: Raw) -> Raw:
    """The answers mapping without UI-only keys and without inactive fields."""
    out = copy.deepcopy(raw)
    src = token_source(raw)
    mode = ca_mode(raw)
    g = out.setdefault("gitlab", {})
    for key in TOKEN_SOURCES:
        if key != src:
            g.pop(key, None)
    if src == "create_runner":
        cr = g.get("create_runner") or {}
        rt = cr.get("runner_type")
        if rt != "group_type":
            cr.pop("group_id", None)
        if rt != "project_type":
            cr.pop("project_id", None)
    if mode == "system":
        g.pop("ca", None)
    else:
        ca = g.get("ca") or {}
        if mode == "fetch":
            g["ca"] = {"fetch": True, "fingerprint": ca.get("fingerprint")}
        else:
            g["ca"] = {"file": ca.get("file")}
    for regs in out.get("registries") or []:
        if regs.get("scheme") == "http":
            regs["ca_file"] = None
    for key in VIRTUAL_KEYS:
        out.pop(key, None)
    return out


def provisional(raw: Raw) -> Raw:
    """Fill what later steps have not asked yet, so earlier steps can be checked."""
    out = copy.deepcopy(raw)
    g = out.setdefault("gitlab", {})
    if not g.get("url"):
        g["url"] = "https://gitlab.invalid/"
    src = token_source(out)
    if src == "token" and not g.get("token"):
        g["token"] = "env:RUNNER_TOKEN"
    if src == "registration_token" and not g.get("registration_token"):
        g["registration_token"] = "env:REG_TOKEN"
    if src == "create_runner":
        cr = g.setdefault("create_runner", {})
        if not cr.get("api_token"):
            cr["api_token"] = "env:GITLAB_API_TOKEN"
    return out


def finalize(raw: Raw, *, base_dir: Path | str = ".", check_files: bool = False) -> am.Answers:
    """Build the answers from the working mapping (raises ``BadInput`` naming fields)."""
    return am.parse(prune(raw), base_dir=base_dir, check_files=check_files)


# --------------------------------------------------------------------------- secrets

SECRET_STORAGE: dict[str, tuple[str, str]] = {
    "gitlab.token": ("runner-token", "RUNNER_TOKEN"),
    "gitlab.create_runner.api_token": ("gitlab-api-token", "GITLAB_API_TOKEN"),
    "gitlab.registration_token": ("registration-token", "REG_TOKEN"),
}
"""Default file name (next to the answers file) and variable name per secret field."""


def is_reference(text: str | None) -> bool:
    if not text:
        return False
    kind, sep, target = text.strip().partition(":")
    return bool(sep) and kind in ("env", "file") and bool(target)


def secret_defaults(path: str) -> tuple[str, str]:
    """(file name, env var name) offered for storing a typed secret of this field."""
    if path in SECRET_STORAGE:
        return SECRET_STORAGE[path]
    m = re.match(r"registries\[(\d+)\]\.(\w+)", path)
    if m:
        return f"registry-{int(m.group(1)) + 1}-{m.group(2)}", f"REGISTRY_{int(m.group(1)) + 1}_{m.group(2).upper()}"
    leaf = path.rsplit(".", 1)[-1]
    return leaf.replace("_", "-"), leaf.upper()


def secret_reference(path: str, how: str, name: str | None = None) -> str:
    """The reference stored in the answers for a typed secret: ``file:./NAME`` or ``env:NAME``."""
    file_name, env_name = secret_defaults(path)
    if how == "env":
        return f"env:{name or env_name}"
    target = name or f"./{file_name}"
    return f"file:{target}"


def store_secret(value: str, ref: str, base_dir: Path | str = ".") -> Path | None:
    """Write a typed secret where its ``file:`` reference points, mode 0600 from the start.

    Returns the path written, or ``None`` for ``env:`` references (nothing to write).
    """
    kind, _, target = ref.partition(":")
    if kind != "file":
        return None
    p = Path(os.path.expanduser(target))
    if not p.is_absolute():
        p = Path(base_dir) / p
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (value.strip() + "\n").encode("utf-8"))
    finally:
        os.close(fd)
    import logging

    logging.getLogger("wizard.steps").info("wrote secret file %s (mode 0600)", p)
    return p


def draft_env_name(path: str) -> str:
    return "RUNNER_WIZARD_DRAFT_" + re.sub(r"[^A-Za-z0-9]", "_", path).upper()


def with_drafts(raw: Raw, drafts: dict[str, str]) -> tuple[Raw, dict[str, str]]:
    """For live checks before secrets are stored: point drafted secret fields at placeholder
    ``env:`` references, so that the answers validate. Returns the mapping and placeholder name
    -> value. Never put these into ``os.environ``: attach the values to the references with
    :func:`wizard.answers.with_secret_values` (keyed by field path) instead."""
    out = copy.deepcopy(raw)
    env: dict[str, str] = {}
    for path, value in drafts.items():
        name = draft_env_name(path)
        env[name] = value
        set_value(out, path, f"env:{name}")
    return out, env


# --------------------------------------------------------------------------- replay


def replay(answers: am.Answers) -> list[tuple[Step, Field, Any]]:
    """What a user answers, step by step, to arrive at ``answers``.

    Drives the prompt front end headless and the Pilot tests: feeding these values to
    any front end and finishing gives the same answers back.
    """
    raw = initial_raw(answers)
    out: list[tuple[Step, Field, Any]] = []
    for s in STEPS:
        for f in s.active_fields(raw):
            out.append((s, f, copy.deepcopy(get_value(raw, f.path) if not f.virtual else raw.get(f.path))))
    return out


def field_value(raw: Raw, f: Field) -> Any:
    return raw.get(f.path) if f.virtual else get_value(raw, f.path)


def set_field(raw: Raw, f: Field, value: Any) -> None:
    if f.virtual:
        raw[f.path] = value
    else:
        set_value(raw, f.path, value)


def new_record(f: Field) -> dict[str, Any]:
    """An empty record for a ``records`` field, with its item defaults."""
    if f.path == "host_aliases":
        return copy.deepcopy(_ALIAS_DEFAULTS)
    if f.path == "registries":
        return copy.deepcopy(_REGISTRY_DEFAULTS)
    return {item.path: copy.deepcopy(item.default) for item in f.item_fields}


__all__ = [
    "KINDS", "Field", "Step", "STEPS", "STEP_IDS", "FORM_STEP_IDS", "DEFAULTS", "step",
    "get_value", "set_value", "validate_field", "validate_step", "check_value", "parse_input",
    "format_value", "initial_raw", "prune", "provisional", "finalize", "replay", "is_reference",
    "secret_defaults", "secret_reference", "store_secret", "with_drafts", "token_source", "ca_mode",
    "find_field", "step_of", "field_value", "set_field", "new_record",
]
