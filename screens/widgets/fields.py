"""Form widgets built from :class:`wizard.steps.Field`: one row per field, any kind."""

from __future__ import annotations

import re
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Select, Static

from wizard import steps as st


def example(placeholder: str | None) -> str:
    """A placeholder that cannot be mistaken for a value (``42`` -> ``e.g. 42``)."""
    if not placeholder:
        return ""
    return placeholder if placeholder.lower().startswith("e.g.") else f"e.g. {placeholder}"


def widget_id(path: str) -> str:
    """A DOM id for a field path (``registries[0].host`` -> ``f-registries-0-host``)."""
    return "f-" + re.sub(r"[^A-Za-z0-9_-]+", "-", path).strip("-")


class FieldValidator(Validator):
    """Runs the step definition's validator on what an Input holds."""

    def __init__(self, field: st.Field) -> None:
        super().__init__()
        self.field = field

    def validate(self, value: str) -> ValidationResult:
        msg = st.check_value(self.field, st.parse_input(self.field, value))
        return self.failure(msg) if msg else self.success()


class FieldRow(Vertical):
    """Label, control and error line for one field."""

    class Edited(Message):
        """The user changed the value (posted for every change)."""

        def __init__(self, row: FieldRow) -> None:
            super().__init__()
            self.row = row

        @property
        def control(self) -> FieldRow:
            return self.row

    class Left(Message):
        """Focus left the field: a good moment for live checks."""

        def __init__(self, row: FieldRow) -> None:
            super().__init__()
            self.row = row

    def __init__(self, field: st.Field, value: Any, *, path: str | None = None,
                 draft: str | None = None, secret_how: str = "file",
                 choices: list[tuple[str, str]] | None = None) -> None:
        self.field = field
        self.path = path or field.path
        super().__init__(id=widget_id(self.path), classes=f"field -{field.kind}")
        self._value = value
        self._draft = draft
        self._secret_how = secret_how
        self._choices = choices

    # ------------------------------------------------------------------ compose

    def compose(self) -> ComposeResult:
        f = self.field
        if f.kind != "bool":
            yield Label(f.label, classes="field-label")
        if f.kind in ("text", "int", "list", "mapping", "secret-ref", "secret-value"):
            secret = f.kind in ("secret-ref", "secret-value")
            text = self._draft if (secret and self._draft is not None) else st.format_value(f, self._value)
            # a reference (env:NAME, file:PATH) is not a secret: it stays readable; typed secrets are masked
            yield Input(value=text, placeholder=example(f.placeholder), password=secret and not st.is_reference(text),
                        validators=[FieldValidator(f)], validate_on=["blur", "submitted"],
                        id="control", compact=False)
            if secret:
                yield self._secret_keep()
        elif f.kind == "choice" and f.virtual:
            with RadioSet(id="control"):
                for c in f.choices:
                    yield RadioButton(f.label_for(c), value=(c == self._value))
        elif f.kind == "choice":
            opts = self._choices if self._choices is not None else [(f.label_for(c), c) for c in f.choices]
            values = [o[1] for o in opts]
            current = self._value if self._value in values else Select.NULL
            yield Select(opts, value=current, allow_blank=f.optional or not values,
                         prompt="(current context)" if f.dynamic_choices else "Select", id="control")
        elif f.kind == "bool":
            yield Checkbox(f.label, value=bool(self._value), id="control")
        elif f.kind == "multichoice":
            chosen = list(self._value or [])
            with Horizontal(id="control", classes="multichoice"):
                for c in f.choices:
                    yield Checkbox(f.label_for(c), value=c in chosen, name=c)
        if f.help:
            yield Static(f.help, classes="field-help")
        yield Static("", classes="field-error")

    def _secret_keep(self) -> Widget:
        file_name, env_name = st.secret_defaults(self.path)
        box = Vertical(classes="secret-keep")
        box.display = self._draft is not None
        box.compose_add_child(Label("Typed, not referenced. Keep it in:"))
        rs = RadioSet(RadioButton(f"the file ./{file_name} (mode 0600)", value=self._secret_how == "file"),
                      RadioButton(f"the environment variable {env_name}", value=self._secret_how == "env"),
                      id="keep")
        box.compose_add_child(rs)
        return box

    # ------------------------------------------------------------------ reading

    def read(self) -> Any:
        """The typed value (text that does not convert is returned as is, for the validator)."""
        f = self.field
        if f.kind == "choice" and f.virtual:
            idx = self.query_one(RadioSet).pressed_index
            return f.choices[idx] if 0 <= idx < len(f.choices) else None
        if f.kind == "choice":
            sel: Select[str] = self.query_one("#control", Select)
            return None if sel.is_blank() else sel.value
        if f.kind == "bool":
            return self.query_one("#control", Checkbox).value
        if f.kind == "multichoice":
            return [cb.name for cb in self.query_one("#control").query(Checkbox) if cb.value]
        text = self.query_one("#control", Input).value
        return st.parse_input(f, text)

    @property
    def secret_text(self) -> str | None:
        """For secret fields: what was typed (a reference or the secret itself)."""
        if self.field.kind not in ("secret-ref", "secret-value"):
            return None
        return self.query_one("#control", Input).value.strip()

    @property
    def secret_how(self) -> str:
        keep = self.query("#keep")
        if keep and keep.first(RadioSet).pressed_index == 1:
            return "env"
        return "file"

    def show_draft_choice(self, show: bool) -> None:
        for box in self.query(".secret-keep"):
            box.display = show

    def set_choices(self, options: list[tuple[str, str]], value: str | None) -> None:
        sel = self.query_one("#control", Select)
        with self.prevent(Select.Changed):
            sel.set_options(options)
            if value in [o[1] for o in options]:
                sel.value = value

    # ------------------------------------------------------------------ errors

    def show_error(self, message: str | None) -> None:
        err = self.query_one(".field-error", Static)
        err.update(message or "")
        self.set_class(bool(message), "-invalid")

    @property
    def error(self) -> str:
        return str(self.query_one(".field-error", Static).content)

    # ------------------------------------------------------------------ events

    @on(Input.Changed, "#control")
    def _input_changed(self, event: Input.Changed) -> None:
        if self.field.kind in ("secret-ref", "secret-value"):
            event.input.password = not st.is_reference(event.value)
        self._changed(event)

    @on(Select.Changed, "#control")
    @on(Checkbox.Changed)
    @on(RadioSet.Changed)
    def _changed(self, event: Message) -> None:
        event.stop()
        if isinstance(event, Input.Changed) and self.has_class("-invalid"):
            self.show_error(None)
        self.post_message(self.Edited(self))

    @on(Input.Blurred, "#control")
    def _blurred(self, event: Input.Blurred) -> None:
        event.stop()
        if event.validation_result is not None and not event.validation_result.is_valid:
            self.show_error(event.validation_result.failure_descriptions[0])
        self.post_message(self.Left(self))

    @on(Input.Submitted, "#control")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Left(self))


