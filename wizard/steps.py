"""The wizard's steps: the one definition behind the full-screen wizard, the line
prompts and headless replay.

A step has an id (shared with the check engine and the screens), a title, a short help
text that says what goes wrong without it, and the paths of its fields. Everything about
a field (label, how it is asked, its default, its check, when it applies) comes from the
answers model (:mod:`wizard.answers`, described with :mod:`wizard.schema`): a
:class:`Field` here is the front ends' view of it.

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
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import answers as am
from . import schema as sc
from . import validate as v
from .schema import get_value, set_value
from .secretstore import (SECRET_STORAGE, draft_env_name, is_reference, secret_defaults, secret_reference,
                          store_secret, with_drafts)

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

TOKEN_SOURCES: tuple[str, ...] = am.TOKEN_SOURCE.choices
TOKEN_SOURCE_LABELS: dict[str, str] = dict(am.TOKEN_SOURCE.labels)
CA_MODES: tuple[str, ...] = am.CA_MODE.choices
CA_MODE_LABELS: dict[str, str] = dict(am.CA_MODE.labels)
VIRTUAL_KEYS: tuple[str, ...] = tuple(sc.VIRTUALS)


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Field:
    """One question: the front ends' view of an answers field (see :func:`model_field`)."""

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
    short: str = ""
    """The name in the step bar, when the title is too long for it."""

    @property
    def short_title(self) -> str:
        return self.short or self.title

    def active_fields(self, raw: Raw) -> list[Field]:
        return [f for f in self.fields if f.active(raw)]

    def field(self, path: str) -> Field:
        for f in self.fields:
            if f.path == path:
                return f
        raise KeyError(path)


# --------------------------------------------------------------------------- fields from the model


def _kind(info: sc.Info) -> str:
    mt = info.meta
    if mt.ask:
        return mt.ask
    if mt.secret is not None or hasattr(info.base, "from_answer"):
        return "secret-ref"
    if info.origin is list:
        return "records" if info.record else ("multichoice" if info.choices else "list")
    if info.origin is dict:
        return "mapping"
    if info.choices:
        return "choice"
    return {bool: "bool", int: "int"}.get(info.base, "text")


def _validator(info: sc.Info) -> Validator | None:
    mt, kind = info.meta, _kind(info)
    if mt.secret is not None:
        return secret_input(mt.secret.what, mt.secret.prefix, dict(mt.secret.wrong))
    if kind in ("list", "multichoice") and (mt.each or mt.min_items):
        def items(xs: Any) -> str | None:
            if not xs and mt.min_items:
                return mt.min_items
            return next((msg for x in xs or [] if mt.each and (msg := mt.each(x))), None)
        return items
    if kind == "int" and (mt.range or mt.check):
        lo, hi = mt.range or (None, None)
        def number(x: Any) -> str | None:
            try:
                n = int(str(x).strip())
            except (TypeError, ValueError):
                return f'"{x}" is not a whole number'
            if lo is not None and not lo <= n <= hi:
                return f"{n} is out of range; use {lo}..{hi}{mt.why}"
            return mt.check(n) if mt.check else None
        return number
    if kind == "text" and mt.check:
        check = mt.check
        return lambda x: check("" if x is None else str(x))
    if kind == "mapping":
        return mt.check
    return None


def _optional(info: sc.Info) -> bool:
    if info.meta.optional is not None:
        return info.meta.optional
    return info.nullable or (info.has_default and info.default() in ([], {}))


def _conditions(path: str) -> Condition | None:
    """A field applies when its own condition and those of the sections around it hold."""
    conds: list[Condition] = []
    for i in range(len(sc.parts(path))):
        up = ".".join(str(x) for x in sc.parts(path)[: i + 1])
        w = sc.lookup(am.Answers, up).meta.when
        if w is not None:
            conds.append(w)
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else (lambda raw: all(c(raw) for c in conds))


def _from_model(info: sc.Info, path: str, when: Condition | None, default: Any) -> Field:
    mt = info.meta
    items: tuple[Field, ...] = ()
    if info.record is not None and info.origin is list:
        rec = sc.defaults(info.record)
        items = tuple(_from_model(i, i.name, i.meta.when, rec[i.name]) for i in sc.infos(info.record))
    return Field(path, mt.label, _kind(info), help=mt.help, choices=info.choices, choice_labels=dict(mt.labels),
                 default=copy.deepcopy(default), validator=_validator(info), when=when,
                 optional=_optional(info), placeholder=mt.placeholder, item_fields=items,
                 dynamic_choices=mt.dynamic)


def model_field(path: str) -> Field:
    """The front ends' field for an answers path (or a choice not stored in the file)."""
    if path in sc.VIRTUALS:
        c = sc.VIRTUALS[path]
        return Field(path, c.label, "choice", choices=c.choices, choice_labels=dict(c.labels), default=c.default)
    return _from_model(sc.lookup(am.Answers, path), path, _conditions(path), get_value(DEFAULTS, path))


def _fields(*paths: str) -> tuple[Field, ...]:
    return tuple(model_field(p) for p in paths)


# --------------------------------------------------------------------------- defaults

DEFAULTS: Raw = sc.defaults(am.Answers)
"""The answers mapping a fresh install starts from (the model's defaults)."""


# --------------------------------------------------------------------------- raw mapping helpers


def token_source(raw: Raw) -> str:
    return am.TOKEN_SOURCE.value(raw)


def ca_mode(raw: Raw) -> str:
    return am.CA_MODE.value(raw)


def _merge(base: Raw, given: Raw) -> None:
    for key, val in given.items():
        if isinstance(val, dict) and isinstance(base.get(key), dict):
            _merge(base[key], val)
        else:
            base[key] = copy.deepcopy(val)


