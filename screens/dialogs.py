"""Small modal dialogs: yes/no, help, and quitting with unsaved work.

Every dialog opens with a button focused, so Enter answers it."""

from __future__ import annotations

from typing import Literal, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

ResultT = TypeVar("ResultT")


class Dialog(ModalScreen[ResultT]):
    """A modal that answers once. A second answer (a key and a click queued together) is
    ignored: dismissing a screen that is no longer on top would pop the one under it."""

    def answer(self, result: ResultT | None) -> None:
        if self.is_current:
            self.dismiss(result)


class YesNoDialog(Dialog[bool]):
    """Ask a question; dismisses with True (yes) or False (no / escape)."""

    BINDINGS = [Binding("escape", "no", "No"), Binding("y", "yes", "Yes", show=False),
                Binding("n", "no", "No", show=False)]

    def __init__(self, question: str, *, yes: str = "Yes", no: str = "No", title: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.question = question
        self.yes_label = yes
        self.no_label = no
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            if self.title_text:
                yield Static(self.title_text, classes="dialog-title")
            yield Static(self.question, classes="dialog-text")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.yes_label, id="yes", variant="primary")
                yield Button(self.no_label, id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed, "#yes")
    def action_yes(self) -> None:
        self.answer(True)

    @on(Button.Pressed, "#no")
    def action_no(self) -> None:
        self.answer(False)


QuitChoice = Literal["save", "quit", "stay"]


class ConfirmQuitDialog(Dialog[QuitChoice]):
    """Leaving with unsaved answers: dismisses with ``"save"``, ``"quit"`` or ``"stay"``.

    "Save and quit" is always offered. When the answers are not complete yet
    (``missing`` names the first gap), saving first takes the user to that field."""

    BINDINGS = [Binding("escape", "stay", "Stay")]

    def __init__(self, can_save: bool, answers_path: str, missing: str = "") -> None:
        super().__init__(classes="dialog-screen")
        self.can_save = can_save
        self.answers_path = answers_path
        self.missing = missing

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Unsaved answers", classes="dialog-title")
            text = "Your answers have not been saved. Quitting now loses them."
            if self.can_save:
                text += f"\nSave them to {self.answers_path} first?"
            else:
                text += (f"\nThey cannot be saved yet: {self.missing or 'some answers are incomplete'}. "
                         "Save and quit takes you there; Ctrl+Q then saves.")
            yield Static(text, classes="dialog-text", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save and quit", id="save", variant="primary")
                yield Button("Quit without saving", id="quit", variant="error")
                yield Button("Stay", id="stay")

    def on_mount(self) -> None:
        self.query_one("#save" if self.can_save else "#stay", Button).focus()

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.answer("save")

    @on(Button.Pressed, "#quit")
    def _quit(self) -> None:
        self.answer("quit")

    @on(Button.Pressed, "#stay")
    def action_stay(self) -> None:
        self.answer("stay")


class HelpDialog(Dialog[None]):
    """F1: the current step's help and the keys that work everywhere."""

    BINDINGS = [Binding("escape", "close", "Close"), Binding("f1", "close", "Close", show=False)]

    KEYS = ("Tab / Shift+Tab  move between fields\n"
            "F5               run this step's checks again\n"
            "Ctrl+N / Ctrl+B  next / back\n"
            "Ctrl+Q           quit (asks when answers are unsaved)\n"
            "Esc              close a dialog")

    def __init__(self, title: str, text: str) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help-dialog"):
            yield Static(f"Help: {self.title_text}", classes="dialog-title")
            with VerticalScroll(classes="help-body"):
                yield Static(self.text, classes="dialog-text", markup=False)
                yield Static(self.KEYS, classes="dialog-keys", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.answer(None)
