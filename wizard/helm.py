"""The Helm release: find ``helm``, build the exact command, install or upgrade it.

Every call runs with a bounded timeout and ``--wait=false`` (verification is
separate, see :mod:`wizard.verify`). The chart reference defaults to the GitLab
chart repository (``gitlab/gitlab-runner`` at ``runner.chart_version``);
``--chart`` (:class:`wizard.settings.Settings`, fallback ``RUNNER_WIZARD_CHART``)
overrides it with a local path (a packaged ``.tgz``, or a folder of
``gitlab-runner-<version>.tgz`` for air-gapped installs), a ``repo/chart`` reference, a
chart repository URL or an ``oci://`` reference. The test suite points it at the
real upstream ``gitlab-runner-<version>.tgz`` files, so no test reaches a repository.

When the default ``gitlab/gitlab-runner`` is used and no Helm repository named
``gitlab`` is configured, the command uses ``--repo https://charts.gitlab.io``
instead, so no ``helm repo add`` is needed.

Reads need no ``helm`` process: the release's state and values come from its newest
release Secret (``sh.helm.release.v1.<release>.v<N>``, the storage helm uses by default),
and the configured repositories from helm's ``repositories.yaml``; a ``helm`` process runs
only to change the release (or when the storage cannot be read directly).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .logsafe import redact

_log = logging.getLogger("wizard.helm")

DEFAULT_CHART = "gitlab/gitlab-runner"
GITLAB_REPO_NAME = "gitlab"
GITLAB_REPO_URL = "https://charts.gitlab.io"
DEFAULT_TIMEOUT = 180.0
READ_TIMEOUT = 30.0


class HelmError(Exception):
    """A failed helm call, with a one-line reason and the next step for the user."""

    def __init__(self, message: str, *, next_step: str = "", stderr: str = "", returncode: int | None = None):
        self.message = message
        self.next_step = next_step
        self.stderr = stderr
        self.returncode = returncode
        super().__init__(message)


@dataclass
class HelmTarget:
    """Everything one helm invocation needs besides the sub-command."""

    release: str
    namespace: str
    chart: str
    chart_version: str
    values_file: Path
    timeout: float = DEFAULT_TIMEOUT
    """Seconds ``helm upgrade`` may take (``--helm-timeout``)."""
    kubeconfig: str | None = None
    context: str | None = None
    repo_url: str | None = None
    """Set when the chart is fetched with ``--repo`` (no ``helm repo add`` needed)."""
    binary: str | None = None
    kube: Any = field(default=None, repr=False, compare=False)
    """A :class:`wizard.kube.Kube` for the same cluster: release reads come from the release Secret."""

    def global_flags(self) -> list[str]:
        out = ["--namespace", self.namespace]
        if self.kubeconfig:
            out += ["--kubeconfig", str(self.kubeconfig)]
        if self.context:
            out += ["--kube-context", self.context]
        return out

    def upgrade_argv(self) -> list[str]:
        argv = [self.binary or "helm", "upgrade", "--install", self.release, self.chart]
        if self.repo_url:
            argv += ["--repo", self.repo_url]
        argv += ["--version", self.chart_version, *self.global_flags(), "-f", str(self.values_file),
                 "--wait=false"]
        return argv

    def command_line(self) -> str:
        """The exact command, for NEXT-STEPS.md and messages (``helm`` by name)."""
        argv = self.upgrade_argv()
        argv[0] = "helm"
        return shlex.join(argv)


@dataclass
class ReleaseState:
    status: str                       # deployed, failed, pending-install, pending-upgrade, ...
    chart: str                        # e.g. gitlab-runner-0.86.0
    chart_version: str
    revision: int
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        return self.status.startswith("pending")


def find_helm() -> str | None:
    """The helm binary on PATH, or None."""
    return shutil.which("helm")


def chart_reference(version: str | None = None, chart: str | None = None) -> str:
    """``chart`` (``Settings.chart``) or ``gitlab/gitlab-runner``. A directory that is not itself a chart
    (a folder of packaged charts, as for an air-gapped install) resolves to its
    ``gitlab-runner-<version>.tgz``."""
    ref = chart or DEFAULT_CHART
    if version and os.path.isdir(ref) and not os.path.isfile(os.path.join(ref, "Chart.yaml")):
        packaged = os.path.join(ref, f"gitlab-runner-{version}.tgz")
        if os.path.isfile(packaged):
            return packaged
    return ref


def local_chart_version(ref: str) -> str | None:
    """``version`` from the Chart.yaml of a local chart (directory or packaged ``.tgz``), else None."""
    import tarfile

    import yaml

    from .yamlload import safe_load

    try:
        if os.path.isfile(os.path.join(ref, "Chart.yaml")):
            text = Path(ref, "Chart.yaml").read_text(encoding="utf-8")
        elif os.path.isfile(ref) and tarfile.is_tarfile(ref):
            with tarfile.open(ref) as tar:
                member = next((m for m in tar.getmembers()
                               if m.isfile() and m.name.count("/") == 1 and m.name.endswith("/Chart.yaml")), None)
                f = tar.extractfile(member) if member else None
                if f is None:
                    return None
                text = f.read().decode("utf-8")
        else:
            return None
        meta = safe_load(text) or {}
    except (OSError, tarfile.TarError, UnicodeDecodeError, yaml.YAMLError):
        return None
    version = meta.get("version") if isinstance(meta, dict) else None
    return str(version) if version is not None else None


def target(answers: Any, values_file: Path, *, kubeconfig: str | None = None, context: str | None = None,
           binary: str | None = None, settings: Any = None, kube: Any = None) -> HelmTarget:
    """The release to install for these answers. Looks at helm's configured repositories when helm
    is there. ``settings`` (:class:`wizard.settings.Settings`): the chart and helm's time limit.
    With ``kube``, :func:`release_state` reads the release Secret instead of running helm."""
    chart = chart_reference(answers.runner.chart_version, getattr(settings, "chart", None))
    repo_url = None
    if chart == DEFAULT_CHART and (binary is None or not _has_repo(binary, GITLAB_REPO_NAME)):
        chart, repo_url = "gitlab-runner", GITLAB_REPO_URL
    elif chart.startswith(("https://", "http://")):  # a chart repository URL: no `helm repo add` needed
        chart, repo_url = "gitlab-runner", chart
    return HelmTarget(
        timeout=float(getattr(settings, "helm_timeout", None) or DEFAULT_TIMEOUT),
        release=answers.runner.release_name,
        namespace=answers.cluster.runner_namespace,
        chart=chart,
        chart_version=answers.runner.chart_version,
        values_file=Path(values_file),
        kubeconfig=kubeconfig,
        context=context,
        repo_url=repo_url,
        binary=binary,
        kube=kube,
    )


_PASS_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "KUBECONFIG",
             "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR",
             "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy",
             "SSL_CERT_FILE", "SSL_CERT_DIR")
_HELM_ENV_DENY = ("TOKEN", "PASSWORD", "SECRET", "CREDENTIAL", "KEY")


def child_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The minimal environment helm gets: PATH, HOME, locale, KUBECONFIG, XDG and HELM_* folders
    and proxies. Never runner-wizard's own variables or anything holding a token or password."""
    src = os.environ if base is None else base
    out = {k: src[k] for k in _PASS_ENV if k in src}
    for k, val in src.items():
        if k.startswith("HELM_") and not any(d in k.upper() for d in _HELM_ENV_DENY):
            out[k] = val
    return out


