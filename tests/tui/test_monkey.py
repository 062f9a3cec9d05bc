"""A monkey at the keyboard: random keys at zero delay on every screen must never crash
the wizard nor lose an answer.

Each hypothesis example builds one app on one screen and sends it a few *bursts*. A
burst is a random sequence of Tab / Shift+Tab / F5 / Enter / Space / arrows / F1 /
Escape / Back / Next / typed text / pasted text, all queued at once (no pause between
keys, as a fast typist or a paste does). After each burst the app settles and we check:

- the app is alive: no exception escaped (a crash exits with code 1 and sets
  ``app._exception``); leaving through Finish after an apply is the only way out;
- no answer is lost: every field of the step on screen shows what the shared state
  holds (what was typed reached the answers), and fields of steps that were not on
  screen are unchanged.

Counts: ``EXAMPLES`` examples per screen (9 steps + recovery) x up to ``BURSTS`` bursts
each; the number of bursts actually run is printed (``-s``) and written to the
``monkey_counts`` user property of the test report.
"""

from __future__ import annotations

import asyncio
import copy
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as hs
from textual import events

from screens.app import WizardApp
from screens.step import StepScreen
from screens.widgets.fields import FieldRow
from wizard import steps as st

from .fakes import FakeWorld, sample_answers
from .helpers import build, wait_workers

EXAMPLES = int(os.environ.get("MONKEY_EXAMPLES", "8"))
BURSTS = 6
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
"""Shrinking a UI run takes minutes; a failure is reported with the bursts as generated."""
SCREENS = tuple(st.STEP_IDS)
KEYS = ("tab", "shift+tab", "f5", "enter", "space", "up", "down", "left", "right", "f1", "escape",
        "ctrl+n", "ctrl+b", "backspace", "home", "end")
TEXTS = ("a", "x1", "ci-builds", "https://gitlab.example.org/", "glrt-abc", "Not_Valid", " ", "8", "-",
         "10.0.0.1", "env:T", "file:./tok")

action = hs.one_of(
    hs.tuples(hs.just("key"), hs.sampled_from(KEYS)),
    hs.tuples(hs.just("type"), hs.sampled_from(TEXTS)),
    hs.tuples(hs.just("paste"), hs.sampled_from(TEXTS + ("line one\nline two", "x" * 300))),
)
burst = hs.lists(action, min_size=1, max_size=14)

COUNTS = {"examples": 0, "bursts": 0, "keys": 0}


def _events(kind: str, value: str) -> list[events.Event]:
    if kind == "paste":
        return [events.Paste(value)]
    keys = [value] if kind == "key" else list(value)
    out: list[events.Event] = []
    for key in keys:
        char = key if len(key) == 1 else None
        name = {" ": "space", "-": "minus", ":": "colon", "/": "slash", ".": "full_stop", "_": "underscore",
                "=": "equals_sign"}.get(key, key)
        out.append(events.Key(name, char if kind == "type" else ({"space": " "}.get(key))))
    return out


async def send_burst(app: WizardApp, actions: list[tuple[str, str]]) -> None:
    """Queue every event of the burst at once: nothing is processed in between."""
    driver = app._driver
    assert driver is not None
    for kind, value in actions:
        for ev in _events(kind, value):
            ev.set_sender(app)
            driver.send_message(ev)
            COUNTS["keys"] += 1


async def settle(app: WizardApp, pilot: Any) -> None:
    for _ in range(6):
        await pilot.pause()
        busy = [w for w in app.workers if w.group in ("checks", "contexts", "tls", "dns", "render", "apply")
                and not w.is_finished]
        await wait_workers(busy)
    await pilot.pause()


def step_screen(app: WizardApp) -> StepScreen | None:
    for screen in reversed(app.screen_stack):
        if isinstance(screen, StepScreen):
            return screen
    return None


def shown_equals_state(screen: StepScreen) -> list[str]:
    """Fields whose widget disagrees with the shared state (an answer lost on the way)."""
    state = screen.state
    lost = []
    for row in screen.query(FieldRow):
        if not row.is_attached or row.path != row.field.path or not row.display:
            continue
        f = row.field
        if f.kind in ("secret-ref", "secret-value"):
            text = row.secret_text or ""
            if text and not st.is_reference(text) and state.drafts.get(row.path) != text:
                lost.append(f"{row.path}: typed secret not kept")
            elif st.is_reference(text) and st.get_value(state.raw, f.path) != text:
                lost.append(f"{row.path}: reference not kept")
            continue
        if st.field_value(state.raw, f) != row.read():
            lost.append(f"{row.path}: shows {row.read()!r}, state has {st.field_value(state.raw, f)!r}")
    return lost


def _step_part(raw: dict[str, Any], step_id: str) -> dict[str, Any]:
    step = st.step(step_id)
    return {f.path: copy.deepcopy(st.field_value(raw, f)) for f in step.fields}


