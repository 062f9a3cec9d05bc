"""Names of the objects runner-wizard owns, derived from the answers in one place."""

from __future__ import annotations

import re
from typing import Any

from .answers import Answers, Registry

MANAGED_BY = {"app.kubernetes.io/managed-by": "runner-wizard"}


def labels(a: Answers, component: str) -> dict[str, str]:
    return {**MANAGED_BY, "app.kubernetes.io/part-of": a.runner.release_name,
            "app.kubernetes.io/component": component}


def token_secret(a: Answers) -> str:
    """Secret in the runner namespace with keys runner-token and runner-registration-token."""
    return f"{a.runner.release_name}-token"


def ca_secret(a: Answers) -> str:
    """Secret with key ``<gitlab host>.crt``, in both namespaces."""
    return f"{a.runner.release_name}-gitlab-ca"


def manager_role(a: Answers) -> str:
    """Role (in the jobs namespace) and RoleBinding for the runner manager."""
    return f"{a.runner.release_name}-manager"


def job_view_binding(a: Answers) -> str:
    return f"{a.runner.release_name}-job-view"


def pull_secret(a: Answers, reg: Registry) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", reg.host.lower()).strip("-")
    return f"{a.runner.release_name}-pull-{slug}"[:253].rstrip("-")


def pull_secrets(a: Answers) -> list[str]:
    return [pull_secret(a, r) for r in a.registries if r.needs_pull_secret]


def external_token_secret(a: Answers) -> str:
    """Non-expiring service-account-token Secret for an external manager (opt-in)."""
    return f"{a.runner.release_name}-external-manager-token"


# --------------------------------------------------------------------------- the chart's own names

CHART_NAME = "gitlab-runner"
"""``.Chart.Name`` of the upstream chart (the same in every version runner-wizard renders for)."""


def _trunc63(s: str) -> str:
    """Helm's ``trunc 63 | trimSuffix "-"`` (trimSuffix removes one trailing "-", not all)."""
    s = s[:63]
    return s[:-1] if s.endswith("-") else s


def chart_fullname(release: str, values: dict[str, Any] | None = None) -> str:
    """``gitlab-runner.fullname`` of the chart (``templates/_helpers.tpl``, 0.77.2 to 0.86.0).

    ``fullnameOverride`` wins (truncated); otherwise the release name alone when it *starts
    with* the chart name (or ``nameOverride``), else ``<release>-<name>``; both truncated to
    63 characters with one trailing "-" dropped. The Deployment, the ConfigMap, the ``app``
    label and (with ``runnerToken`` in values) the token Secret all carry this name."""
    values = values or {}
    override = values.get("fullnameOverride")
    if override:
        return _trunc63(str(override))
    name = str(values.get("nameOverride") or CHART_NAME)
    if release.startswith(name):
        return _trunc63(release)
    return _trunc63(f"{release}-{name}")


def deployment(a: Answers) -> str:
    """The chart's Deployment name for these answers (render emits no name overrides)."""
    return chart_fullname(a.runner.release_name)


def configmap(a: Answers) -> str:
    """The chart's ConfigMap (entrypoint, config.toml, config.template.toml): the fullname too."""
    return chart_fullname(a.runner.release_name)


def app_label(a: Answers) -> str:
    """The ``app`` label on the manager pods (``kubectl get pods -l app=...``)."""
    return chart_fullname(a.runner.release_name)
