"""Driving the wizard with Pilot: navigation, validation, quitting, a whole run."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from textual.widgets import Input

from screens.dialogs import ConfirmQuitDialog, YesNoDialog
from screens.gitlab_url import GitLabUrlScreen
from screens.token import TokenScreen
from screens.widgets.checklist import Checklist
from screens.widgets.fields import FieldRow
from wizard import answers as am
from wizard import steps as st

from .fakes import FakeWorld, sample_answers
from .helpers import build, settle, type_into

SIZE = (100, 34)


def _input(app, path: str) -> Input:
    return app.screen.query_one(f"#{'f-' + path.replace('.', '-')} #control", Input)


async def test_back_and_next_keep_input() -> None:
    app = build("gitlab")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_into(pilot, "#f-gitlab-url", "https://gitlab.example.org/")
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, TokenScreen)
        await type_into(pilot, "#f-gitlab-token", "glrt-typed-token-123")
        await pilot.press("ctrl+b")
        await settle(pilot)
        assert isinstance(app.screen, GitLabUrlScreen)
        assert _input(app, "gitlab.url").value == "https://gitlab.example.org/"
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, TokenScreen)
        assert _input(app, "gitlab.token").value == "glrt-typed-token-123"
        assert _input(app, "gitlab.token").password  # masked
        # the answers hold a reference; the typed token is a session draft
        assert st.get_value(app.state.raw, "gitlab.token") == "file:./runner-token"
        assert app.state.drafts == {"gitlab.token": "glrt-typed-token-123"}


async def test_back_keeps_invalid_input_too() -> None:
    app = build("namespaces", sample_answers())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_into(pilot, "#f-cluster-jobs_namespace", "Not_Valid")
        await pilot.press("ctrl+b")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert app.current_step == "namespaces"
        assert _input(app, "cluster.jobs_namespace").value == "Not_Valid"


async def test_validation_failure_blocks_next_with_message() -> None:
    app = build("gitlab")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_into(pilot, "#f-gitlab-url", "http://gitlab.example.org")
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, GitLabUrlScreen)
        row = app.screen.query_one("#f-gitlab-url", FieldRow)
        assert row.has_class("-invalid")
        assert "uses http" in row.error
        assert row.error == st.validate_field("gitlab.url", "http://gitlab.example.org")


async def test_cross_field_rule_blocks_next() -> None:
    """create_runner with a group runner needs a group id (a rule of the answers model)."""
    app = build("token", sample_answers())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.screen.query_one("#f-_token_source RadioSet").query("RadioButton")[1].value = True
        await settle(pilot)
        await type_into(pilot, "#f-gitlab-create_runner-api_token", "env:GITLAB_API_TOKEN")
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, TokenScreen)
        assert app.screen.query_one("#f-gitlab-create_runner-group_id", FieldRow).has_class("-invalid")


async def test_quit_with_unsaved_work_asks() -> None:
    app = build("namespaces", sample_answers())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_into(pilot, "#f-cluster-jobs_namespace", "ci-builds")
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmQuitDialog)
        await pilot.click("#stay")
        await settle(pilot)
        assert app.current_step == "namespaces" and not isinstance(app.screen, ConfirmQuitDialog)
        assert _input(app, "cluster.jobs_namespace").value == "ci-builds"
        await pilot.press("ctrl+q")
        await settle(pilot)
        await pilot.click("#save")
        await pilot.pause()
    assert app.return_value is not None
    saved = am.load("runner-answers.yaml")
    assert saved.cluster.jobs_namespace == "ci-builds"


async def test_quit_without_changes_does_not_ask() -> None:
    app = build("cluster", sample_answers())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+q")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmQuitDialog)
    assert app.return_value is None


async def test_checks_stream_into_checklist_and_failed_checks_ask() -> None:
    world = FakeWorld(mode="fail")
    app = build("namespaces", sample_answers(), world)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        checklist = app.screen.query_one(Checklist)
        assert [r.status.value for r in checklist.results] == ["fail", "pass"]  # failures first
        assert ("run_checks", ("namespaces",)) in world.calls
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, YesNoDialog)
        await pilot.click("#yes")
        await settle(pilot)
        assert app.current_step == "host_aliases"


async def test_whole_run_saves_the_prefilled_intent(tmp_path: Path) -> None:
    """Every step with Next, save on review: the file equals the prefilled answers."""
    intent = sample_answers()
    world = FakeWorld()
    app = build("cluster", intent, world, answers_path=tmp_path / "answers.yaml")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for expected in st.STEP_IDS[:-2]:
            assert app.current_step == expected
            await pilot.press("ctrl+n")
            await settle(pilot)
        assert app.current_step == "review"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert app.state.saved_to == tmp_path / "answers.yaml"
        assert "Saved" in str(app.screen.query_one("#save-status").content)
    saved = am.load(tmp_path / "answers.yaml")
    assert saved == intent
    assert am.to_dict(saved) == am.to_dict(intent)
    assert [c for c in world.calls if c[0] == "render"][0][1] == intent


async def test_typed_token_goes_to_a_0600_file(tmp_path: Path) -> None:
    """A fresh run where the token is typed: the answers hold file:./runner-token."""
    app = build("gitlab", answers_path=tmp_path / "answers.yaml")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await type_into(pilot, "#f-gitlab-url", "https://gitlab.example.org/")
        await pilot.press("ctrl+n")
        await settle(pilot)
        await type_into(pilot, "#f-gitlab-token", "glrt-typed-token-123")
        for _ in range(5):
            await pilot.press("ctrl+n")
            await settle(pilot)
        assert app.current_step == "review"
        assert app.screen.query(".write-secret")
        await pilot.press("ctrl+s")
        await settle(pilot)
    saved = am.load(tmp_path / "answers.yaml")
    assert str(saved.gitlab.token) == "file:./runner-token"
    token_file = tmp_path / "runner-token"
    assert token_file.read_text() == "glrt-typed-token-123\n"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert "glrt-typed" not in (tmp_path / "answers.yaml").read_text()
    assert saved.gitlab.token.resolve() == "glrt-typed-token-123"


async def test_trust_root_sets_fingerprint() -> None:
    from wizard.answers import parse

    from .fakes import ROOT_FP

    answers = parse({"version": 1, "gitlab": {"url": "https://gitlab.company.com:8929/", "token": "env:T"}},
                    check_files=False)
    app = build("gitlab", answers, FakeWorld(mode="fail"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f5")
        await settle(pilot)
        app.screen.query_one("#trust-root").press()
        await settle(pilot)
        assert isinstance(app.screen, YesNoDialog)
        await pilot.click("#yes")
        await settle(pilot)
        assert st.ca_mode(app.state.raw) == "fetch"
        assert st.get_value(app.state.raw, "gitlab.ca.fingerprint") == ROOT_FP
        assert _input(app, "gitlab.ca.fingerprint").value == ROOT_FP
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert isinstance(app.screen, YesNoDialog)  # the (fake) checks still fail
        await pilot.click("#yes")
        await settle(pilot)
        assert app.current_step == "token"
    assert app.state.answers().gitlab.ca == am.GitLabCA(fetch=True, fingerprint=ROOT_FP)


async def test_apply_failure_offers_recovery() -> None:
    world = FakeWorld(apply_ok=False)
    app = build("apply", sample_answers(), world)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        app.screen.start(dry_run=True)
        await settle(pilot)
        assert app.screen.finished is False
        recover = app.screen.query_one("#recover")
        assert recover.display
        recover.press()
        await settle(pilot)
        if (Path(__file__).parents[2] / "screens" / "recover.py").exists():
            assert type(app.screen).__name__ == "RecoverScreen"
            assert ("diagnose", ("ci-system", "gitlab-runner")) in world.calls
        else:  # the hook says so instead of failing
            assert any("not available" in n.message for n in app._notifications)


async def test_first_screen_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = ("import sys, screens.app, screens.cluster; "
            "bad = [m for m in ('kubernetes', 'gitlab', 'cryptography') if m in sys.modules]; "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parents[2], check=True)
    assert out.stdout.strip() == ""


def test_core_steps_import_no_ui() -> None:
    import subprocess
    import sys

    code = ("import sys, wizard.steps; "
            "print(','.join(m for m in ('textual', 'questionary', 'prompt_toolkit', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parents[2], check=True)
    assert out.stdout.strip() == ""
