"""What the lifecycle commands share: the release they act on, helm, release records, consent."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wizard.errors import BadInput, FieldError, WizardError

if TYPE_CHECKING:
    from wizard.answers import Answers
    from wizard.kube import Kube

HELM_SECRET_RE = re.compile(r"^sh\.helm\.release\.v1\.(?P<release>.+)\.v(?P<rev>\d+)$")
Confirm = Callable[[str, bool], bool]


def bad(option: str, message: str) -> BadInput:
    """Bad input naming the option (exit 2, nothing changed)."""
    return BadInput([FieldError(option, message)])


@dataclass
class Target:
    """The release a lifecycle command acts on."""

    namespace: str
    release: str
    answers: Answers | None = None
    kubeconfig: str | None = None
    context: str | None = None
    settings: Any = None
    """The run's :class:`wizard.settings.Settings` (see :meth:`config`)."""

    def config(self) -> Any:
        """The settings: those of the command line, else the documented variables alone."""
        if self.settings is None:
            from wizard.settings import from_env

            self.settings = from_env()
        return self.settings

    def __str__(self) -> str:
        return f"{self.namespace}/{self.release}"

    def helm_flags(self) -> list[str]:
        out = ["--namespace", self.namespace]
        if self.kubeconfig:
            out += ["--kubeconfig", str(self.kubeconfig)]
        if self.context:
            out += ["--kube-context", self.context]
        return out


def target_from_args(args: Any, opts: Any) -> Target:
    """``--answers FILE`` or ``--namespace NS --release NAME`` (bad input: exit 2)."""
    answers = None
    if getattr(args, "answers", None):
        from wizard.answers import load

        answers = load(args.answers)
    ns = getattr(args, "namespace", None) or (answers.cluster.runner_namespace if answers else None)
    rel = getattr(args, "release", None) or (answers.runner.release_name if answers else None)
    if not ns or not rel:
        missing = [f for f, v in (("--namespace", ns), ("--release", rel)) if not v]
        raise bad(" and ".join(missing), "say which release to act on: --answers FILE, or "
                  "--namespace NS --release NAME")
    ctx = opts.context or (answers.cluster.context if answers else None)
    return Target(ns, rel, answers, opts.kubeconfig, ctx, getattr(opts, "settings", None))


def connect(t: Target) -> Kube:
    from wizard.kube import Kube, KubeError, require_context

    named_in_answers = t.answers is not None and t.context and t.answers.cluster.context == t.context
    require_context(t.kubeconfig, t.context, "cluster.context" if named_in_answers else "--context")  # exit 2
    try:
        return Kube.connect(t.kubeconfig, t.context)
    except KubeError as exc:
        raise WizardError(f"cannot connect to the cluster: {exc.message}") from exc


def helm_binary() -> str:
    from wizard.helm import find_helm

    binary = find_helm()
    if binary is None:
        raise WizardError("helm is not on PATH; this command runs helm (https://helm.sh/docs/intro/install/)")
    return binary


# --------------------------------------------------------------------------- release records


@dataclass
class Revision:
    """One Helm release record (``sh.helm.release.v1.<release>.v<N>``), decoded."""

    number: int
    status: str
    chart_version: str
    app_version: str
    values: dict[str, Any]
    description: str
    doc: dict[str, Any]

    @property
    def chart(self) -> str:
        return f"gitlab-runner-{self.chart_version}" if self.chart_version else "?"


def revisions(kube: Kube, t: Target) -> dict[int, Revision]:
    """Every stored revision of the release, read from its release Secrets (no helm needed)."""
    from wizard.diagnose.collect import decode_helm_release

    items = kube.get(f"/api/v1/namespaces/{quote(t.namespace)}/secrets",
                     labelSelector=f"owner=helm,name={t.release}").get("items") or []
    out: dict[int, Revision] = {}
    for s in items:
        m = HELM_SECRET_RE.match(s.get("metadata", {}).get("name", ""))
        if not m or m.group("release") != t.release:
            continue
        doc = decode_helm_release(s)
        if not doc:
            continue
        meta = (doc.get("chart") or {}).get("metadata") or {}
        info = doc.get("info") or {}
        n = int(doc.get("version") or m.group("rev"))
        out[n] = Revision(n, str(info.get("status", "")), str(meta.get("version", "")),
                          str(meta.get("appVersion", "")), doc.get("config") or {},
                          str(info.get("description", "")), doc)
    return dict(sorted(out.items()))


def current(revs: dict[int, Revision]) -> Revision | None:
    deployed = [r for r in revs.values() if r.status == "deployed"]
    if deployed:
        return deployed[-1]
    return list(revs.values())[-1] if revs else None


# --------------------------------------------------------------------------- consent


def terminal_confirm(question: str, default: bool) -> bool:
    hint = "[Y/n]" if default else "[y/N]"
    try:
        ans = input(f"{question} {hint} ").strip().lower()
    except EOFError:
        return default
    return default if not ans else ans in ("y", "yes")


def consent(args: Any) -> Confirm | None:
    """``--yes`` → always; a terminal → ask; otherwise None (the caller refuses to change anything)."""
    if getattr(args, "yes", False):
        return lambda _q, _d: True
    if sys.stdin.isatty() and sys.stdout.isatty():
        return terminal_confirm
    return None


def go_ahead(args: Any, question: str, *, nothing: str = "nothing was changed",
             dry_run_note: str = "") -> tuple[Confirm | None, int]:
    """The gate before a change: a dry run stops (exit 0), no terminal without ``--yes`` or a "no"
    stops (exit 1), each saying that nothing happened; otherwise ``(ask, 0)`` to go on with."""
    if getattr(args, "dry_run", False):
        print(f"dry run: {nothing}{dry_run_note}")
        return None, 0
    ask = consent(args)
    if ask is None:
        print(f"{nothing}: no terminal to ask; rerun with --yes")
        return None, 1
    if not ask(question, False):
        print(nothing)
        return None, 1
    return ask, 0
