"""Step 1: the cluster (kubeconfig context, where the manager runs, node runtime)."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.message import Message
from textual.widgets import SelectionList, Static

from wizard import steps as st

from .step import StepScreen
from .widgets.fields import FieldRow


class ContextsLoaded(Message):
    def __init__(self, contexts: list[Any], error: str | None = None) -> None:
        super().__init__()
        self.contexts = contexts
        self.error = error


class ClusterScreen(StepScreen):
    """Pick the kubeconfig context; its server is shown so the right cluster is chosen."""

    EXTRA_CHECK_IDS = ("cluster.nodes.runtime",)
    """The nodes' runtime is read here too: "Detect from the nodes" must say when there is nothing to detect."""

    def compose_form(self):  # type: ignore[override]
        yield from super().compose_form()
        yield Static("", id="runtime-note", classes="info -warn")
        yield Static("Reading kubeconfig contexts…", id="context-info", classes="info")
        # the list to pick several clusters from is mounted once the kubeconfig has several contexts

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#runtime-note").display = False
        self.call_after_refresh(self._load_contexts)  # the screen paints first, then the kubeconfig is read

    def checks_finished(self, results: list[Any]) -> None:
        self._runtime_result = next((r for r in results if r.id == "cluster.nodes.runtime"), None)
        self._show_runtime_note()

    def _show_runtime_note(self) -> None:
        """With "Detect from the nodes" and no node that reports a runtime, say so (nothing is chosen silently)."""
        note = self.query_one("#runtime-note", Static)
        r = getattr(self, "_runtime_result", None)
        detected = (r.data or {}).get("runtimes") if r is not None else None
        auto = st.get_value(self.state.raw, "node_runtime") in (None, "auto")
        if auto and r is not None and not detected:
            why = r.detail or r.title
            note.update(f"Container runtime: nothing to detect ({why}). Node files will be rendered for "
                        "both CRI-O and containerd; choose the runtime above if you know it.")
            note.display = True
        else:
            note.display = False

    @work(thread=True, exclusive=True, group="contexts", exit_on_error=False)
    def _load_contexts(self) -> None:
        try:
            contexts = list(self.services.list_contexts(self.state.kubeconfig))
            self.post_message(ContextsLoaded(contexts))
        except Exception as exc:
            self.post_message(ContextsLoaded([], f"{type(exc).__name__}: {exc}"))

    @on(ContextsLoaded)
    def _contexts(self, message: ContextsLoaded) -> None:
        self._contexts_list = message.contexts
        info = self.query_one("#context-info", Static)
        if message.error or not message.contexts:
            info.update(message.error or "No contexts found in the kubeconfig. Pass --kubeconfig PATH "
                        "or set KUBECONFIG, then restart the wizard.")
            info.add_class("-warn")
            return
        opts = [(f"{c.name}{'  (current)' if c.current else ''}", c.name) for c in message.contexts]
        row = self.row("cluster.context")
        row.set_choices(opts, st.get_value(self.state.raw, "cluster.context") or self.state.context)
        self._describe()
        if len(message.contexts) > 1:
            picked = {e.get("context") for e in self.state.clusters}
            options = [(c.name, c.name, c.name in picked) for c in message.contexts]
            shown = self.query("#fleet-contexts")
            if shown:
                fleet = shown.first(SelectionList)
                with fleet.prevent(SelectionList.SelectedChanged):
                    fleet.clear_options()
                    fleet.add_options(options)
            else:
                fleet = SelectionList[str](id="fleet-contexts")
                fleet.border_title = "Several clusters: install on each one picked"
                # options added, not passed to the constructor: none is highlighted (as in a list
                # filled once shown); a list posts no change before it is mounted
                fleet.add_options(options)
                self.query_one("#form").mount(fleet, after="#context-info")

    @on(SelectionList.SelectedChanged, "#fleet-contexts")
    def _fleet_picked(self, event: SelectionList.SelectedChanged) -> None:
        from wizard import fleet

        listed = [c.name for c in getattr(self, "_contexts_list", [])]
        picked = [name for name in listed if name in set(event.selection_list.selected)]
        self.state.clusters = fleet.with_contexts(self.state.clusters, picked, listed)
        self.state.changed()

    def field_changed(self, row: FieldRow | None) -> None:
        if row is not None and row.field.path == "cluster.context":
            self._describe()
        if row is not None and row.field.path == "node_runtime":
            self._show_runtime_note()

    def _describe(self) -> None:
        contexts = getattr(self, "_contexts_list", [])
        chosen = st.get_value(self.state.raw, "cluster.context") or self.state.context
        ctx = next((c for c in contexts if c.name == chosen), None) or next(
            (c for c in contexts if c.current), None)
        info = self.query_one("#context-info", Static)
        if ctx is None:
            info.update("")
            return
        info.update(f"Context {ctx.name}: cluster {ctx.cluster}, server {ctx.server or '?'}, "
                    f"user {ctx.user}")
