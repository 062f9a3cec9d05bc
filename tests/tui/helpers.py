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


async def wait_workers(workers: list[Any], timeout: float = 20) -> None:
    """Wait for these workers to end, however they end (a superseded run is cancelled)."""
    import asyncio

    from textual.worker import WorkerState

    started = [w for w in workers if w.state is not WorkerState.PENDING]
    if started:
        await asyncio.wait_for(asyncio.gather(*(w.wait() for w in started), return_exceptions=True), timeout)


async def settle(pilot: Pilot, *, skip: tuple[str, ...] = (), rounds: int = 4) -> None:
    """Wait until the step screen is up and its background workers are done."""
    app = pilot.app
    for _ in range(50):
        if app.current_step and isinstance(app.screen, screen_class(app.current_step)):
            break
        await pilot.pause(0.02)
    for _ in range(rounds):
        busy = [w for w in app.workers if w.group in BACKGROUND and w.group not in skip and not w.is_finished]
        await wait_workers(busy)
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