def initial_raw(answers: am.Answers | None = None) -> Raw:
    """The working mapping for a run: defaults, overlaid with an answers file when given."""
    raw = copy.deepcopy(DEFAULTS)
    if answers is not None:
        _merge(raw, am.to_dict(answers))
    raw["_token_source"] = token_source(raw)
    raw["_ca_mode"] = ca_mode(raw)
    return raw


# --------------------------------------------------------------------------- validators of typed text


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


# --------------------------------------------------------------------------- the steps

STEPS: tuple[Step, ...] = (
    Step(
        "cluster", "Cluster",
        "Pick the Kubernetes cluster the runner goes to. The wizard talks to it with your "
        "kubeconfig, exactly as kubectl would, and checks that you may create what the runner "
        "needs. A runner whose manager cannot reach the API server fails every job with "
        "'no configuration has been provided' or an x509 error.",
        _fields("cluster.context", "cluster.mode", "node_runtime"),
        checks=("cluster",),
    ),
    Step(
        "gitlab", "GitLab URL",
        "The runner manager and every job's helper talk to this URL. With a private CA the "
        "manager fails with 'x509: certificate signed by unknown authority' until it is given "
        "the CA, named after the host (<host>.crt), in both namespaces. The wizard shows the "
        "certificate GitLab presents so you can trust it knowingly.",
        _fields("gitlab.url", "_ca_mode", "gitlab.ca.fingerprint", "gitlab.ca.file", "gitlab.clone_url"),
        checks=("gitlab",), short="GitLab",
    ),
    Step(
        "token", "Runner token",
        "The runner authenticates with a runner authentication token (glrt-...). Creating "
        "the runner in GitLab first and using its token is the current way; the old "
        "registration token still works but is deprecated, ignores several settings and "
        "leaves a runner that keeps a stale token after re-registration, answering 403 "
        "Forbidden.",
        _fields("_token_source", "gitlab.token", "gitlab.create_runner.api_token",
                "gitlab.create_runner.runner_type", "gitlab.create_runner.group_id",
                "gitlab.create_runner.project_id", "gitlab.create_runner.description",
                "gitlab.create_runner.tags", "gitlab.create_runner.run_untagged", "gitlab.registration_token"),
        checks=("token",), short="Token",
    ),
    Step(
        "namespaces", "Namespaces and accounts",
        "The manager lives in one namespace and starts job pods in another. Without a Role in "
        "the jobs namespace it fails with 'secrets is forbidden' or 'pods/attach is forbidden'; "
        "without the job ServiceAccount, pods are never created; and a CA Secret that exists in "
        "only one namespace breaks jobs with 'secret not found'. The wizard creates all of it.",
        _fields("cluster.runner_namespace", "cluster.jobs_namespace", "cluster.create_namespaces",
                "cluster.manager_service_account", "cluster.job_service_account", "cluster.job_api_access"),
        checks=("namespaces",), short="Namespaces",
    ),
    Step(
        "host_aliases", "Host aliases",
        "When GitLab's name only resolves on your workstation or in an internal DNS the pods "
        "do not use, the manager registers fine from one place but jobs fail to fetch the "
        "repository ('Could not resolve host'). A host alias writes the name into /etc/hosts "
        "of the manager, the job pods, or both.",
        _fields("host_aliases"),
        checks=("host_aliases",), short="Aliases",
    ),
    Step(
        "registries", "Private registries",
        "Job images from a private registry need trust and credentials on the nodes, not only "
        "in the runner: without them pulls fail with 'x509' or 'unauthorized', and a plain-http "
        "registry must be declared insecure to CRI-O or containerd. The wizard writes the "
        "pull secret and the node drop-ins for you.",
        _fields("registries"),
        checks=("registries",), short="Registries",
    ),
    Step(
        "runner", "Runner options",
        "These become the Helm values and config.toml. Concurrency 0 makes the runner exit; a "
        "helper image that is not pinned to the runner version breaks air-gapped installs; "
        "privileged pods are only needed for Docker-in-Docker builds and widen what a job can "
        "do to the node.",
        _fields("runner.release_name", "runner.chart_version", "runner.name", "runner.replicas",
                "runner.concurrent", "runner.check_interval", "runner.job_image", "runner.helper_image",
                "runner.docker_builds", "runner.privileged", "runner.resources.cpu_request",
                "runner.resources.memory_request", "runner.resources.cpu_limit", "runner.resources.memory_limit",
                "runner.node_selector", "runner.environment", "runner.poll_timeout", "runner.metrics"),
        checks=("runner",), short="Runner",
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
        if f.validator is not None and f.kind != "int":
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
    """The answers mapping without UI-only keys and without the fields that do not apply
    (their ``when`` conditions, evaluated; see :func:`wizard.schema.prune`)."""
    return sc.prune(am.Answers, copy.deepcopy(raw))


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
    return {item.path: copy.deepcopy(item.default) for item in f.item_fields}


__all__ = [
    "KINDS", "Field", "Step", "STEPS", "STEP_IDS", "FORM_STEP_IDS", "DEFAULTS", "step",
    "get_value", "set_value", "validate_field", "validate_step", "check_value", "parse_input",
    "format_value", "initial_raw", "prune", "provisional", "finalize", "replay", "is_reference",
    "secret_defaults", "secret_reference", "store_secret", "with_drafts", "token_source", "ca_mode",
    "find_field", "step_of", "field_value", "set_field", "new_record", "model_field", "SECRET_STORAGE",
    "draft_env_name",
]
