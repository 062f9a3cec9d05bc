"""Snapshots of every wizard screen in its main states.

States: ``empty`` (fresh start, nothing checked), ``pending`` (checks running),
``pass`` and ``fail`` (canned results from :mod:`tests.tui.fakes`). Everything
outside the app is faked, so the pictures do not depend on the clock or network.
Update after looking at the report: ``pytest tests/tui --snapshot-update``.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from .fakes import FakeWorld, sample_answers
from .helpers import build, settle, type_into

SIZE = (100, 34)
STEP_SCREENS = ("cluster", "gitlab", "token", "namespaces", "host_aliases", "registries", "runner")


def _checked(state: str):
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        if state != "empty":
            pilot.app.screen.action_check()
            await settle(pilot, skip=("checks",) if state == "pending" else ())
            await pilot.pause(0.05)
    return run_before


@pytest.mark.parametrize("state", ["empty", "pending", "pass", "fail"])
@pytest.mark.parametrize("step", STEP_SCREENS)
def test_step(snap_compare: Any, step: str, state: str) -> None:
    """Each step screen: fresh (empty), checks running (pending), all passing, some failing."""
    answers = None if state == "empty" else sample_answers()
    world = FakeWorld(mode="pending" if state == "pending" else state if state != "empty" else "pass")
    assert snap_compare(build(step, answers, world), terminal_size=SIZE, run_before=_checked(state))


def test_gitlab_invalid_url_blocks_next(snap_compare: Any) -> None:
    """gitlab > type an http:// URL > Next: stays, with the field's message."""
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await type_into(pilot, "#f-gitlab-url", "http://gitlab.company.com")
        await pilot.press("ctrl+n")
        await settle(pilot)

    assert snap_compare(build("gitlab"), terminal_size=SIZE, run_before=run_before)


def test_token_create_runner(snap_compare: Any) -> None:
    """token > choose 'create a runner for me': API token, type, group, tags."""
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        pilot.app.screen.query_one("#f-_token_source RadioSet").query("RadioButton")[1].value = True
        await settle(pilot)

    assert snap_compare(build("token", sample_answers()), terminal_size=SIZE, run_before=run_before)


def test_token_legacy(snap_compare: Any) -> None:
    """token > legacy registration token: the deprecation is explained."""
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        pilot.app.screen.query_one("#f-_token_source RadioSet").query("RadioButton")[2].value = True
        await settle(pilot)

    assert snap_compare(build("token", sample_answers()), terminal_size=SIZE, run_before=run_before)


def test_token_typed_secret_masked(snap_compare: Any) -> None:
    """token > type a glrt- token: masked, with the offer to keep it in a 0600 file or env var."""
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await type_into(pilot, "#f-gitlab-token", "glrt-SECRETSECRET")
        await settle(pilot)

    assert snap_compare(build("token"), terminal_size=SIZE, run_before=run_before)


def test_host_aliases_suggestion(snap_compare: Any) -> None:
    """host_aliases with GitLab's host unresolvable and no alias: an alias is suggested."""
    from wizard.answers import parse

    answers = parse({"version": 1, "gitlab": {"url": "https://gitlab.company.com/", "token": "env:T"}},
                    check_files=False)
    assert snap_compare(build("host_aliases", answers), terminal_size=SIZE, run_before=_checked("empty"))


@pytest.mark.parametrize("state", ["pending", "pass", "fail"])
def test_review(snap_compare: Any, state: str) -> None:
    """review: rendered files previewed, all checks listed, save box."""
    world = FakeWorld(mode=state)

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot, skip=("checks",) if state == "pending" else ())

    assert snap_compare(build("review", sample_answers(), world), terminal_size=SIZE, run_before=run_before)


