"""Building the wizard for tests and waiting for it to settle."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from screens.app import WizardApp, make_app, screen_class

from .fakes import FakeWorld

BACKGROUND = ("checks", "contexts", "tls", "dns", "render", "apply")


def build(start: str = "cluster", answers: Any = None, world: FakeWorld | None = None, **kw: Any) -> WizardApp:
    app = make_app(answers, services=(world or FakeWorld()).services(), start=start, **kw)
    app.animation_level = "none"
    return app


async def settle(pilot: Pilot, *, skip: tuple[str, ...] = (), rounds: int = 4) -> None:
    """Wait until the step screen is up and its background workers are done."""
    app = pilot.app
    for _ in range(50):
        if app.current_step and isinstance(app.screen, screen_class(app.current_step)):
            break
        await pilot.pause(0.02)
    for _ in range(rounds):
        busy = [w for w in app.workers if w.group in BACKGROUND and w.group not in skip and not w.is_finished]
        if busy:
            await app.workers.wait_for_complete(busy)
        await pilot.pause()
    for inp in app.screen.query(Input):
        inp.cursor_blink = False
    await pilot.pause()


async def type_into(pilot: Pilot, selector: str, text: str) -> None:
    """Replace the text of an Input inside the field row ``selector``."""
    inp = pilot.app.screen.query_one(f"{selector} #control", Input)
    inp.focus()
    inp.value = ""
    await pilot.pause()
    await pilot.press(*text) if text else None
    await pilot.pause()


def screen_lines(app: Any) -> list[str]:
    """The text on screen, one string per terminal row (what a user would copy)."""
    return ["".join(seg.text for seg in strip) for strip in app.screen._compositor.render_strips()]


def widget_lines(widget: Any) -> list[str]:
    """The rows of the screen covered by ``widget``, cut to its columns."""
    region = widget.region
    rows = screen_lines(widget.app)[region.y:region.bottom]
    return [row[region.x:region.right] for row in rows]


def content_lines(widget: Any) -> list[str]:
    """Every row ``widget`` renders at its current width, also the rows scrolled out of view."""
    from textual.geometry import Region

    strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return ["".join(seg.text for seg in strip) for strip in strips]
