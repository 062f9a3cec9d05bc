"""Issue 15: a step screen's key bar (``StepFooter``) is rebuilt once per burst of binding
changes, not once per change, and still shows the bindings in force."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from screens.step import StepFooter

from .helpers import build, settle


async def test_key_bar_rebuilds_once_per_burst_of_binding_changes(monkeypatch) -> None:
    rebuilds: list[int] = []
    real = StepFooter.recompose

    async def counting(self: StepFooter) -> None:
        rebuilds.append(1)
        await real(self)

    monkeypatch.setattr(StepFooter, "recompose", counting)
    app = build("cluster")
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(pilot)
        assert 1 <= len(rebuilds) <= 2  # Textual's Footer rebuilds five times as this screen mounts
        footer = app.screen.query_one(StepFooter)
        assert {"ctrl+n", "ctrl+b", "f5", "f1"} <= {k.key for k in footer.query(FooterKey)}

        before = len(rebuilds)
        # three changes before the next refresh (delivered as the screen's signal delivers them,
        # on the footer's own queue): one rebuild
        footer.call_later(lambda: [footer.bindings_changed(app.screen) for _ in range(3)])
        await pilot.pause()
        await pilot.pause()
        assert len(rebuilds) == before + 1
        assert {"ctrl+n", "ctrl+b", "f5", "f1"} <= {k.key for k in footer.query(FooterKey)}
