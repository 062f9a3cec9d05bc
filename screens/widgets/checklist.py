"""The live checklist: one row per check, pending / pass / warn / fail, with the fix.

Rows are ordered failures first, then warnings, then passes (by check id within a
status), so the order does not depend on which check answered first. Skipped
checks are folded into one row that says why they were skipped.

Every run has a generation number: :meth:`Checklist.start` returns it, and results
of an older run (superseded by a newer run, by an edit, or by :meth:`show_idle`)
are dropped. No widget here carries an id, so two runs started in the same
instant can never collide.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from wizard.results import Result, Status

_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "skip": "dim"}


def ordered(results: list[Result]) -> list[Result]:
    """Failures first, then warnings, passes, skips; by id within a status (stable)."""
    return sorted(results, key=lambda r: (-r.status.rank if r.status is not Status.SKIP else 1, r.id))


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


class SkippedRow(Static):
    """All skipped checks of a run in one row, grouped by the reason they were skipped."""

    def __init__(self, skipped: list[Result]) -> None:
        super().__init__(classes="-skip")
        self.skipped = skipped

    def on_mount(self) -> None:
        n = len(self.skipped)
        text = Text.assemble(("- ", "bold dim"), f"{n} check{'s' if n != 1 else ''} skipped")
        reasons: dict[str, list[str]] = {}
        for r in self.skipped:
            reasons.setdefault(r.detail or "no reason given", []).append(r.title)
        for reason, titles in list(reasons.items())[:4]:
            text.append(f"\n  {reason}", style="dim")
            if len(titles) == 1:
                text.append(f" ({titles[0]})", style="dim")
            else:
                text.append(f" ({len(titles)} checks)", style="dim")
        if len(reasons) > 4:
            text.append(f"\n  and {len(reasons) - 4} other reasons", style="dim")
        self.update(text)


class Checklist(VerticalScroll):
    """Results of the step's live checks, streamed in as they complete."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.border_title = "Live checks"
        self.generation = 0
        self.running = False
        self._results: dict[str, Result] = {}
        self._what = ""

    def compose(self) -> ComposeResult:
        yield Static("Not checked yet. Leave a field or press F5.", classes="idle")

    # ------------------------------------------------------------------ runs

    def show_idle(self, text: str) -> None:
        """No results to show (and any running run's results are dropped)."""
        self.generation += 1
        self.running = False
        self._results.clear()
        self.remove_class("-running")
        self.border_subtitle = ""
        self._rebuild(idle=text)

    def mark_stale(self) -> None:
        """The answers changed: results shown so far no longer describe them."""
        if self._results or self.running:
            self.show_idle("Answers changed since the last check. Leave the field or press F5 to check again.")

    def start(self, what: str) -> int:
        """A run began: show one pending row until results arrive. Returns the run's generation."""
        self.generation += 1
        self.running = True
        self._what = what
        self._results.clear()
        self.add_class("-running")
        self.border_subtitle = "running"
        self._rebuild()
        return self.generation

    def add_result(self, result: Result, generation: int | None = None) -> None:
        if generation is not None and generation != self.generation:
            return
        if self._results.get(result.id) == result:
            return
        self._results[result.id] = result
        self._rebuild()
        self._update_subtitle(done=not self.running)

    def finish(self, results: list[Result], generation: int | None = None) -> bool:
        """The run ended; ``results`` is the complete list. False when the run was superseded."""
        if generation is not None and generation != self.generation:
            return False
        self.running = False
        self._results = {r.id: r for r in results}
        self.remove_class("-running")
        self._rebuild(idle="" if self._results else "No checks apply to this step.")
        self._update_subtitle(done=True)
        return True

    # ------------------------------------------------------------------ drawing

    def _rebuild(self, idle: str = "") -> None:
        rows: list[Static] = []
        results = ordered(list(self._results.values()))
        shown = [r for r in results if r.status is not Status.SKIP]
        skipped = [r for r in results if r.status is Status.SKIP]
        rows += [CheckRow(r) for r in shown]
        if self.running:
            rows.append(CheckRow(pending_text=f"checking {self._what}…"))
        if skipped:
            rows.append(SkippedRow(skipped))
        if idle and not rows:
            rows.append(Static(idle, classes="idle"))
        self.remove_children()
        if rows:
            self.mount_all(rows)

    def _update_subtitle(self, done: bool = False) -> None:
        counts = {"pass": 0, "warn": 0, "fail": 0, "skip": 0}
        for r in self._results.values():
            counts[r.status.value] += 1
        parts = [f"{n} {k}" for k, n in counts.items() if n]
        self.border_subtitle = (", ".join(parts) or "nothing") + ("" if done else " · running")

    @property
    def results(self) -> list[Result]:
        return ordered(list(self._results.values()))

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.status is Status.FAIL]
