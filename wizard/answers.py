"""The answers model (contract section 2): load, validate, save.

An answers file is YAML with ``version: 1``. Every error names the field path and
the fix. Secret values are never stored: a secret field holds a reference,
``env:NAME`` or ``file:PATH``, resolved only when the value is needed.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from . import logsafe, safeio
from .logsafe import looks_like_secret
from .safeio import printable
from . import validate as v
from .errors import BadInput, FieldError, SecretUnavailable
from .tls.names import fingerprint_error as _fingerprint_error
from .tls.names import normalize_fingerprint

_log = logging.getLogger("wizard.answers")

RUNNER_TYPES = ("instance_type", "group_type", "project_type")
JOB_API_ACCESS = ("none", "view")
MODES = ("helm", "external")
DOCKER_BUILDS = ("none", "dind", "host-socket")
SCHEMES = ("https", "http")
CREDENTIALS_VIA = ("pull-secret", "node", "both")
NODE_RUNTIMES = ("auto", "cri-o", "containerd")
ALIAS_TARGETS = ("manager", "jobs")
TOLERATION_OPERATORS = ("Equal", "Exists")
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute", "")


# --------------------------------------------------------------------------- secrets


@dataclass(frozen=True)
class SecretRef:
    """A reference to a secret: ``env:NAME`` or ``file:PATH``. Never the value."""

    kind: str  # "env" | "file"
    target: str
    base_dir: Path = field(default=Path("."), compare=False)
    value: str | None = field(default=None, compare=False, repr=False)
    """A value typed this session and held only in memory (never written, never in os.environ)."""

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"

    @classmethod
    def parse(cls, raw: object, path: str, base_dir: Path) -> SecretRef:
        if not isinstance(raw, str) or not raw:
            raise _Err(path, "must be a secret reference: env:NAME or file:PATH")
        kind, sep, target = raw.partition(":")
        if not sep or kind not in ("env", "file") or not target or looks_like_secret(target):
            # Never repeat the text: it may be the secret itself.
            raise _Err(
                path,
                "looks like a literal secret; answers files hold references only. Put the value "
                "in an environment variable and write env:NAME, or in a file (mode 0600) and "
                "write file:PATH",
            )
        bad = safeio.bad_char(target)
        if bad:
            raise _Err(path, f"the reference contains {bad}; write env:NAME or file:PATH on one line")
        if kind == "env" and v.env_name(target):
            raise _Err(path, "after env: comes the name of an environment variable (letters, digits and _, "
                             "not starting with a digit), e.g. env:RUNNER_TOKEN")
        if kind == "file" and len(target) > 4096:
            raise _Err(path, "the file path is longer than 4096 characters")
        return cls(kind, target, base_dir)

    @property
    def shown(self) -> str:
        """The reference as messages may show it: never a text that looks like the secret itself."""
        if any(looks_like_secret(part) for part in Path(self.target).parts) or looks_like_secret(self.target):
            return f"{self.kind}:(not shown: it looks like a secret)"
        return f"{self.kind}:{self.target}"

    def path(self) -> Path:
        p = Path(os.path.expanduser(self.target))
        return p if p.is_absolute() else self.base_dir / p

    def resolve(self, field_path: str = "secret") -> str:
        """Read the secret now (or return the value held in memory for it).

        Surrounding white space and a trailing newline are stripped. An empty value, a value
        of several lines or one with control characters raises :class:`SecretUnavailable`
        naming the field (never the value). Every value read is registered for redaction.
        """
        if self.value is not None:
            value = self.value.strip()
            where = "the value typed for it"
        elif self.kind == "env":
            raw = os.environ.get(self.target)
            if raw is None:
                raise SecretUnavailable(
                    [FieldError(field_path, f"environment variable {self.target} is not set; "
                                f"export {self.target}=... before running")])
            value = raw.strip()
            where = f"environment variable {self.target}"
        else:
            try:
                data = safeio.read_regular(self.path(), limit=safeio.SECRET_LIMIT, field=field_path,
                                           what="secret file", display=self._shown_path())
            except SecretUnavailable:
                raise
            except BadInput as exc:
                raise SecretUnavailable(exc.errors) from None
            try:
                value = data.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise SecretUnavailable([FieldError(field_path, f"{self._shown_path()} is not UTF-8 text (a binary "
                                                    "file?); put only the token or password in it")]) from None
            where = f"file {self._shown_path()}"
        logsafe.register_secret(value)
        if not value:
            raise SecretUnavailable([FieldError(field_path, f"{where} is empty; put the token or password there")])
        if "\n" in value or "\r" in value:
            raise SecretUnavailable([FieldError(field_path, f"{where} holds several lines; a token or password "
                                                "is one line: keep only the value")])
        bad = safeio.bad_char(value)
        if bad:
            raise SecretUnavailable([FieldError(field_path, f"{where} contains {bad.split(' at ')[0]}; "
                                                "keep only the token or password")])
        return value

    def _shown_path(self) -> str:
        shown = self.shown
        return str(self.path()) if shown.endswith(self.target) else shown

    def with_value(self, value: str) -> SecretRef:
        """The same reference, holding ``value`` in memory (typed, not stored yet)."""
        return SecretRef(self.kind, self.target, self.base_dir, value)

    def available(self) -> bool:
        if self.value is not None:
            return True
        if self.kind == "env":
            return self.target in os.environ
        return self.path().is_file()


# --------------------------------------------------------------------------- model


@dataclass
class GitLabCA:
    file: str | None = None
    fetch: bool = False
    fingerprint: str | None = None


@dataclass
class CreateRunner:
    api_token: SecretRef
    runner_type: str = "group_type"
    group_id: int | None = None
    project_id: int | None = None
    description: str = "k8s runner"
    tags: list[str] = field(default_factory=list)
    run_untagged: bool = True


@dataclass
class GitLab:
    url: str
    ca: GitLabCA | None = None
    token: SecretRef | None = None
    create_runner: CreateRunner | None = None
    registration_token: SecretRef | None = None
    clone_url: str | None = None

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


@dataclass
class Cluster:
    context: str | None = None
    runner_namespace: str = "ci-system"
    jobs_namespace: str = "ci-jobs"
    create_namespaces: bool = True
    manager_service_account: str = "gitlab-runner"
    job_service_account: str = "gitlab-runner-job"
    job_api_access: str = "none"
    mode: str = "helm"


@dataclass
class Resources:
    cpu_request: str = "250m"
    memory_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "1Gi"


@dataclass
class Toleration:
    key: str | None = None
    operator: str = "Equal"
    value: str | None = None
    effect: str = ""


@dataclass
class Runner:
    release_name: str = "gitlab-runner"
    chart_version: str = "0.86.0"
    name: str = "k8s-runner"
    replicas: int = 1
    concurrent: int = 10
    check_interval: int = 3
    job_image: str = "docker.io/library/alpine:3.22"
    helper_image: str | None = None
    privileged: bool = False
    docker_builds: str = "none"
    resources: Resources = field(default_factory=Resources)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[Toleration] = field(default_factory=list)
    environment: list[str] = field(default_factory=list)
    poll_timeout: int = 600
    metrics: bool = True


@dataclass
class HostAlias:
    ip: str
    hostnames: list[str]
    targets: list[str] = field(default_factory=lambda: ["manager", "jobs"])


@dataclass
class Registry:
    host: str
    scheme: str = "https"
    ca_file: str | None = None
    username: str | SecretRef | None = None
    password: SecretRef | None = None
    credentials_via: str = "pull-secret"

    @property
    def has_credentials(self) -> bool:
        return self.password is not None

    @property
    def needs_pull_secret(self) -> bool:
        return self.has_credentials and self.credentials_via in ("pull-secret", "both")

    @property
    def needs_node_credentials(self) -> bool:
        return self.has_credentials and self.credentials_via in ("node", "both")


@dataclass
class Answers:
    gitlab: GitLab
    cluster: Cluster = field(default_factory=Cluster)
    runner: Runner = field(default_factory=Runner)
    host_aliases: list[HostAlias] = field(default_factory=list)
    registries: list[Registry] = field(default_factory=list)
    node_runtime: str = "auto"
    version: int = 1
    base_dir: Path = field(default=Path("."), compare=False, repr=False)
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
        out: dict[str, SecretRef] = {}
        g = self.gitlab
        if g.token:
            out["gitlab.token"] = g.token
        if g.registration_token:
            out["gitlab.registration_token"] = g.registration_token
        if g.create_runner:
            out["gitlab.create_runner.api_token"] = g.create_runner.api_token
        for i, r in enumerate(self.registries):
            if isinstance(r.username, SecretRef):
                out[f"registries[{i}].username"] = r.username
            if r.password:
                out[f"registries[{i}].password"] = r.password
        return out


# --------------------------------------------------------------------------- parsing


class _Err(Exception):
    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.field_error = FieldError(path, message)


class _Parser:
    """Walks the raw YAML mapping, collecting every error instead of stopping at the first."""

    def __init__(self, base_dir: Path, check_files: bool):
        self.base_dir = base_dir
        self.check_files = check_files
        self.errors: list[FieldError] = []

    def err(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def mapping(self, raw: object, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, Mapping):
            self.err(path or "(top level)", f"must be a mapping, not {type(raw).__name__}")
            return {}
        for key in raw:
            if key not in allowed:
                name = printable(str(key), 60)
                near = difflib.get_close_matches(str(key)[:100], allowed, n=1)
                hint = f'; did you mean "{near[0]}"?' if near else f"; allowed keys: {', '.join(allowed)}"
                self.err(_join(path, name), f"unknown key{hint}")
        return dict(raw)

    def get(self, m: dict[str, Any], key: str, path: str, kind: type | tuple[type, ...], default: Any,
            check: Callable[[Any], str | None] | None = None, nullable: bool = False) -> Any:
        p = _join(path, key)
        if key not in m or (m[key] is None and (nullable or default is None)):
            return default
        val = m[key]
        if val is None and not nullable:
            self.err(p, "must not be empty")
            return default
        if kind is int and isinstance(val, bool):
            self.err(p, f"must be a whole number, not {val!r}")
            return default
        if kind is str and isinstance(val, (int, float)) and not isinstance(val, bool):
            val = str(val)
        if not isinstance(val, kind):
            want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            names = {"str": "a string", "int": "a whole number", "bool": "true or false",
                     "list": "a list", "dict": "a mapping"}
            self.err(p, f"must be {names.get(want, want)}, not {printable(repr(val), 80)}")
            return default
        if isinstance(val, str) and self.text_error(p, val):
            return default
        if isinstance(val, (list, dict)) and len(val) > MAX_ITEMS:
            self.err(p, f"has {len(val)} entries; at most {MAX_ITEMS} are allowed")
            return default
        if check is not None:
            msg = check(val)
            if msg:
                self.err(p, msg)
                return default
        return val

    def text_error(self, path: str, val: str) -> bool:
        """Report a string value with characters that have no place in configuration."""
        bad = safeio.bad_char(val)
        if bad:
            self.err(path, f"contains {bad}; remove it (values are single lines of visible text)")
            return True
        if len(val) > MAX_STRING:
            self.err(path, f"is {len(val)} characters long; at most {MAX_STRING} are allowed")
            return True
        return False

    def choice(self, m: dict[str, Any], key: str, path: str, choices: tuple[str, ...], default: str) -> str:
        return self.get(m, key, path, str, default,
                        lambda x: None if x in choices else f'"{x}" is not one of: {" | ".join(choices) or "(empty)"}')

    def int_range(self, m: dict[str, Any], key: str, path: str, default: int, lo: int, hi: int,
                  why: str = "") -> int:
        return self.get(m, key, path, int, default,
                        lambda x: None if lo <= x <= hi else f"{x} is out of range; use {lo}..{hi}{why}")

    def secret(self, m: dict[str, Any], key: str, path: str) -> SecretRef | None:
        if m.get(key) is None:
            return None
        try:
            return SecretRef.parse(m[key], _join(path, key), self.base_dir)
        except _Err as e:
            self.errors.append(e.field_error)
            return None

    def file(self, m: dict[str, Any], key: str, path: str) -> str | None:
        val = self.get(m, key, path, str, None)
        if val is not None and self.check_files:
            full = Path(os.path.expanduser(val))
            full = full if full.is_absolute() else self.base_dir / full
            try:
                st = full.stat()
            except (OSError, ValueError):
                st = None
            if st is None or not full.is_file():
                what = "is not a regular file" if st is not None else "does not exist"
                self.err(_join(path, key), f'file "{val}" {what} (relative paths are read from '
                         f"the answers file's folder, {self.base_dir})")
            elif st.st_size > safeio.CA_LIMIT:
                self.err(_join(path, key), f'file "{val}" is {st.st_size} bytes; a PEM bundle has at most '
                         f"{safeio.CA_LIMIT} bytes. Is this the right file?")
        return val

    # ---- sections

    def parse(self, raw: object) -> Answers | None:
        top = self.mapping(raw, "", ("version", "gitlab", "cluster", "runner", "host_aliases",
                                     "registries", "node_runtime", "clusters"))  # clusters: wizard.fleet
        if not isinstance(raw, Mapping):
            return None
        version = top.get("version")
        if type(version) is not int or version != 1:
            self.err("version", "must be 1 (this runner-wizard reads answers file version 1), not "
                     f"{printable(repr(version), 40)}")
        gitlab = self.gitlab(top.get("gitlab"), "gitlab")
        cluster = self.cluster(top.get("cluster"), "cluster")
        runner = self.runner(top.get("runner"), "runner")
        aliases = self.host_aliases(top.get("host_aliases"), "host_aliases")
        registries = self.registries(top.get("registries"), "registries")
        node_runtime = self.choice(top, "node_runtime", "", NODE_RUNTIMES, "auto")
        if gitlab is None:
            return None
        answers = Answers(gitlab=gitlab, cluster=cluster, runner=runner, host_aliases=aliases,
                          registries=registries, node_runtime=node_runtime, base_dir=self.base_dir)
        self.cross_checks(answers)
        return answers

    def gitlab(self, raw: object, path: str) -> GitLab | None:
        if raw is None:
            self.err(path, "is required (at least gitlab.url and one token source)")
            return None
        m = self.mapping(raw, path, ("url", "ca", "token", "create_runner", "registration_token", "clone_url"))
        if "url" not in m:
            self.err(_join(path, "url"), "is required, e.g. https://gitlab.company.com/")
        url = self.get(m, "url", path, str, "", v.gitlab_url)
        ca = None
        if m.get("ca") is not None:
            cp = _join(path, "ca")
            cm = self.mapping(m["ca"], cp, ("file", "fetch", "fingerprint"))
            ca = GitLabCA(
                file=self.file(cm, "file", cp),
                fetch=self.get(cm, "fetch", cp, bool, False),
                fingerprint=self.get(cm, "fingerprint", cp, str, None, _fingerprint_error),
            )
            if ca.fingerprint:
                ca.fingerprint = normalize_fingerprint(ca.fingerprint)
            if not ca.file and not ca.fetch:
                self.err(cp, "set either file (a PEM bundle) or fetch: true with a fingerprint")
        token = self.secret(m, "token", path)
        reg = self.secret(m, "registration_token", path)
        create = None
        if m.get("create_runner") is not None:
            create = self.create_runner(m["create_runner"], _join(path, "create_runner"))
        present = [k for k in ("token", "create_runner", "registration_token") if m.get(k) is not None]
        if len(present) != 1:
            which = ", ".join(f"gitlab.{k}" for k in present) if present else "none"
            self.err(path, f"set exactly one of gitlab.token, gitlab.create_runner, gitlab.registration_token "
                     f"(found: {which}); a new install should use gitlab.token (glrt-...) or gitlab.create_runner")
        clone_url = self.get(m, "clone_url", path, str, None, v.http_url, nullable=True)
        return GitLab(url=url, ca=ca, token=token, create_runner=create,
                      registration_token=reg, clone_url=clone_url)

    def create_runner(self, raw: object, path: str) -> CreateRunner | None:
        m = self.mapping(raw, path, ("api_token", "runner_type", "group_id", "project_id", "description",
                                     "tags", "run_untagged"))
        api = self.secret(m, "api_token", path)
        if "api_token" not in m:
            self.err(_join(path, "api_token"), "is required: env:NAME or file:PATH of a token with the "
                     "create_runner scope")
        rt = self.choice(m, "runner_type", path, RUNNER_TYPES, "group_type")
        gid = self.get(m, "group_id", path, int, None, _positive)
        pid = self.get(m, "project_id", path, int, None, _positive)
        if rt == "group_type" and gid is None and "group_id" not in m:
            self.err(_join(path, "group_id"), "is required for runner_type group_type")
        if rt == "project_type" and pid is None and "project_id" not in m:
            self.err(_join(path, "project_id"), "is required for runner_type project_type")
        if rt == "instance_type" and (gid or pid):
            self.err(path, "an instance_type runner takes neither group_id nor project_id")
        if rt == "group_type" and pid:
            self.err(_join(path, "project_id"), "is only for runner_type project_type; remove it")
        if rt == "project_type" and gid:
            self.err(_join(path, "group_id"), "is only for runner_type group_type; remove it")
        tags = self.get(m, "tags", path, list, [])
        for i, t in enumerate(tags):
            if not isinstance(t, str) or not t.strip() or "," in t or t != t.strip():
                self.err(f"{path}.tags[{i}]", f"{printable(repr(t), 60)} is not a tag (a non-empty word "
                         "without commas or surrounding spaces)")
            else:
                self.text_error(f"{path}.tags[{i}]", t)
        return CreateRunner(
            api_token=api or SecretRef("env", "GITLAB_API_TOKEN"),
            runner_type=rt, group_id=gid, project_id=pid,
            description=self.get(m, "description", path, str, "k8s runner"),
            tags=[str(t) for t in tags],
            run_untagged=self.get(m, "run_untagged", path, bool, True),
        )

    def cluster(self, raw: object, path: str) -> Cluster:
        m = self.mapping(raw, path, tuple(f.name for f in fields(Cluster)))
        d = Cluster()
        return Cluster(
            context=self.get(m, "context", path, str, None, nullable=True),
            runner_namespace=self.get(m, "runner_namespace", path, str, d.runner_namespace,
                                      lambda x: v.dns_label(x, "namespace name")),
            jobs_namespace=self.get(m, "jobs_namespace", path, str, d.jobs_namespace,
                                    lambda x: v.dns_label(x, "namespace name")),
            create_namespaces=self.get(m, "create_namespaces", path, bool, True),
            manager_service_account=self.get(m, "manager_service_account", path, str, d.manager_service_account,
                                             lambda x: v.dns_subdomain(x, "ServiceAccount name")),
            job_service_account=self.get(m, "job_service_account", path, str, d.job_service_account,
                                         lambda x: v.dns_subdomain(x, "ServiceAccount name")),
            job_api_access=self.choice(m, "job_api_access", path, JOB_API_ACCESS, "none"),
            mode=self.choice(m, "mode", path, MODES, "helm"),
        )

    def runner(self, raw: object, path: str) -> Runner:
        m = self.mapping(raw, path, tuple(f.name for f in fields(Runner)))
        d = Runner()
        res = self.resources(m.get("resources"), _join(path, "resources"))
        ns = self.get(m, "node_selector", path, dict, {})
        for k, val in ns.items():
            kp = f"{path}.node_selector.{printable(str(k), 60)}"
            if v.label_key(str(k)):
                self.err(kp, v.label_key(str(k)) or "")
            elif not isinstance(val, (str, int, bool)) or v.label_value(val):
                self.err(kp, v.label_value(val) or f"{val!r} must be a string")
        tols = []
        for i, t in enumerate(self.get(m, "tolerations", path, list, [])):
            tol = self.toleration(t, f"{path}.tolerations[{i}]")
            if tol:
                tols.append(tol)
        env = self.get(m, "environment", path, list, [])
        for i, e in enumerate(env):
            msg = v.env_assignment(e)
            if msg:
                self.err(f"{path}.environment[{i}]", msg)
            else:
                self.text_error(f"{path}.environment[{i}]", e)
        helper = self.get(m, "helper_image", path, str, None, v.helper_image, nullable=True)
        return Runner(
            release_name=self.get(m, "release_name", path, str, d.release_name, _release_name),
            chart_version=self.get(m, "chart_version", path, str, d.chart_version, _chart_version),
            name=self.get(m, "name", path, str, d.name,
                          lambda x: None if x.strip() else "must not be empty"),
            replicas=self.int_range(m, "replicas", path, 1, 1, 50),
            concurrent=self.int_range(m, "concurrent", path, 10, 1, 1000,
                                      " (0 is not allowed: the runner exits on concurrent = 0)"),
            check_interval=self.int_range(m, "check_interval", path, 3, 1, 3600),
            job_image=self.get(m, "job_image", path, str, d.job_image, v.image_ref),
            helper_image=helper,
            privileged=self.get(m, "privileged", path, bool, False),
            docker_builds=self.choice(m, "docker_builds", path, DOCKER_BUILDS, "none"),
            resources=res,
            node_selector={str(k): str(x).lower() if isinstance(x, bool) else str(x) for k, x in ns.items()},
            tolerations=tols,
            environment=[str(e) for e in env],
            poll_timeout=self.int_range(m, "poll_timeout", path, 600, 1, 86400),
            metrics=self.get(m, "metrics", path, bool, True),
        )

    def resources(self, raw: object, path: str) -> Resources:
        m = self.mapping(raw, path, tuple(f.name for f in fields(Resources)))
        d = Resources()
        vals = {}
        for f in fields(Resources):
            vals[f.name] = self.get(m, f.name, path, str, getattr(d, f.name), v.quantity)
        r = Resources(**vals)
        for kind in ("cpu", "memory"):
            req, lim = getattr(r, f"{kind}_request"), getattr(r, f"{kind}_limit")
            try:
                if v.parse_quantity(req) > v.parse_quantity(lim):
                    self.err(f"{path}.{kind}_request",
                             f"{req} is more than {kind}_limit {lim}; a request cannot exceed its limit")
            except ValueError:
                pass
        return r

    def toleration(self, raw: object, path: str) -> Toleration | None:
        m = self.mapping(raw, path, ("key", "operator", "value", "effect"))
        if not m:
            return None
        key = self.get(m, "key", path, str, None, v.label_key, nullable=True)
        op = self.choice(m, "operator", path, TOLERATION_OPERATORS, "Equal")
        val = self.get(m, "value", path, str, None, nullable=True)
        eff = self.choice(m, "effect", path, TOLERATION_EFFECTS, "")
        if op == "Exists" and val:
            self.err(f"{path}.value", 'must be empty when operator is "Exists"')
        if op == "Equal" and not key:
            self.err(f"{path}.key", 'is required when operator is "Equal"')
        return Toleration(key=key, operator=op, value=val, effect=eff)

    def host_aliases(self, raw: object, path: str) -> list[HostAlias]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.err(path, "must be a list of {ip, hostnames, targets}")
            return []
        if len(raw) > MAX_ITEMS:
            self.err(path, f"has {len(raw)} entries; at most {MAX_ITEMS} are allowed")
            return []
        out = []
        for i, item in enumerate(raw):
            p = f"{path}[{i}]"
            m = self.mapping(item, p, ("ip", "hostnames", "targets"))
            if "ip" not in m:
                self.err(f"{p}.ip", "is required")
            ip = self.get(m, "ip", p, str, "", v.ip_address)
            names = self.get(m, "hostnames", p, list, [])
            if not names:
                self.err(f"{p}.hostnames", "needs at least one host name")
            for j, h in enumerate(names):
                msg = v.hostname(h) if isinstance(h, str) else f"{printable(repr(h), 60)} is not a host name"
                if msg:
                    self.err(f"{p}.hostnames[{j}]", msg)
            targets = self.get(m, "targets", p, list, ["manager", "jobs"])
            if not targets:
                self.err(f"{p}.targets", "needs manager, jobs or both")
            for j, t in enumerate(targets):
                if not isinstance(t, str) or t not in ALIAS_TARGETS:
                    self.err(f"{p}.targets[{j}]", f'{printable(repr(t), 60)} is not one of: manager | jobs')
            if len(set(map(str, targets))) != len(targets):
                self.err(f"{p}.targets", "lists a target twice")
            out.append(HostAlias(ip=ip, hostnames=[str(h) for h in names], targets=[str(t) for t in targets]))
        return out

    def registries(self, raw: object, path: str) -> list[Registry]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.err(path, "must be a list of registries")
            return []
        if len(raw) > MAX_ITEMS:
            self.err(path, f"has {len(raw)} entries; at most {MAX_ITEMS} are allowed")
            return []
        out = []
        seen: set[str] = set()
        for i, item in enumerate(raw):
            p = f"{path}[{i}]"
            m = self.mapping(item, p, ("host", "scheme", "ca_file", "username", "password", "credentials_via"))
            if "host" not in m:
                self.err(f"{p}.host", "is required, e.g. registry.company.com:5000")
            host = self.get(m, "host", p, str, "", v.registry_host)
            key = v.registry_key(host) if host else ""
            if key and key in seen:
                self.err(f"{p}.host", f'"{host}" is listed twice (host names ignore case); merge the two entries')
            seen.add(key)
            scheme = self.choice(m, "scheme", p, SCHEMES, "https")
            ca_file = self.file(m, "ca_file", p)
            if scheme == "http" and ca_file:
                self.err(f"{p}.ca_file", "a plain-http registry has no certificate; remove ca_file or use https")
            user_raw = m.get("username")
            username: str | SecretRef | None = None
            if isinstance(user_raw, str) and user_raw.startswith(("env:", "file:")):
                username = self.secret(m, "username", p)
            elif user_raw is not None:
                username = self.get(m, "username", p, str, None, _username)
            password = self.secret(m, "password", p)
            if (username is None) != (password is None):
                self.err(p, "set both username and password, or neither")
            via = self.choice(m, "credentials_via", p, CREDENTIALS_VIA, "pull-secret")
            out.append(Registry(host=host, scheme=scheme, ca_file=ca_file, username=username,
                                password=password, credentials_via=via))
        return out

    def cross_checks(self, a: Answers) -> None:
        r, c = a.runner, a.cluster
        where: dict[tuple[str, str], tuple[int, str]] = {}
        for i, h in enumerate(a.host_aliases):
            for j, name in enumerate(h.hostnames):
                for target in h.targets:
                    k = (target, name.lower().rstrip("."))
                    if k in where and where[k][1] != h.ip:
                        first, ip = where[k]
                        where[k] = (first, h.ip)  # one message per host name
                        self.err(f"host_aliases[{i}].hostnames[{j}]",
                                 f'"{name}" is already mapped to {ip} by host_aliases[{first}] for {target}; '
                                 "a host name can have one address: remove one of the entries")
                    where.setdefault(k, (i, h.ip))
        if r.docker_builds == "host-socket" and r.privileged:
            self.err("runner.privileged", "host-socket builds use the node's Docker socket and need no "
                     "privileged pods; set privileged: false (or use docker_builds: dind)")
        if r.docker_builds == "host-socket" and a.node_runtime in ("cri-o", "containerd"):
            self.err("runner.docker_builds", f'"host-socket" needs Docker on the nodes, but node_runtime is '
                     f"{a.node_runtime}; use dind, or a daemonless builder such as buildah or kaniko")
        if c.mode == "external" and r.replicas != 1:
            self.err("runner.replicas", "applies only to mode: helm; an external manager is one process")


MAX_STRING = 4096
"""Longest string value accepted anywhere in an answers file."""
MAX_ITEMS = 100
"""Most entries in any list or mapping (registries, host aliases, host names, tags...)."""


def _username(x: str) -> str | None:
    if not x.strip() or ":" in x or x != x.strip():
        return "a registry user name is one word without \":\" or surrounding spaces"
    return None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


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


# --------------------------------------------------------------------------- public API


def parse(raw: object, *, base_dir: Path | str = ".", source: str | None = None,
          check_files: bool = True) -> Answers:
    """Validate a raw mapping into :class:`Answers`; raise :class:`BadInput` listing every error."""
    p = _Parser(Path(base_dir), check_files)
    answers = p.parse(raw)
    if p.errors or answers is None:
        raise BadInput(p.errors or [FieldError("(top level)", "empty answers file")], source)
    return answers


MAX_DEPTH = 16
"""Deepest nesting an answers file needs is 5 (runner.tolerations[0].key); 16 is generous."""
MAX_NODES = 50000


class _YamlProblem(Exception):
    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


def _base_loader() -> type:
    """SafeLoader's parts with libyaml's scanner and parser (C) when PyYAML has them: the events
    come from C, the nodes are still composed here (so the checks below see every node), then
    constructed safely. Without libyaml: the pure-Python SafeLoader."""
    import yaml

    try:
        from yaml._yaml import CParser
    except ImportError:
        return yaml.SafeLoader
    from yaml.composer import Composer
    from yaml.constructor import SafeConstructor
    from yaml.resolver import Resolver

    class CEventsSafeLoader(Composer, CParser, SafeConstructor, Resolver):  # Composer first: Python nodes
        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            Composer.__init__(self)

    return CEventsSafeLoader


_LOADER: type | None = None


def _loader_class() -> type:
    global _LOADER
    if _LOADER is None:
        _LOADER = _make_loader_class()
    return _LOADER


def _make_loader_class() -> type:
    from yaml.events import AliasEvent
    from yaml.nodes import MappingNode, ScalarNode

    class AnswersLoader(_base_loader()):  # type: ignore[misc]
        """SafeLoader without anchors and aliases (no alias bombs), without duplicate keys
        (a second ``token:`` must not hide the first), with bounded depth and size."""

        def __init__(self, stream: str):
            super().__init__(stream)
            self._path: list[str] = []
            self._nodes = 0

        def _where(self) -> str:
            out = ""
            for part in self._path:
                out = f"{out}{part}" if part.startswith("[") else _join(out, part)
            return out or "(top level)"

        def compose_node(self, parent, index):  # noqa: ANN001, ANN201
            ev = self.peek_event()
            if isinstance(index, ScalarNode):
                part = printable(str(index.value), 60)
            elif isinstance(index, int):
                part = f"[{index}]"
            else:
                part = None
            if part is not None:
                self._path.append(part)
            if isinstance(ev, AliasEvent) or getattr(ev, "anchor", None):
                line = ev.start_mark.line + 1 if ev.start_mark else 0
                raise _YamlProblem(self._where(), f"uses a YAML anchor or alias (&name / *name) at line {line}; "
                                                  "answers files do not allow them: write the value out")
            self._nodes += 1
            if self._nodes > MAX_NODES:
                raise _YamlProblem(self._where(), f"the file has more than {MAX_NODES} values; "
                                                  "is this an answers file?")
            if len(self._path) > MAX_DEPTH:
                raise _YamlProblem(self._where(), f"is nested more than {MAX_DEPTH} levels deep; "
                                                  "an answers file needs at most 5")
            try:
                return super().compose_node(parent, index)
            finally:
                if part is not None:
                    self._path.pop()

        def compose_mapping_node(self, anchor):  # noqa: ANN001, ANN201
            node = super().compose_mapping_node(anchor)
            seen: dict[str, int] = {}
            for key, _ in node.value:
                if isinstance(key, ScalarNode):
                    line = key.start_mark.line + 1
                    if key.value in seen:
                        here = self._where()
                        path = _join("" if here == "(top level)" else here, printable(str(key.value), 60))
                        raise _YamlProblem(path, f"appears twice (lines {seen[key.value]} and {line}); "
                                                 "keep only one")
                    seen[key.value] = line
                elif isinstance(key, MappingNode) or not isinstance(key, ScalarNode):
                    raise _YamlProblem(self._where(), f"has a key that is not a plain name at line "
                                                      f"{key.start_mark.line + 1}")
            return node

    return AnswersLoader


def loads(text: str, *, source: str = "answers") -> object:
    """Parse answers YAML text with :func:`_loader_class`; BadInput naming the field or line."""
    import yaml

    loader = None
    try:
        loader = _loader_class()(text)  # the reader already rejects some characters
        return loader.get_single_data()
    except _YamlProblem as exc:
        raise BadInput([FieldError(exc.path, exc.message)], source) from None
    except RecursionError:
        raise BadInput([FieldError("(yaml)", f"is nested too deeply; an answers file needs at most "
                                             f"{MAX_DEPTH} levels")], source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = printable(str(getattr(exc, "problem", None) or exc), 200)
        raise BadInput([FieldError("(yaml)", f"not valid YAML{where}: {problem}")], source) from None
    finally:
        if loader is not None:
            loader.dispose()


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


def register_secrets(answers: Answers) -> None:
    """Read every secret reference that can be read now, only to register the values for
    redaction (so no output shows them, even where they come back from a cluster or log).
    Missing or unreadable secrets are ignored here; the command that needs one reports it."""
    refs = answers.secret_refs()
    values: dict[str, str] = {}
    for path, ref in refs.items():
        try:
            values[path] = ref.resolve(path)
        except BadInput as exc:
            _log.info("secret %s (%s): not readable now: %s", path, ref.shown, exc.render())
            continue
        _log.info("secret %s (%s): read (%d characters)", path, ref.shown, len(values[path]))
    for i, reg in enumerate(answers.registries):
        pw = values.get(f"registries[{i}].password")
        if pw is None:
            continue
        user = values.get(f"registries[{i}].username") if isinstance(reg.username, SecretRef) else reg.username
        logsafe.register_secret(pw, user=user or "")


def with_secret_values(a: Answers, values: Mapping[str, str]) -> Answers:
    """A copy of ``a`` whose secret references at the given field paths hold these values in
    memory (secrets typed in the wizard, not stored yet). Nothing goes into ``os.environ``."""
    import copy

    out = copy.deepcopy(a)
    g = out.gitlab
    for path, value in values.items():
        if path == "gitlab.token" and g.token is not None:
            g.token = g.token.with_value(value)
        elif path == "gitlab.registration_token" and g.registration_token is not None:
            g.registration_token = g.registration_token.with_value(value)
        elif path == "gitlab.create_runner.api_token" and g.create_runner is not None:
            g.create_runner.api_token = g.create_runner.api_token.with_value(value)
        elif path.startswith("registries["):
            idx, _, key = path[len("registries["):].partition("].")
            try:
                reg = out.registries[int(idx)]
            except (ValueError, IndexError):
                continue
            if key == "password" and reg.password is not None:
                reg.password = reg.password.with_value(value)
            elif key == "username" and isinstance(reg.username, SecretRef):
                reg.username = reg.username.with_value(value)
    return out


def to_dict(a: Answers) -> dict[str, Any]:
    """Canonical, complete mapping of the answers (secrets as references)."""
    g = a.gitlab
    gitlab: dict[str, Any] = {"url": g.url}
    if g.ca:
        ca: dict[str, Any] = {}
        if g.ca.file:
            ca["file"] = g.ca.file
        if g.ca.fetch:
            ca["fetch"] = True
        if g.ca.fingerprint:
            ca["fingerprint"] = g.ca.fingerprint
        gitlab["ca"] = ca
    if g.token:
        gitlab["token"] = str(g.token)
    if g.create_runner:
        cr = g.create_runner
        crd: dict[str, Any] = {"api_token": str(cr.api_token), "runner_type": cr.runner_type}
        if cr.group_id is not None:
            crd["group_id"] = cr.group_id
        if cr.project_id is not None:
            crd["project_id"] = cr.project_id
        crd.update(description=cr.description, tags=list(cr.tags), run_untagged=cr.run_untagged)
        gitlab["create_runner"] = crd
    if g.registration_token:
        gitlab["registration_token"] = str(g.registration_token)
    gitlab["clone_url"] = g.clone_url
    c, r = a.cluster, a.runner
    runner = {f.name: getattr(r, f.name) for f in fields(Runner)}
    runner["resources"] = {f.name: getattr(r.resources, f.name) for f in fields(Resources)}
    runner["node_selector"] = dict(r.node_selector)
    runner["tolerations"] = [{k: val for k, val in vars(t).items() if val not in (None, "") or k == "operator"}
                             for t in r.tolerations]
    runner["environment"] = list(r.environment)
    return {
        "version": 1,
        "gitlab": gitlab,
        "cluster": {f.name: getattr(c, f.name) for f in fields(Cluster)},
        "runner": runner,
        "host_aliases": [{"ip": h.ip, "hostnames": list(h.hostnames), "targets": list(h.targets)}
                         for h in a.host_aliases],
        "registries": [
            {"host": reg.host, "scheme": reg.scheme, "ca_file": reg.ca_file,
             "username": str(reg.username) if reg.username is not None else None,
             "password": str(reg.password) if reg.password is not None else None,
             "credentials_via": reg.credentials_via}
            for reg in a.registries
        ],
        "node_runtime": a.node_runtime,
    }


HEADER = ("# runner-wizard answers file (version 1). Secrets are references only:\n"
          "# env:NAME reads an environment variable, file:PATH reads a file.\n"
          "# Replay with: runner-wizard apply --answers THIS_FILE\n")


def dumps(a: Answers) -> str:
    import yaml

    return HEADER + yaml.safe_dump(to_dict(a), sort_keys=False, default_flow_style=False,
                                   allow_unicode=True, width=100)


def save(a: Answers, path: str | os.PathLike[str]) -> Path:
    """Write the answers file atomically. Returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(dumps(a), encoding="utf-8")
    os.replace(tmp, p)
    _log.info("wrote answers file %s", p)
    return p

