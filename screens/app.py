"""The full-screen wizard: ``WizardApp``, its factory and the ``tui`` command.

A driver worker walks the steps of :mod:`wizard.steps` in order, pushing one
screen per step and waiting for it to be dismissed with Back / Next. Screens share
one :class:`~screens.services.WizardState`, so nothing typed is lost when moving
between them; the outside world comes in through :class:`~screens.services.Services`.

Start-up stays light: step modules are imported when first shown, and nothing here
imports kubernetes, python-gitlab or cryptography.
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App
from textual.binding import Binding

from wizard import steps as st

from .paths import asset
from .services import Services, WizardState
from .step import Nav, StepScreen

if TYPE_CHECKING:
    from wizard.answers import Answers

    from .dialogs import QuitChoice

SCREENS_BY_STEP: dict[str, tuple[str, str]] = {
    "cluster": ("screens.cluster", "ClusterScreen"),
    "gitlab": ("screens.gitlab_url", "GitLabUrlScreen"),
    "token": ("screens.token", "TokenScreen"),
    "host_aliases": ("screens.host_aliases", "HostAliasesScreen"),
    "registries": ("screens.registries", "RegistriesScreen"),
    "review": ("screens.review", "ReviewScreen"),
    "apply": ("screens.apply", "ApplyScreen"),
}
"""Steps with a screen of their own. Every other step of :data:`wizard.steps.STEPS` is a
plain :class:`StepScreen` of its fields."""


@cache
def screen_class(step_id: str) -> type[StepScreen]:
    """The screen of a step; its ``STEP_ID`` is set here, from the step table."""
    st.step(step_id)  # KeyError for a step the table does not have
    if step_id not in SCREENS_BY_STEP:
        name = "".join(part.title() for part in step_id.split("_")) + "Screen"
        return type(name, (StepScreen,), {"STEP_ID": step_id, "__doc__": st.step(step_id).title})
    module, name = SCREENS_BY_STEP[step_id]
    cls: type[StepScreen] = getattr(importlib.import_module(module), name)
    cls.STEP_ID = step_id
    return cls


class WizardApp(App["Answers | None"]):
    """Installs GitLab Runner on Kubernetes, one checked step at a time."""

    TITLE = "runner-wizard"
    CSS_PATH = [asset("wizard.tcss")]
    BINDINGS = [Binding("ctrl+q", "request_quit", "Quit", priority=True)]

    def __init__(self, state: WizardState, services: Services, *, start: str = "cluster",
                 recover: bool = False) -> None:
        super().__init__()
        self.state = state
        self.services = services
        self.start_step = start
        self.recover = recover
        self.current_step: str | None = None

    NARROW = 100
    """Below this many columns the layout tightens (class ``-narrow``; 80x24 is supported)."""

    def on_resize(self, event: Any) -> None:
        self.set_class(event.size.width < self.NARROW, "-narrow")

    def on_mount(self) -> None:
        self.set_class(self.size.width < self.NARROW, "-narrow")
        if self.recover:
            # recovery first, the steps only once it is left: no step screen flashes up before it
            self.action_recover(then=self._drive)
        else:
            self._drive()

    @work(group="driver", exit_on_error=True)
    async def _drive(self) -> None:
        index = st.STEP_IDS.index(self.start_step)
        while 0 <= index < len(st.STEP_IDS):
            step_id = st.STEP_IDS[index]
            self.current_step = step_id
            screen = screen_class(step_id)(self.state, self.services)
            nav: Nav = await self.push_screen_wait(screen)
            if nav.action == "next":
                index += 1
            elif nav.action == "back":
                index = max(0, index - 1)
            elif nav.action == "goto" and nav.target in st.STEP_IDS:
                index = st.STEP_IDS.index(nav.target)
            else:
                break
        try:
            result = self.state.answers()
        except Exception:
            result = None
        self.exit(result)

    # ------------------------------------------------------------------ quitting

    def action_request_quit(self) -> None:
        if not self.state.dirty:
            self.exit(None)
            return
        from .dialogs import ConfirmQuitDialog  # dialogs are imported when first opened

        if isinstance(self.screen, ConfirmQuitDialog):
            return
        screen = self.screen
        if isinstance(screen, StepScreen):
            screen.commit_all()
        problems = [(s, p, m) for s in st.FORM_STEP_IDS
                    for p, m in st.validate_step(self.state.raw, s, self.state.base_dir).items()]
        can_save = not problems
        missing = ""
        if problems:
            from .step import field_label

            s, p, m = problems[0]
            missing = f"{st.step(s).title}: {field_label(p)}: {m}"

        def decided(choice: QuitChoice | None) -> None:
            if choice == "quit":
                self.exit(None)
            elif choice == "save" and problems:
                self.goto_problem(problems[0][0])
            elif choice == "save":
                try:
                    self.state.save()
                except Exception as exc:
                    self.notify(f"Not saved: {exc}", severity="error")
                    return
                self.exit(self.state.answers())

        self.push_screen(ConfirmQuitDialog(can_save, str(self.state.answers_path), missing), decided)

    def goto_problem(self, step_id: str) -> None:
        """Show the step whose answers keep the file from being saved, with its problems marked."""
        screen = self.screen
        self.state.show_errors = True
        if isinstance(screen, StepScreen) and screen.STEP_ID == step_id:
            screen.validate()
            screen.focus_first_error()
        elif isinstance(screen, StepScreen) and screen.ready:
            screen.dismiss(Nav("goto", step_id))

    # ------------------------------------------------------------------ recovery hook

    def action_recover(self, then: Any = None) -> None:
        """Open guided recovery (``screens/recover.py``); ``then`` runs after it."""
        module = importlib.import_module("screens.recover")  # imported on first use: start-up stays light
        try:
            answers = self.state.answers()
        except Exception:
            answers = None
        self.push_screen(module.RecoverScreen(kubeconfig=self.state.kubeconfig,
                                              context=st.get_value(self.state.raw, "cluster.context")
                                              or self.state.context,
                                              answers=answers, services=self.services.recover),
                         callback=(lambda _result: then()) if then is not None else None)


def make_app(answers: Answers | None = None, *, kubeconfig: str | None = None, context: str | None = None,
             services: Services | None = None, answers_path: str | Path | None = None,
             start: str = "cluster", recover: bool = False, clusters: list[dict] | None = None) -> WizardApp:
    """Build the wizard. ``services`` injects the check runner, context lister, TLS
    inspector, resolver, renderer and applier (defaults: the real ones)."""
    raw = st.initial_raw(answers)
    if context and not st.get_value(raw, "cluster.context"):
        st.set_value(raw, "cluster.context", context)
    path = Path(answers_path) if answers_path else Path("runner-answers.yaml")
    state = WizardState(raw=raw, answers_path=path, kubeconfig=kubeconfig, context=context,
                        clusters=list(clusters or []))
    return WizardApp(state, services or Services(), start=start, recover=recover)


def command(args: Any, opts: Any) -> int:
    """``runner-wizard [tui] [--answers FILE] [--recover]``."""
    answers = None
    answers_file = getattr(args, "answers", None)
    if answers_file:
        from wizard.answers import load

        answers = load(answers_file)  # BadInput -> exit 2 with the field named
    from wizard import fleet

    clusters = fleet.entries(fleet.load(answers_file)) if answers_file else []  # kept, overrides and all
    app = make_app(answers, kubeconfig=opts.kubeconfig, context=opts.context,
                   answers_path=answers_file or None, recover=bool(getattr(args, "recover", False)),
                   clusters=clusters)
    app.run()
    if app.state.saved_to:
        print(f"answers saved to {app.state.saved_to}")
    return 0 if app.return_code in (0, None) else int(app.return_code)