def run(argv: list[str], *, timeout_s: float | None = None, env: dict[str, str] | None = None) \
        -> subprocess.CompletedProcess[str]:
    """Run helm with :func:`child_env` (plus ``env``); raise HelmError (timeout, missing binary) but
    return non-zero exits to the caller."""
    import time

    limit = timeout_s or DEFAULT_TIMEOUT
    full_env = child_env()
    if env:
        full_env.update(env)
    t0 = time.monotonic()
    _log.info("running %s", redact(shlex.join(argv)))
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=limit, stdin=subprocess.DEVNULL,
                              env=full_env)
        _log.info("%s exited %s after %.2fs%s", shlex.join(argv[:2]), proc.returncode, time.monotonic() - t0,
                  f": {redact(proc.stderr.strip()[-2000:])}" if proc.returncode and proc.stderr else "")
        return proc
    except subprocess.TimeoutExpired as exc:
        raise HelmError(f"helm did not finish within {limit:.0f}s ({shlex.join(argv[1:3])})",
                        next_step="check that the API server is reachable, then run the command again: "
                                  + shlex.join(["helm", *argv[1:]])) from exc
    except OSError as exc:
        raise HelmError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc


def decode_release(secret: dict[str, Any]) -> dict[str, Any] | None:
    """Decode ``data.release`` of a Helm v3 release Secret into the release JSON (None if unreadable).

    The Secret's data is base64 (Kubernetes) of base64 of gzip of the release JSON."""
    import base64
    import binascii
    import gzip

    raw = (secret.get("data") or {}).get("release")
    if not raw:
        return None
    try:
        blob = base64.b64decode(raw)
        if blob[:2] != b"\x1f\x8b" and not blob.lstrip().startswith(b"{"):
            blob = base64.b64decode(blob)
        if blob[:2] == b"\x1f\x8b":
            blob = gzip.decompress(blob)
        doc = json.loads(blob)
    except (binascii.Error, OSError, ValueError, EOFError):
        return None
    return doc if isinstance(doc, dict) else None


