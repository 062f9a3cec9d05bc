"""What the wizard's screens talk to, and the state they share.

:class:`Services` bundles every slow or outside-world call the screens make (live
checks, kubeconfig contexts, the TLS chain, DNS, rendering, applying). The CLI
builds the real ones, whose heavy imports happen only when first called; tests pass
fakes. Every call runs in a worker thread, never on the UI thread.

:class:`WizardState` is the run's working copy of the answers (see
:mod:`wizard.steps`), the secrets typed during the session, and whether the
answers have been saved since the last change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wizard import steps as st

if TYPE_CHECKING:
    from wizard.answers import Answers
    from wizard.apply import ApplyReport
    from wizard.kube import ContextInfo
    from wizard.render import Rendered
    from wizard.results import Result
    from wizard.tls import Verdict

    from .recover import RecoverServices


def _run_checks(answers: Answers, **kw: Any) -> list[Result]:
    from wizard.checks import run_checks

    return run_checks(answers, **kw)


def _list_contexts(kubeconfig: str | None) -> list[ContextInfo]:
    from wizard.kube import list_contexts

    return list_contexts(kubeconfig)


def _inspect_tls(url: str, ca_file: str | None) -> Verdict:
    """Fetch GitLab's chain and judge it (trust, names, dates)."""
    from urllib.parse import urlsplit

    from wizard import tls

    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    chain = tls.fetch_chain(host, port, timeout=5.0)
    extra = None
    if ca_file:
        extra = tls.load_pem_certificates(Path(ca_file).expanduser().read_bytes())
    return tls.verify(chain, host, extra_roots=extra, port=port)


def _resolve(host: str) -> list[str]:
    import socket

    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return []
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in seen:
            seen.append(addr)
    return seen


def _render(answers: Answers) -> Rendered:
    from wizard.render import render

    return render(answers)


def _apply(answers: Answers, *, kubeconfig: str | None, context: str | None, dry_run: bool,
           reporter: Callable[[Any], None], ignore: Any = ()) -> ApplyReport:
    from wizard.apply import apply
    from wizard.kube import Kube

    kube = Kube.connect(kubeconfig, context or answers.cluster.context)
    return apply(answers, kube=kube, dry_run=dry_run, assume_yes=True, reporter=reporter,
                 kubeconfig=kubeconfig, ignore=tuple(ignore))


@dataclass
class Services:
    """The outside world, injectable. Each callable may block; call from workers only."""

    run_checks: Callable[..., list[Result]] = _run_checks
    """``run_checks(answers, *, kubeconfig, context, steps, on_result)`` (wizard.checks)."""
    list_contexts: Callable[[str | None], list[ContextInfo]] = _list_contexts
    inspect_tls: Callable[[str, str | None], Verdict] = _inspect_tls
    resolve: Callable[[str], list[str]] = _resolve
    render: Callable[[Answers], Rendered] = _render
    """Every artifact; the screens read ``.files`` (relative path -> text)."""
    apply: Callable[..., ApplyReport] = _apply
    """``apply(answers, *, kubeconfig, context, dry_run, reporter, ignore)`` (wizard.apply);
    ``ignore``: ids of failed checks the user accepted."""
    recover: RecoverServices | None = None
    """Services for the recovery screen (``screens.recover.RecoverServices``); None: the live ones."""


@dataclass
class WizardState:
    """Everything the screens share during one run."""

    raw: st.Raw
    """The working answers mapping (see :func:`wizard.steps.initial_raw`)."""
    answers_path: Path = field(default_factory=lambda: Path("runner-answers.yaml"))
    """Where the answers file is saved (its folder is where ``file:`` secrets go)."""
    kubeconfig: str | None = None
    context: str | None = None
    drafts: dict[str, str] = field(default_factory=dict)
    """Secrets typed this session, by field path; never written except on request."""
    clusters: list[dict] = field(default_factory=list)
    """The answers file's ``clusters`` entries (:mod:`wizard.fleet`), kept with their overrides;
    the cluster step picks which contexts they name. Empty: one cluster, no section."""
    dirty: bool = False
    """Changed since the last save."""
    saved_to: Path | None = None
    visited: set[str] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)
    """Ids of failed checks the user chose to continue past ("Continue anyway"); apply ignores them."""
    dry_run: bool = False
    show_errors: bool = False
    """The next step screen shows its problems at once (quitting asked to save incomplete answers)."""
    """The apply step's Dry run box (kept when the user goes Back and returns)."""

    @property
    def base_dir(self) -> Path:
        return self.answers_path.expanduser().resolve().parent

    def changed(self) -> None:
        self.dirty = True

    def answers(self, *, for_checks: bool = False) -> Answers:
        """The answers as they stand (raises BadInput naming fields)."""
        raw = st.provisional(self.raw) if for_checks else self.raw
        if for_checks and self.drafts:
            # Typed secrets stay in memory: the references carry the values (never os.environ).
            from wizard.answers import with_secret_values

            raw, _ = st.with_drafts(raw, self.drafts)
            return with_secret_values(st.finalize(raw, base_dir=self.base_dir), self.drafts)
        return st.finalize(raw, base_dir=self.base_dir)

    def save(self, path: Path | None = None, *, write_secrets: bool = True) -> list[Path]:
        """Write the answers file (secrets as references) and, when asked, the typed
        secrets into their ``file:`` targets with mode 0600. Returns the files written."""
        from wizard import answers as am

        if path is not None:
            self.answers_path = Path(path)
        answers = st.finalize(self.raw, base_dir=self.base_dir)
        written: list[Path] = []
        if write_secrets:
            for fpath, value in self.drafts.items():
                ref = st.get_value(self.raw, fpath)
                if isinstance(ref, str):
                    p = st.store_secret(value, ref, self.base_dir)
                    if p is not None:
                        written.append(p)
        if self.clusters:
            from wizard import fleet

            written.insert(0, fleet.save(answers, self.answers_path, self.clusters))
        else:
            written.insert(0, am.save(answers, self.answers_path))
        self.dirty = False
        self.saved_to = self.answers_path
        return written