async def monkey(start: str, mode: str, fresh: bool, bursts: list[list[tuple[str, str]]]) -> None:
    world = FakeWorld(mode=mode)
    app = build(start, None if fresh else sample_answers(), world)
    async with app.run_test(size=(100, 34) if len(bursts) % 2 else (80, 24)) as pilot:
        await settle(app, pilot)
        COUNTS["examples"] += 1
        for b in bursts:
            visited_before = set(app.state.visited)
            before = {s: _step_part(app.state.raw, s) for s in st.FORM_STEP_IDS}
            await send_burst(app, b)
            await settle(app, pilot)
            COUNTS["bursts"] += 1
            assert app._exception is None, f"crashed after {b}: {app._exception!r}"
            if app.return_code is not None:  # left through Finish after an apply: a normal exit
                assert app.return_code == 0
                return
            screen = step_screen(app)
            assert screen is not None
            assert not shown_equals_state(screen), (b, shown_equals_state(screen))
            # steps that were never on screen during the burst keep their answers
            touched = visited_before | set(app.state.visited) | {screen.STEP_ID}
            for s in st.FORM_STEP_IDS:
                if s not in touched and s not in app.state.visited:
                    assert _step_part(app.state.raw, s) == before[s], f"step {s} changed behind the user's back"


@pytest.mark.parametrize("start", SCREENS)
@settings(max_examples=EXAMPLES, deadline=None, phases=NO_SHRINK,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mode=hs.sampled_from(["pass", "fail"]), fresh=hs.booleans(),
       bursts=hs.lists(burst, min_size=2, max_size=BURSTS))
def test_monkey(start: str, mode: str, fresh: bool, bursts: list[list[tuple[str, str]]],
                record_property: Any) -> None:
    asyncio.run(monkey(start, mode, fresh, bursts))
    record_property("monkey_counts", dict(COUNTS))


def test_monkey_recovery_screen() -> None:
    """The recovery screen under the same bursts (scan, paste, Fix dialogs, escape)."""
    from .test_recover_snapshots import FakeServices, RecoverApp

    @settings(max_examples=EXAMPLES, deadline=None, phases=NO_SHRINK, suppress_health_check=[HealthCheck.too_slow])
    @given(bursts=hs.lists(burst, min_size=2, max_size=BURSTS))
    def run(bursts: list[list[tuple[str, str]]]) -> None:
        async def go() -> None:
            app = RecoverApp(FakeServices())
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause(0.05)
                COUNTS["examples"] += 1
                for b in bursts:
                    await send_burst(app, b)  # type: ignore[arg-type]
                    for _ in range(4):
                        await pilot.pause()
                    COUNTS["bursts"] += 1
                    assert app._exception is None, f"crashed after {b}: {app._exception!r}"
                    if app.return_code is not None:
                        assert app.return_code == 0
                        return

        asyncio.run(go())

    run()


def test_monkey_counts_reported() -> None:
    """Runs last in this module: prints how many bursts and keys the monkey sent."""
    print(f"\nmonkey: {COUNTS['examples']} apps, {COUNTS['bursts']} bursts, {COUNTS['keys']} key/paste events")
    if COUNTS["examples"]:
        assert COUNTS["bursts"] >= COUNTS["examples"]


async def test_burst_that_used_to_crash() -> None:
    """Known crash: two check runs started within one refresh -> DuplicateIds 'pending', exit 1."""
    app = build("namespaces", sample_answers(), FakeWorld(mode="pass"))
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        screen.action_check()
        screen.action_check()
        await send_burst(app, [("key", "f5"), ("key", "f5"), ("key", "tab"), ("paste", "ci-x"), ("key", "tab"),
                               ("key", "f5")])
        await settle(app, pilot)
        assert app._exception is None
        assert app.return_code is None


async def test_a_check_that_raises_is_a_failed_result() -> None:
    from screens.widgets.checklist import Checklist

    world = FakeWorld(mode="pass", raise_in_checks=True)
    app = build("gitlab", sample_answers(), world)
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(app, pilot)
        await pilot.press("f5")
        await settle(app, pilot)
        [failed] = app.screen.query_one(Checklist).failed
        assert failed.title == "The checks could not run"
        assert "AttributeError" in failed.detail and "__cause__" in failed.detail


async def test_a_dialog_answered_twice_does_not_pop_the_step() -> None:
    """Found by the monkey: Enter on Close and F1 queued together dismissed the help twice,
    and the second dismiss popped the step screen under it (a blank wizard)."""
    from screens.dialogs import HelpDialog
    from screens.token import TokenScreen

    app = build("token", sample_answers(), FakeWorld(mode="pass"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await send_burst(app, [("key", "f1"), ("key", "tab"), ("key", "enter"), ("type", "glrt-abc"),
                               ("paste", "env:T"), ("type", "x1"), ("key", "f1")])
        await settle(app, pilot)
        assert isinstance(app.screen, (TokenScreen, HelpDialog))
        if isinstance(app.screen, HelpDialog):
            await pilot.press("escape")
            await settle(app, pilot)
        assert [type(s).__name__ for s in app.screen_stack] == ["Screen", "TokenScreen"]
