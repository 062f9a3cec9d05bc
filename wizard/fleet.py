"""One answers file for many clusters: the ``clusters:`` section.

An answers file may carry, next to its usual sections, a list of clusters::

    clusters:
      - context: prod-eu
        cluster: {runner_namespace: ci-eu}
        host_aliases: [{ip: 10.1.0.5, hostnames: [gitlab.company.com]}]
      - context: prod-us
        node_runtime: cri-o
        registries: [{host: registry.us.company.com, ca_file: us-ca.pem}]

Everything outside ``clusters`` is the *base*. Each entry names a kubeconfig context and may
override any section of the base (``gitlab``, ``cluster``, ``runner``, ``host_aliases``,
``registries``, ``node_runtime``): mappings are merged key by key, lists and values replace the
base's. The merged mapping then goes through the one answers parser
(:func:`wizard.answers.parse`), so every rule and message is the same as for a single cluster;
a problem in a value that came from an entry is named by the entry's path
(``clusters[1].cluster.jobs_namespace``). Secrets stay references (``env:`` / ``file:``) here too.

This module only reads: it yields one :class:`~wizard.answers.Answers` per context. Running
commands on several clusters is :mod:`wizard.fleet_cli`'s job.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .answers import Answers, loads, parse, register_secrets
from .errors import BadInput, FieldError
from .text import printable

OVERRIDABLE = ("gitlab", "cluster", "runner", "host_aliases", "registries", "node_runtime")
"""Top-level sections a ``clusters[]`` entry may override."""
MAX_CLUSTERS = 100

@dataclass
class Member:
    """One cluster of the fleet: its context and its answers, or why they are bad."""

    index: int | None
    """Position in ``clusters`` (None: a context given on the command line, no section)."""
    context: str
    answers: Answers | None = None
    error: BadInput | None = None


@dataclass
class Fleet:
    base: dict[str, Any]
    """The answers mapping without ``clusters``."""
    entries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(context, overrides) in file order."""
    base_dir: Path = Path(".")
    source: str | None = None

    @property
    def contexts(self) -> list[str]:
        return [c for c, _ in self.entries]

    def index(self, context: str) -> int | None:
        for i, (c, _) in enumerate(self.entries):
            if c == context:
                return i
        return None

    def merged(self, i: int) -> dict[str, Any]:
        """The base with entry ``i``'s overrides merged in and ``cluster.context`` set to its context."""
        context, overrides = self.entries[i]
        doc = merge(self.base, overrides)
        cl = doc.get("cluster")
        doc["cluster"] = {**(cl if isinstance(cl, Mapping) else {}), "context": context}
        return doc

    def member(self, i: int, *, check_files: bool = True) -> Member:
        """Entry ``i`` parsed like a single-cluster answers file; errors in overridden values are
        renamed ``clusters[i].…``."""
        context, overrides = self.entries[i]
        try:
            answers = parse(self.merged(i), base_dir=self.base_dir, source=self.source, check_files=check_files)
        except BadInput as exc:
            leaves = set(_leaf_paths(overrides))
            # cluster.context is the entry's own context (an entry may not set it otherwise)
            errors = [FieldError(f"clusters[{i}].context" if e.path == "cluster.context" else _rename(e.path, leaves, i),
                                 e.message) for e in exc.errors]
            return Member(i, context, error=BadInput(errors, f"{self.source or 'answers'} (context {context})"))
        return Member(i, context, answers=answers)

    def members(self, contexts: Iterable[str] | None = None, *, check_files: bool = True) -> list[Member]:
        """The members for ``contexts`` (default: all, in file order). Raises BadInput when an
        error is in the base (every member has it): that is bad input for the whole run."""
        wanted = list(self.contexts if contexts is None else contexts)
        missing = [c for c in wanted if self.index(c) is None]
        if missing:
            raise BadInput([FieldError("--context", f'"{printable(c, 100)}" is not in clusters; the answers '
                                                    f"have: {', '.join(self.contexts)} (or use --all-contexts)")
                            for c in missing], self.source)
        out = [self.member(self.index(c), check_files=check_files) for c in wanted]  # type: ignore[arg-type]
        shared = _shared_errors([m.error for m in out])
        if shared:
            raise BadInput(shared, self.source)
        for m in out:
            if m.answers is not None:
                register_secrets(m.answers)
        return out


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` deep-merged onto a copy of ``base``: mappings key by key, anything else replaced."""
    out = copy.deepcopy(dict(base))
    for key, val in over.items():
        if isinstance(val, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], val)
        else:
            out[key] = copy.deepcopy(val)
    return out


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _leaf_paths(m: Mapping[str, Any], path: str = "") -> Iterable[str]:
    """Paths (as the answers parser names them) of every value an entry sets; lists are leaves."""
    for key, val in m.items():
        p = _join(path, printable(str(key), 60))
        if isinstance(val, Mapping) and val:
            yield from _leaf_paths(val, p)
        else:
            yield p


def _rename(path: str, leaves: set[str], i: int) -> str:
    """``path`` → ``clusters[i].path`` when the value there (or a list or mapping holding it) came
    from entry ``i``."""
    probe = path
    while probe:
        if probe in leaves:
            return f"clusters[{i}].{path}"
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return path


def _shared_errors(errors: list[BadInput | None]) -> list[FieldError]:
    """The errors every member has with the same (un-renamed) path: mistakes in the base."""
    if not errors or any(e is None for e in errors):
        return []
    sets = [{(f.path, f.message) for f in e.errors if not f.path.startswith("clusters[")}
            for e in errors if e is not None]
    common = set.intersection(*sets)
    first = errors[0]
    assert first is not None
    return [f for f in first.errors if (f.path, f.message) in common]


def _fail(path: str, message: str, source: str | None) -> BadInput:
    return BadInput([FieldError(path, message)], source)


def from_raw(raw: object, *, base_dir: Path | str = ".", source: str | None = None) -> Fleet | None:
    """The fleet of a raw answers mapping; None when it has no ``clusters`` key. Problems of the
    section itself (not a list, an entry without a context, a context twice, a section that
    cannot be overridden) are bad input for the whole file."""
    if not isinstance(raw, Mapping) or "clusters" not in raw:
        return None
    base = {k: v for k, v in raw.items() if k != "clusters"}
    items = raw["clusters"]
    errors: list[FieldError] = []
    if not isinstance(items, list) or not items:
        raise _fail("clusters", "must be a list of clusters, each with a context, e.g. "
                                "[{context: prod-eu}, {context: prod-us}]", source)
    if len(items) > MAX_CLUSTERS:
        raise _fail("clusters", f"has {len(items)} entries; at most {MAX_CLUSTERS} are allowed", source)
    entries: list[tuple[str, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        p = f"clusters[{i}]"
        if not isinstance(item, Mapping):
            errors.append(FieldError(p, f"must be a mapping with a context, not {type(item).__name__}"))
            continue
        ctx = item.get("context")
        if not isinstance(ctx, str) or not ctx.strip():
            errors.append(FieldError(f"{p}.context", "is required: the kubeconfig context of this cluster"))
        elif ctx in seen:
            errors.append(FieldError(f"{p}.context", f'"{printable(ctx, 100)}" is also clusters[{seen[ctx]}]; '
                                                     "each context once"))
        else:
            seen[ctx] = i
        overrides = {k: v for k, v in item.items() if k != "context"}
        for key in overrides:
            if key not in OVERRIDABLE:
                near = difflib.get_close_matches(str(key)[:100], OVERRIDABLE, n=1)
                hint = f'; did you mean "{near[0]}"?' if near else f"; a cluster can override: {', '.join(OVERRIDABLE)}"
                errors.append(FieldError(f"{p}.{printable(str(key), 60)}", f"cannot be set per cluster{hint}"))
        cl = overrides.get("cluster")
        if isinstance(cl, Mapping) and "context" in cl:
            errors.append(FieldError(f"{p}.cluster.context", f"is set by {p}.context; remove it"))
        if isinstance(ctx, str):
            entries.append((ctx, dict(overrides)))
    if errors:
        raise BadInput(errors, source)
    return Fleet(base=base, entries=entries, base_dir=Path(base_dir), source=source)


def load(path: str | Path, *, field_name: str = "--answers") -> Fleet | None:
    """Read an answers file (same limits as :func:`wizard.answers.load`) and return its fleet,
    or None when it has no ``clusters`` section."""
    from . import safeio

    p = Path(path)
    data = safeio.read_regular(p, limit=safeio.ANSWERS_LIMIT, field=field_name, what="answers file")
    text = safeio.decode_text(data, field=field_name, source=str(p), what="answers file")
    return from_raw(loads(text, source=str(p)), base_dir=p.resolve().parent, source=str(p))


# ----------------------------------------------------------------------------- front ends


def entries(fleet: Fleet | None) -> list[dict[str, Any]]:
    """The ``clusters`` entries of a fleet as mappings (context first, then its overrides)."""
    return [] if fleet is None else [{"context": c, **copy.deepcopy(o)} for c, o in fleet.entries]


def with_contexts(current: list[dict[str, Any]], selected: Iterable[str], listed: Iterable[str]) -> list[dict[str, Any]]:
    """The entries after a pick of ``selected`` among the ``listed`` contexts: entries of contexts
    still selected keep their overrides, entries of contexts not listed (another machine's
    kubeconfig) are kept untouched, newly selected contexts get an entry without overrides."""
    chosen, shown = list(dict.fromkeys(selected)), set(listed)
    out = [copy.deepcopy(e) for e in current if e.get("context") in chosen or e.get("context") not in shown]
    have = {e.get("context") for e in out}
    return out + [{"context": c} for c in chosen if c not in have]


def dumps(answers: Answers, clusters: list[dict[str, Any]]) -> str:
    """The answers file text: :func:`wizard.answers.dumps`, then the ``clusters`` section when
    there is one."""
    import yaml

    from .answers import dumps as dumps_answers

    text = dumps_answers(answers)
    if not clusters:
        return text
    return text + yaml.safe_dump({"clusters": clusters}, sort_keys=False, default_flow_style=False,
                                 allow_unicode=True, width=100)


def save(answers: Answers, path: str | Path, clusters: list[dict[str, Any]]) -> Path:
    """Write the answers file atomically, with its ``clusters`` section. Returns the path."""
    from .safeio import write_atomic

    return write_atomic(path, dumps(answers, clusters))
