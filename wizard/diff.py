"""Differences between two versions of a Kubernetes object, and ``apply --dry-run``'s diff.

:func:`changes` lists changed fields (apply uses it to decide whether an object changes
at all, and to describe the change). :func:`unified` is what ``apply --dry-run`` prints,
the way ``kubectl diff`` does: per object a unified diff of YAML from the live object
(``live/``) to the server's dry-run result (``merged/``), named
``<group>.<version>.<kind>.<namespace>.<name>``, and one for the Helm release (its chart
and values: what the release has now vs. the rendered ``values.yaml``). With
``KUBECTL_EXTERNAL_DIFF`` set, that program is run once on two folders of those files
(``LIVE-*`` and ``MERGED-*``), as kubectl does. Server bookkeeping (managedFields,
resourceVersion, generation, uid, creationTimestamp, status...) is left out. Secret values
are never shown: a Secret's keys appear with ``***`` (``*** (before)`` / ``*** (after)``
when the value changes), and values of keys that name a token or password are masked.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NOISE_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")
SECRET_VALUE_FIELDS = ("data", "stringData")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_MAX_VALUE = 160

CREATED, CHANGED, UNCHANGED = "created", "changed", "unchanged"


@dataclass(frozen=True)
class Change:
    """One changed field. ``op`` is ``+`` (added), ``-`` (removed) or ``~`` (changed)."""

    op: str
    path: str
    old: Any = None
    new: Any = None
    secret: bool = False

    def render(self) -> str:
        if self.secret:
            what = {"+": "(value added)", "-": "(value removed)", "~": "(value changed)"}[self.op]
            return f"{self.op} {self.path}: {what}"
        if self.op == "+":
            return f"+ {self.path}: {_show(self.new)}"
        if self.op == "-":
            return f"- {self.path}: {_show(self.old)}"
        return f"~ {self.path}: {_show(self.old)} -> {_show(self.new)}"


def normalize(obj: dict[str, Any] | None) -> dict[str, Any] | None:
    """A copy without server bookkeeping, for comparison."""
    if obj is None:
        return None
    out = copy.deepcopy(obj)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in NOISE_METADATA:
            meta.pop(key, None)
        for key in ("annotations", "labels"):
            if meta.get(key) == {}:
                meta.pop(key)
    return out


def changes(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[Change]:
    """Every changed field between two objects (bookkeeping ignored), in document order."""
    a, b = normalize(old) or {}, normalize(new) or {}
    is_secret = (b.get("kind") or a.get("kind")) == "Secret"
    out: list[Change] = []
    _walk(a, b, "", out, is_secret)
    return out


def classify(live: dict[str, Any] | None, result: dict[str, Any]) -> str:
    """created / changed / unchanged for ``live`` (None when absent) and the applied result."""
    if live is None:
        return CREATED
    return CHANGED if changes(live, result) else UNCHANGED


def render(chs: list[Change], indent: str = "    ") -> str:
    return "\n".join(indent + c.render() for c in chs)


def summary(obj: dict[str, Any]) -> list[Change]:
    """A new object as a list of additions (Secret values hidden), for a 'created' preview."""
    return changes(None, obj)


# ---------------------------------------------------------------------------- internals


def _key(path: str, key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _walk(a: Any, b: Any, path: str, out: list[Change], is_secret: bool) -> None:
    secret_here = _is_secret_path(path, is_secret)
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            p = _key(path, str(k))
            if k not in b:
                _emit_removed(a[k], p, out, is_secret)
            elif k not in a:
                _emit_added(b[k], p, out, is_secret)
            elif a[k] != b[k]:
                _walk(a[k], b[k], p, out, is_secret)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and not secret_here:
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                _walk(x, y, f"{path}[{i}]", out, is_secret)
        return
    if a != b:
        out.append(Change("~", path, a, b, secret=secret_here))


def _is_secret_path(path: str, is_secret: bool) -> bool:
    if not is_secret:
        return False
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    return head in SECRET_VALUE_FIELDS


def _emit_added(value: Any, path: str, out: list[Change], is_secret: bool) -> None:
    if isinstance(value, dict) and value and path in SECRET_VALUE_FIELDS and is_secret:
        for k, v in value.items():
            out.append(Change("+", _key(path, str(k)), None, v, secret=True))
        return
    out.append(Change("+", path, None, value, secret=_is_secret_path(path, is_secret)))


def _emit_removed(value: Any, path: str, out: list[Change], is_secret: bool) -> None:
    if isinstance(value, dict) and value and path in SECRET_VALUE_FIELDS and is_secret:
        for k, v in value.items():
            out.append(Change("-", _key(path, str(k)), v, None, secret=True))
        return
    out.append(Change("-", path, value, None, secret=_is_secret_path(path, is_secret)))


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=False)
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE - 3] + "..."


# ---------------------------------------------------------------------------- kubectl-style diff

NOISE_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision")
MASK = "***"
_SECRETISH_KEY = re.compile(r"(?i)(token|password|passwd|secret_?key|api_?key|access_?key|credentials?)$")
EXTERNAL_DIFF_ENV = "KUBECTL_EXTERNAL_DIFF"
_EXTERNAL_ARG = re.compile(r"^[A-Za-z0-9=-]+$")
"""kubectl's rule: words after the program name are passed only when made of these characters."""
_DIFF_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TERM", "COLORTERM",
             "NO_COLOR", "TZ", "TMPDIR", "DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR")
