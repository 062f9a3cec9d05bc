"""Names of the objects runner-wizard owns, derived from the answers in one place."""

from __future__ import annotations

import re

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


def deployment(a: Answers) -> str:
    """The chart's Deployment name (gitlab-runner.fullname): release name when it contains the chart name."""
    rel = a.runner.release_name
    return rel if "gitlab-runner" in rel else f"{rel}-gitlab-runner"
