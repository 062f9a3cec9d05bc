"""Step 2: the GitLab URL and trust for its certificate.

The chain GitLab presents is fetched in a worker and shown (subject, issuer, SANs,
validity, fingerprint) with its faults in plain words. The user trusts it by
confirming the root's fingerprint, or loads a PEM bundle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Static
from textual.worker import get_current_worker

from wizard import steps as st

from .dialogs import YesNoDialog
from .textfmt import fingerprint_lines
from .step import StepScreen
from .widgets.fields import FieldRow

if TYPE_CHECKING:
    from wizard.tls import CertInfo, Verdict

FETCH_FAULTS = {
    "dns": "The name does not resolve from this machine. Check the spelling, or add a host alias "
           "in step 5 if only the cluster knows it.",
    "refused": "Nothing listens on that port. Check the port in the URL (GitLab often runs on 443 "
               "or a custom port such as 8929).",
    "timeout": "No answer in time: a firewall or a wrong address is likely.",
    "handshake": "The server does not speak TLS there. Is it plain http, or the wrong port?",
    "network": "The network path to GitLab is broken from here.",
}


class TlsInspected(Message):
    def __init__(self, url: str, verdict: Verdict | None, error: str | None, kind: str = "") -> None:
        super().__init__()
        self.url = url
        self.verdict = verdict
        self.error = error
        self.kind = kind


def _cert_text(title: str, c: CertInfo) -> Text:
    t = Text()
    t.append(f"{title}\n", style="bold")
    t.append("  Subject      ", style="dim")
    t.append(f"{c.subject}\n")
    t.append("  Issuer       ", style="dim")
    t.append(f"{c.issuer}\n")
    if c.has_san or not c.is_ca:
        t.append("  Names (SAN)  ", style="dim")
        t.append((", ".join(c.sans) if c.has_san else "none: only the common name (rejected by Go clients)")
                 + "\n")
    t.append("  Valid        ", style="dim")
    t.append(f"{c.not_before:%Y-%m-%d} to {c.not_after:%Y-%m-%d}\n")
    t.append("  Fingerprint\n", style="dim")
    for line in fingerprint_lines(c.fingerprint):
        t.append(f"    {line}\n")
    return t


class GitLabUrlScreen(StepScreen):
    """URL, certificate chain and how to trust it."""


    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.verdict: Verdict | None = None
        self._inspected_url: str | None = None

    def compose_form(self) -> ComposeResult:
        fields = list(self.step.fields)
        yield self.make_field(fields[0])
        with Vertical(id="cert-panel") as panel:
            panel.border_title = "GitLab's certificate"
            yield Static("Enter the URL and leave the field to see the certificate GitLab presents.",
                         id="cert")
            with Horizontal(id="trust-buttons"):
                yield Button("Trust this root", id="trust-root", variant="warning", compact=True)
                yield Button("Load a PEM file", id="load-pem", compact=True)
        for f in fields[1:]:
            yield self.make_field(f)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#trust-buttons").display = False

    # ------------------------------------------------------------------ fetching

    def inspect(self) -> None:
        url = st.get_value(self.state.raw, "gitlab.url") or ""
        if st.validate_field("gitlab.url", url):
            return
        ca_file = None
        if st.ca_mode(self.state.raw) == "file":
            ca_file = st.get_value(self.state.raw, "gitlab.ca.file")
            if ca_file:
                ca_file = str(self.state.base_dir / ca_file) if not ca_file.startswith(("/", "~")) else ca_file
        self._inspected_url = url
        self.query_one("#cert", Static).update(Text(f"… fetching the certificate chain from {url}"))
        self.query_one("#cert-panel").add_class("-running")
        self._tls_worker(url, ca_file)

    @work(thread=True, exclusive=True, group="tls", exit_on_error=False)
    def _tls_worker(self, url: str, ca_file: str | None) -> None:
        worker = get_current_worker()
        try:
            verdict = self.services.inspect_tls(url, ca_file)
            msg = TlsInspected(url, verdict, None)
        except Exception as exc:
            msg = TlsInspected(url, None, str(getattr(exc, "message", exc)), getattr(exc, "kind", ""))
        if not worker.is_cancelled:
            self.post_message(msg)

    @on(TlsInspected)
    def _inspected(self, message: TlsInspected) -> None:
        self.query_one("#cert-panel").remove_class("-running")
        cert = self.query_one("#cert", Static)
        buttons = self.query_one("#trust-buttons")
        if message.error is not None:
            self.verdict = None
            t = Text()
            t.append("✘ Could not fetch the certificate\n", style="bold red")
            t.append(f"  {message.error}\n")
            if message.kind in FETCH_FAULTS:
                t.append(f"  → {FETCH_FAULTS[message.kind]}")
            cert.update(t)
            buttons.display = False
            return
        v = message.verdict
        assert v is not None
        self.verdict = v
        t = Text()
        if v.ok and v.trusted:
            how = "your system's CA store" if v.trusted_by == "system" else "the CA you gave"
            t.append(f"✔ Trusted by {how}, and the name matches.\n", style="bold green")
        elif v.ok:
            t.append("! Not trusted yet.\n", style="bold yellow")
        else:
            t.append("✘ The runner would reject this certificate:\n", style="bold red")
        for f in v.faults:
            style = "red" if f.severity == "fail" else "yellow"
            t.append("  • ", style=style)
            t.append(f"{f.message}\n")
        for i, info in enumerate(v.chain):
            title = "Server certificate" if i == 0 else ("Root CA" if info.self_signed else "Intermediate CA")
            t.append_text(_cert_text(title, info))
        if len(v.chain) == 1 and not v.chain[0].is_ca and not v.trusted:
            t.append("The server sent only its own certificate; to trust it, load the CA (PEM) "
                     "that signed it.\n", style="dim")
        cert.update(t)
        buttons.display = not v.trusted or st.ca_mode(self.state.raw) != "system"
        self.query_one("#trust-root", Button).display = self._root() is not None

    def _root(self) -> CertInfo | None:
        if self.verdict is None:
            return None
        cas = [c for c in self.verdict.chain if c.is_ca]
        return cas[-1] if cas else None

    # ------------------------------------------------------------------ trust

    @on(Button.Pressed, "#trust-root")
    def _trust(self) -> None:
        root = self._root()
        if root is None:
            return

        def done(yes: bool | None) -> None:
            if not yes:
                return
            self.state.raw["_ca_mode"] = "fetch"
            st.set_value(self.state.raw, "gitlab.ca.fingerprint", root.fingerprint)
            self.state.changed()
            self._reload_fields()
            self.run_checks()

        fp = "\n".join(f"  {line}" for line in fingerprint_lines(root.fingerprint, 16))
        self.app.push_screen(YesNoDialog(
            f"Trust the CA\n  {root.subject}\nwith SHA-256 fingerprint\n{fp}\n\n"
            "Compare it with the fingerprint your GitLab admin or CA publishes. The runner will "
            "trust certificates this CA signs, for GitLab only.",
            yes="Trust it", no="Cancel", title="Trust GitLab's CA"), done)

    @on(Button.Pressed, "#load-pem")
    def _load_pem(self) -> None:
        self.state.raw["_ca_mode"] = "file"
        self.state.changed()
        self._reload_fields()
        # the row was hidden until now: focus (and scroll to) it once it has a place on screen
        self.call_after_refresh(self.row("gitlab.ca.file").query_one("#control").focus)

    def _reload_fields(self) -> None:
        """Show values changed behind the widgets' back (trust buttons)."""
        from textual.widgets import Input, RadioSet

        mode_row = self.row("_ca_mode")
        with mode_row.prevent(RadioSet.Changed):
            buttons = list(mode_row.query("RadioButton"))
            idx = st.CA_MODES.index(st.ca_mode(self.state.raw))
            buttons[idx].value = True
        fp_row = self.row("gitlab.ca.fingerprint")
        with fp_row.prevent(Input.Changed):
            fp_row.query_one("#control", Input).value = st.get_value(
                self.state.raw, "gitlab.ca.fingerprint") or ""
        self.refresh_visibility()

    # ------------------------------------------------------------------ hooks

    @on(FieldRow.Left)
    def _left(self, event: FieldRow.Left) -> None:
        if event.row.field.path in ("gitlab.url", "gitlab.ca.file"):
            url = st.get_value(self.state.raw, "gitlab.url")
            if url != self._inspected_url or event.row.field.path == "gitlab.ca.file":
                self.inspect()

    def action_check(self) -> None:
        if not self.ready:
            return
        super().action_check()
        if not self.validate(show=False):
            self.inspect()
