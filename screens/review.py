"""Step 8: review every artifact, save the answers file, then go on to apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from wizard import steps as st
from wizard.errors import BadInput

from .step import Nav, StepScreen, field_label
from .widgets.checklist import Checklist

LEXERS = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml", ".md": "markdown", ".sh": "bash",
          ".conf": "ini", ".json": "json"}


class Rendered(Message):
    def __init__(self, files: dict[str, str] | None, error: str | None) -> None:
        super().__init__()
        self.files = files
        self.error = error


def lexer_for(name: str) -> str:
    return LEXERS.get(Path(name).suffix, "text")


class ReviewScreen(StepScreen):
    """Preview of every rendered file, all checks at once, and saving the answers."""

    BINDINGS = [*StepScreen.BINDINGS, Binding("ctrl+s", "save", "Save")]

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.files: dict[str, str] = {}
        self.problems: dict[str, dict[str, str]] = {}

    def next_label(self) -> str:
        return "Apply ▶"

    def compose_form(self) -> ComposeResult:
        with Horizontal(id="preview"):
            yield OptionList(id="files")
            with ScrollableContainer(id="file-view"):
                yield Static("Rendering…", id="file-text")
        with Vertical(id="save-box") as box:
            box.border_title = "Answers file"
            with Horizontal(classes="save-row"):
                yield Input(str(self.state.answers_path), id="answers-path")
                yield Button("Save", id="save", variant="success", compact=True)
            for path in sorted(self.state.drafts):
                ref = st.get_value(self.state.raw, path) or ""
                if isinstance(ref, str) and ref.startswith("file:"):
                    yield Checkbox(f"Also write the typed {field_label(path).lower()} to {ref[5:]} (mode 0600)",
                                   value=True,
                                   name=path, classes="write-secret")
                elif isinstance(ref, str) and ref.startswith("env:"):
                    yield Label(f"{field_label(path)}: export {ref[4:]}=… before replaying headless", classes="info")
            yield Static("", id="save-status")

    def on_mount(self) -> None:
        super().on_mount()
        self.problems = {s: e for s in st.FORM_STEP_IDS
                         if (e := st.validate_step(self.state.raw, s, self.state.base_dir))}
        if self.problems:
            first_step, errs = next(iter(self.problems.items()))
            path, msg = next(iter(errs.items()))
            self.query_one("#file-text", Static).update(Text.assemble(
                ("✘ Some answers need attention before anything can be rendered:\n", "bold red"),
                *[f"  {st.step(s).title}: {field_label(p)}: {m}\n" for s, e in self.problems.items()
                  for p, m in e.items()],
            ))
            self.query_one("#next", Button).disabled = True
            self.query_one("#save", Button).disabled = True
            self.query_one(Checklist).show_idle(f"Go back to {st.step(first_step).title} ({field_label(path)}).")
            goto = Button(f"Fix {st.step(first_step).title}", id="goto-fix", variant="warning", compact=True)
            self.query_one("#save-box").mount(goto, before=self.query_one("#save-status"))
            self._fix_step = first_step
            return
        answers = self.state.answers()
        self._render_worker(answers)
        self.run_checks()

    # ------------------------------------------------------------------ rendering

    @work(thread=True, exclusive=True, group="render", exit_on_error=False)
    def _render_worker(self, answers: Any) -> None:
        worker = get_current_worker()
        try:
            rendered = self.services.render(answers)
            files = {str(k): str(v) for k, v in dict(rendered.files).items()}
            msg = Rendered(files, None)
        except Exception as exc:
            msg = Rendered(None, f"{type(exc).__name__}: {exc}")
        if not worker.is_cancelled:
            self.post_message(msg)

    @on(Rendered)
    def _rendered(self, message: Rendered) -> None:
        if message.error is not None:
            self.query_one("#file-text", Static).update(
                Text(f"✘ Rendering failed: {message.error}", style="red"))
            return
        self.files = message.files or {}
        files = self.query_one("#files", OptionList)
        files.clear_options()
        # a file name is copied: never wrapped inside a name (a long one ends in "…" instead)
        files.add_options([Option(Text(name, no_wrap=True, overflow="ellipsis"), id=name) for name in self.files])
        if self.files:
            files.highlighted = 0
            self.show_file(next(iter(self.files)))

    def show_file(self, name: str) -> None:
        text = self.files.get(name, "")
        view = self.query_one("#file-text", Static)
        view.update(Syntax(text, lexer_for(name), theme="ansi_dark", line_numbers=True,
                           word_wrap=False, background_color="default"))
        self.query_one("#file-view", ScrollableContainer).scroll_home(animate=False)

    @on(OptionList.OptionHighlighted, "#files")
    def _file_chosen(self, event: OptionList.OptionHighlighted) -> None:
        self.show_file(str(event.option.id))

    # ------------------------------------------------------------------ saving

    def action_save(self) -> bool:
        if self.problems or not self.ready:
            return False
        path = Path(self.query_one("#answers-path", Input).value.strip() or "runner-answers.yaml")
        keep = {cb.name for cb in self.query(".write-secret").results(Checkbox) if cb.value}
        skipped = {p: v for p, v in self.state.drafts.items() if p not in keep}
        drafts_backup = dict(self.state.drafts)
        status = self.query_one("#save-status", Static)
        try:
            for p in skipped:
                self.state.drafts.pop(p)
            written = self.state.save(path)
        except (OSError, BadInput) as exc:
            status.update(Text(f"✘ Not saved: {exc}", style="red"))
            return False
        finally:
            self.state.drafts = drafts_backup
        status.update(Text("✔ Saved " + ", ".join(str(p) for p in written), style="green"))
        return True

    @on(Button.Pressed, "#goto-fix")
    def _goto_fix(self) -> None:
        if self.ready:
            self.dismiss(Nav("goto", self._fix_step))

    @on(Button.Pressed, "#save")
    def _save_pressed(self) -> None:
        self.action_save()

    def action_next(self) -> None:
        if self.problems or not self.ready:
            return
        self.dismiss(Nav("next"))

    def action_check(self) -> None:
        if not self.problems and self.ready:
            self.run_checks()
