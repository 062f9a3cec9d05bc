"""Step 4: namespaces and service accounts."""

from __future__ import annotations

from .step import StepScreen


class NamespacesScreen(StepScreen):
    """Runner and jobs namespaces, service accounts and the jobs' API access."""

    STEP_ID = "namespaces"