class _NotReadable(Exception):
    """The release storage cannot be read directly; ask helm."""


def _state_from_secret(t: HelmTarget) -> ReleaseState | None:
    """What ``helm list --all`` and ``helm get values`` report, from one list of the release's
    Secrets (label selector owner=helm,name=<release>; the newest revision wins)."""
    from urllib.parse import quote

    from .kube import KubeError

    driver = (os.environ.get("HELM_DRIVER") or "secret").lower()
    if driver not in ("secret", "secrets") or t.kube is None:
        raise _NotReadable(f"HELM_DRIVER={driver}" if t.kube is not None else "no cluster connection")
    path = (f"/api/v1/namespaces/{quote(t.namespace)}/secrets"
            f"?labelSelector={quote(f'owner=helm,name={t.release}')}")
    try:
        items = t.kube.get(path).get("items") or []
    except KubeError as exc:  # e.g. may not list Secrets: helm may still read its storage another way
        raise _NotReadable(f"{exc}") from exc
    newest, newest_rev = None, -1
    for s in items:
        if s.get("type") != "helm.sh/release.v1":
            continue
        try:
            rev = int(((s.get("metadata") or {}).get("labels") or {}).get("version") or 0)
        except ValueError:
            continue
        if rev > newest_rev:
            newest, newest_rev = s, rev
    if newest is None:
        return None
    doc = decode_release(newest)
    if doc is None or doc.get("name") != t.release:
        raise _NotReadable(f"release Secret {newest['metadata'].get('name')} is not readable")
    meta = ((doc.get("chart") or {}).get("metadata") or {})
    name, version = str(meta.get("name") or ""), str(meta.get("version") or "")
    status = str((doc.get("info") or {}).get("status") or "")
    config = doc.get("config")
    return ReleaseState(status=status, chart=f"{name}-{version}" if name else "", chart_version=version,
                        revision=int(doc.get("version") or newest_rev),
                        values=config if isinstance(config, dict) else {})


def release_state(t: HelmTarget) -> ReleaseState | None:
    """Status, chart and user-supplied values of the release, or None when it does not exist.

    Read from the release Secret when ``t.kube`` is set (no helm process); else, or when that
    storage cannot be read directly, from ``helm list`` and ``helm get values``."""
    if t.kube is not None:
        try:
            state = _state_from_secret(t)
            _log.info("release %s/%s from its release Secret: %s", t.namespace, t.release,
                      f"{state.status}, {state.chart}, revision {state.revision}" if state else "not installed")
            return state
        except _NotReadable as exc:
            _log.info("release %s/%s: reading it through helm (%s)", t.namespace, t.release, exc)
    assert t.binary
    proc = run([t.binary, "list", *t.global_flags(), "--all", "--filter", f"^{re.escape(t.release)}$",
                "-o", "json"], timeout_s=READ_TIMEOUT)
    if proc.returncode != 0:
        raise error_from(proc, what="helm list")
    rows = [r for r in json.loads(proc.stdout or "[]") if r.get("name") == t.release]
    if not rows:
        return None
    row = rows[0]
    chart = str(row.get("chart", ""))
    version = chart.rsplit("-", 1)[1] if "-" in chart else ""
    state = ReleaseState(status=str(row.get("status", "")), chart=chart, chart_version=version,
                         revision=int(row.get("revision") or 0))
    proc = run([t.binary, "get", "values", t.release, *t.global_flags(), "-o", "json"], timeout_s=READ_TIMEOUT)
    if proc.returncode != 0:
        raise error_from(proc, what="helm get values")
    state.values = json.loads(proc.stdout or "null") or {}
    return state


def up_to_date(t: HelmTarget, state: ReleaseState | None) -> bool:
    """True when the release is deployed from the same chart version with the same values."""
    from .yamlload import safe_load

    if state is None or state.status != "deployed":
        return False
    if state.chart_version != t.chart_version:
        return False
    wanted = safe_load(Path(t.values_file).read_text(encoding="utf-8")) or {}
    from .diff import canonical_values

    return canonical_values(wanted) == canonical_values(state.values)


