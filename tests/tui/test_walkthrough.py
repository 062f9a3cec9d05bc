"""Regressions for the sixteen walkthrough defects of issue 11 (numbered as there).

Each test drives the wizard like the user in the walkthrough did and failed before
its fix. (16) is the line-prompt front end: see ``test_prompt.py``
(``test_prompt_shows_the_certificate_before_asking_how_to_trust_it``,
``test_prompt_failed_checks_*``).
"""

from __future__ import annotations

import re
from typing import Any

from textual.widgets import Button, Checkbox, Input, Select, Static

from screens.apply import ApplyScreen
from screens.dialogs import ConfirmQuitDialog, HelpDialog, YesNoDialog
from screens.widgets.checklist import CheckRow, Checklist, SkippedRow
from screens.widgets.fields import FieldRow, RecordsEditor
from wizard import steps as st
from wizard.answers import parse
from wizard.results import Result, Status

from .fakes import ROOT_FP, FakeWorld, sample_answers
from .helpers import build, content_lines, screen_lines, settle, type_into, widget_lines

BIG = (100, 34)
SMALL = (80, 24)


def _gitlab_only() -> Any:
    return parse({"version": 1, "gitlab": {"url": "https://gitlab.company.com:8929/", "token": "env:T"}},
                 check_files=False)


async def _to_apply(pilot: Any) -> None:
    """Next through every step (answering Continue when checks failed) until apply."""
    app = pilot.app
    for _ in range(12):
        if app.current_step == "apply":
            return
        if isinstance(app.screen, YesNoDialog):
            await pilot.click("#yes")
        else:
            await pilot.press("ctrl+n")
        await settle(pilot)
    raise AssertionError(f"stuck at {app.current_step}")


# (1) stale results after an answer changes
async def test_01_removing_the_failing_registry_clears_its_failure() -> None:
    app = build("registries", sample_answers(), FakeWorld(mode="fail"))
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        assert app.screen.query_one(Checklist).failed
        await app.screen.query_one(RecordsEditor).remove(0)
        await settle(pilot)
        assert not app.screen.query_one(Checklist).failed
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert not isinstance(app.screen, YesNoDialog)
        assert app.current_step == "runner"


# (2) the Dry run checkbox resets when you come back
async def test_02_dry_run_box_is_kept() -> None:
    app = build("apply", sample_answers())
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await pilot.click("#dry-run")
        await settle(pilot)
        await pilot.press("ctrl+b")
        await settle(pilot)
        assert app.current_step == "review"
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.current_step == "apply"
        assert app.screen.query_one("#dry-run", Checkbox).value is True


# (3) after a dry run the screen says "Done" as if installed
async def test_03_dry_run_is_not_reported_as_installed() -> None:
    app = build("apply", sample_answers())
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        app.screen.start(dry_run=True)
        await settle(pilot)
        text = str(app.screen.query_one("#outcome-text", Static).render())
        assert "Done" not in text
        assert "nothing was changed" in text
        assert "Untick Dry run" in text


# (4) "Continue anyway" continues, then Apply stops at the same check
async def test_04_continue_anyway_reaches_apply_as_ignore() -> None:
    world = FakeWorld(mode="fail")
    app = build("namespaces", sample_answers(), world)
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, YesNoDialog)
        await pilot.click("#yes")
        await settle(pilot)
        assert app.state.accepted == {"rbac.pods-attach"}
        await _to_apply(pilot)
        assert isinstance(app.screen, ApplyScreen)
        app.screen.start(dry_run=False)
        await settle(pilot)
    assert ("apply.ignore", ("rbac.pods-attach",)) in world.calls


async def test_04_a_check_that_passes_later_is_no_longer_ignored() -> None:
    world = FakeWorld(mode="fail")
    app = build("namespaces", sample_answers(), world)
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.click("#yes")
        await settle(pilot)
        await pilot.press("ctrl+b")
        await settle(pilot)
        world.results = {"namespaces": [Result("rbac.pods-attach", "rbac", Status.PASS, "pods/attach allowed")]}
        await pilot.press("f5")
        await settle(pilot)
        assert app.state.accepted == set()


# (5) "Load a PEM file" moves focus below the visible area
async def test_05_load_pem_focuses_a_visible_field() -> None:
    app = build("gitlab", _gitlab_only(), FakeWorld(mode="fail"))
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        app.screen.query_one("#load-pem", Button).press()
        await settle(pilot)
        await pilot.pause(0.05)
        focused = app.focused
        assert focused is not None and focused in app.screen.row("gitlab.ca.file").query("#control")
        form = app.screen.query_one("#form")
        assert focused.region.height > 0
        assert form.region.contains_region(focused.region)


