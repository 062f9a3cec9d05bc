"""``safe_load`` with libyaml (PyYAML's C loader) when it is there: the same documents, parsed
5-20x faster (a kubeconfig with embedded certificates, a Helm values file). Answers files
use their own stricter loader (:func:`wizard.answers.loads`)."""

from __future__ import annotations

from typing import Any


def safe_load(text: str | bytes) -> Any:
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