def test_review_blocked(snap_compare: Any) -> None:
    """review with an unanswered GitLab URL: nothing rendered, Apply disabled, the step named."""
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)

    assert snap_compare(build("review"), terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("state", ["empty", "pass", "fail"])
def test_apply(snap_compare: Any, state: str) -> None:
    """apply: before starting, finished with next steps, failed with the way into recovery."""
    world = FakeWorld(apply_ok=state != "fail")

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        if state != "empty":
            pilot.app.screen.start(dry_run=False)
            await settle(pilot)

    assert snap_compare(build("apply", sample_answers(), world), terminal_size=SIZE, run_before=run_before)


def test_confirm_quit_dialog(snap_compare: Any) -> None:
    """namespaces > change a field > ctrl+q: asks before losing unsaved answers."""
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await type_into(pilot, "#f-cluster-jobs_namespace", "ci-builds")
        await pilot.press("ctrl+q")
        await settle(pilot)

    assert snap_compare(build("namespaces", sample_answers()), terminal_size=SIZE, run_before=run_before)


def test_trust_root_dialog(snap_compare: Any) -> None:
    """gitlab > untrusted chain > 'Trust this root': the fingerprint is shown for confirmation."""
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        pilot.app.screen.action_check()
        await settle(pilot)
        pilot.app.screen.query_one("#trust-root").press()
        await settle(pilot)

    from wizard.answers import parse

    answers = parse({"version": 1, "gitlab": {"url": "https://gitlab.company.com:8929/", "token": "env:T"}},
                    check_files=False)
    assert snap_compare(build("gitlab", answers, FakeWorld(mode="fail")), terminal_size=SIZE,
                        run_before=run_before)


# ---------------------------------------------------------------------------- 80x24 (a supported size)

SMALL = (80, 24)


@pytest.mark.parametrize("state", ["empty", "fail"])
@pytest.mark.parametrize("step", STEP_SCREENS)
def test_step_80x24(snap_compare: Any, step: str, state: str) -> None:
    """Each step screen at 80x24: all nine steps in the bar, a narrower side panel."""
    answers = None if state == "empty" else sample_answers()
    world = FakeWorld(mode="pass" if state == "empty" else state)
    assert snap_compare(build(step, answers, world), terminal_size=SMALL, run_before=_checked(state))


@pytest.mark.parametrize("state", ["pass", "fail"])
def test_review_80x24(snap_compare: Any, state: str) -> None:
    """review at 80x24: the preview keeps whole lines and scrolls sideways."""
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)

    assert snap_compare(build("review", sample_answers(), FakeWorld(mode=state)), terminal_size=SMALL,
                        run_before=run_before)


def test_review_blocked_80x24(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)

    assert snap_compare(build("review"), terminal_size=SMALL, run_before=run_before)


@pytest.mark.parametrize("state", ["empty", "pass", "fail", "dry-run"])
def test_apply_80x24(snap_compare: Any, state: str) -> None:
    """apply at 80x24: steps in the side panel, a log tall enough to read, commands whole."""
    world = FakeWorld(apply_ok=state != "fail",
                      apply_extra=(("verify", "ok", "check: kubectl -n ci-system rollout status "
                                                    "deployment/gitlab-runner --timeout=5m"),))

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        if state != "empty":
            pilot.app.screen.start(dry_run=state == "dry-run")
            await settle(pilot)

    assert snap_compare(build("apply", sample_answers(), world), terminal_size=SMALL, run_before=run_before)


def test_apply_dry_run(snap_compare: Any) -> None:
    """apply > dry run: says nothing was changed, not "Done"."""
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.click("#dry-run")
        pilot.app.screen.start(dry_run=True)
        await settle(pilot)

    assert snap_compare(build("apply", sample_answers()), terminal_size=SIZE, run_before=run_before)


@pytest.mark.parametrize("size", [SIZE, SMALL], ids=["100x34", "80x24"])
def test_help_dialog(snap_compare: Any, size: tuple[int, int]) -> None:
    """F1 opens the step's help in a window, Close focused."""
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("f1")
        await settle(pilot)

    assert snap_compare(build("namespaces", sample_answers()), terminal_size=size, run_before=run_before)


def test_confirm_quit_dialog_80x24(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await type_into(pilot, "#f-cluster-jobs_namespace", "ci-builds")
        await pilot.press("ctrl+q")
        await settle(pilot)

    assert snap_compare(build("namespaces", sample_answers()), terminal_size=SMALL, run_before=run_before)


def test_confirm_quit_incomplete(snap_compare: Any) -> None:
    """Quitting before the answers can be saved: Save and quit is still offered, and says where."""
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        await type_into(pilot, "#f-gitlab-url", "https://gitlab.example.org/")
        await pilot.press("ctrl+q")
        await settle(pilot)

    assert snap_compare(build("gitlab"), terminal_size=SIZE, run_before=run_before)


def test_trust_root_dialog_80x24(snap_compare: Any) -> None:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        pilot.app.screen.action_check()
        await settle(pilot)
        pilot.app.screen.query_one("#trust-root").press()
        await settle(pilot)

    from wizard.answers import parse

    answers = parse({"version": 1, "gitlab": {"url": "https://gitlab.company.com:8929/", "token": "env:T"}},
                    check_files=False)
    assert snap_compare(build("gitlab", answers, FakeWorld(mode="fail")), terminal_size=SMALL,
                        run_before=run_before)


def test_checks_failures_first_skips_folded(snap_compare: Any) -> None:
    """cluster > F5 with 30 skipped checks and a failure that arrives last: failure on top,
    the skips in one row with their reason."""
    from wizard.results import Result, Status

    skips = [Result(f"cluster.s{i:02d}", "cluster", Status.SKIP, f"Skipped check {i}", detail="no cluster access")
             for i in range(30)]
    results = {"cluster": [Result("cluster.reachable", "cluster", Status.PASS, "API server reachable"), *skips,
                           Result("cluster.can-i", "rbac", Status.FAIL, "You cannot create namespaces",
                                  fix="ask an admin to create them")]}
    assert snap_compare(build("cluster", sample_answers(), FakeWorld(results=results)), terminal_size=SIZE,
                        run_before=_checked("fail"))
