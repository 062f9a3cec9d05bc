"""The screen every wizard step is built on.

It lays out the step's fields from :mod:`wizard.steps` (so the Textual screens, the
line prompts and headless replay share one definition), keeps every change in the
shared :class:`~screens.services.WizardState` (Back and Next never lose input),
validates syntax with the step's validators, and runs the step's live checks in a
thread worker whenever a field is left or F5 is pressed. Subclasses add what is
particular to a step (the certificate panel, DNS results...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Footer, Static
from textual.widgets._footer import FooterKey
from textual.worker import get_current_worker

from wizard import steps as st
from wizard.errors import BadInput
from wizard.results import Result, Status

from .services import Services, WizardState
from .widgets.checklist import Checklist
from .widgets.fields import FieldRow, RecordsEditor, widget_id


NavAction = Literal["next", "back", "goto", "done"]


@dataclass(frozen=True)
class Nav:
    """How a step screen was left: ``next``, ``back``, ``goto`` (with ``target``) or ``done``."""

    action: NavAction
    target: str | None = None


class CheckResultArrived(Message):
    """One live-check result, posted from the check worker (``run``: the checklist generation)."""

    def __init__(self, run: int, result: Result) -> None:
        super().__init__()
        self.run = run
        self.result = result


class ChecksFinished(Message):
    def __init__(self, run: int, results: list[Result]) -> None:
        super().__init__()
        self.run = run
        self.results = results


class StepBar(Static):
    """The row of step names with the current one highlighted. When the names do not fit
    (80 columns), the other steps shrink to their numbers; all nine stay visible."""

    def __init__(self, current: str) -> None:
        super().__init__(id="stepbar")
        self.current = current

    def render(self) -> Text:
        width = self.content_size.width or 100
        for short in (False, True):
            text = self._text(short)
            if text.cell_len <= width:
                break
        return text

    def _text(self, short: bool) -> Text:
        text = Text()
        me = st.STEP_IDS.index(self.current)
        for i, s in enumerate(st.STEPS):
            current = s.id == self.current
            name = s.short_title
            label = f" {i + 1} {name} " if current or not short else f" {i + 1} "
            text.append(label, style="bold reverse" if current else ("" if i < me else "dim"))
        return text


class StepFooter(Footer):
    """The key bar. Its keys are built with the screen (Textual's Footer starts empty and
    fills in after the first refresh), and rebuilt at most once per burst of binding
    changes, only when what it shows changed: focus settling while a screen mounts gives
    several changes in a row, and on a step screen none of them changes the keys."""

    _rebuild_queued = False
    _shown: tuple[Any, ...] | None = None

    def compose(self) -> ComposeResult:
        self._bindings_ready = True
        self._shown = self._keys()
        for widget in super().compose():
            if isinstance(widget, FooterKey) and not widget.has_class("-command-palette"):
                # a key bound to the bar's style starts with it (else it starts compact, and is
                # restyled twice as it mounts); the command palette's key keeps its own
                widget.set_reactive(FooterKey.compact, self.compact)
            yield widget

    def _keys(self) -> tuple[Any, ...]:
        """What the bar shows: the shown bindings in force (and the command palette's)."""
        app = self.app
        return tuple((b, app.get_key_display(b), enabled, tooltip)
                     for key, (_, b, enabled, tooltip) in self.screen.active_bindings.items()
                     if b.show or key == app.COMMAND_PALETTE_BINDING)

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._rebuild_queued:
            self._rebuild_queued = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_queued = False
        if self.is_attached and self._keys() != self._shown:
            await self.recompose()


class StepScreen(Screen[Nav]):
    """A wizard step: form on the left, help and live checks on the right."""

    AUTO_FOCUS = ""
    """No focus on the first focusable widget (the form's scroll container) as the screen is
    composed: :meth:`focus_first` picks the field in ``on_mount``, and a focus moved twice
    restyles the form twice before the first paint."""
    STEP_ID: ClassVar[str] = ""
    """Set by :func:`screens.app.screen_class` from the step table (:data:`wizard.steps.STEPS`)."""
    EXTRA_CHECK_IDS: ClassVar[tuple[str, ...]] = ()
    """Checks of other steps that this step shows too (by id)."""
    BINDINGS = [
        Binding("ctrl+n", "next", "Next"),
        Binding("ctrl+b", "back", "Back"),
        Binding("f5", "check", "Check"),
        Binding("f1", "help", "Help"),
    ]

    def __init__(self, state: WizardState, services: Services) -> None:
        super().__init__(id=f"step-{self.STEP_ID}", classes="step")
        self.state = state
        self.services = services
        self.step = st.step(self.STEP_ID)
        self._run = 0
        self._shown_errors: set[str] = set()
        self._ready = False
        self.last_results: list[Result] | None = None

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield StepBar(self.STEP_ID)
        with Horizontal(id="body"):
            with VerticalScroll(id="form"):
                yield Static(self.step.title, classes="step-title")
                yield from self.compose_form()
            with Vertical(id="side"):
                yield from self.compose_side()
        with Horizontal(id="nav"):
            yield Button("◀ Back", id="back", disabled=self.STEP_ID == st.STEP_IDS[0])
            yield Static("", id="status")
            if self.step.checks:
                yield Button("Check", id="check")
            yield Button(self.next_label(), id="next", variant="primary")
        yield StepFooter()

    def compose_side(self) -> ComposeResult:
        """The side panel: why the step matters, and its live checks."""
        help_box = Static(self.help_text(), id="help")
        help_box.border_title = "Why this matters"
        yield help_box
        checklist = Checklist(id="checklist")
        checklist.display = bool(self.step.checks)
        yield checklist

    def next_label(self) -> str:
        return "Next ▶"

    def help_text(self) -> str:
        return self.step.help

    def compose_form(self) -> ComposeResult:
        """One row per field of the step (records get an editor)."""
        for f in self.step.fields:
            yield self.make_field(f)

    def make_field(self, f: st.Field) -> Widget:
        raw = self.state.raw
        if f.kind == "records":
            editor = RecordsEditor(f, st.get_value(raw, f.path) or [], self.state.drafts,
                                   add_label=self.add_label(f))
            return editor
        row = FieldRow(f, st.field_value(raw, f), draft=self.state.drafts.get(f.path),
                       secret_how=self._secret_how(f.path))
        row.display = f.active(raw)
        return row

    def add_label(self, f: st.Field) -> str:
        return "Add"

    def _secret_how(self, path: str) -> str:
        ref = st.get_value(self.state.raw, path)
        return "env" if isinstance(ref, str) and ref.startswith("env:") else "file"

    @property
    def ready(self) -> bool:
        """On top and fully built: keys that arrive earlier (a burst queued during the switch) do nothing."""
        return self._ready and self.is_current and self.is_attached

    def on_mount(self) -> None:
        self._ready = True
        self.state.visited.add(self.STEP_ID)
        self.focus_first()
        if self.state.show_errors:
            self.state.show_errors = False
            self.call_after_refresh(self._show_errors_now)

    def on_screen_resume(self) -> None:
        self.call_after_refresh(self._focus_if_none)

    def _focus_if_none(self) -> None:
        """Back from a dialog with nothing focused: no AUTO_FOCUS picks a widget, so the form does."""
        if self.ready and self.focused is None:
            self.focus_first()

    def _show_errors_now(self) -> None:
        if self.validate():
            self.focus_first_error()

    def focus_first_error(self) -> None:
        errors = self._shown_errors
        for row in self.query(FieldRow):
            if row.path in errors and row.display:
                controls = row.query("#control")
                if controls:
                    controls.first().focus()
                return

    def focus_first(self) -> None:
        """Focus the first visible field, else the first focusable widget of the form, else Next."""
        for row in self.query(FieldRow):
            if row.display:
                controls = row.query("#control")
                if controls and controls.first().focusable:
                    controls.first().focus()
                    return
                break
        form = self.query_one("#form")
        for widget in form.query("*"):
            if widget.focusable and widget.display and not isinstance(widget, VerticalScroll):
                widget.focus()
                return
        nxt = self.query_one("#next", Button)
        if not nxt.disabled:
            nxt.focus()

    def on_descendant_focus(self, event: Any) -> None:
        """Keep the focused field in view (the form scrolls to it)."""
        widget = event.widget
        if widget is not None and self.query_one("#form") in widget.ancestors:
            self.call_after_refresh(self._scroll_to, widget)

    def _scroll_to(self, widget: Widget) -> None:
        if widget.is_attached:
            row = next((a for a in widget.ancestors if isinstance(a, FieldRow)), None)
            self.query_one("#form", VerticalScroll).scroll_to_widget(row or widget, animate=False)

    # ------------------------------------------------------------------ state

    def commit_row(self, row: FieldRow) -> bool:
        """Copy one row's value into the shared state. True when the answers changed."""
        f = row.field
        drafts_before = dict(self.state.drafts)
        if f.kind in ("secret-ref", "secret-value"):
            value = self._secret_value(row)
        else:
            value = row.read()
        before = st.field_value(self.state.raw, f)
        if before != value:
            st.set_field(self.state.raw, f, value)
            self.state.changed()
            return True
        return drafts_before != self.state.drafts

    def _secret_value(self, row: FieldRow) -> str | None:
        text = row.secret_text or ""
        path = row.path
        if not text:
            self.state.drafts.pop(path, None)
            row.show_draft_choice(False)
            return None
        if st.is_reference(text):
            self.state.drafts.pop(path, None)
            row.show_draft_choice(False)
            return text
        if self.state.drafts.get(path) != text:
            self.state.drafts[path] = text
            self.state.changed()
        row.show_draft_choice(True)
        return st.secret_reference(path, row.secret_how)

    def commit_records(self, editor: RecordsEditor) -> bool:
        """Copy a records editor into the shared state. True when the answers changed."""
        drafts_before = dict(self.state.drafts)
        records = editor.read()
        for row in editor.query(FieldRow):
            if row.field.kind in ("secret-ref", "secret-value"):
                idx = int(row.path.split("[", 1)[1].split("]", 1)[0])
                if idx < len(records):
                    records[idx][row.field.path] = self._secret_value(row)
        # drop drafts of records that were removed
        for path in list(self.state.drafts):
            if path.startswith(editor.field.path + "["):
                idx = int(path.split("[", 1)[1].split("]", 1)[0])
                if idx >= len(records):
                    del self.state.drafts[path]
        if st.get_value(self.state.raw, editor.field.path) != records:
            st.set_value(self.state.raw, editor.field.path, records)
            self.state.changed()
            return True
        return drafts_before != self.state.drafts

    def commit_all(self) -> bool:
        changed = False
        for editor in self.query(RecordsEditor):
            changed = self.commit_records(editor) or changed
        for row in self.query(FieldRow):
            if row.path == row.field.path:
                changed = self.commit_row(row) or changed
        if changed:
            self.answers_changed()
        return changed

    def answers_changed(self) -> None:
        """The answers of this step changed: earlier check results no longer apply."""
        checklists = self.query(Checklist)
        if checklists:
            checklists.first().mark_stale()
        self.refresh_status()

    def refresh_visibility(self) -> None:
        for row in self.query(FieldRow):
            if row.path == row.field.path:
                row.display = row.field.active(self.state.raw)

    @on(FieldRow.Edited)
    def _field_edited(self, event: FieldRow.Edited) -> None:
        row = event.row
        if not row.is_attached:
            return
        if row.path == row.field.path:
            changed = self.commit_row(row)
        else:
            editors = [a for a in row.ancestors if isinstance(a, RecordsEditor)]
            if not editors:
                return
            changed = self.commit_records(editors[0])
        self.refresh_visibility()
        if changed:
            self.answers_changed()
        self.field_changed(row)

    @on(RecordsEditor.Changed)
    def _records_changed(self, event: RecordsEditor.Changed) -> None:
        if self.commit_records(event.editor):
            self.answers_changed()
        self.field_changed(None)

    def field_changed(self, row: FieldRow | None) -> None:
        """Hook: a value changed."""

    @on(FieldRow.Left)
    def _field_left(self, event: FieldRow.Left) -> None:
        self.commit_all()
        if self.step.checks and not self.validate(show=False):
            self.run_checks()

    # ------------------------------------------------------------------ validation

    def validate(self, show: bool = True) -> dict[str, str]:
        """Syntax and cross-field problems of this step; shown beside the fields."""
        errors = st.validate_step(self.state.raw, self.STEP_ID, base_dir=self.state.base_dir)
        if show:
            self.show_errors(errors)
        return errors

    def refresh_status(self) -> None:
        """Re-judge the problems already pointed out; fixed ones disappear (new ones wait for Next)."""
        if not self._shown_errors:
            return
        errors = self.validate(show=False)
        self.show_errors({p: m for p, m in errors.items() if p in self._shown_errors})

    def show_errors(self, errors: dict[str, str]) -> None:
        self._shown_errors = set(errors)
        unplaced: list[str] = []
        rows = {row.path: row for row in self.query(FieldRow)}
        for path, row in rows.items():
            row.show_error(errors.get(path))
        for path, msg in errors.items():
            if path not in rows or not rows[path].display:
                unplaced.append(f"{field_label(path)}: {msg}")
        status = self.query_one("#status", Static)
        if errors:
            n = len(errors)
            status.update(Text(f"{n} field{'s' if n > 1 else ''} need{'' if n > 1 else 's'} attention"
                               + (f" · {unplaced[0]}" if unplaced else ""), style="bold red"))
            status.add_class("-error")
        else:
            status.update("")
            status.remove_class("-error")

    # ------------------------------------------------------------------ live checks

    def run_checks(self) -> None:
        """Start this step's checks in the background (a newer run cancels an older one)."""
        checklist = self.query_one(Checklist)
        try:
            answers = self.state.answers(for_checks=True)
        except BadInput as exc:
            mine = [e for e in exc.errors if st.step_of(e.path) == self.STEP_ID]
            others = [e for e in exc.errors if e not in mine]
            if mine:
                self.show_errors({e.path: e.message for e in mine})
                checklist.show_idle("Fix the highlighted fields to run the checks.")
            else:
                first = others[0]
                step_id = st.step_of(first.path)
                where = st.step(step_id).title if step_id else "an earlier step"
                checklist.show_idle(f"Checks wait for {where}: {field_label(first.path)}: {first.message}")
            return
        self._run = checklist.start(self.step.title.lower())
        # read on this (the UI) thread: the worker must not read self.state while the user edits it
        context = st.get_value(self.state.raw, "cluster.context") or self.state.context
        self._check_worker(answers, self._run, list(self.step.checks), list(self.EXTRA_CHECK_IDS),
                           self.state.kubeconfig, context)

    @work(thread=True, exclusive=True, group="checks", exit_on_error=False)
    def _check_worker(self, answers: Any, run: int, check_steps: list[str], extra_ids: list[str],
                      kubeconfig: str | None, context: str | None) -> None:
        worker = get_current_worker()

        def on_result(result: Result) -> None:
            if not worker.is_cancelled:
                self.post_message(CheckResultArrived(run, result))

        try:
            results = list(self.services.run_checks(
                answers, kubeconfig=kubeconfig, context=context,
                steps=check_steps, on_result=on_result))
            if extra_ids and not worker.is_cancelled:
                results += list(self.services.run_checks(
                    answers, kubeconfig=kubeconfig, context=context,
                    steps=None, ids=extra_ids, on_result=on_result))
        except Exception as exc:  # a broken check must not take the screen down
            results = [Result("wizard.checks", "wizard", Status.FAIL, "The checks could not run",
                              detail=f"{type(exc).__name__}: {exc}",
                              fix="see the log file (--log-file) and report it; you can continue without checks")]
        if not worker.is_cancelled:
            self.post_message(ChecksFinished(run, list(results)))

    @on(CheckResultArrived)
    def _check_result(self, message: CheckResultArrived) -> None:
        self.query_one(Checklist).add_result(message.result, message.run)

    @on(ChecksFinished)
    def _checks_finished(self, message: ChecksFinished) -> None:
        if self.query_one(Checklist).finish(message.results, message.run):
            self.last_results = message.results
            self.state.accepted.difference_update(r.id for r in message.results if r.status is not Status.FAIL)
            self.checks_finished(message.results)

    def checks_finished(self, results: list[Result]) -> None:
        """Hook: a check run completed."""

    # ------------------------------------------------------------------ actions

    def action_check(self) -> None:
        if not self.ready:
            return
        self.commit_all()
        if self.validate():
            self.query_one(Checklist).show_idle("Fix the highlighted fields to run the checks.")
            return
        if self.step.checks:
            self.run_checks()

    def action_help(self) -> None:
        """F1: a help window for this step (the side panel stays as it is)."""
        from .dialogs import HelpDialog

        if self.ready:
            self.app.push_screen(HelpDialog(self.step.title, self.help_text()))

    def action_back(self) -> None:
        if not self.ready or self.query_one("#back", Button).disabled:
            return
        self.commit_all()
        self.dismiss(Nav("back"))

    def action_next(self) -> None:
        if not self.ready:
            return
        self.commit_all()
        errors = self.validate()
        if errors:
            self.focus_first_error()
            return
        failed = self.query_one(Checklist).failed
        if failed:
            from .dialogs import YesNoDialog

            def answer(go_on: bool | None) -> None:
                if go_on and self.ready:
                    self.state.accepted.update(r.id for r in failed)
                    self.dismiss(Nav("next"))
            n = len(failed)
            self.app.push_screen(YesNoDialog(
                f"{n} check{'s' if n > 1 else ''} failed: {failed[0].title}.\n"
                "Continue anyway? You can fix it later and re-run the checks on the review step.",
                yes="Continue", no="Stay"), answer)
            return
        self.dismiss(Nav("next"))

    @on(Button.Pressed, "#next")
    def _next_pressed(self) -> None:
        self.action_next()

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#check")
    def _check_pressed(self) -> None:
        self.action_check()

    def row(self, path: str) -> FieldRow:
        return self.query_one(f"#{widget_id(path)}", FieldRow)


def field_label(path: str) -> str:
    """The label a user sees for an answers path (``gitlab.ca.file`` -> ``CA file (PEM)``)."""
    import re as _re

    try:
        return st.find_field(path).label
    except Exception:
        pass
    m = _re.match(r"^([^\[]+)\[(\d+)\]\.?(.*)$", path)
    if m:
        try:
            records = st.find_field(m.group(1))
            item = next((f for f in records.item_fields if f.path == m.group(3)), None)
            noun = records.label.rstrip("s")
            return f"{noun} {int(m.group(2)) + 1}" + (f": {item.label}" if item else "")
        except Exception:
            pass
    return path
