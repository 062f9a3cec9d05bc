"""Step 6: private registries (trust and credentials for job images)."""

from __future__ import annotations

from wizard import steps as st

from .step import StepScreen


class RegistriesScreen(StepScreen):
    """One block per registry; passwords are masked and stored as references."""


    def add_label(self, f: st.Field) -> str:
        return "Add a registry"
