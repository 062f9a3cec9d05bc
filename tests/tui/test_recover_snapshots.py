"""Snapshots of the guided recovery screen (100x34, no animations, fake services).

States: scanning (diagnosis still running), findings, the fix confirmation
dialog, and the result of analyzing a pasted log (real log analyzer, no cluster).
"""

from __future__ import annotations

import threading

from textual.app import App
from textual.widgets import Button, TextArea

from screens.recover import ConfirmFixDialog, FindingCard, RecoverScreen
from wizard.diagnose.analyzers import Finding
from wizard.diagnose.collect import ReleaseRef
from wizard.diagnose.engine import Diagnosis, diagnose
from wizard.diagnose.fixes import Change, FixOutcome, FixPlan
from wizard.results import Status

SIZE = (100, 34)
PASTED = (
    "Running with gitlab-runner 18.9.0 (a1b2c3d4)\n"
    "ERROR: Job failed (system failure): prepare environment: setting up trapping scripts on emptyDir: unable to "
    'upgrade connection: pods "runner-x1-project-3-concurrent-0" is forbidden: User '
    '"system:serviceaccount:ci-system:gitlab-runner" cannot create resource "pods/attach" in API group "" in the '
    'namespace "ci-jobs"\n'
)


def sample_findings() -> list[Finding]:
    return [
        Finding("E11", "rbac", Status.FAIL,
                "The Role of ci-system/gitlab-runner in ci-jobs lacks pods/attach (create, delete, get, patch)",
                "Add pods/attach (create, delete, get, patch) to Role gitlab-runner-manager in ci-jobs.",
                ["SubjectAccessReview system:serviceaccount:ci-system:gitlab-runner in ci-jobs: denied "
                 "pods/attach (create, delete, get, patch)"],
                fix_id="rbac.role", fix_args={"role": "gitlab-runner-manager"}),
        Finding("E16", "job-sa", Status.FAIL,
                'runners.config sets service_account = "gitlab-runner-job", but that ServiceAccount does not '
                "exist in the jobs namespace ci-jobs",
                "Create ServiceAccount gitlab-runner-job in ci-jobs.",
                ["ServiceAccount ci-jobs/gitlab-runner-job: not found"],
                fix_id="sa.create", fix_args={"namespace": "ci-jobs", "name": "gitlab-runner-job"}),
        Finding("E02", "log.gitlab.company.com", Status.FAIL,
                "The manager does not trust GitLab's TLS certificate",
                "Set certsSecretName to a Secret with key gitlab.company.com.crt holding the CA chain.",
                ["pod/gitlab-runner-7d9f/gitlab-runner: ERROR: Verifying runner... failed ... x509: certificate "
                 "signed by unknown authority"],
                detail="seen in logs; not confirmed live", origin="logs"),
        Finding("E32", "log", Status.PASS, "The runner token in the Secret ends with a newline", "",
                ["pod/gitlab-runner-7d9f/gitlab-runner (previous): net/http: invalid header field value for "
                 "\"Private-Token\""],
                detail="seen in logs, no longer the case: Secret ci-system/gitlab-runner has no whitespace "
                       "around the token now", origin="logs"),
    ]


class FakeServices:
    def __init__(self, *, block: bool = False) -> None:
        self.gate = threading.Event()
        if not block:
            self.gate.set()
        self.applied: list[str] = []
        self.analyzed: list = []

    def find_releases(self) -> list[ReleaseRef]:
        return [ReleaseRef("ci-system", "gitlab-runner", "gitlab-runner", 3, "gitlab-runner-0.86.0", "deployed")]

    def diagnose(self, namespace, release, progress):
        progress("reading release ci-system/gitlab-runner")
        self.gate.wait(timeout=3)
        return Diagnosis(sample_findings(), sources=["pod/gitlab-runner-7d9f/gitlab-runner", "events ci-jobs"])

    def analyze_log(self, text: str, live=None) -> Diagnosis:
        self.analyzed.append(live)
        return diagnose(logs=[("pasted log", None, text)], cluster=False)

    def plan_fix(self, diagnosis, finding):
        if finding.fix_id != "rbac.role":
            return None
        return FixPlan(finding.id, finding.catalog, "rbac.role", "add the missing permissions to the manager Role", [
            Change("apply", "Role ci-jobs/gitlab-runner-manager",
                   "+ rules: pods/attach [create, delete, get, patch]\n"
                   "  rules afterwards (server-side apply, full table):\n"
                   "    - events [list, watch]\n    - pods [create, delete, get, list, watch]\n"
                   "    - pods/attach [create, delete, get, patch]\n    - pods/exec [create, delete, get, patch]\n"
                   "    - pods/log [get, list]\n    - secrets [create, delete, get, update]\n"
                   "    - serviceaccounts [get]\n    - services [create, get]")])

    def apply_fix(self, diagnosis, plan):
        self.applied.append(plan.fix_id)
        return FixOutcome(True, f"applied: {plan.title}")