async def test_05_tabbing_keeps_the_focused_field_in_view() -> None:
    app = build("runner", sample_answers())
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        form = app.screen.query_one("#form")
        for _ in range(14):
            await pilot.press("tab")
            await pilot.pause(0.03)
            f = app.focused
            if f is not None and form in f.ancestors:
                assert f.region.height > 0 and form.region.contains_region(f.region), f


# (6) "Add an alias" looks selected but nothing has focus
async def test_06_a_step_without_fields_focuses_its_first_control() -> None:
    app = build("host_aliases", _gitlab_only())
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        assert app.focused is not None
        assert app.focused.id == "add-record"
        await pilot.press("enter")
        await settle(pilot)
        assert app.focused is not None and app.focused in app.screen.query(Input)


# (7) dialogs open with no focused button; the Fix dialog ignores a click on Apply
async def test_07_dialogs_have_a_focused_button_and_enter_answers() -> None:
    app = build("namespaces", sample_answers(), FakeWorld(mode="fail"))
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, YesNoDialog)
        assert isinstance(app.focused, Button)
        await pilot.press("enter")
        await settle(pilot)
        assert not isinstance(app.screen, YesNoDialog)
        await type_into(pilot, "#f-cluster-jobs_namespace", "ci-x")
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmQuitDialog) and isinstance(app.focused, Button)


async def test_07_fix_dialog_apply_is_clickable_at_80x24() -> None:
    from screens.recover import ConfirmFixDialog, FindingCard

    from .test_recover_snapshots import FakeServices, RecoverApp, _wait_for

    fake = FakeServices()
    app = RecoverApp(fake)
    async with app.run_test(size=SMALL) as pilot:
        await _wait_for(pilot, lambda: len(app.screen.query(FindingCard)) == 4)
        app.screen.query_one("#fix-0", Button).press()
        await _wait_for(pilot, lambda: isinstance(app.screen, ConfirmFixDialog))
        await pilot.pause()
        assert isinstance(app.focused, Button)
        assert await pilot.click("#fix-apply")
        await _wait_for(pilot, lambda: fake.applied == ["rbac.role"])


# (8) commands and fingerprints cut mid-word; the preview cuts lines
COMMAND = "check: kubectl -n ci-system rollout status deployment/gitlab-runner --timeout=5m"


async def test_08_apply_log_wraps_commands_at_spaces_at_80x24() -> None:
    world = FakeWorld(apply_extra=(("verify", "ok", COMMAND),))
    app = build("apply", sample_answers(), world)
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        app.screen.start(dry_run=False)
        await settle(pilot)
        log = app.screen.query_one("#apply-log")
        log.scroll_end(animate=False)
        await pilot.pause(0.05)
        text = "\n".join(widget_lines(log))
        for word in ("deployment/gitlab-runner", "--timeout=5m", "ci-system"):
            assert word in text, text


HEX = re.compile(r"\S*:\S*")
BYTES = re.compile(r"(SHA256:)?([0-9A-F]{2}:)*[0-9A-F]{2}:?")


def _hex_runs(text: str) -> list[str]:
    """Colon-separated hex tokens (fingerprints and their pieces)."""
    return [t for t in HEX.findall(text) if re.fullmatch(r"(SHA256:)?[0-9A-F:]+", t) and any(c != ":" for c in t)]


async def test_08_fingerprints_break_only_between_bytes() -> None:
    for size in (SMALL, BIG):
        app = build("gitlab", _gitlab_only(), FakeWorld(mode="fail"))
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await pilot.press("f5")
            await settle(pilot)
            lines = content_lines(app.screen.query_one("#cert"))
            runs = [r for line in lines for r in _hex_runs(line)]
            assert len(runs) >= 8
            for run in runs:
                assert BYTES.fullmatch(run), (run, lines)
            app.screen.query_one("#trust-root", Button).press()
            await settle(pilot)
            dialog_text = "\n".join(screen_lines(app))
            assert ROOT_FP[:40] in dialog_text
            for run in _hex_runs(dialog_text):
                assert BYTES.fullmatch(run), run


async def test_08_preview_keeps_long_lines_and_scrolls_sideways() -> None:
    app = build("review", sample_answers())
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        await pilot.pause(0.05)
        view = app.screen.query_one("#file-view")
        longest = max(len(line) for line in app.screen.files["values.yaml"].splitlines())
        assert app.screen.query_one("#file-text").size.width >= longest
        assert view.max_scroll_x > 0
        names = "\n".join(widget_lines(app.screen.query_one("#files")))
        assert "manifests.yaml" in names and "NEXT-STEPS.md" in names, names


