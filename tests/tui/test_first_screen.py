"""Issue 15: a step screen's key bar (``StepFooter``) is built with the screen, and rebuilt
once per burst of binding changes, only when the keys it shows changed; it always shows the
bindings in force."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from screens.step import StepFooter

from .helpers import build, settle


async def test_key_bar_rebuilds_once_per_burst_of_changed_bindings(monkeypatch) -> None:
    rebuilds: list[int] = []
    real = StepFooter.recompose

    async def counting(self: StepFooter) -> None:
        rebuilds.append(1)
        await real(self)

    monkeypatch.setattr(StepFooter, "recompose", counting)
    app = build("cluster")
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(pilot)
        # focus settling as the screen mounts changes no key: none is rebuilt
        # (Textual's Footer starts empty and rebuilds five times as this screen mounts)
        assert rebuilds == []
        footer = app.screen.query_one(StepFooter)
        keys = {k.key: k for k in footer.query(FooterKey)}
        assert {"ctrl+n", "ctrl+b", "f5", "f1"} <= set(keys)
        assert not keys["f5"].has_class("-disabled")

        def burst() -> None:
            # three changes before the next refresh, delivered as the screen's signal delivers them
            footer.call_later(lambda: [footer.bindings_changed(app.screen) for _ in range(3)])

        burst()  # nothing the bar shows changed: no rebuild
        await pilot.pause()
        await pilot.pause()
        assert rebuilds == []

        screen = app.screen
        monkeypatch.setattr(screen, "check_action",
                            lambda action, parameters: None if action == "check" else True, raising=False)
        burst()  # F5 is now disabled: one rebuild shows it so
        await pilot.pause()
        await pilot.pause()
        assert len(rebuilds) == 1
        keys = {k.key: k for k in footer.query(FooterKey)}
        assert {"ctrl+n", "ctrl+b", "f5", "f1"} <= set(keys)
        assert keys["f5"].has_class("-disabled") and not keys["ctrl+n"].has_class("-disabled")