class RecordBox(Vertical):
    """One record of a ``records`` field: its item fields, a note line and a Remove button."""

    def __init__(self, field: st.Field, index: int, record: dict[str, Any], drafts: dict[str, str]) -> None:
        super().__init__(classes="record", id=widget_id(f"{field.path}[{index}]"))
        self.field = field
        self.index = index
        self.record = record
        self.drafts = drafts

    def compose(self) -> ComposeResult:
        with Horizontal(classes="record-fields"):
            for item in self.field.item_fields:
                path = f"{self.field.path}[{self.index}].{item.path}"
                row = FieldRow(item, self.record.get(item.path), path=path, draft=self.drafts.get(path))
                row.display = item.when is None or item.when(self.record)
                yield row
        with Horizontal(classes="record-foot"):
            yield Static("", classes="record-note", id=f"note-{self.index}")
            yield Button("Remove", classes="remove", variant="error", compact=True,
                         id=f"remove-{self.index}")

    def read(self) -> dict[str, Any]:
        out = dict(self.record)
        for row in self.query(FieldRow):
            out[row.field.path] = row.read()
        return out


class RecordsEditor(Vertical):
    """Edit a list of records (host aliases, registries). Posts ``FieldRow.Edited`` via rows."""

    class Changed(Message):
        def __init__(self, editor: RecordsEditor) -> None:
            super().__init__()
            self.editor = editor

    def __init__(self, field: st.Field, records: list[dict[str, Any]], drafts: dict[str, str],
                 add_label: str = "Add") -> None:
        super().__init__(id=widget_id(field.path), classes=f"records records-{field.path}")
        self.field = field
        self.records = [dict(r) for r in records]
        self.drafts = drafts
        self.add_label = add_label

    def compose(self) -> ComposeResult:
        if not self.records:
            yield Static("None yet.", classes="records-empty")
        for i, rec in enumerate(self.records):
            yield RecordBox(self.field, i, rec, self.drafts)
        yield Button(self.add_label, id="add-record", variant="primary", compact=True)

    def read(self) -> list[dict[str, Any]]:
        return [box.read() for box in self.query(RecordBox)]

    async def add(self, record: dict[str, Any] | None = None) -> None:
        self.records = self.read() + [record or st.new_record(self.field)]
        await self.recompose()
        self.post_message(self.Changed(self))

    async def remove(self, index: int) -> None:
        recs = self.read()
        del recs[index]
        self.records = recs
        await self.recompose()
        self.post_message(self.Changed(self))

    @on(Button.Pressed, "#add-record")
    async def _add(self, event: Button.Pressed) -> None:
        event.stop()
        await self.add()
        boxes = self.query(RecordBox)
        if boxes:
            boxes.last().query(Input).first().focus()

    @on(Button.Pressed, ".remove")
    async def _remove(self, event: Button.Pressed) -> None:
        event.stop()
        assert event.button.id is not None
        await self.remove(int(event.button.id.split("-")[1]))

    @on(FieldRow.Edited)
    def _edited(self, event: FieldRow.Edited) -> None:
        # refresh per-record conditions (a plain-http registry has no CA file)
        for box in self.query(RecordBox):
            rec = box.read()
            for row in box.query(FieldRow):
                row.display = row.field.when is None or row.field.when(rec)

    def note(self, index: int, text: object) -> None:
        notes = self.query(f"#note-{index}")
        if notes:
            notes.first(Static).update(text)  # type: ignore[arg-type]
