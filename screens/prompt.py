"""``runner-wizard prompt``: the wizard's steps as plain line-by-line prompts.

The questions, defaults, validators and conditions all come from
:mod:`wizard.steps`, like the full-screen wizard's. Who answers is pluggable: an
*asker* ``ask(field, default) -> value`` receives each :class:`~wizard.steps.Field`
(record items and follow-up questions get their own field with an absolute path)
and returns a typed value. :func:`questionary_asker` asks a person through
questionary; tests pass a scripted asker. Typed secrets are kept like the TUI keeps
them: the answers file holds ``file:``/``env:`` references, and a typed secret goes
into a 0600 file next to the answers file (or the variable is named for you to set).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from wizard import steps as st
from wizard.errors import BadInput

from .services import WizardState

Asker = Callable[[st.Field, Any], Any]
"""``ask(field, default) -> value``: the typed value for ``field`` (``default`` on Enter)."""

MAX_ATTEMPTS = 5


class Abort(Exception):
    """The same field was answered wrongly too often (scripted input gone astray)."""


class Stopped(Exception):
    """The user chose to stop after failed checks."""


AFTER_FAILURE = ("retry", "edit", "continue", "quit")
AFTER_FAILURE_LABELS = {"retry": "Run the checks again (after fixing it outside)",
                        "edit": "Change this step's answers", "continue": "Continue anyway",
                        "quit": "Stop here (nothing is saved)"}


def _follow_up(path: str, label: str, kind: str, **kw: Any) -> st.Field:
    return st.Field(path, label, kind, **kw)


class PromptRun:
    """One pass through the steps, filling a :class:`WizardState`."""

    def __init__(self, state: WizardState, ask: Asker, *, out: TextIO | None = None,
                 run_checks: Callable[..., Any] | None = None,
                 contexts: list[tuple[str, str]] | None = None,
                 inspect_tls: Callable[[str, str | None], Any] | None = None) -> None:
        self.state = state
        self.ask = ask
        self.out = out or sys.stdout
        self.run_checks = run_checks
        self.contexts = contexts
        self.inspect_tls = inspect_tls

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    # ------------------------------------------------------------------ asking

    def ask_valid(self, f: st.Field, default: Any) -> Any:
        for _ in range(MAX_ATTEMPTS):
            value = self.ask(f, default)
            if isinstance(value, str) and f.kind not in ("text", "secret-ref", "secret-value", "choice"):
                value = st.parse_input(f, value)
            msg = st.check_value(f, value)
            if msg is None:
                return value
            self.say(f"  ✘ {msg}")
        raise Abort(f"{f.path}: no valid answer after {MAX_ATTEMPTS} attempts")

    def ask_secret(self, f: st.Field, path: str) -> str | None:
        current = st.get_value(self.state.raw, path)
        text = self.ask_valid(f, current)
        if not text:
            self.state.drafts.pop(path, None)
            return None
        text = str(text).strip()
        if st.is_reference(text):
            self.state.drafts.pop(path, None)
            return text
        file_name, env_name = st.secret_defaults(path)
        how_field = _follow_up(f"{path}#keep", "Keep the typed secret in", "choice", choices=("file", "env"),
                               choice_labels={"file": f"the file ./{file_name} (mode 0600, next to the "
                                                      "answers file)",
                                              "env": f"the environment variable {env_name} (you set it)"})
        how = self.ask_valid(how_field, "file")
        self.state.drafts[path] = text
        return st.secret_reference(path, how)

    def show_certificate(self) -> None:
        """Before asking how to trust GitLab: show the chain it presents (and offer its root)."""
        url = st.get_value(self.state.raw, "gitlab.url") or ""
        if self.inspect_tls is None or not url or st.validate_field("gitlab.url", url):
            return
        self.say("  fetching the certificate GitLab presents…")
        try:
            v = self.inspect_tls(url, None)
        except Exception as exc:
            self.say(f"  ✘ could not fetch the certificate: {getattr(exc, 'message', exc)}")
            return
        from .textfmt import fingerprint_lines

        if v.ok and v.trusted:
            self.say("  ✔ trusted by this machine, and the name matches")
        for fault in v.faults:
            self.say(f"  ! {fault.message}")
        for i, c in enumerate(v.chain):
            title = "Server certificate" if i == 0 else ("Root CA" if c.self_signed else "Intermediate CA")
            self.say(f"  {title}")
            self.say(f"    Subject      {c.subject}")
            self.say(f"    Issuer       {c.issuer}")
            self.say(f"    Valid        {c.not_before:%Y-%m-%d} to {c.not_after:%Y-%m-%d}")
            self.say("    Fingerprint")
            for line in fingerprint_lines(c.fingerprint, 16):
                self.say(f"      {line}")
        roots = [c for c in v.chain if c.is_ca]
        if roots and not st.get_value(self.state.raw, "gitlab.ca.fingerprint"):
            # "trust this root" then means: confirm the fingerprint shown above (Enter takes it)
            st.set_value(self.state.raw, "gitlab.ca.fingerprint", roots[-1].fingerprint)

    def ask_field(self, f: st.Field) -> None:
        raw = self.state.raw
        if f.path == "_ca_mode":
            self.show_certificate()
        if f.kind == "records":
            self.ask_records(f)
            return
        if f.kind in ("secret-ref", "secret-value"):
            value: Any = self.ask_secret(f, f.path)
        else:
            if f.dynamic_choices == "contexts" and self.contexts:
                f = dataclasses.replace(f, choices=tuple(c for _, c in self.contexts),
                                        choice_labels={c: label for label, c in self.contexts})
            value = self.ask_valid(f, st.field_value(raw, f))
        if st.field_value(raw, f) != value:
            st.set_field(raw, f, value)
            self.state.changed()

    def ask_records(self, f: st.Field) -> None:
        records: list[dict[str, Any]] = []
        existing = list(st.get_value(self.state.raw, f.path) or [])
        noun = f.label.lower().rstrip("s")
        for i, rec in enumerate(existing):
            keep = self.ask_valid(_follow_up(f"{f.path}[{i}]#keep", f"Keep {noun} {i + 1} "
                                             f"({_summary(f, rec)})?", "bool"), True)
            if keep:
                records.append(self.ask_record(f, len(records), rec))
        while self.ask_valid(_follow_up(f"{f.path}[{len(records)}]#add",
                                        f"Add {'another' if records else 'a'} {noun}?", "bool"), False):
            records.append(self.ask_record(f, len(records), st.new_record(f)))
        if st.get_value(self.state.raw, f.path) != records:
            st.set_value(self.state.raw, f.path, records)
            self.state.changed()

    def ask_record(self, f: st.Field, index: int, record: dict[str, Any]) -> dict[str, Any]:
        rec = dict(record)
        for item in f.item_fields:
            if item.when is not None and not item.when(rec):
                rec[item.path] = None
                continue
            path = f"{f.path}[{index}].{item.path}"
            bound = dataclasses.replace(item, path=path)
            if item.kind in ("secret-ref", "secret-value"):
                st.set_value(self.state.raw, path, rec.get(item.path))
                rec[item.path] = self.ask_secret(bound, path)
            else:
                rec[item.path] = self.ask_valid(bound, rec.get(item.path))
        return rec

    # ------------------------------------------------------------------ steps

    def run_step(self, step: st.Step) -> bool:
        self.say()
        self.say(f"== {step.title} ==")
        self.say(_wrap(step.help))
        pending = [f.path for f in step.fields]
        for _ in range(MAX_ATTEMPTS):
            for f in step.fields:
                if f.path in pending and f.active(self.state.raw):
                    self.ask_field(f)
            errors = st.validate_step(self.state.raw, step.id, base_dir=self.state.base_dir)
            if not errors:
                break
            for path, msg in errors.items():
                self.say(f"  ✘ {path}: {msg}")
            pending = [f.path for f in step.fields if any(p == f.path or p.startswith(f.path + ".")
                                                           or p.startswith(f.path + "[") for p in errors)]
            if not pending:
                pending = [f.path for f in step.fields]
        else:
            raise Abort(f"step {step.id}: still invalid after {MAX_ATTEMPTS} attempts")
        return self.check(step)

    def check(self, step: st.Step) -> bool:
        """Run the step's checks. On a failure, ask: retry, edit, continue or quit.
        Returns True when the step's answers should be asked again."""
        if self.run_checks is None or not step.checks:
            return False
        while True:
            try:
                answers = self.state.answers(for_checks=True)
            except BadInput:
                return False
            self.say("  checking…")
            try:
                results = list(self.run_checks(answers, kubeconfig=self.state.kubeconfig,
                                               context=st.get_value(self.state.raw, "cluster.context") or
                                               self.state.context, steps=list(step.checks)))
            except Exception as exc:
                from wizard.results import Result, Status

                results = [Result("wizard.checks", "wizard", Status.FAIL, "The checks could not run",
                                  detail=f"{type(exc).__name__}: {exc}")]
            for r in results:
                self.say(f"  {r.status.symbol} {r.title}")
                if r.status.value in ("fail", "warn") and r.detail:
                    self.say(f"      {r.detail}")
                if r.status.value in ("fail", "warn") and r.fix:
                    self.say(f"      → {r.fix}")
            failed = [r for r in results if r.status.value == "fail"]
            if not failed:
                return False
            n = len(failed)
            choice = self.ask_valid(_follow_up(f"{step.id}#after-checks",
                                               f"{n} check{'s' if n > 1 else ''} failed. What now?", "choice",
                                               choices=AFTER_FAILURE, choice_labels=AFTER_FAILURE_LABELS),
                                    "retry")
            if choice == "retry":
                continue
            if choice == "edit":
                return True
            if choice == "continue":
                self.state.accepted.update(r.id for r in failed)
                return False
            raise Stopped(f"stopped after failed checks in step {step.id}")

    def run(self) -> WizardState:
        for step in st.STEPS:
            if step.fields:
                for _ in range(MAX_ATTEMPTS):
                    if not self.run_step(step):
                        break
                else:
                    raise Abort(f"step {step.id}: checks still failing after {MAX_ATTEMPTS} rounds")
        return self.state