RELEASE_KIND = "helm.sh.v3.Release"


@dataclass(frozen=True)
class Pair:
    """One entry of the diff: a file name and the two YAML texts (live, merged); '' where absent."""

    name: str
    live: str
    merged: str

    @property
    def changed(self) -> bool:
        return self.live != self.merged


def file_name(obj: Mapping[str, Any]) -> str:
    """``<group>.<version>.<kind>.<namespace>.<name>`` (core group: ``v1.<kind>...``), as kubectl names them."""
    api = str(obj.get("apiVersion") or "v1")
    group, _, version = api.rpartition("/")
    meta = obj.get("metadata") or {}
    head = f"{group}." if group else ""
    return _safe_name(f"{head}{version}.{obj.get('kind', '')}.{meta.get('namespace') or ''}.{meta.get('name', '')}")


def clean(obj: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The object without server bookkeeping and status, for showing."""
    out = normalize(dict(obj)) if obj is not None else None
    if out is None:
        return None
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        ann = meta.get("annotations")
        if isinstance(ann, dict):
            for k in NOISE_ANNOTATIONS:
                ann.pop(k, None)
            if not ann:
                meta.pop("annotations")
    return out


def mask_secrets(live: dict[str, Any] | None, merged: dict[str, Any] | None) -> tuple[Any, Any]:
    """Secret values replaced by ``***``; a value that differs reads ``*** (before)`` / ``*** (after)``."""
    def is_secret(o: Any) -> bool:
        return isinstance(o, dict) and o.get("kind") == "Secret"

    if not (is_secret(live) or is_secret(merged)):
        return live, merged
    live, merged = copy.deepcopy(live), copy.deepcopy(merged)
    for field_name in SECRET_VALUE_FIELDS:
        a = (live or {}).get(field_name) if isinstance(live, dict) else None
        b = (merged or {}).get(field_name) if isinstance(merged, dict) else None
        a = a if isinstance(a, dict) else None
        b = b if isinstance(b, dict) else None
        for key in set(a or {}) | set(b or {}):
            differs = a is not None and b is not None and key in a and key in b and a[key] != b[key]
            if a is not None and key in a:
                a[key] = f"{MASK} (before)" if differs else MASK
            if b is not None and key in b:
                b[key] = f"{MASK} (after)" if differs else MASK
    return live, merged


def mask_values(value: Any) -> Any:
    """Chart values with the values of token- or password-like keys masked (strings only)."""
    if isinstance(value, dict):
        return {k: (MASK if isinstance(v, str) and v and _SECRETISH_KEY.search(str(k)) else mask_values(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [mask_values(v) for v in value]
    return value


def to_yaml(obj: Any) -> str:
    """Stable YAML (sorted keys); multi-line strings (a ``runners.config`` TOML, a CA bundle) as ``|`` blocks,
    so their diff is line by line."""
    import yaml

    if obj is None:
        return ""

    class _Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, text)
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=4096)


def object_pair(live: dict[str, Any] | None, merged: dict[str, Any] | None) -> Pair:
    """The pair of texts for one object: live (None: does not exist) and the server's dry-run result."""
    a, b = mask_secrets(clean(live), clean(merged))
    ref = merged if merged is not None else live
    assert ref is not None
    return Pair(file_name(ref), to_yaml(a), to_yaml(b))


def release_pair(namespace: str, release: str, current: Any, wanted_chart: str,
                 wanted_values: Mapping[str, Any]) -> Pair:
    """The Helm release as a pair: ``chart`` and ``values`` now (``current``: ``helm.ReleaseState`` or None
    when not installed) and after ``helm upgrade --install`` with the rendered values."""
    name = _safe_name(f"{RELEASE_KIND}.{namespace}.{release}")
    live = None
    if current is not None:
        live = {"chart": current.chart, "status": current.status,
                "values": mask_values(canonical_values(current.values or {}))}
    merged = {"chart": wanted_chart, "status": "deployed", "values": mask_values(canonical_values(dict(wanted_values)))}
    return Pair(name, to_yaml(live), to_yaml(merged))


def unified(pairs: Iterable[Pair], *, context: int = 3) -> str:
    """``diff -u -N``-style text for every changed pair (empty when nothing would change)."""
    out: list[str] = []
    for p in pairs:
        if not p.changed:
            continue
        a, b = f"live/{p.name}", f"merged/{p.name}"
        out.append(f"diff -u -N {a} {b}\n")
        lines = difflib.unified_diff(p.live.splitlines(keepends=True), p.merged.splitlines(keepends=True),
                                     fromfile=a if p.live else "/dev/null", tofile=b, n=context)
        for ln in lines:
            out.append(ln if ln.endswith("\n") else ln + "\n\\ No newline at end of file\n")
    return "".join(out)


def external_command(environ: Mapping[str, str] | None = None) -> list[str] | None:
    """The program (and its allowed flags) named by ``KUBECTL_EXTERNAL_DIFF``, or None."""
    env = os.environ if environ is None else environ
    raw = (env.get(EXTERNAL_DIFF_ENV) or "").strip()
    if not raw:
        return None
    words = raw.split()
    return [words[0], *[w for w in words[1:] if _EXTERNAL_ARG.match(w)]]


def child_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The diff program's environment: PATH, HOME, locale, terminal and display; nothing else."""
    env = os.environ if environ is None else environ
    return {k: env[k] for k in _DIFF_ENV if k in env}


class DiffProgramError(Exception):
    """The external diff program could not run or failed (exit status above 1)."""


def run_external(command: list[str], pairs: Iterable[Pair], *, environ: Mapping[str, str] | None = None,
                 runner: Callable[..., Any] | None = None) -> int:
    """Write every pair into ``LIVE-*`` and ``MERGED-*`` folders (files 0600, removed afterwards) and run
    ``command LIVE MERGED`` with the minimal environment; returns its exit status (0 or 1)."""
    run = runner or subprocess.run
    with tempfile.TemporaryDirectory(prefix="runner-wizard-diff-") as top:
        live_dir = Path(tempfile.mkdtemp(prefix="LIVE-", dir=top))
        merged_dir = Path(tempfile.mkdtemp(prefix="MERGED-", dir=top))
        for p in pairs:
            for d, text in ((live_dir, p.live), (merged_dir, p.merged)):
                if not text and d is live_dir:
                    continue  # a new object: no live file (diff -N shows it as added)
                fd = os.open(d / p.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
        argv = [*command, str(live_dir), str(merged_dir)]
        try:
            proc = run(argv, env=child_env(environ), stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise DiffProgramError(f"{EXTERNAL_DIFF_ENV}: cannot run {shlex.join(command)}: "
                                   f"{exc.strerror or exc}") from exc
        rc = int(proc.returncode)
    if rc > 1 or rc < 0:
        raise DiffProgramError(f"{EXTERNAL_DIFF_ENV}: {shlex.join(command)} exited {rc}")
    return rc


EXIT_SAME, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 3
"""``apply --dry-run`` exits like ``kubectl diff``: 0 nothing would change, 1 something would, above 1 an
error (2 bad input, 3 anything else that stopped the dry run)."""


def dry_run_pairs(report: Any, answers: Any) -> list[Pair]:
    """The pairs of an ``apply --dry-run`` report: every planned object, then the Helm release."""
    import yaml

    pairs = [object_pair(o.live, o.wanted) for o in report.objects
             if o.wanted is not None or o.live is not None]
    read = report.release is not None or report.helm_action == "would-install"
    if answers.cluster.mode == "helm" and read and report.helm_action in ("unchanged", "would-install",
                                                                           "would-upgrade"):
        values_file = Path(report.out_dir) / "values.yaml" if report.out_dir else None
        try:
            wanted = yaml.safe_load(values_file.read_text(encoding="utf-8")) if values_file else None
        except (OSError, yaml.YAMLError):
            wanted = None
        if isinstance(wanted, dict):
            pairs.append(release_pair(answers.cluster.runner_namespace, answers.runner.release_name,
                                      report.release, f"gitlab-runner-{answers.runner.chart_version}", wanted))
    return pairs


def _safe_name(name: str) -> str:
    """A file name: no path separators or control characters."""
    return re.sub(r"[^A-Za-z0-9._:@+-]", "_", name)[:240] or "_"


def canonical_values(value: Any) -> Any:
    """Helm values as helm stores them (JSON round trip: ints/floats, key order; no nulls), so equal
    values compare and print equal."""
    if isinstance(value, dict):
        return {str(k): canonical_values(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [canonical_values(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
