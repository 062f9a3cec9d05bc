"""Errors that reach the user. Each names the field and the fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of the answers file."""

    path: str
    """Dotted path with list indexes, e.g. ``host_aliases[1].ip``."""
    message: str
    """What is wrong, including the offending value where it is not secret."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class WizardError(Exception):
    """Base for errors with a user-facing message and an exit code."""

    exit_code = 1


class BadInput(WizardError):
    """Invalid input: exit code 2, nothing written or applied."""

    exit_code = 2

    def __init__(self, errors: list[FieldError] | str, source: str | None = None):
        if isinstance(errors, str):
            errors = [FieldError("input", errors)]
        self.errors = errors
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.source}: " if self.source else ""
        if len(self.errors) == 1:
            return f"{head}{self.errors[0]}"
        lines = [f"{head}{len(self.errors)} problems:"]
        lines += [f"  - {e}" for e in self.errors]
        return "\n".join(lines)


class SecretUnavailable(BadInput):
    """A secret reference could not be resolved (missing env var or file)."""
