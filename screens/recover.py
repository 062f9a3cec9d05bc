"""Guided recovery screen (``runner-wizard tui --recover``).

Pick a gitlab-runner release (found automatically), diagnose it in a thread
worker with progress, read the findings (catalog id, one sentence, evidence, fix),
and apply a fix per finding after a dialog shows exactly what will change. A text
area takes a pasted manager or job log and analyzes it without a cluster.

The outside world comes in through :class:`RecoverServices` (tests inject fakes);
:class:`LiveRecoverServices` is the real one, built on :mod:`wizard.diagnose`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Label, Select, Static, TextArea

from .dialogs import Dialog
from .paths import asset

if TYPE_CHECKING:
    from wizard.answers import Answers
    from wizard.diagnose.analyzers import Finding
    from wizard.diagnose.collect import ReleaseRef
    from wizard.diagnose.engine import Diagnosis
    from wizard.diagnose.fixes import FixOutcome, FixPlan

Progress = Callable[[str], None]


class LiveTarget(NamedTuple):
    """The release a pasted log is also confirmed against, live."""

    namespace: str
    release: str


# --------------------------------------------------------------------------- services


class RecoverServices(Protocol):
    """What the recovery screen needs from the outside world."""

    def find_releases(self) -> list[ReleaseRef]: ...

    def diagnose(self, namespace: str | None, release: str | None, progress: Progress) -> Diagnosis: ...

    def analyze_log(self, text: str, live: LiveTarget | None = None) -> Diagnosis:
        """Analyze a pasted log; with ``live``, also confirm it against that release in the cluster."""
        ...

    def plan_fix(self, diagnosis: Diagnosis, finding: Finding) -> FixPlan | None: ...

    def apply_fix(self, diagnosis: Diagnosis, plan: FixPlan) -> FixOutcome: ...


@dataclass
class LiveRecoverServices:
    """The real services: one Kube connection per call, through :mod:`wizard.diagnose`."""

    kubeconfig: str | None = None
    context: str | None = None
    answers: Answers | None = None

    def _kube(self) -> Any:
        from wizard.kube import Kube

        ctx = self.context or (self.answers.cluster.context if self.answers else None)
        return Kube.connect(self.kubeconfig, ctx)

    def find_releases(self) -> list[ReleaseRef]:
        from wizard.diagnose.collect import find_releases

        kube = self._kube()
        try:
            return find_releases(kube)
        finally:
            kube.close()

    def diagnose(self, namespace: str | None, release: str | None, progress: Progress) -> Diagnosis:
        from wizard.diagnose.engine import diagnose

        kube = self._kube()
        try:
            return diagnose(kube=kube, answers=self.answers, namespace=namespace, release=release,
                            progress=progress, kubeconfig=self.kubeconfig, context=self.context)
        finally:
            kube.close()

    def analyze_log(self, text: str, live: LiveTarget | None = None) -> Diagnosis:
        from wizard.diagnose.engine import diagnose

        if live is None:
            return diagnose(logs=[("pasted log", None, text)], cluster=False, answers=None)
        kube = self._kube()
        try:
            return diagnose(kube=kube, answers=self.answers, namespace=live.namespace, release=live.release,
                            logs=[("pasted log", None, text)], kubeconfig=self.kubeconfig, context=self.context)
        finally:
            kube.close()

    def plan_fix(self, diagnosis: Diagnosis, finding: Finding) -> FixPlan | None:
        from wizard.diagnose import fixes

        if diagnosis.state is None:
            return None
        return fixes.plan(diagnosis.state, finding, self.answers)

    def apply_fix(self, diagnosis: Diagnosis, plan: FixPlan) -> FixOutcome:
        from wizard.diagnose import fixes

        assert diagnosis.state is not None
        kube = self._kube()
        try:
            return fixes.apply_plan(kube, diagnosis.state, plan, answers=self.answers,
                                    kubeconfig=self.kubeconfig, context=self.context)
        finally:
            kube.close()


# --------------------------------------------------------------------------- messages


class DiagnosisReady(Message):
    def __init__(self, diagnosis: Diagnosis, label: str, note: str = "") -> None:
        super().__init__()
        self.diagnosis = diagnosis
        self.label = label
        self.note = note


class ReleasesFound(Message):
    def __init__(self, releases: list[ReleaseRef], error: str = "") -> None:
        super().__init__()
        self.releases = releases
        self.error = error


class WorkFailed(Message):
    def __init__(self, what: str, error: str) -> None:
        super().__init__()
        self.what = what
        self.error = error


# --------------------------------------------------------------------------- widgets


class FindingCard(Vertical):
    """One finding: status, catalog id, one sentence, evidence, fix, and a Fix button."""

    def __init__(self, finding: Finding, index: int) -> None:
        status = finding.status.value
        super().__init__(classes=f"finding -{status}")
        self.finding = finding
        self.index = index

    def compose(self) -> ComposeResult:
        r = self.finding.to_result()
        with Horizontal(classes="finding-head"):
            yield Label(f"{r.status.symbol} {self.finding.catalog}", classes="finding-id")
            yield Static(r.title, classes="finding-title")
            if self.finding.fixable:
                yield Button("Fix", id=f"fix-{self.index}", classes="fix-button", variant="warning",
                             compact=True)
        if r.detail:
            yield Static(r.detail, classes="finding-detail")
        for ev in r.evidence[:3]:
            yield Static(f"evidence: {ev}", classes="finding-evidence", markup=False)
        if r.fix and self.finding.status.value != "pass":
            yield Static(f"fix: {r.fix}", classes="finding-fix", markup=False)


class ConfirmFixDialog(Dialog[bool]):
    """Shows exactly what a fix changes; Apply returns True."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, plan: FixPlan) -> None:
        super().__init__(classes="dialog-screen")
        self.plan = plan

    def on_mount(self) -> None:
        self.query_one("#fix-cancel", Button).focus()

    def compose(self) -> ComposeResult:
        with Vertical(id="fix-dialog"):
            yield Label(f"Apply this fix for {self.plan.catalog}?", id="fix-dialog-title")
            with VerticalScroll(id="fix-dialog-body"):
                yield Static(self.plan.render(), id="fix-plan", markup=False)
            with Horizontal(id="fix-dialog-buttons"):
                yield Button("Apply", id="fix-apply", variant="error")
                yield Button("Cancel", id="fix-cancel")

    @on(Button.Pressed, "#fix-apply")
    def _apply(self) -> None:
        self.answer(True)

    @on(Button.Pressed, "#fix-cancel")
    def action_cancel(self) -> None:
        self.answer(False)