# (9) up to 30 skipped rows without a reason, random order, failures not first
async def test_09_failures_first_and_skips_folded_with_their_reason() -> None:
    skips = [Result(f"cluster.s{i:02d}", "cluster", Status.SKIP, f"Skipped check {i}", detail="no cluster access")
             for i in range(30)]
    results = {"cluster": [Result("cluster.reachable", "cluster", Status.PASS, "reachable"), *skips,
                           Result("cluster.zz", "cluster", Status.FAIL, "You cannot create namespaces")]}
    app = build("cluster", sample_answers(), FakeWorld(results=results))
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        orders = []
        for _ in range(2):
            await pilot.press("f5")
            await settle(pilot)
            checklist = app.screen.query_one(Checklist)
            rows = [r for r in checklist.children if isinstance(r, (CheckRow, SkippedRow))]
            orders.append([getattr(r, "result", None) and r.result.id for r in rows])
        assert orders[0] == orders[1]
        assert orders[0][0] == "cluster.zz"
        skipped = checklist.query(SkippedRow)
        assert len(skipped) == 1
        text = str(skipped.first().render())
        assert "30 checks skipped" in text and "no cluster access" in text
        assert len(checklist.query(CheckRow)) == 3  # fail, pass, and the extra runtime row


# (10) answers paths instead of labels; placeholders like values; references as dots
async def test_10_labels_not_paths() -> None:
    app = build("review")
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        text = str(app.screen.query_one("#file-text", Static).render())
        assert "gitlab.url" not in text
        assert st.find_field("gitlab.url").label in text


async def test_10_placeholders_and_references() -> None:
    app = build("token", sample_answers())
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        token = app.screen.query_one("#f-gitlab-token #control", Input)
        assert token.value == "env:RUNNER_TOKEN" and not token.password
        await type_into(pilot, "#f-gitlab-token", "glrt-secret")
        assert token.password
        app.screen.query_one("#f-_token_source RadioSet").query("RadioButton")[1].value = True
        await settle(pilot)
        group = app.screen.query_one("#f-gitlab-create_runner-group_id #control", Input)
        assert group.placeholder == "e.g. 42"


# (11) status lines that stay after the problem is fixed
async def test_11_status_line_clears_when_fixed() -> None:
    app = build("gitlab")
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await type_into(pilot, "#f-gitlab-url", "http://gitlab.company.com")
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert "attention" in str(app.screen.query_one("#status", Static).render())
        await type_into(pilot, "#f-gitlab-url", "https://gitlab.company.com/")
        await settle(pilot)
        assert "attention" not in str(app.screen.query_one("#status", Static).render())


async def test_11_own_certificate_note_goes_once_trusted() -> None:
    world = FakeWorld(mode="fail", single_cert=True)
    app = build("gitlab", _gitlab_only(), world)
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        assert "only its own certificate" in str(app.screen.query_one("#cert", Static).render())
        world.tls_trusted = True
        await pilot.press("f5")
        await settle(pilot)
        assert "only its own certificate" not in str(app.screen.query_one("#cert", Static).render())


# (12) the container runtime silently chosen on a cluster with no nodes
async def test_12_no_nodes_means_the_runtime_is_not_chosen_silently() -> None:
    app = build("cluster", sample_answers(), FakeWorld(no_nodes=True))
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        select = app.screen.query_one("#f-node_runtime #control", Select)
        select.value = "auto"
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        note = app.screen.query_one("#runtime-note", Static)
        assert note.display and "nothing to detect" in str(note.render())
        select.value = "containerd"
        await settle(pilot)
        assert not note.display


# (13) at 80x24: tabs 8-9 cut, side panel half the width, apply log 3 lines tall
async def test_13_layout_at_80x24() -> None:
    app = build("apply", sample_answers())
    async with app.run_test(size=SMALL) as pilot:
        await settle(pilot)
        bar = widget_lines(app.screen.query_one("#stepbar"))[0]
        assert " 8 " in bar and " 9 Apply " in bar
        assert app.screen.query_one("#side").size.width <= 30
        assert app.screen.query_one("#apply-log").size.height >= 8


async def test_13_every_step_name_fits_at_80() -> None:
    for step in ("cluster", "registries"):
        app = build(step, sample_answers())
        async with app.run_test(size=SMALL) as pilot:
            await settle(pilot)
            bar = widget_lines(app.screen.query_one("#stepbar"))[0]
            assert all(f" {i} " in bar for i in range(1, 10)), bar


