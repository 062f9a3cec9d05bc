"""Step 9: apply, with progress per step from the apply reporter, then verification
and the next steps; on failure, a way into recovery."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Checkbox, ProgressBar, Static

from wizard import steps as st

from wizard.errors import BadInput

from .dialogs import YesNoDialog
from .step import Nav, StepScreen

APPLY_STEPS = ("render", "check", "plan", "apply", "token", "helm", "external", "verify")
"""The apply reporter's step names, in order (mirrors wizard.progress.STEPS)."""
STEP_LABELS = {"render": "Render files", "check": "Pre-flight checks", "plan": "Plan changes",
               "apply": "Apply objects", "token": "Runner token", "helm": "Helm release",
               "external": "External manager", "verify": "Verify runner online"}
CLOSING = {"ok", "changed", "unchanged", "fail", "skip", "warn"}
SYMBOL = {"ok": ("✔", "green"), "changed": ("✔", "green"), "unchanged": ("✔", "green"),
          "warn": ("!", "yellow"), "fail": ("✘", "red"), "skip": ("-", "dim"),
          "start": ("…", "cyan"), "progress": ("…", "cyan")}


class ApplyProgress(Message):
    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class ApplyFinished(Message):
    def __init__(self, report: Any, error: str | None) -> None:
        super().__init__()
        self.report = report
        self.error = error


class ContextsRead(Message):
    def __init__(self, current: str | None) -> None:
        super().__init__()
        self.current = current


class ApplyLog(VerticalScroll):
    """The apply log: one line per event. Lines re-wrap when the terminal is resized, and
    wrap only at spaces, so a command stays whole enough to copy."""

    def write(self, text: Text | str) -> None:
        line = Static(text if isinstance(text, Text) else Text(text), classes="log-line", markup=False)
        at_end = self.is_vertical_scroll_end or self.max_scroll_y == 0
        self.mount(line)
        if at_end:
            self.call_after_refresh(self.scroll_end, animate=False)

    @property
    def lines(self) -> list[str]:
        return [str(w.content) if not isinstance(w.content, Text) else w.content.plain
                for w in self.query(".log-line").results(Static)]


