"""What differs between the gitlab-runner chart versions runner-wizard renders for.

Read from the templates and values.yaml of the packaged upstream charts 0.77.2, 0.83.3
and 0.86.0 (``tests/unit/test_real_chart.py`` renders every one of them with ``helm
template`` and holds this table to what they really do):

* **0.77.2** (Runner 18.0.2): every object goes to the release namespace; no top-level
  ``namespace`` value, no ``runners.jobNamespace`` (the default ``runners.config`` uses
  ``.Release.Namespace``), no ``extraEnvFromRefs``.
* **0.83.3** (Runner 18.6.3): top-level ``namespace`` moves every object (Deployment,
  ConfigMap, Secret, ServiceAccount, Role, RoleBinding); ``runners.jobNamespace`` exists
  only inside the default ``runners.config`` text; ``extraEnvFromRefs`` (envFrom).
* **0.86.0** (Runner 18.9.0): ``rbac.create`` puts the Role and RoleBinding into
  ``runners.jobNamespace`` (since 0.84.0; before, they sit next to the Deployment, where
  they give the manager no rights in a separate jobs namespace); the session server gets
  its own Role; ``metrics.podMonitor``.

Unchanged across the three, and what render relies on: ``gitlab-runner.fullname``
(:func:`wizard.names.chart_fullname`), the token Secret projected with both keys
``runner-registration-token`` and ``runner-token`` (no ``optional``), ``certsSecretName``
mounted at ``/home/gitlab-runner/.gitlab-runner/certs/`` with ``runAsUser: 100``,
``runners.config`` passed through ``tpl`` into ConfigMap key ``config.template.toml`` and
``register --template-config /configmaps/config.template.toml``, ``serviceAccount.{create,
name}``, ``hostAliases`` on the manager pod, ``unregisterRunners`` as a preStop hook.
The values render writes are read by all three (no key any of them ignores), and with
``rbac.create: false`` and ``serviceAccount.create: false`` the chart creates no RBAC
object or ServiceAccount of its own, so the Role placement change does not touch an
install made by runner-wizard (its own Role lives in the jobs namespace).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TESTED = ("0.77.2", "0.83.3", "0.86.0")
"""Chart versions whose real packages the test suite renders and installs."""
DEFAULT_VERSION = "0.86.0"
MIN_VERSION = "0.66.0"
"""``serviceAccount.name`` (render's way to name the manager's ServiceAccount) arrived in 0.66.0."""

_RUNNER = {"0.77.2": "18.0.2", "0.83.3": "18.6.3", "0.86.0": "18.9.0"}
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$")


def parse(version: str) -> tuple[int, int, int] | None:
    m = _SEMVER.match(version or "")
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


@dataclass(frozen=True)
class ChartFacts:
    version: str
    runner_version: str
    """appVersion: the manager image ``alpine-v<this>`` and the helper image ``x86_64-v<this>``."""
    tested: bool
    """One of :data:`TESTED`; otherwise the facts are those of the nearest tested version."""
    namespace_value: bool
    """Top-level ``namespace`` value moves the chart's objects (0.83.0+)."""
    role_in_jobs_namespace: bool
    """``rbac.create`` puts Role and RoleBinding into ``runners.jobNamespace`` (0.84.0+)."""

    @property
    def helper_image(self) -> str:
        """The helper image the runner pulls by default for amd64 job pods."""
        return f"registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:x86_64-v{self.runner_version}"


def facts(version: str) -> ChartFacts:
    """The facts for ``version``; an untested version gets those of the nearest tested one
    below it (or the oldest tested one), with ``tested=False``."""
    v = parse(version) or parse(DEFAULT_VERSION)
    assert v is not None
    base = TESTED[0]
    for t in TESTED:
        if parse(t) <= v:  # type: ignore[operator]
            base = t
    return ChartFacts(
        version=version,
        runner_version=_RUNNER[base],
        tested=version in TESTED,
        namespace_value=v >= (0, 83, 0),
        role_in_jobs_namespace=v >= (0, 84, 0),
    )


def version_problem(version: str) -> str | None:
    """Why render cannot target ``version`` (an error), or None."""
    v = parse(version)
    if v is None:
        return None  # the semver validator reports it
    if v < parse(MIN_VERSION):  # type: ignore[operator]
        return (f'chart {version} is older than {MIN_VERSION}, which added serviceAccount.name; the values '
                f'runner-wizard writes need it. Use chart_version "{DEFAULT_VERSION}" (or one of '
                f'{", ".join(TESTED)})')
    return None


def version_warning(version: str) -> str | None:
    """A plain warning for a chart version the test suite has not rendered, or None."""
    if version in TESTED or version_problem(version) or parse(version) is None:
        return None
    f = facts(version)
    return (f"gitlab-runner chart {version} is not one runner-wizard is tested with ({', '.join(TESTED)}); "
            f"the values are written as for the nearest tested chart (GitLab Runner {f.runner_version} "
            f"assumed for the helper image). Check the chart's CHANGELOG, or use {DEFAULT_VERSION}")


def role_namespace(version: str, values: dict[str, Any], release_namespace: str) -> str:
    """Where ``rbac.create: true`` puts the chart's Role and RoleBinding."""
    f = facts(version)
    runners = values.get("runners") or {}
    if f.role_in_jobs_namespace:
        return str(runners.get("jobNamespace") or values.get("namespace") or release_namespace)
    if f.namespace_value:
        return str(values.get("namespace") or release_namespace)
    return release_namespace


def manager_namespace(version: str, values: dict[str, Any], release_namespace: str) -> str:
    """Where the chart puts the Deployment, ConfigMap, token Secret and ServiceAccount."""
    if facts(version).namespace_value:
        return str(values.get("namespace") or release_namespace)
    return release_namespace
