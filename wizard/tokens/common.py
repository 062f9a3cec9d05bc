"""What the runner token and the external manager's credentials share: the Secret keys and
annotations, the lifetime defaults, :class:`TokenError` and two decoders.
"""

from __future__ import annotations

import base64
from typing import Any

from ..errors import WizardError


RUNNER_ID_ANNOTATION = "runner-wizard/runner-id"
MARK_PREFIX = "[runner-wizard:"
RESTART_ANNOTATION = "runner-wizard/restartedAt"
RESTART_PENDING_ANNOTATION = "runner-wizard/restart-pending"
"""On the token Secret between writing a changed token and restarting the manager pods: an apply stopped
in between leaves it, and the next apply restarts the pods (then removes it)."""
TOKEN_KEY = "runner-token"
REGISTRATION_KEY = "runner-registration-token"

DEFAULT_LIFETIME_HOURS = 8760
RENEW_WHEN_LEFT = 0.25
"""An external token with less than this share of its lifetime left is replaced."""


class TokenError(WizardError):
    """The runner token could not be settled; the message says why and what to do."""

    def __init__(self, message: str, next_step: str = ""):
        self.next_step = next_step
        super().__init__(message + (f"\n  next step: {next_step}" if next_step else ""))


def _b64d(v: str | None) -> str:
    if not v:
        return ""
    try:
        return base64.b64decode(v).decode("utf-8").strip()
    except (ValueError, UnicodeDecodeError):
        return ""


def _int(v: Any) -> int | None:
    try:
        return int(v) if v is not None else None
    except (TypeError, ValueError):
        return None
