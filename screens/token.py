"""Step 3: how the runner gets its token (glrt- token, created for you, or legacy)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Static

from wizard import steps as st

from .step import StepScreen
from .widgets.fields import FieldRow

LEGACY_NOTE = (
    "Registration tokens are deprecated and may be switched off on your GitLab. With one, the "
    "runner registers itself the old way: settings you enter here can be overridden by GitLab, "
    "and a runner that re-registers keeps its old token and gets 403 Forbidden until the stale "
    "runner is removed. Prefer a glrt- token, or let the wizard create the runner."
)
TOKEN_NOTE = (
    "Create the runner in GitLab (Settings > CI/CD > Runners > New runner) and paste its token. "
    "Typed tokens stay masked and are stored in a 0600 file or an environment variable, never "
    "in the answers file."
)
CREATE_NOTE = (
    "The wizard creates the runner through the API when you apply, with a token that has the "
    "create_runner scope (a personal, group or project access token), and keeps the new "
    "runner's glrt- token."
)


class TokenScreen(StepScreen):
    """Token source and its fields, verified live against GitLab."""


    def compose_form(self) -> ComposeResult:
        yield from super().compose_form()
        yield Static(self._note(), id="token-note", classes="info")

    def _note(self) -> str:
        return {"token": TOKEN_NOTE, "create_runner": CREATE_NOTE,
                "registration_token": LEGACY_NOTE}[st.token_source(self.state.raw)]

    def field_changed(self, row: FieldRow | None) -> None:
        if row is not None and row.field.path == "_token_source":
            note = self.query_one("#token-note", Static)
            note.update(self._note())
            note.set_class(st.token_source(self.state.raw) == "registration_token", "-warn")
            self.query_one("#checklist").show_idle("Token source changed. Leave a field or press F5.")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#token-note").set_class(
            st.token_source(self.state.raw) == "registration_token", "-warn")