# --------------------------------------------------------------------------- the screen


class RecoverScreen(Screen[None]):
    """Diagnose an existing install and offer fixes."""

    CSS_PATH = [asset("recover.tcss")]
    BINDINGS = [Binding("r", "rescan", "Rescan"), Binding("escape", "leave", "Back")]

    def __init__(self, *, kubeconfig: str | None = None, context: str | None = None,
                 answers: Answers | None = None, namespace: str | None = None, release: str | None = None,
                 services: RecoverServices | None = None) -> None:
        super().__init__()
        self.services: RecoverServices = services or LiveRecoverServices(kubeconfig, context, answers)
        self.namespace = namespace or (answers.cluster.runner_namespace if answers else None)
        self.release = release or (answers.runner.release_name if answers else None)
        self.diagnosis: Diagnosis | None = None
        self.showing = ""
        self.connected = False
        """True once the cluster answered (releases listed or a release diagnosed)."""

    def compose(self) -> ComposeResult:
        yield Static("runner-wizard · guided recovery", id="recover-title")
        with Horizontal(id="target-row"):
            yield Label("Release", id="target-label")
            yield Select[str]([], prompt="looking for releases…", id="target", allow_blank=True)
            yield Button("Scan", id="scan", variant="primary", compact=True)
        yield Static("", id="status")
        yield VerticalScroll(id="findings")
        with Horizontal(id="paste-row"):
            yield TextArea(id="paste", soft_wrap=True, show_line_numbers=False)
            with Vertical(id="paste-side"):
                yield Label("Paste a manager or\njob log, then:", id="paste-hint")
                yield Button("Analyze log", id="analyze", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#paste", TextArea).border_title = "pasted log"
        if self.namespace and self.release:
            label = f"{self.namespace}/{self.release}"
            sel = self.query_one("#target", Select)
            sel.prompt = "choose a release"
            with self.prevent(Select.Changed):
                sel.set_options([(label, label)])
                sel.value = label
            self._scan(self.namespace, self.release)
        else:
            self._set_status("Looking for gitlab-runner releases…")
            self._find()

    # ---- workers (thread: the kubernetes client is synchronous)

    @work(thread=True, exclusive=True, group="find", exit_on_error=False)
    def _find(self) -> None:
        try:
            found = self.services.find_releases()
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self.post_message(ReleasesFound([], str(exc)))
            return
        self.post_message(ReleasesFound(found))

    def _scan(self, namespace: str | None, release: str | None) -> None:
        self.query_one("#findings", VerticalScroll).remove_children()
        self._set_status(f"Scanning {namespace}/{release}…")
        self._run_diagnosis(namespace, release)

    @work(thread=True, exclusive=True, group="diagnose", exit_on_error=False)
    def _run_diagnosis(self, namespace: str | None, release: str | None) -> None:
        label = f"{namespace}/{release}"

        def progress(msg: str) -> None:
            self.app.call_from_thread(self._set_status, f"Scanning {label}… {msg}")

        try:
            d = self.services.diagnose(namespace, release, progress)
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed(f"diagnosis of {label}", str(exc)))
            return
        self.post_message(DiagnosisReady(d, label))

    @work(thread=True, exclusive=True, group="diagnose", exit_on_error=False)
    def _run_log(self, text: str, live: LiveTarget | None) -> None:
        try:
            d = self.services.analyze_log(text, live) if live else self.services.analyze_log(text)
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("log analysis", str(exc)))
            return
        self.post_message(DiagnosisReady(d, "pasted log"))

    @work(thread=True, exclusive=True, group="fix", exit_on_error=False)
    def _run_fix(self, diagnosis: Diagnosis, plan: FixPlan) -> None:
        try:
            outcome = self.services.apply_fix(diagnosis, plan)
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed(f"fix {plan.fix_id}", str(exc)))
            return
        st = diagnosis.state
        ns, rel = (st.namespace, st.release) if st else (self.namespace, self.release)
        self.app.call_from_thread(self._set_status, f"{outcome.message}; checking again…")
        try:
            d = self.services.diagnose(ns, rel, lambda _m: None)
        except Exception as exc:  # noqa: BLE001
            self.post_message(WorkFailed("diagnosis after the fix", str(exc)))
            return
        gone = all(f.id != plan.finding_id or not f.fixable for f in d.findings)
        note = (f"{outcome.message}. Finding {plan.finding_id} is gone." if outcome.ok and gone else
                f"{outcome.message}. Finding {plan.finding_id} is still there." if outcome.ok else outcome.message)
        self.post_message(DiagnosisReady(d, f"{ns}/{rel}", note))

    # ---- handlers

    def _set_status(self, text: str) -> None:
        self.query_one("#status", Static).update(text)

    @on(ReleasesFound)
    def _releases(self, msg: ReleasesFound) -> None:
        sel = self.query_one("#target", Select)
        opts = [(f"{r.namespace}/{r.release}", f"{r.namespace}/{r.release}") for r in msg.releases]
        if msg.error:
            sel.prompt = "no releases listed"
            sel.set_options([])
            self._set_status(f"Cannot list releases: {msg.error}. Paste a log below instead.")
            return
        self.connected = True
        sel.prompt = "choose a release" if opts else "no release found"
        with self.prevent(Select.Changed):
            sel.set_options(opts)
        if not opts:
            self._set_status("No gitlab-runner release found. Paste a log below to analyze it.")
            return
        # only a release that is clearly the one meant: named by the answers, or the only one there is
        mine = [r for r in msg.releases if (self.release is None or r.release == self.release)
                and (self.namespace is None or r.namespace == self.namespace)]
        pick = mine[0] if len(mine) == 1 and (self.namespace or self.release or len(msg.releases) == 1) else None
        if pick is None:
            self._set_status(f"{len(opts)} gitlab-runner releases found: choose the one to diagnose, then Scan.")
            sel.focus()
            return
        with self.prevent(Select.Changed):
            sel.value = f"{pick.namespace}/{pick.release}"
        self.namespace, self.release = pick.namespace, pick.release
        self._scan(pick.namespace, pick.release)

    @on(Select.Changed, "#target")
    def _target_changed(self, event: Select.Changed) -> None:
        value = event.value
        if not isinstance(value, str) or value == f"{self.namespace}/{self.release}":
            return
        # findings and Fix buttons belong to the release they were found in: never show them for another
        self.diagnosis = None
        self.showing = ""
        self.workers.cancel_group(self, "diagnose")
        self.query_one("#findings", VerticalScroll).remove_children()
        self.namespace, _, self.release = value.partition("/")
        self._set_status(f"Press Scan (or r) to diagnose {value}.")

    @on(Button.Pressed, "#scan")
    def action_rescan(self) -> None:
        value = self.query_one("#target", Select).value
        if isinstance(value, str) and "/" in value:
            self.namespace, _, self.release = value.partition("/")
        if self.namespace and self.release:
            self._scan(self.namespace, self.release)

    @on(Button.Pressed, "#analyze")
    def _analyze(self) -> None:
        text = self.query_one("#paste", TextArea).text
        if not text.strip():
            self._set_status("Paste a log into the box first.")
            return
        self.query_one("#findings", VerticalScroll).remove_children()
        self.diagnosis = None
        live = LiveTarget(self.namespace, self.release) if self.connected and self.namespace and self.release else None
        where = f" against {live.namespace}/{live.release}" if live else ""
        self._set_status(f"Analyzing the pasted log{where}…")
        self._run_log(text, live)

    @on(DiagnosisReady)
    def _show(self, msg: DiagnosisReady) -> None:
        d = msg.diagnosis
        self.diagnosis = d
        self.showing = msg.label
        if msg.label != "pasted log":
            self.connected = True
        box = self.query_one("#findings", VerticalScroll)
        box.remove_children()
        cards = [FindingCard(f, i) for i, f in enumerate(d.findings)]
        if cards:
            box.mount_all(cards)
        else:
            box.mount(Static("✔ No problems found.", classes="no-findings"))
        fails = sum(1 for f in d.findings if f.status.value == "fail")
        warns = sum(1 for f in d.findings if f.status.value == "warn")
        fixable = len(d.fixable)
        summary = (f"{msg.label}: {fails} failed, {warns} warnings"
                   + (f", {fixable} fixable" if fixable else ""))
        self._set_status(f"{msg.note}  {summary}" if msg.note else summary)

    @on(WorkFailed)
    def _failed(self, msg: WorkFailed) -> None:
        self._set_status(f"The {msg.what} failed: {msg.error}")

    @on(Button.Pressed, ".fix-button")
    def _fix(self, event: Button.Pressed) -> None:
        card = next((a for a in event.button.ancestors if isinstance(a, FindingCard)), None)
        d = self.diagnosis
        if card is None or d is None or card.finding not in d.findings:
            return
        plan = self.services.plan_fix(d, card.finding)
        if plan is None:
            self._set_status(f"No automatic fix available for {card.finding.id}; follow the fix text.")
            return

        def done(ok: bool | None) -> None:
            if ok:
                self._set_status(f"Applying the fix for {card.finding.id}…")
                self._run_fix(d, plan)
            else:
                self._set_status(f"Fix for {card.finding.id} not applied.")

        self.app.push_screen(ConfirmFixDialog(plan), callback=done)

    def action_leave(self) -> None:
        if len(self.app.screen_stack) > 1:
            if self.is_current:
                self.dismiss(None)
        else:
            self.app.exit()


def make_screen(state: Any, services: Any) -> RecoverScreen:
    """Factory used by the wizard app (``screens.app.action_recover``)."""
    answers = None
    try:
        answers = state.answers()
    except Exception:  # noqa: BLE001 - recovery works without complete answers
        answers = None
    injected = getattr(services, "recover", None)
    return RecoverScreen(kubeconfig=getattr(state, "kubeconfig", None), context=getattr(state, "context", None),
                         answers=answers, services=injected)
