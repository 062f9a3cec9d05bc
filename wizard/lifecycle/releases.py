"""Placeholder: filled in by the next commit."""

from __future__ import annotations

from typing import Any

from wizard.errors import WizardError


def command(args: Any, opts: Any) -> int:
    raise WizardError("not implemented yet")