class ApplyScreen(StepScreen):
    """Runs ``wizard.apply`` in a worker and shows its progress events."""


    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.step_status: dict[str, str] = {}
        self.running = False
        self.finished: bool | None = None
        self.dry_run_done = False
        self.context_name: str | None = st.get_value(self.state.raw, "cluster.context") or self.state.context

    def next_label(self) -> str:
        return "Finish"

    def compose_form(self) -> ComposeResult:
        with Horizontal(id="apply-controls"):
            yield Checkbox("Dry run (changes nothing)", value=self.state.dry_run, id="dry-run")
            yield Button("Apply now", id="apply-now", variant="warning", compact=True)
        yield ProgressBar(total=len(APPLY_STEPS), show_eta=False, id="apply-progress")
        log = ApplyLog(id="apply-log")
        log.border_title = "Log"
        yield log
        with Vertical(id="outcome"):
            yield Static("", id="outcome-text")
            yield Button("Open recovery", id="recover", variant="error", compact=True)

    def compose_side(self) -> ComposeResult:
        steps = Static(self._steps_text(), id="apply-steps")
        steps.border_title = "Steps"
        yield steps
        yield from super().compose_side()

    def help_text(self) -> str:
        return self.step.help + "\n\nNothing changes until you press Apply now (or choose a dry run)."

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#outcome").display = False
        self.query_one("#next", Button).disabled = True
        self.query_one("#apply-now", Button).focus()
        if not self.context_name:
            self._read_context()

    @work(thread=True, exclusive=True, group="contexts", exit_on_error=False)
    def _read_context(self) -> None:
        try:
            current = next((c.name for c in self.services.list_contexts(self.state.kubeconfig) if c.current), None)
        except Exception:
            current = None
        self.post_message(ContextsRead(current))

    @on(ContextsRead)
    def _context_read(self, message: ContextsRead) -> None:
        if message.current and not self.context_name:
            self.context_name = message.current

    @on(Checkbox.Changed, "#dry-run")
    def _dry_run_changed(self, event: Checkbox.Changed) -> None:
        self.state.dry_run = event.value

    def _steps_text(self) -> Text:
        t = Text()
        for name in APPLY_STEPS:
            status = self.step_status.get(name)
            sym, style = SYMBOL.get(status or "", ("·", "dim"))
            if t:
                t.append("\n")
            t.append(f" {sym} ", style=f"bold {style}")
            t.append(STEP_LABELS[name], style="" if status else "dim")
        return t

    # ------------------------------------------------------------------ running

    @on(Button.Pressed, "#apply-now")
    def _apply_pressed(self) -> None:
        if self.running or not self.ready:
            return
        dry = self.query_one("#dry-run", Checkbox).value
        if dry:
            self.start(dry_run=True)
            return
        ctx = self.context_name or "the kubeconfig's current context (its name could not be read)"

        def answer(yes: bool | None) -> None:
            if yes and not self.running:
                self.start(dry_run=False)

        self.app.push_screen(YesNoDialog(
            f"Apply to {ctx} now? Objects are created or updated server-side and the Helm release "
            "is installed or upgraded.", yes="Apply", no="Cancel", title="Apply"), answer)

    def start(self, *, dry_run: bool) -> None:
        try:
            answers = self.state.answers()
        except BadInput as exc:
            self.query_one("#apply-log", ApplyLog).write(Text(f"✘ {exc}", style="red"))
            return
        self.running = True
        self.step_status.clear()
        self.query_one("#apply-now", Button).disabled = True
        self.query_one("#back", Button).disabled = True
        self.query_one("#apply-progress", ProgressBar).update(progress=0)
        self.query_one("#apply-log", ApplyLog).write(
            Text("Dry run: nothing will change." if dry_run else "Applying…", style="bold"))
        accepted = sorted(self.state.accepted)
        if accepted:
            self.query_one("#apply-log", ApplyLog).write(Text(
                f"Failed checks you chose to continue past: {', '.join(accepted)}", style="yellow"))
        # read on this (the UI) thread: the worker must not read self.state while the UI changes it
        context = st.get_value(self.state.raw, "cluster.context") or self.state.context
        self._apply_worker(answers, dry_run, accepted, self.state.kubeconfig, context)

    @work(thread=True, exclusive=True, group="apply", exit_on_error=False)
    def _apply_worker(self, answers: Any, dry_run: bool, ignore: list[str], kubeconfig: str | None,
                      context: str | None) -> None:
        def reporter(event: Any) -> None:
            self.post_message(ApplyProgress(event))

        try:
            report = self.services.apply(answers, kubeconfig=kubeconfig, context=context,
                                         dry_run=dry_run, reporter=reporter, ignore=ignore)
            self.post_message(ApplyFinished(report, None))
        except Exception as exc:
            self.post_message(ApplyFinished(None, f"{type(exc).__name__}: {exc}"))

    @on(ApplyProgress)
    def _progress(self, message: ApplyProgress) -> None:
        ev = message.event
        step = getattr(ev, "step", "")
        status = getattr(ev, "status", "info")
        text = getattr(ev, "message", str(ev))
        log = self.query_one("#apply-log", ApplyLog)
        sym, style = SYMBOL.get(status, ("·", "dim"))
        if status != "start":
            log.write(Text.assemble((f"{sym} ", style), (f"[{step}] ", "dim"), text))
        detail = getattr(ev, "detail", "")
        if detail and status in ("fail", "warn"):
            log.write(Text(f"    {detail}", style="dim"))
        if step in APPLY_STEPS and status in ("start", *CLOSING):
            previous = self.step_status.get(step)
            if status == "start" or previous in (None, "start", "ok", "changed", "unchanged", "skip") \
                    or status == "fail":
                self.step_status[step] = status
            done = sum(1 for s in self.step_status.values() if s in CLOSING)
            self.query_one("#apply-progress", ProgressBar).update(progress=done)
            self.query_one("#apply-steps", Static).update(self._steps_text())

    @on(ApplyFinished)
    def _finished(self, message: ApplyFinished) -> None:
        self.running = False
        report = message.report
        ok = message.error is None and report is not None and report.exit_code == 0 and \
            "fail" not in self.step_status.values()
        self.finished = ok
        outcome = self.query_one("#outcome-text", Static)
        self.query_one("#outcome").display = True
        self.query_one("#recover", Button).display = not ok
        self.query_one("#next", Button).disabled = False
        self.query_one("#apply-now", Button).disabled = False
        self.query_one("#back", Button).disabled = False
        dry = bool(getattr(report, "dry_run", False))
        if ok and dry:
            self.dry_run_done = True
            lines = ["Untick Dry run and press Apply now to install."]
            out = getattr(report, "out_dir", None)
            if out:
                lines.append(f"The rendered files are in {out}")
            outcome.update(Text.assemble(("✔ Dry run finished: nothing was changed. ", "bold green"),
                                         "What it would do is in the log.\n",
                                         *[f"  {s}\n" for s in lines]))
        elif ok:
            self.query_one("#apply-progress", ProgressBar).update(progress=len(APPLY_STEPS))
            steps = report.next_steps or [
                "Run the smoke-test pipeline (smoke-test.gitlab-ci.yml) in a project the runner serves.",
                "Keep the answers file: runner-wizard apply --answers FILE replays this install.",
            ]
            if isinstance(steps, str):
                steps = [steps]
            outcome.update(Text.assemble(("✔ Done. ", "bold green"), "Next steps:\n",
                                         *[f"  {i}. {s}\n" for i, s in enumerate(steps, 1)]))
        else:
            why = message.error or (report.stopped or report.error if report is not None else "") \
                or "a step failed (see the log)"
            outcome.update(Text.assemble(("✘ Apply did not reach the verified state: ", "bold red"), str(why),
                                         "\nRecovery mode reads the cluster and the runner's logs and "
                                         "names the fix."))

    @on(Button.Pressed, "#recover")
    def _recover(self) -> None:
        recover = getattr(self.app, "action_recover", None)
        if recover is not None:
            recover()

    def action_next(self) -> None:
        if self.running or not self.ready or self.query_one("#next", Button).disabled:
            return
        self.dismiss(Nav("done"))

    def action_check(self) -> None:
        """Apply runs its own checks."""
