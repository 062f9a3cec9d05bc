"""Step navigation as a state machine, against the running app.

The model is the step index, the answers the user typed, and whether the answers on
screen are valid. Rules press Next / Back / F5, type a valid or an invalid jobs
namespace, open and close help, and switch the fake checks between passing and
failing (failed checks ask "Continue anyway?", answered at random). After every rule
the app must show the step the model expects, hold every answer typed so far, and
be alive. One app runs per machine, on an event loop owned by the machine.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as hs
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from screens.dialogs import HelpDialog, YesNoDialog
from wizard import steps as st

from .fakes import FakeWorld, sample_answers
from .helpers import build, settle, type_into

STEPS = list(st.STEP_IDS)
VALID = ("ci-jobs", "ci-builds", "jobs-2")
INVALID = ("Not_Valid", "-x", "a" * 70)


class Navigation(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.world = FakeWorld(mode="pass")
        self.app = build("cluster", sample_answers(), self.world)
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        started = self.loop.create_future()
        self.session = self.loop.create_task(self._session(started))
        self.loop.run_until_complete(started)
        self.index = 0
        self.jobs_ns = "ci-jobs"
        self.valid = True
        self.checked_fail = False  # the step on screen shows failed checks

    async def _session(self, started: asyncio.Future[None]) -> None:
        """The app's whole test run happens in this one task (Textual's context stays valid);
        rules hand it work through the queue."""
        async with self.app.run_test(size=(100, 34)) as pilot:
            self.pilot = pilot
            await settle(pilot)
            started.set_result(None)
            while True:
                work, done = await self.queue.get()
                if work is None:
                    done.set_result(None)
                    return
                try:
                    done.set_result(await work())
                except BaseException as exc:  # handed to the rule that asked
                    done.set_exception(exc)

    def run(self, make: Any) -> Any:
        """Run ``make()`` (a coroutine factory) inside the app's session."""
        done = self.loop.create_future()
        self.queue.put_nowait((make, done))
        return self.loop.run_until_complete(done)

    def teardown(self) -> None:
        try:
            done = self.loop.create_future()
            self.queue.put_nowait((None, done))
            self.loop.run_until_complete(done)
            self.loop.run_until_complete(self.session)
        finally:
            self.loop.close()

    @property
    def step(self) -> str:
        return STEPS[self.index]

    # ------------------------------------------------------------------ rules

    @precondition(lambda self: self.step != "apply")
    @rule(go_on=hs.booleans())
    def next(self, go_on: bool) -> None:
        self.run(lambda: self.pilot.press("ctrl+n"))
        self.run(lambda: settle(self.pilot))
        if self.step == "namespaces" and not self.valid:
            return  # the field's problem keeps the user here
        if self.step == "review" and not self.valid:
            return  # review has nothing to render with a bad answer
        if self.checked_fail and self.step not in ("review",):
            assert isinstance(self.app.screen, YesNoDialog)
            self.run(lambda: self.pilot.click("#yes" if go_on else "#no"))
            self.run(lambda: settle(self.pilot))
            if not go_on:
                return
        self.index += 1
        self.checked_fail = False

    @precondition(lambda self: self.index > 0)
    @rule()
    def back(self) -> None:
        self.run(lambda: self.pilot.press("ctrl+b"))
        self.run(lambda: settle(self.pilot))
        self.index -= 1
        self.checked_fail = False

    @precondition(lambda self: self.step not in ("apply",))
    @rule(fail=hs.booleans())
    def check(self, fail: bool) -> None:
        self.world.mode = "fail" if fail else "pass"
        self.run(lambda: self.pilot.press("f5"))
        self.run(lambda: settle(self.pilot))
        self.world.mode = "pass"  # checks started later by leaving a field pass
        step = st.step(self.step)
        # an invalid answer anywhere (the jobs namespace) holds every step's checks back ("Checks wait for ...")
        ran = bool(step.checks) and self.valid and self.step != "review"
        if self.step == "review":
            return
        if ran:
            self.checked_fail = fail and any(r.status.value == "fail" for r in _fail_table(self.step))

    @precondition(lambda self: self.step == "namespaces")
    @rule(value=hs.sampled_from(VALID + INVALID))
    def type_jobs_namespace(self, value: str) -> None:
        self.run(lambda: type_into(self.pilot, "#f-cluster-jobs_namespace", value))
        self.run(lambda: settle(self.pilot))
        self.jobs_ns = value
        self.valid = value in VALID
        self.checked_fail = False  # an edit drops results that no longer apply

    @rule()
    def help(self) -> None:
        runs = len(self.world.calls)
        self.run(lambda: self.pilot.press("f1"))
        self.run(lambda: settle(self.pilot))
        assert isinstance(self.app.screen, HelpDialog)
        self.run(lambda: self.pilot.press("escape"))
        self.run(lambda: settle(self.pilot))
        if any(c[0] == "run_checks" for c in self.world.calls[runs:]):
            self.checked_fail = False  # leaving the field re-ran the checks (passing now)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def alive_on_the_expected_step(self) -> None:
        assert self.app._exception is None
        assert self.app.return_code is None
        assert self.app.current_step == self.step

    @invariant()
    def answers_kept(self) -> None:
        assert st.get_value(self.app.state.raw, "cluster.jobs_namespace") == self.jobs_ns
        assert st.get_value(self.app.state.raw, "gitlab.url") == "https://gitlab.company.com:8929/"


def _fail_table(step: str) -> list[Any]:
    from .fakes import FAIL

    return FAIL.get(step, [])


TestNavigation = Navigation.TestCase
TestNavigation.settings = settings(max_examples=6, stateful_step_count=12, deadline=None,
                                   phases=(Phase.explicit, Phase.reuse, Phase.generate),
                                   suppress_health_check=[HealthCheck.too_slow])
