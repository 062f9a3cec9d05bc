"""Step 5: host aliases (/etc/hosts entries for the manager and job pods)."""

from __future__ import annotations

from urllib.parse import urlsplit

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Static
from textual.worker import get_current_worker

from wizard import steps as st
from wizard import validate as v

from .step import StepScreen
from .widgets.fields import FieldRow, RecordsEditor


class DnsResolved(Message):
    """Resolution of the host names of each alias, plus GitLab's own host."""

    def __init__(self, per_alias: dict[int, list[tuple[str, list[str]]]], gitlab: tuple[str, list[str]] | None):
        super().__init__()
        self.per_alias = per_alias
        self.gitlab = gitlab


class HostAliasesScreen(StepScreen):
    """Rows of IP / host names / manager+jobs with what DNS says beside each."""


    def add_label(self, f: st.Field) -> str:
        return "Add an alias"

    def compose_form(self) -> ComposeResult:
        yield from super().compose_form()
        with Horizontal(id="suggestion", classes="info -warn"):
            yield Static("", id="suggestion-text")
            yield Button("Add alias", id="suggest-add", compact=True, variant="warning")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#suggestion").display = False
        self._resolve_all()

    def _gitlab_host(self) -> str | None:
        url = st.get_value(self.state.raw, "gitlab.url") or ""
        host = urlsplit(url).hostname
        if not host or v.is_ip(host):
            return None
        return host

    def _resolve_all(self) -> None:
        import copy

        aliases = copy.deepcopy(st.get_value(self.state.raw, "host_aliases") or [])
        self._dns_worker(aliases, self._gitlab_host())

    @work(thread=True, exclusive=True, group="dns", exit_on_error=False)
    def _dns_worker(self, aliases: list[dict], host: str | None) -> None:
        worker = get_current_worker()
        per: dict[int, list[tuple[str, list[str]]]] = {}
        for i, alias in enumerate(aliases):
            per[i] = []
            for name in alias.get("hostnames") or []:
                if v.hostname(name) is None:
                    per[i].append((name, self.services.resolve(name)))
        gitlab = (host, self.services.resolve(host)) if host else None
        if not worker.is_cancelled:
            self.post_message(DnsResolved(per, gitlab))

    @on(DnsResolved)
    def _dns(self, message: DnsResolved) -> None:
        editor = self.query_one(RecordsEditor)
        aliases = st.get_value(self.state.raw, "host_aliases") or []
        for i, results in message.per_alias.items():
            if i >= len(aliases):
                continue
            ip = aliases[i].get("ip")
            parts = []
            for name, addrs in results:
                if not addrs:
                    parts.append(f"{name}: no DNS answer here (the alias supplies it)")
                elif ip in addrs:
                    parts.append(f"{name} → {', '.join(addrs)} (same as the alias)")
                else:
                    parts.append(f"{name} → {', '.join(addrs)} (the alias overrides it with {ip})")
            editor.note(i, "DNS: " + "; ".join(parts) if parts else "")
        box = self.query_one("#suggestion")
        if message.gitlab is None:
            box.display = False
            return
        host, addrs = message.gitlab
        covered = any(host in (a.get("hostnames") or []) for a in aliases)
        if not addrs and not covered:
            self.query_one("#suggestion-text", Static).update(
                f"GitLab's host {host} does not resolve from here. If the pods cannot resolve it "
                "either, jobs fail with 'Could not resolve host'. Add an alias with its IP?")
            box.display = True
        else:
            box.display = False

    @on(Button.Pressed, "#suggest-add")
    async def _suggest(self) -> None:
        host = self._gitlab_host()
        editor = self.query_one(RecordsEditor)
        record = st.new_record(editor.field)
        record["hostnames"] = [host] if host else []
        await editor.add(record)
        self.query_one("#suggestion").display = False
        last = editor.query(FieldRow).filter(".-text")
        rows = [r for r in last if r.field.path == "ip"]
        if rows:
            rows[-1].query_one("#control").focus()

    def field_changed(self, row: FieldRow | None) -> None:
        if row is None:
            self._resolve_all()

    @on(FieldRow.Left)
    def _left(self, event: FieldRow.Left) -> None:
        self._resolve_all()
