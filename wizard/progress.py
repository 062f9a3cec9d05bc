"""Progress events from long operations (apply, verify) to whoever shows them.

The core never prints from worker code: it calls a *reporter* with :class:`Event`
objects. The CLI prints them as lines; the TUI's apply screen turns them into
widgets (from a worker thread, so a reporter must be cheap and thread-safe).

A reporter is any callable taking one :class:`Event`. Questions go the other way
through a *confirm* callable ``(question, default) -> bool``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

# Steps, in the order apply runs them.
STEPS = ("render", "check", "plan", "apply", "token", "helm", "external", "verify")

# Statuses. "start" opens a step, "progress" is an intermediate line,
# the others close a step or report one item of it.
START, PROGRESS, OK, CHANGED, UNCHANGED, WARN, FAIL, SKIP, INFO = (
    "start", "progress", "ok", "changed", "unchanged", "warn", "fail", "skip", "info")


@dataclass(frozen=True)
class Event:
    """One progress report. ``message`` is one readable line, already free of secrets."""

    step: str
    status: str
    message: str
    detail: str = ""
    """Extra lines (a diff, a next step); may be multi-line."""
    data: dict[str, Any] = field(default_factory=dict, compare=False)
    """Structured extras for a UI (object kind/name, action, elapsed seconds...)."""


class Reporter(Protocol):
    def __call__(self, event: Event) -> None: ...


Confirm = Callable[[str, bool], bool]
"""Ask a yes/no question; the second argument is the default answer."""


def null_reporter(event: Event) -> None:
    """Discard every event."""


class Collecting:
    """A reporter that keeps every event (tests, the TUI's log pane)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, step: str) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.step == step]
