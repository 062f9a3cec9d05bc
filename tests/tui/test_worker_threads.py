"""Thread workers (checks, apply) get what they need from the UI thread as arguments: they never
read the wizard's state, which the UI thread changes while the user types."""

from __future__ import annotations

import threading

from .fakes import FakeWorld, sample_answers
from .helpers import build, settle

SIZE = (100, 34)


class _Watched(dict):
    """The answers being edited; records every thread that reads the top level."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.readers: set[str] = set()

    def _seen(self) -> None:
        self.readers.add(threading.current_thread().name)

    def get(self, *a):
        self._seen()
        return super().get(*a)

    def __getitem__(self, k):
        self._seen()
        return super().__getitem__(k)

    def __contains__(self, k):
        self._seen()
        return super().__contains__(k)


async def test_the_check_worker_does_not_read_the_state_the_ui_edits() -> None:
    world = FakeWorld()
    app = build("namespaces", sample_answers(), world)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ui = threading.current_thread().name
        watched = _Watched(app.screen.state.raw)
        app.screen.state.raw = watched
        await pilot.press("f5")
        await settle(pilot)
        assert ("run_checks", ("namespaces",)) in world.calls
        assert watched.readers <= {ui}, watched.readers


async def test_the_apply_worker_does_not_read_the_state_the_ui_edits() -> None:
    world = FakeWorld()
    app = build("apply", sample_answers(), world)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        ui = threading.current_thread().name
        watched = _Watched(app.screen.state.raw)
        app.screen.state.raw = watched
        app.screen.start(dry_run=True)
        await settle(pilot)
        assert ("apply", True) in world.calls
        assert watched.readers <= {ui}, watched.readers
