"""How a run behaves, decided once: the command line first, then a few documented variables.

:class:`Settings` is built once per command (:func:`from_args`) and handed to the code
that needs it (apply, verify, helm, tokens, diagnose's fixes, the GitOps export); no
other module reads these variables. Every value is checked here, so a bad one stops the
run before anything is read or written (exit 2, the option or the variable named).

Options, their fallback variables and defaults:

* ``--chart`` (``RUNNER_WIZARD_CHART``): ``gitlab/gitlab-runner``
* ``--chart-version`` (no variable): ``runner.chart_version`` of the answers file
* ``--verify-timeout`` (``RUNNER_WIZARD_VERIFY_TIMEOUT``): 180 s
* ``--verify-gitlab-timeout`` (``RUNNER_WIZARD_VERIFY_GITLAB_TIMEOUT``): 60 s
* ``--helm-timeout`` (``RUNNER_WIZARD_HELM_TIMEOUT``): 180 s
* ``--token-lifetime`` (``RUNNER_WIZARD_TOKEN_LIFETIME``): 8760 h
* ``--external-token`` (``RUNNER_WIZARD_EXTERNAL_TOKEN``): ``token-request``

The variables are for CI jobs and images that set them once (an air-gapped chart mirror,
slow clusters, a token policy) and for the full-screen wizard, which has no such options;
an option on the command line always wins.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .errors import BadInput, FieldError

DEFAULT_CHART = "gitlab/gitlab-runner"
DEFAULT_VERIFY_TIMEOUT = 180.0
DEFAULT_VERIFY_GITLAB_TIMEOUT = 60.0
DEFAULT_HELM_TIMEOUT = 180.0
DEFAULT_TOKEN_LIFETIME_HOURS = 8760
MAX_TIMEOUT = 24 * 3600.0
MAX_TOKEN_LIFETIME_HOURS = (2**31 - 1) // 3600
"""TokenRequest's expirationSeconds is a 32-bit signed integer."""
EXTERNAL_TOKEN_KINDS = ("token-request", "secret")

ENV = {
    "chart": "RUNNER_WIZARD_CHART",
    "verify_timeout": "RUNNER_WIZARD_VERIFY_TIMEOUT",
    "verify_gitlab_timeout": "RUNNER_WIZARD_VERIFY_GITLAB_TIMEOUT",
    "helm_timeout": "RUNNER_WIZARD_HELM_TIMEOUT",
    "token_lifetime_hours": "RUNNER_WIZARD_TOKEN_LIFETIME",
    "external_token": "RUNNER_WIZARD_EXTERNAL_TOKEN",
}
"""The documented environment fallbacks, by :class:`Settings` field."""

OPTION = {
    "chart": "--chart",
    "chart_version": "--chart-version",
    "verify_timeout": "--verify-timeout",
    "verify_gitlab_timeout": "--verify-gitlab-timeout",
    "helm_timeout": "--helm-timeout",
    "token_lifetime_hours": "--token-lifetime",
    "external_token": "--external-token",
}


@dataclass(frozen=True)
class Settings:
    """What the command line (or its documented fallbacks) decided for this run."""

    chart: str = DEFAULT_CHART
    """Local chart (directory, packaged ``.tgz`` or a folder of ``gitlab-runner-<version>.tgz``),
    ``repo/chart`` (a ``helm repo add`` alias), a chart repository URL, or ``oci://REGISTRY/PATH/CHART``."""
    chart_from: str = ""
    """Where ``chart`` came from (``--chart`` or the variable), for messages; '' for the default."""
    chart_version: str | None = None
    """Overrides ``runner.chart_version`` of the answers file."""
    verify_timeout: float = DEFAULT_VERIFY_TIMEOUT
    """Seconds to wait for the manager Deployment (0: look once)."""
    verify_gitlab_timeout: float = DEFAULT_VERIFY_GITLAB_TIMEOUT
    """Seconds to wait for the runner manager to contact GitLab, once the Deployment is available (0: look once)."""
    helm_timeout: float = DEFAULT_HELM_TIMEOUT
    """Seconds one ``helm upgrade`` may take."""
    token_lifetime_hours: int = DEFAULT_TOKEN_LIFETIME_HOURS
    """Lifetime asked of the TokenRequest for the external manager."""
    external_token: str = "token-request"
    """``token-request`` (expiring, the default) or ``secret`` (a non-expiring ServiceAccount token Secret)."""

    @property
    def chart_is_default(self) -> bool:
        return self.chart == DEFAULT_CHART

    def with_answers(self, answers: Any) -> Any:
        """``answers`` with ``--chart-version`` applied (a copy when it changes anything)."""
        if self.chart_version is None or answers is None or answers.runner.chart_version == self.chart_version:
            return answers
        return replace(answers, runner=replace(answers.runner, chart_version=self.chart_version))


DEFAULTS = Settings()


