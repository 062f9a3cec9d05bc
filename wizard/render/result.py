"""The result of a render: every artifact, and the credentials resolved only on request."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..answers import Answers
from .manifests import secret_objects


@dataclass
class Rendered:
    values: dict
    """values.yaml for the chart (no secret). Empty in ``mode: external`` (no Helm release)."""
    config_template: str
    """The ``[[runners]]`` TOML: ``runners.config`` in Helm mode, config.template.toml in external mode."""
    manifests: list[dict]
    """Every object the wizard owns, in apply order. No Secret holding a token or password."""
    files: dict[str, str]
    """Relative path -> text, exactly what :func:`write` writes (secrets.yaml excepted)."""
    answers: Answers = field(repr=False, compare=False, default=None)  # type: ignore[assignment]
    runner_token: str | None = field(repr=False, compare=False, default=None)
    executable: frozenset[str] = field(repr=False, compare=False, default=frozenset())
    """Paths in ``files`` written with mode 0755."""

    def secret_objects(self) -> list[dict]:
        """The Secrets carrying credentials, with the secret references resolved now
        (:func:`wizard.render.manifests.secret_objects`)."""
        return secret_objects(self.answers, self.runner_token)
