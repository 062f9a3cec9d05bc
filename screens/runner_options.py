"""Step 7: runner options (Helm values and config.toml)."""

from __future__ import annotations

from .step import StepScreen


class RunnerOptionsScreen(StepScreen):
    """Release, concurrency, images, privileges, resources, placement."""

    STEP_ID = "runner"
