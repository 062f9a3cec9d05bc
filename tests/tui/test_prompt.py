"""The line-prompt front end: same steps, same validators, same answers file."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from screens.prompt import Abort, run_prompts
from wizard import answers as am
from wizard import steps as st

from .fakes import FakeWorld, sample_answers
from .helpers import build, settle


def scripted(intent: am.Answers, overrides: dict[str, list[Any]] | None = None):
    """An asker answering from ``intent`` (as a user who wants exactly that would)."""
    raw = st.initial_raw(intent)
    queue = {k: list(v) for k, v in (overrides or {}).items()}
    asked: list[str] = []

    def ask(field: st.Field, default: Any) -> Any:
        path = field.path
        asked.append(path)
        if queue.get(path):
            return queue[path].pop(0)
        if path.endswith("#add"):
            records = path.split("[", 1)[0]
            index = int(path.split("[", 1)[1].split("]", 1)[0])
            return index < len(st.get_value(raw, records) or [])
        if path.endswith("#keep"):
            return "file" if field.kind == "choice" else True
        if path.endswith("#after-checks"):
            return "continue"
        return raw[path] if field.virtual else st.get_value(raw, path)

    ask.asked = asked  # type: ignore[attr-defined]
    return ask


async def test_prompt_writes_the_same_file_as_the_tui(tmp_path: Path) -> None:
    intent = sample_answers()
    # the TUI: every step with Next, then save
    app = build("cluster", intent, FakeWorld(), answers_path=tmp_path / "tui.yaml")
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(pilot)
        for _ in st.STEP_IDS[:-2]:
            await pilot.press("ctrl+n")
            await settle(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
    # the prompts, from a fresh start, answering the same
    state = run_prompts(scripted(intent), None, answers_path=tmp_path / "prompt.yaml", out=io.StringIO())
    state.save()
    assert (tmp_path / "prompt.yaml").read_text() == (tmp_path / "tui.yaml").read_text()
    assert am.load(tmp_path / "prompt.yaml") == intent


def test_prompt_prefills_from_answers_and_replays(tmp_path: Path) -> None:
    """--answers: pressing Enter everywhere (the default) gives the file back unchanged."""
    intent = sample_answers()
    asked: list[str] = []

    def enter(field: st.Field, default: Any) -> Any:
        asked.append(field.path)
        return default if not field.path.endswith("#add") else False

    state = run_prompts(enter, intent, answers_path=tmp_path / "a.yaml", out=io.StringIO())
    state.save()
    assert am.load(tmp_path / "a.yaml") == intent
    replayed = [f.path for _, f, _ in st.replay(intent) if f.kind != "records"]
    assert [p for p in asked if "#" not in p and "[" not in p] == [p for p in replayed]


def test_prompt_validation_reasks_with_the_same_message(tmp_path: Path) -> None:
    out = io.StringIO()
    ask = scripted(sample_answers(), {"gitlab.url": ["http://gitlab.company.com"]})
    run_prompts(ask, None, answers_path=tmp_path / "a.yaml", out=out)
    assert st.validate_field("gitlab.url", "http://gitlab.company.com") in out.getvalue()
    assert ask.asked.count("gitlab.url") == 2  # type: ignore[attr-defined]


def test_prompt_gives_up_on_endless_bad_input(tmp_path: Path) -> None:
    ask = scripted(sample_answers(), {"cluster.jobs_namespace": ["Bad_Name"] * 10})
    with pytest.raises(Abort):
        run_prompts(ask, None, answers_path=tmp_path / "a.yaml", out=io.StringIO())


def test_prompt_typed_token_is_stored_0600(tmp_path: Path) -> None:
    ask = scripted(sample_answers(), {"gitlab.token": ["glrt-prompt-typed"]})
    state = run_prompts(ask, None, answers_path=tmp_path / "a.yaml", out=io.StringIO())
    state.save()
    saved = am.load(tmp_path / "a.yaml")
    assert str(saved.gitlab.token) == "file:./runner-token"
    assert (tmp_path / "runner-token").read_text() == "glrt-prompt-typed\n"
    assert stat.S_IMODE(os.stat(tmp_path / "runner-token").st_mode) == 0o600


def test_prompt_runs_step_checks_and_prints_fixes(tmp_path: Path) -> None:
    out = io.StringIO()
    world = FakeWorld(mode="fail")
    run_prompts(scripted(sample_answers()), None, answers_path=tmp_path / "a.yaml", out=out,
                run_checks=world.run_checks)
    text = out.getvalue()
    assert "✘ Runner manager cannot create pods/attach in ci-jobs" in text
    assert "→ let the wizard create Role gitlab-runner-manager in ci-jobs" in text
    assert [c[1] for c in world.calls] == [(s,) for s in st.FORM_STEP_IDS]


def test_prompt_shows_the_certificate_before_asking_how_to_trust_it(tmp_path: Path) -> None:
    """Walkthrough 16: the chain (subjects, fingerprints cut at byte boundaries) comes first;
    Enter on the fingerprint then takes the root shown."""
    from screens.textfmt import fingerprint_lines

    from .fakes import ROOT_FP

    out = io.StringIO()
    world = FakeWorld(mode="fail")
    seen_before_trust: list[str] = []
    base = scripted(sample_answers())

    def ask(field: st.Field, default: Any) -> Any:
        if field.path == "_ca_mode":
            seen_before_trust.append(out.getvalue())
            return "fetch"
        if field.path == "gitlab.ca.fingerprint":
            return default
        return base(field, default)

    state = run_prompts(ask, None, answers_path=tmp_path / "a.yaml", out=out, inspect_tls=world.inspect_tls)
    [text] = seen_before_trust
    assert "Root CA" in text and "CN=Company Root CA" in text
    for line in fingerprint_lines(ROOT_FP, 16):
        assert line in text
    assert "does not trust" in text
    assert st.get_value(state.raw, "gitlab.ca.fingerprint") == ROOT_FP


def _flaky_checks(fail_times: int):
    calls: list[tuple[str, ...]] = []

    def run_checks(answers: Any, *, steps: Any = None, **_kw: Any) -> list[Any]:
        from wizard.results import Result, Status

        calls.append(tuple(steps))
        if steps == ["namespaces"] and sum(1 for c in calls if c == ("namespaces",)) <= fail_times:
            return [Result("rbac.pods-attach", "rbac", Status.FAIL, "cannot create pods/attach", fix="ask an admin")]
        return [Result("ok", "x", Status.PASS, "fine")]

    run_checks.calls = calls  # type: ignore[attr-defined]
    return run_checks


def test_prompt_failed_checks_stop_and_offer_retry(tmp_path: Path) -> None:
    """Walkthrough 16: a failed check stops the step and asks; "retry" runs the checks again."""
    checks = _flaky_checks(fail_times=2)
    ask = scripted(sample_answers(), {"namespaces#after-checks": ["retry", "retry"]})
    state = run_prompts(ask, None, answers_path=tmp_path / "a.yaml", out=io.StringIO(), run_checks=checks)
    assert checks.calls.count(("namespaces",)) == 3
    assert ask.asked.count("namespaces#after-checks") == 2
    assert not state.accepted


def test_prompt_failed_checks_quit_or_continue(tmp_path: Path) -> None:
    from screens.prompt import Stopped

    with pytest.raises(Stopped):
        run_prompts(scripted(sample_answers(), {"namespaces#after-checks": ["quit"]}), None,
                    answers_path=tmp_path / "a.yaml", out=io.StringIO(), run_checks=_flaky_checks(1))
    state = run_prompts(scripted(sample_answers(), {"namespaces#after-checks": ["continue"]}), None,
                        answers_path=tmp_path / "a.yaml", out=io.StringIO(), run_checks=_flaky_checks(1))
    assert state.accepted == {"rbac.pods-attach"}


def test_prompt_edit_after_failed_checks_asks_the_step_again(tmp_path: Path) -> None:
    checks = _flaky_checks(fail_times=1)
    ask = scripted(sample_answers(), {"namespaces#after-checks": ["edit"],
                                      "cluster.jobs_namespace": ["ci-jobs", "ci-builds"]})
    state = run_prompts(ask, None, answers_path=tmp_path / "a.yaml", out=io.StringIO(), run_checks=checks)
    assert ask.asked.count("cluster.jobs_namespace") == 2
    assert st.get_value(state.raw, "cluster.jobs_namespace") == "ci-builds"


def test_real_questionary_through_a_pipe(tmp_path: Path) -> None:
    """questionary itself, fed keystrokes through prompt_toolkit's pipe input."""
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    from screens.prompt import questionary_asker

    enter = "\r"
    keys = [
        enter, enter, enter,                                   # cluster: context, mode, runtime
        "https://gitlab.example.org/" + enter, enter, enter,   # gitlab: url, trust, clone url
        enter, "glrt-piped-token" + enter, enter,              # token: source, token, keep in file
        enter, "\x15ci-builds" + enter, enter, enter, enter, enter,  # namespaces (jobs namespace typed)
        enter,                                                 # host aliases: add one? no
        enter,                                                 # registries: add one? no
        *[enter] * 18,                                         # runner options: defaults
    ]
    with create_pipe_input() as pipe:
        ask = questionary_asker(input=pipe, output=DummyOutput())
        sent = iter(keys)

        def typing_ask(field: st.Field, default: Any) -> Any:
            pipe.send_text(next(sent))
            return ask(field, default)

        state = run_prompts(typing_ask, None, answers_path=tmp_path / "q.yaml", out=io.StringIO())
    state.save()
    saved = am.load(tmp_path / "q.yaml")
    expected = am.parse({"version": 1, "gitlab": {"url": "https://gitlab.example.org/",
                                                  "token": "file:./runner-token"},
                         "cluster": {"jobs_namespace": "ci-builds"}},
                        base_dir=tmp_path, check_files=False)
    assert saved == expected
    assert (tmp_path / "runner-token").read_text() == "glrt-piped-token\n"
