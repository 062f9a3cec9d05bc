"""The real upstream gitlab-runner charts and a real ``helm``, for tests.

The packaged charts live in ``shared/charts/`` next to the repository (CI clones the
repository with ``../shared`` beside it; a git worktree such as ``/work/wt/chart`` finds
``/work/shared`` further up): :func:`shared_charts_dir` walks up from the repository root.
Tests only ever hand helm a local ``.tgz``, with private HELM_* homes, so no test can
reach a chart repository.

``helm template`` is a subprocess (~0.1 s); :func:`template_many` runs a batch of them on a
few threads and :func:`template` caches every result per (chart version, release,
namespace, values).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VERSIONS = ("0.77.2", "0.83.3", "0.86.0")
HELM_VERSION = "3.19.0"
SKIP_ENV = "RW_HELM"
"""``RW_HELM=skip`` skips the tests that need helm; otherwise a missing helm fails them."""


# --------------------------------------------------------------------------- where things are


def shared_charts_dir(start: Path = REPO) -> Path:
    """``<ancestor>/shared/charts`` for the nearest ancestor of ``start`` that has one."""
    for d in start.resolve().parents:
        cand = d / "shared" / "charts"
        if cand.is_dir():
            return cand
    raise FileNotFoundError(f"no shared/charts directory beside {start} or any folder above it "
                            "(CI clones the repository with ../shared next to it)")


def chart_tgz(version: str = "0.86.0") -> Path:
    """The packaged upstream chart ``gitlab-runner-<version>.tgz``; fails the test when missing."""
    try:
        p = shared_charts_dir() / f"gitlab-runner-{version}.tgz"
    except FileNotFoundError as exc:
        pytest.fail(str(exc), pytrace=False)
    if not p.is_file():
        pytest.fail(f"the real chart {p} is missing", pytrace=False)
    return p


def helm_binary() -> Path:
    """The helm built by scripts/build-envtest-bins (or the one on PATH). Missing: fail,
    unless ``RW_HELM=skip``."""
    cache = Path(os.environ.get("RUNNER_WIZARD_CACHE") or Path.home() / ".cache" / "runner-wizard")
    for p in (cache / "bin" / f"helm-v{HELM_VERSION}", cache / "bin" / "helm"):
        if p.is_file() and os.access(p, os.X_OK):
            return p
    found = shutil.which("helm")
    if found:
        return Path(found)
    if os.environ.get(SKIP_ENV) == "skip":
        pytest.skip(f"{SKIP_ENV}=skip and helm v{HELM_VERSION} is not built")
    pytest.fail(f"helm v{HELM_VERSION} is not built; run scripts/build-envtest-bins helm "
                f"(or set {SKIP_ENV}=skip)", pytrace=False)


_homes: dict[str, str] = {}
_homes_lock = threading.Lock()


def helm_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment for helm with private, empty HELM_* homes (no repositories, no plugins)."""
    with _homes_lock:
        if not _homes:
            root = tempfile.mkdtemp(prefix="rw-helm-")
            for var, sub in (("HELM_CACHE_HOME", "cache"), ("HELM_CONFIG_HOME", "config"),
                             ("HELM_DATA_HOME", "data")):
                _homes[var] = os.path.join(root, sub)
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp"), "HELM_NO_PLUGINS": "1"}
    env.update(base or {})
    env.update(_homes)
    return env


# --------------------------------------------------------------------------- helm template


@dataclass(frozen=True)
class Job:
    version: str
    release: str
    namespace: str
    values_yaml: str

    @property
    def key(self) -> str:
        h = hashlib.sha256(self.values_yaml.encode()).hexdigest()[:16]
        return f"{self.version}/{self.namespace}/{self.release}/{h}"


@dataclass
class Output:
    """What ``helm template`` printed: the objects, or the error."""

    job: Job
    returncode: int
    objects: list[dict[str, Any]]
    stderr: str

    def find(self, kind: str, name: str | None = None) -> list[dict[str, Any]]:
        return [o for o in self.objects if o.get("kind") == kind
                and (name is None or o["metadata"]["name"] == name)]

    def one(self, kind: str, name: str | None = None) -> dict[str, Any]:
        found = self.find(kind, name)
        assert len(found) == 1, f"{len(found)} {kind} named {name!r} in {self.job.key}: " \
                                f"{[(o['kind'], o['metadata']['name']) for o in self.objects]}"
        return found[0]


