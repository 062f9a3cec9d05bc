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

    MAX_SHOWN = 40
    """At most this many problems are listed (the rest are counted): output stays bounded."""

    def render(self) -> str:
        from .text import printable

        head = f"{printable(self.source, 300)}: " if self.source else ""

        def one(e: FieldError) -> str:
            return f"{printable(e.path, 200)}: {printable(e.message, 500)}"

        if len(self.errors) == 1:
            return f"{head}{one(self.errors[0])}"
        lines = [f"{head}{len(self.errors)} problems:"]
        lines += [f"  - {one(e)}" for e in self.errors[:self.MAX_SHOWN]]
        if len(self.errors) > self.MAX_SHOWN:
            lines.append(f"  … and {len(self.errors) - self.MAX_SHOWN} more")
        return "\n".join(lines)


class SecretUnavailable(BadInput):
    """A secret reference could not be resolved (missing env var or file)."""