def _summary(f: st.Field, rec: dict[str, Any]) -> str:
    parts = [st.format_value(item, rec.get(item.path)) for item in f.item_fields[:2]]
    return " ".join(p for p in parts if p)


def _wrap(text: str, width: int = 78) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def run_prompts(ask: Asker, answers: Any = None, *, answers_path: str | Path | None = None,
                kubeconfig: str | None = None, context: str | None = None,
                run_checks: Callable[..., Any] | None = None, out: TextIO | None = None,
                contexts: list[tuple[str, str]] | None = None,
                inspect_tls: Callable[[str, str | None], Any] | None = None) -> WizardState:
    """Ask every step; returns the filled state (not yet saved)."""
    raw = st.initial_raw(answers)
    if context and not st.get_value(raw, "cluster.context"):
        st.set_value(raw, "cluster.context", context)
    state = WizardState(raw=raw, answers_path=Path(answers_path or "runner-answers.yaml"),
                        kubeconfig=kubeconfig, context=context)
    return PromptRun(state, ask, out=out, run_checks=run_checks, contexts=contexts,
                     inspect_tls=inspect_tls).run()


# --------------------------------------------------------------------------- questionary


def questionary_asker(**prompt_kw: Any) -> Asker:
    """An asker that uses questionary. ``prompt_kw`` (e.g. ``input=``, ``output=``) goes
    to every prompt, which is how tests drive it through a prompt_toolkit pipe."""
    import questionary

    def ask(f: st.Field, default: Any) -> Any:
        label = f.label
        if f.kind == "bool":
            return questionary.confirm(label, default=bool(default), **prompt_kw).unsafe_ask()
        if f.kind == "choice":
            none = "\0none"  # questionary would use the title for a None value
            choices = [questionary.Choice(f.label_for(c), value=c) for c in f.choices]
            if f.optional:
                choices.insert(0, questionary.Choice("(none / current)", value=none))
            if not choices:
                return None
            start = default if default in f.choices else None
            picked = questionary.select(label, choices=choices, default=start if start else None,
                                        **prompt_kw).unsafe_ask()
            return None if picked == none else picked
        if f.kind == "multichoice":
            chosen = set(default or [])
            choices = [questionary.Choice(f.label_for(c), value=c, checked=c in chosen) for c in f.choices]
            return questionary.checkbox(label, choices=choices, **prompt_kw).unsafe_ask()
        if f.kind in ("secret-ref", "secret-value"):
            hint = f" [Enter keeps {default}]" if default else " (or env:NAME / file:PATH)"
            value = questionary.password(label + hint, **prompt_kw).unsafe_ask()
            return value or default

        def validate(text: str) -> bool | str:
            return st.check_value(f, st.parse_input(f, text)) or True

        hint = ""
        if f.kind in ("list",):
            hint = " (comma-separated)"
        elif f.kind == "mapping":
            hint = " (key=value, comma-separated)"
        text = questionary.text(label + hint, default=st.format_value(f, default), validate=validate,
                                **prompt_kw).unsafe_ask()
        return st.parse_input(f, text)

    return ask


