"""The live checklist: one row per check, pending / pass / warn / fail, with the fix."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from wizard.results import Result, Status

_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}


class CheckRow(Static):
    """One result. Its CSS class is ``-pass``, ``-warn``, ``-fail``, ``-skip`` or ``-pending``."""

    def __init__(self, result: Result | None = None, *, pending_text: str = "", **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.result = result
        self.pending_text = pending_text

    def on_mount(self) -> None:
        self.refresh_content()

    def refresh_content(self) -> None:
        r = self.result
        for cls in ("-pass", "-warn", "-fail", "-skip", "-pending"):
            self.remove_class(cls)
        if r is None:
            self.add_class("-pending")
            self.update(Text.assemble(("… ", "bold"), self.pending_text))
            return
        s = r.status.value
        self.add_class(f"-{s}")
        text = Text.assemble((f"{r.status.symbol} ", f"bold {_STYLE[s]}"), r.title)
        if r.status in (Status.FAIL, Status.WARN):
            if r.detail:
                text.append(f"\n  {r.detail}", style="dim")
            if r.fix:
                text.append("\n  → ", style=_STYLE[s])
                text.append(r.fix)
        self.update(text)


class Checklist(VerticalScroll):
    """Results of the step's live checks, streamed in as they complete."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.border_title = "Live checks"
        self._rows: dict[str, CheckRow] = {}

    def compose(self) -> ComposeResult:
        yield Static("Not checked yet. Leave a field or press F5.", classes="idle")

    def _clear(self) -> None:
        self._rows.clear()
        self.remove_children()

    def show_idle(self, text: str) -> None:
        self._clear()
        self.mount(Static(text, classes="idle"))
        self.border_subtitle = ""

    def start(self, what: str) -> None:
        """A run began: show one pending row until results arrive."""
        self._clear()
        self.mount(CheckRow(pending_text=f"checking {what}…", id="pending"))
        self.border_subtitle = "running"
        self.add_class("-running")

    def add_result(self, result: Result) -> None:
        row = self._rows.get(result.id)
        if row is not None:
            row.result = result
            row.refresh_content()
            return
        row = CheckRow(result)
        self._rows[result.id] = row
        pending = self.query("#pending")
        if pending:
            self.mount(row, before=pending.first())
        else:
            self.mount(row)
        self._update_subtitle()

    def finish(self, results: list[Result]) -> None:
        """The run ended; ``results`` is the complete list (rows missed by streaming are added)."""
        for r in results:
            if r.id not in self._rows or self._rows[r.id].result != r:
                self.add_result(r)
        self.query("#pending").remove()
        self.remove_class("-running")
        if not self._rows:
            self.mount(Static("No checks apply to this step.", classes="idle"))
        self._update_subtitle(done=True)

    def _update_subtitle(self, done: bool = False) -> None:
        counts = {"pass": 0, "warn": 0, "fail": 0}
        for row in self._rows.values():
            if row.result is not None and row.result.status.value in counts:
                counts[row.result.status.value] += 1
        parts = [f"{n} {k}" for k, n in counts.items() if n]
        self.border_subtitle = (", ".join(parts) or "nothing") + ("" if done else " · running")

    @property
    def results(self) -> list[Result]:
        return [r.result for r in self._rows.values() if r.result is not None]

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.status is Status.FAIL]