def from_args(args: Any, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from parsed options (absent ones are None) and the fallback variables.
    Raises :class:`BadInput` naming every bad option or variable."""
    env = os.environ if environ is None else environ
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    for name in OPTION:
        raw = getattr(args, name, None)
        where = OPTION[name]
        if raw is None and name in ENV:
            raw = env.get(ENV[name])
            where = ENV[name]
            if raw is not None and raw.strip() == "":
                continue  # an empty variable is an unset one (as CI templates often leave them)
        if raw is None:
            continue
        value, problem = _PARSE[name](str(raw))
        if problem:
            errors.append(FieldError(where, problem))
            continue
        values[name] = value
        if name == "chart":
            values["chart_from"] = where
    if errors:
        raise BadInput(errors)
    return replace(DEFAULTS, **values)


def from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the fallback variables alone (front ends without options, the Python API)."""
    return from_args(None, environ)


# ---------------------------------------------------------------------------- parsers

_REPO_ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def _bad_chars(raw: str) -> str | None:
    from .safeio import bad_char

    return bad_char(raw)


def parse_chart(raw: str) -> tuple[str | None, str | None]:
    """(reference, None) or (None, what is wrong)."""
    ref = raw.strip()
    if not ref:
        return None, "is empty; give a local chart, repo/chart, a repository URL or oci://REGISTRY/PATH/CHART"
    bad = _bad_chars(ref)
    if bad:
        return None, f"contains {bad}"
    if ref.startswith("oci://"):
        path = ref.removeprefix("oci://").rstrip("/")
        last = path.rsplit("/", 1)[-1]
        if "/" not in path or not last or ":" in last or "@" in path:
            return None, (f"{ref}: expected oci://REGISTRY/PATH/CHART, e.g. oci://registry.example.com/charts/"
                          "gitlab-runner (the version comes from --chart-version or runner.chart_version, "
                          "not a :tag)")
        return f"oci://{path}", None
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", ref):
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(ref)
        except ValueError:
            return None, f"{ref}: not a URL (unbalanced [ or ])"
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None, f"{ref}: only https:// (or http://) chart repositories and oci:// registries are supported"
        return ref.rstrip("/"), None
    path = os.path.expanduser(ref)
    looks_local = ref.startswith(("/", "./", "../", "~")) or ref.endswith((".tgz", ".tar.gz")) or os.path.exists(path)
    if looks_local:
        if not os.path.exists(path):
            return None, f"{ref}: no such file or folder (a packaged .tgz, a chart folder, or a folder of " \
                         "gitlab-runner-<version>.tgz files)"
        if os.path.isfile(path) and not ref.endswith((".tgz", ".tar.gz")):
            return None, f"{ref}: a local chart is a packaged .tgz or a folder"
        return path, None
    if _REPO_ALIAS.match(ref):
        return ref, None
    return None, (f"{ref}: not a chart reference; give a local path (./gitlab-runner-0.86.0.tgz), a helm repo "
                  "alias and chart (gitlab/gitlab-runner), a repository URL (https://charts.gitlab.io) or "
                  "oci://REGISTRY/PATH/CHART")


def parse_chart_version(raw: str) -> tuple[str | None, str | None]:
    from .chart import version_problem
    from .validate import semver

    v = raw.strip()
    problem = semver(v) or version_problem(v)
    if problem:
        return None, problem.replace(" (quote it in YAML)", "").replace('Use chart_version "', 'Use "')
    return v, None


def parse_seconds(raw: str, *, allow_zero: bool) -> tuple[float | None, str | None]:
    """``90``, ``90s``, ``1.5m``, ``2h``, ``500ms`` -> seconds."""
    m = _DURATION.match(raw)
    if not m:
        return None, f"{raw!r} is not a duration; give seconds (e.g. 300) or 300s, 5m, 1h"
    n = float(m[1]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m[2]]
    if not math.isfinite(n) or n > MAX_TIMEOUT:
        return None, f"{raw!r} is more than {MAX_TIMEOUT / 3600:.0f}h; give a shorter time"
    if n == 0 and not allow_zero:
        return None, f"{raw!r} is zero; give a time in seconds (e.g. 300)"
    return n, None


def parse_hours(raw: str) -> tuple[int | None, str | None]:
    """``8760`` or ``8760h`` -> hours (whole, at least 1)."""
    m = re.match(r"^\s*(\d+)\s*h?\s*$", raw)
    if not m:
        return None, f"{raw!r} is not a number of hours (e.g. 8760 or 720h)"
    n = int(m[1])
    if n < 1:
        return None, "must be at least 1 hour"
    if n > MAX_TOKEN_LIFETIME_HOURS:
        return None, f"{n}h is more than a TokenRequest can ask for ({MAX_TOKEN_LIFETIME_HOURS}h)"
    return n, None


def parse_external_token(raw: str) -> tuple[str | None, str | None]:
    v = raw.strip().lower()
    if v not in EXTERNAL_TOKEN_KINDS:
        return None, f"{raw!r}: choose token-request (an expiring token, the default) or secret (never expires)"
    return v, None


_PARSE = {
    "chart": parse_chart,
    "chart_version": parse_chart_version,
    "verify_timeout": lambda raw: parse_seconds(raw, allow_zero=True),
    "verify_gitlab_timeout": lambda raw: parse_seconds(raw, allow_zero=True),
    "helm_timeout": lambda raw: parse_seconds(raw, allow_zero=False),
    "token_lifetime_hours": parse_hours,
    "external_token": parse_external_token,
}