def _context_choices(kubeconfig: str | None) -> list[tuple[str, str]]:
    try:
        from wizard.kube import list_contexts

        return [(f"{c.name}{' (current)' if c.current else ''}", c.name) for c in list_contexts(kubeconfig)]
    except Exception:
        return []


def command(args: Any, opts: Any) -> int:
    """``runner-wizard prompt [--answers FILE] [--save FILE]``."""
    answers = None
    answers_file = getattr(args, "answers", None)
    if answers_file:
        from wizard.answers import load

        answers = load(answers_file)
    ask = questionary_asker()

    def checks(answers: Any, **kw: Any) -> Any:
        from wizard.checks import run_checks

        return run_checks(answers, **kw)

    from .services import _inspect_tls

    try:
        state = run_prompts(ask, answers, answers_path=getattr(args, "save", None) or answers_file,
                            kubeconfig=opts.kubeconfig, context=opts.context, run_checks=checks,
                            contexts=_context_choices(opts.kubeconfig), inspect_tls=_inspect_tls)
    except Stopped as exc:
        print(f"{exc}; nothing was saved", file=sys.stderr)
        return 1
    save_to = getattr(args, "save", None)
    if not save_to:
        save_to = ask(_follow_up("save", "Save the answers file to", "text"), str(state.answers_path))
    written = state.save(Path(str(save_to)))
    for p in written:
        print(f"wrote {p}")
    print(f"next: runner-wizard apply --answers {written[0]}")
    return 0