_cache: dict[str, Output] = {}
_cache_lock = threading.Lock()


def job(version: str, release: str, namespace: str, values: dict[str, Any] | str) -> Job:
    text = values if isinstance(values, str) else yaml.safe_dump(values, sort_keys=True)
    return Job(version, release, namespace, text)


def _run(j: Job, helm: Path) -> Output:
    with tempfile.TemporaryDirectory(prefix="rw-values-") as tmp:
        vf = Path(tmp) / "values.yaml"
        vf.write_text(j.values_yaml, encoding="utf-8")
        proc = subprocess.run(
            [str(helm), "template", j.release, str(chart_tgz(j.version)), "--namespace", j.namespace,
             "-f", str(vf)],
            capture_output=True, text=True, timeout=60, env=helm_env(), stdin=subprocess.DEVNULL)
    objs = [d for d in yaml.safe_load_all(proc.stdout) if d] if proc.returncode == 0 else []
    return Output(j, proc.returncode, objs, proc.stderr)


def template_many(jobs: list[Job], *, workers: int = 4) -> dict[str, Output]:
    """``helm template`` every job not yet cached, a few at a time; returns key -> Output."""
    helm = helm_binary()
    with _cache_lock:
        todo = list({j.key: j for j in jobs if j.key not in _cache}.values())
    if todo:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo)))) as pool:
            for out in pool.map(lambda j: _run(j, helm), todo):
                with _cache_lock:
                    _cache[out.job.key] = out
    with _cache_lock:
        return {j.key: _cache[j.key] for j in jobs}


def template(version: str, release: str, namespace: str, values: dict[str, Any] | str) -> Output:
    j = job(version, release, namespace, values)
    return template_many([j])[j.key]


# --------------------------------------------------------------------------- what the chart reads


def chart_files(version: str) -> dict[str, str]:
    """Text of every file in the packaged chart (``gitlab-runner/...`` -> text)."""
    import tarfile

    out: dict[str, str] = {}
    with tarfile.open(chart_tgz(version)) as tar:
        for m in tar.getmembers():
            if m.isfile():
                f = tar.extractfile(m)
                assert f is not None
                out[m.name] = f.read().decode("utf-8", errors="replace")
    return out


_REF = r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)"


def values_read(version: str) -> tuple[set[str], set[str]]:
    """Key paths the chart's templates read: (read directly, read as a whole subtree).

    Directly: every ``.Values.a.b`` and every ``hasKey .Values.a "b"``. As a whole: the
    paths handed to ``toYaml``/``range``/``with``/``merge``/``concat``, whose sub-keys reach the
    output without being named."""
    import re

    text = "\n".join(t for name, t in chart_files(version).items() if "/templates/" in name)
    direct = {m[1:] for m in re.findall(_REF, text)}
    direct |= {f"{p[1:]}.{k}" if p else k
               for p, k in re.findall(r'hasKey\s+\.Values((?:\.[A-Za-z_]\w*)*)\s+"(\w+)"', text)}
    whole = {m[1:] for m in re.findall(r"(?:toYaml|range|with|merge|concat)\s+[^}]*?" + _REF, text)}
    return direct, whole


def leaf_paths(values: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted key paths of ``values`` down to scalars and lists."""
    out: list[str] = []
    for k, v in values.items():
        p = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out += leaf_paths(v, p)
        else:
            out.append(p)
    return out


def unread_keys(version: str, values: dict[str, Any]) -> list[str]:
    """Key paths of ``values`` that chart ``version`` never reads (silently ignored)."""
    direct, whole = values_read(version)
    bad = []
    for p in leaf_paths(values):
        parts = p.split(".")
        prefixes = {".".join(parts[:i]) for i in range(1, len(parts))}
        if p not in direct and not (prefixes & whole):
            bad.append(p)
    return bad