def upgrade(t: HelmTarget) -> str:
    """``helm upgrade --install``; returns helm's short summary. Raises HelmError."""
    assert t.binary
    local = local_chart_version(t.chart) if t.repo_url is None else None
    if local is not None and local != t.chart_version:
        # helm ignores --version for a local chart: it would install this one without a word
        raise HelmError(f"the local chart {t.chart} is version {local}, but runner.chart_version is "
                        f"{t.chart_version}",
                        next_step=f"give --chart gitlab-runner-{t.chart_version}.tgz (or a folder of packaged "
                                  f"charts), or --chart-version {local}, or set "
                                  f'runner.chart_version: "{local}" and render again')
    proc = run(t.upgrade_argv(), timeout_s=t.timeout)
    if proc.returncode != 0:
        raise error_from(proc, what="helm upgrade --install", t=t)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(("STATUS:", "REVISION:"))]
    return ", ".join(ln.strip() for ln in lines)


def error_from(proc: subprocess.CompletedProcess[str], *, what: str, t: HelmTarget | None = None) -> HelmError:
    """A readable HelmError from helm's stderr, with the next step for the common failures."""
    raw = redact(proc.stderr or proc.stdout or "")
    lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
    at = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("Error:")), None)
    err = lines[at] if at is not None else (lines[-1] if lines else "no output")
    msg = err.removeprefix("Error:").strip()
    if at is not None and msg.endswith(":"):
        # "Error: 1 error occurred:" / "UPGRADE FAILED: ...:" with the reasons on the "* ..." lines below
        details = [ln.lstrip("* ").strip() for ln in lines[at + 1:] if ln.startswith("*")]
        if details:
            msg = "; ".join(details) if re.fullmatch(r"\d+ errors? occurred:", msg) else \
                f"{msg} {'; '.join(details)}"
    low = msg.lower()
    rel = f"-n {t.namespace} {t.release}" if t else ""
    if "another operation" in low and "in progress" in low:
        step = (f"a previous helm operation was interrupted; inspect with `helm history {rel}`, then "
                f"`helm rollback {rel}` (or `helm uninstall {rel}` if it never installed) and run apply again")
    elif "kubernetes cluster unreachable" in low or "connection refused" in low or "i/o timeout" in low:
        step = "the API server is not reachable from helm; check the kubeconfig and the network, then run apply again"
    elif "repo" in low and ("not found" in low or "no repository" in low or "failed to fetch" in low):
        step = f"add the chart repository: helm repo add {GITLAB_REPO_NAME} {GITLAB_REPO_URL} && helm repo update"
    elif "cannot be imported into the current release" in low or "exists and cannot be imported" in low:
        step = ("an object the chart wants to create already exists and belongs to something else; "
                "remove it or let the chart adopt it, then run apply again")
    elif "forbidden" in low:
        step = "your kubeconfig user may not install into this namespace; ask a cluster admin for access"
    elif t is not None:
        step = f"fix the problem above, then run: {t.command_line()}"
    else:
        step = ""
    return HelmError(f"{what} failed: {msg}", next_step=step, stderr=raw, returncode=proc.returncode)


# ---------------------------------------------------------------------------- internals


def _repositories_file() -> Path | None:
    """helm's repositories.yaml, where helm itself looks for it (None: ask helm)."""
    import sys

    explicit = os.environ.get("HELM_REPOSITORY_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HELM_CONFIG_HOME")
    if home:
        return Path(home).expanduser() / "repositories.yaml"
    if sys.platform.startswith("linux"):
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
        return Path(base) / "helm" / "repositories.yaml"
    if sys.platform == "darwin":
        return Path(os.path.expanduser("~/Library/Preferences/helm/repositories.yaml"))
    return None


def _has_repo(binary: str, name: str) -> bool:
    """Is a Helm repository ``name`` configured? Read from repositories.yaml (no helm process)."""
    path = _repositories_file()
    if path is not None:
        import yaml

        from .yamlload import safe_load

        try:
            doc = safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            return False
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            doc = None
        if isinstance(doc, dict):
            return any(isinstance(r, dict) and r.get("name") == name for r in doc.get("repositories") or [])
    try:
        proc = run([binary, "repo", "list", "-o", "json"], timeout_s=10)
    except HelmError:
        return False
    if proc.returncode != 0:
        return False
    try:
        return any(r.get("name") == name for r in json.loads(proc.stdout or "[]"))
    except ValueError:
        return False