# (14) F1 hides the help; confirmation says "current context"; no "Save and quit"
async def test_14_f1_opens_help() -> None:
    app = build("namespaces", sample_answers())
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpDialog)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen.query_one("#help").display


async def test_14_apply_confirmation_names_the_context() -> None:
    answers = parse({"version": 1, "gitlab": {"url": "https://gitlab.company.com/", "token": "env:T"}},
                    check_files=False)
    app = build("apply", answers)
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await pilot.click("#apply-now")
        await settle(pilot)
        assert isinstance(app.screen, YesNoDialog)
        assert "kind-ci" in app.screen.question and "current context" not in app.screen.question


async def test_14_quitting_before_the_first_save_offers_save() -> None:
    app = build("gitlab")
    async with app.run_test(size=BIG) as pilot:
        await settle(pilot)
        await type_into(pilot, "#f-gitlab-url", "https://gitlab.example.org/")
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmQuitDialog)
        assert app.screen.query("#save")
        await pilot.click("#save")
        await settle(pilot)
        # incomplete answers: taken to what is missing, with it marked
        assert app.current_step == "token"
        assert app.screen.query_one("#f-gitlab-token", FieldRow).has_class("-invalid")


# (15) recovery
async def test_15_recover_starts_without_a_step_screen() -> None:
    from screens.recover import RecoverScreen

    world = FakeWorld()
    app = build("cluster", sample_answers(), world, recover=True)
    seen: list[str] = []
    async with app.run_test(size=BIG) as pilot:
        for _ in range(20):
            seen.append(type(app.screen).__name__)
            await pilot.pause(0.01)
        assert isinstance(app.screen, RecoverScreen)
        assert app.current_step is None
        assert "ClusterScreen" not in seen
        await pilot.press("escape")
        await settle(pilot)
        assert app.current_step == "cluster"


def _two_releases() -> Any:
    from wizard.diagnose.collect import ReleaseRef

    from .test_recover_snapshots import FakeServices

    class TwoReleases(FakeServices):
        diagnosed: list[Any] = []

        def find_releases(self) -> list[Any]:
            return [ReleaseRef("ci-system", "gitlab-runner", "gitlab-runner"),
                    ReleaseRef("other-team", "their-runner", "their-runner-gitlab-runner")]

        def diagnose(self, namespace: Any, release: Any, progress: Any) -> Any:
            self.diagnosed.append((namespace, release))
            return super().diagnose(namespace, release, progress)

    return TwoReleases()


async def test_15_no_unrelated_release_is_picked() -> None:
    from .test_recover_snapshots import RecoverApp, _wait_for

    fake = _two_releases()
    app = RecoverApp(fake)
    async with app.run_test(size=BIG) as pilot:
        await _wait_for(pilot, lambda: "choose" in str(app.screen.query_one("#status", Static).render()))
        assert fake.diagnosed == []
        select = app.screen.query_one("#target", Select)
        assert "looking" not in select.prompt
        assert app.screen.query_one("#target", Select).is_blank()


async def test_15_another_release_drops_old_findings_and_fixes() -> None:
    from screens.recover import FindingCard

    from .test_recover_snapshots import RecoverApp, _wait_for

    fake = _two_releases()
    app = RecoverApp(fake, namespace="ci-system", release="gitlab-runner")
    async with app.run_test(size=BIG) as pilot:
        screen = app.screen
        await _wait_for(pilot, lambda: len(screen.query(FindingCard)) == 4)
        screen.query_one("#target", Select).set_options([("ci-system/gitlab-runner", "ci-system/gitlab-runner"),
                                                         ("other-team/their-runner", "other-team/their-runner")])
        screen.query_one("#target", Select).value = "other-team/their-runner"
        await pilot.pause(0.05)
        assert not screen.query(FindingCard)
        assert not screen.query(".fix-button")
        assert screen.diagnosis is None


async def test_15_pasted_log_is_checked_live_when_connected() -> None:
    from textual.widgets import TextArea

    from screens.recover import FindingCard

    from .test_recover_snapshots import PASTED, FakeServices, RecoverApp, _wait_for

    fake = FakeServices()
    app = RecoverApp(fake)
    async with app.run_test(size=BIG) as pilot:
        screen = app.screen
        await _wait_for(pilot, lambda: len(screen.query(FindingCard)) == 4)
        screen.query_one("#paste", TextArea).load_text(PASTED)
        await pilot.click("#analyze")
        await _wait_for(pilot, lambda: fake.analyzed)
        assert fake.analyzed == [("ci-system", "gitlab-runner")]