class RecoverApp(App[None]):
    def __init__(self, services: FakeServices, **kw) -> None:
        super().__init__()
        self.fake = services
        self.kw = kw

    def on_mount(self) -> None:
        self.push_screen(RecoverScreen(services=self.fake, **self.kw))


async def _wait_for(pilot, predicate, tries: int = 100) -> None:
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


def test_scanning(snap_compare):
    fake = FakeServices(block=True)

    async def run_before(pilot) -> None:
        await _wait_for(pilot, lambda: "reading release" in str(
            pilot.app.screen.query_one("#status").render()))

    try:
        assert snap_compare(RecoverApp(fake), terminal_size=SIZE, run_before=run_before)
    finally:
        fake.gate.set()


def test_findings(snap_compare):
    async def run_before(pilot) -> None:
        await _wait_for(pilot, lambda: len(pilot.app.screen.query(FindingCard)) == 4)
        await pilot.pause()

    assert snap_compare(RecoverApp(FakeServices()), terminal_size=SIZE, run_before=run_before)


def test_fix_confirm_dialog(snap_compare):
    async def run_before(pilot) -> None:
        await _wait_for(pilot, lambda: len(pilot.app.screen.query(FindingCard)) == 4)
        await pilot.pause()
        await pilot.click("#fix-0")
        await _wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmFixDialog))
        await pilot.pause()

    assert snap_compare(RecoverApp(FakeServices(), namespace="ci-system", release="gitlab-runner"),
                        terminal_size=SIZE, run_before=run_before)


def test_pasted_log_result(snap_compare):
    async def run_before(pilot) -> None:
        screen = pilot.app.screen
        await _wait_for(pilot, lambda: len(screen.query(FindingCard)) == 4)
        screen.query_one("#paste", TextArea).load_text(PASTED)
        await pilot.click("#analyze")
        await _wait_for(pilot, lambda: len(screen.query(FindingCard)) == 1)
        await pilot.pause()

    assert snap_compare(RecoverApp(FakeServices()), terminal_size=SIZE, run_before=run_before)


async def test_fix_applies_after_consent_and_rescans():
    fake = FakeServices()
    app = RecoverApp(fake)
    async with app.run_test(size=SIZE) as pilot:
        await _wait_for(pilot, lambda: isinstance(app.screen, RecoverScreen))
        screen = app.screen
        await _wait_for(pilot, lambda: len(screen.query(FindingCard)) == 4)
        await pilot.pause()
        await pilot.click("#fix-0")
        await _wait_for(pilot, lambda: isinstance(app.screen, ConfirmFixDialog))
        await pilot.click("#fix-cancel")
        await _wait_for(pilot, lambda: app.screen is screen)
        assert fake.applied == []
        await pilot.click("#fix-0")
        await _wait_for(pilot, lambda: isinstance(app.screen, ConfirmFixDialog))
        await pilot.click("#fix-apply")
        await _wait_for(pilot, lambda: fake.applied == ["rbac.role"])
        await _wait_for(pilot, lambda: "applied" in str(screen.query_one("#status").render()))
        assert isinstance(screen.query_one("#fix-0"), Button)


SMALL = (80, 24)


def test_findings_80x24(snap_compare):
    async def run_before(pilot) -> None:
        await _wait_for(pilot, lambda: len(pilot.app.screen.query(FindingCard)) == 4)
        await pilot.pause()

    assert snap_compare(RecoverApp(FakeServices()), terminal_size=SMALL, run_before=run_before)


def test_fix_confirm_dialog_80x24(snap_compare):
    """The Fix dialog fits 80x24: its Apply and Cancel buttons stay on screen."""
    async def run_before(pilot) -> None:
        await _wait_for(pilot, lambda: len(pilot.app.screen.query(FindingCard)) == 4)
        await pilot.pause()
        pilot.app.screen.query_one("#fix-0", Button).press()
        await _wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmFixDialog))
        await pilot.pause()

    assert snap_compare(RecoverApp(FakeServices(), namespace="ci-system", release="gitlab-runner"),
                        terminal_size=SMALL, run_before=run_before)


def test_scanning_80x24(snap_compare):
    fake = FakeServices(block=True)

    async def run_before(pilot) -> None:
        await _wait_for(pilot, lambda: "reading release" in str(
            pilot.app.screen.query_one("#status").render()))

    try:
        assert snap_compare(RecoverApp(fake), terminal_size=SMALL, run_before=run_before)
    finally:
        fake.gate.set()


def test_pasted_log_result_80x24(snap_compare):
    async def run_before(pilot) -> None:
        screen = pilot.app.screen
        await _wait_for(pilot, lambda: len(screen.query(FindingCard)) == 4)
        screen.query_one("#paste", TextArea).load_text(PASTED)
        screen.query_one("#analyze", Button).press()
        await _wait_for(pilot, lambda: len(screen.query(FindingCard)) == 1
                        and "pasted log:" in str(screen.query_one("#status").render()))
        await pilot.pause(0.1)

    assert snap_compare(RecoverApp(FakeServices()), terminal_size=SMALL, run_before=run_before)
