"""``check``, ``apply`` and ``diagnose`` on several clusters at once.

``--context A --context B …`` or ``--all-contexts`` (or an answers file with a ``clusters:``
section, see :mod:`wizard.fleet`) runs the command once per context, concurrently: one thread per
cluster, each with its own connection, the same code path as a single run. A cluster that fails
(unreachable apiserver, bad override, failed check) never stops the others. Each cluster's
output is kept apart and printed as one section, in the order the contexts were given, and a
summary table (``--json``: one JSON document) ends the run. The exit code is the worst one.

One context keeps today's behaviour and output exactly: the command runs as it always did,
only with the answers of that context's cluster when the file has a ``clusters`` section.

Which contexts ``--all-contexts`` means: those of the answers' ``clusters`` section when it has
one (the file says which clusters it is for), otherwise every context of the kubeconfig.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import io
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .text import printable

log = logging.getLogger("wizard.fleet")

MAX_PARALLEL = 8

Command = Callable[..., int]


def wants_fleet(args: argparse.Namespace) -> bool:
    """More than one context, ``--all-contexts``, or an answers file with a ``clusters`` section."""
    if getattr(args, "all_contexts", False) or len(_unique(getattr(args, "contexts", None) or [])) > 1:
        return True
    path = getattr(args, "answers", None)
    return bool(path) and mentions_clusters(path)


_HAS_CLUSTERS = re.compile(rb"^clusters[ \t]*:", re.M)


def mentions_clusters(path: str | Path) -> bool:
    """A cheap look (no YAML parse, nothing imported) whether an answers file has a top-level
    ``clusters:`` key. Unreadable files say no: the command's own reading reports them."""
    import os
    import stat

    try:
        fd = os.open(Path(path).expanduser(), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError):
        return False
    try:  # a FIFO or device is not read here (it would block or never end): the command rejects it
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        data = os.read(fd, 1 << 20)
    except OSError:
        return False
    finally:
        os.close(fd)
    return bool(_HAS_CLUSTERS.search(data))


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


@dataclass
class Outcome:
    """One cluster's run: what the summary and the JSON document show."""

    context: str
    index: int | None = None
    exit: int = 0
    passed: int | None = None
    failed: int | None = None
    changes: int | None = None
    verified: bool | None = None
    note: str = ""
    seconds: float = 0.0
    out: str = ""
    err: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def as_json(self, report: Any) -> dict[str, Any]:
        d = {"context": self.context, "index": self.index, "exit": self.exit,
             "checks": None if self.passed is None else {"passed": self.passed, "failed": self.failed},
             "changes": self.changes, "verified": self.verified, "note": self.note or None,
             "seconds": round(self.seconds, 3)}
        if report is not None:
            d["report"] = report
        return d


# ----------------------------------------------------------------------------- output routing


class _Routed(io.TextIOBase):
    """sys.stdout / sys.stderr while a fleet runs: a thread that has a buffer writes into it,
    every other thread to the stream underneath (which redacts)."""

    def __init__(self, inner: Any, local: threading.local, which: str):
        self._inner = inner
        self._local = local
        self._which = which

    def _target(self) -> Any:
        bufs = getattr(self._local, "bufs", None)
        return bufs[self._which] if bufs is not None else self._inner

    def write(self, s: str) -> int:
        self._target().write(s)
        return len(s)

    def flush(self) -> None:
        t = self._target()
        if t is self._inner:
            t.flush()

    def isatty(self) -> bool:  # a cluster's thread never prompts: there is one terminal for all
        return False if getattr(self._local, "bufs", None) is not None else bool(self._inner.isatty())

    def fileno(self) -> int:
        return self._inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._inner, "encoding", "utf-8")


# ----------------------------------------------------------------------------- members


def _members(args: argparse.Namespace, opts: Any) -> list[Any]:
    """The clusters to run on, each with its answers (or why they are bad). BadInput for what
    is bad for the whole run."""
    from .errors import BadInput, FieldError
    from .fleet import Member, load

    contexts = _unique(getattr(args, "contexts", None) or [])
    every = bool(getattr(args, "all_contexts", False))
    if every and contexts:
        raise BadInput([FieldError("--all-contexts", "give either --context NAME (repeatable) or "
                                                     "--all-contexts, not both")])
    fleet = load(args.answers) if getattr(args, "answers", None) else None
    if fleet is not None:
        if every:
            contexts = fleet.contexts
        elif not contexts:
            from .kube import load_kubeconfig

            current = load_kubeconfig(opts.kubeconfig).current
            if current is None or fleet.index(current) is None:
                raise BadInput([FieldError("--context", f"the answers have clusters ({', '.join(fleet.contexts)}) "
                                           + (f"and the current context {current!r} is not one of them"
                                              if current else "and the kubeconfig sets no current-context")
                                           + "; name them with --context NAME or use --all-contexts")])
            contexts = [current]
        return fleet.members(contexts)
    answers = None
    if getattr(args, "answers", None):
        from .answers import load as load_answers

        answers = load_answers(args.answers)
    if every:
        from .kube import load_kubeconfig

        contexts = load_kubeconfig(opts.kubeconfig).names
        if not contexts:
            raise BadInput([FieldError("--all-contexts", "the kubeconfig has no contexts")])
    from .safeio import bad_char

    bad = [FieldError("--context", f"contains {bad_char(c)}" if c else "is empty")
           for c in contexts if not c or bad_char(c)]
    if bad:
        raise BadInput(bad)
    return [Member(None, c, answers=copy.deepcopy(answers)) for c in contexts]


def _safe_name(context: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", context).strip("._") or "context"
    name, n = base[:80], 2
    while name in taken:
        name, n = f"{base[:76]}-{n}", n + 1
    taken.add(name)
    return name


def _per_member_args(args: argparse.Namespace, members: list[Any]) -> list[argparse.Namespace]:
    """Each cluster its own ``--out`` folder and ``--bundle`` file (named after its context)."""
    taken: set[str] = set()
    out = []
    for m in members:
        a = argparse.Namespace(**vars(args))
        name = _safe_name(m.context, taken)
        if getattr(a, "out", None):
            a.out = str(Path(a.out) / name)
        if getattr(a, "bundle", None):
            b = Path(a.bundle)
            stem = b.name[:-7] if b.name.endswith(".tar.gz") else b.stem
            a.bundle = str(b.with_name(f"{stem}-{name}.tar.gz"))
        out.append(a)
    return out


# ----------------------------------------------------------------------------- running


def render(args: argparse.Namespace, opts: Any, command: Command) -> int:
    """``render`` of an answers file with ``clusters``: ``--context NAME`` renders that cluster as
    today; without it every cluster is rendered into ``OUT/<context>/``. Any bad cluster is bad
    input for the whole run (nothing is written)."""
    from .errors import BadInput
    from .fleet import load

    fleet = load(args.answers)
    if fleet is None:  # the look said clusters, the YAML did not (e.g. inside a block string)
        return command(args, opts)
    members = fleet.members([opts.context] if opts.context else None)
    bad = [e for m in members if m.error is not None for e in m.error.errors]
    if bad:
        raise BadInput(bad, fleet.source)
    if opts.context:
        return command(args, opts, answers=members[0].answers)
    rc = 0
    for m, margs in zip(members, _per_member_args(args, members)):
        print(f"=== {printable(m.context, 100)}")
        rc = max(rc, int(command(margs, dataclasses.replace(opts, context=m.context), answers=m.answers) or 0))
    return rc


def run(name: str, args: argparse.Namespace, opts: Any, command: Command) -> int:
    """Run ``command`` (check, apply or diagnose's ``command(args, opts, answers=, record=)``)
    on every selected cluster; one cluster runs exactly as a plain command does."""
    members = _members(args, opts)
    if len(members) == 1:
        m = members[0]
        if m.error is not None:
            raise m.error
        return command(args, dataclasses.replace(opts, context=m.context), answers=m.answers)
    if name == "apply" and not args.dry_run and not args.yes and sys.stdin.isatty() and sys.stdout.isatty():
        listing = ", ".join(m.context for m in members)
        reply = input(f"apply to {len(members)} clusters ({listing})? [y/N] ").strip().lower()
        log.info("asked: apply to %s? -> %s", listing, reply)
        if reply not in ("y", "yes"):
            print("nothing applied.", file=sys.stderr)
            return 1
        args = argparse.Namespace(**{**vars(args), "yes": True})
    as_json = bool(getattr(args, "json", False))
    _warm(name)
    t0 = time.monotonic()
    outcomes = _run_all(members, _per_member_args(args, members), opts, command, name)
    seconds = time.monotonic() - t0
    worst = max(o.exit for o in outcomes)
    for o in outcomes:
        if as_json:
            if o.err:
                sys.stderr.write(f"=== {printable(o.context, 100)}\n{o.err}")
        else:
            print(f"=== {printable(o.context, 100)} ({'ok' if o.exit == 0 else f'exit {o.exit}'}, {o.seconds:.1f}s)")
            text = o.out + o.err
            print(text, end="" if text.endswith("\n") or not text else "\n")
            print()
    if as_json:
        doc = {"command": name, "exit": worst, "seconds": round(seconds, 3),
               "clusters": [o.as_json(_json_or_text(o.out)) for o in outcomes]}
        print(json.dumps(doc, indent=2))
    else:
        print(summary_table(name, outcomes, seconds))
    log.info("fleet %s on %d clusters: exit %s after %.2fs", name, len(outcomes), worst, seconds)
    return worst


WARM = {"check": ("checks.engine", "checks.cluster", "checks.gitlab", "checks.tls", "checks.registry", "checks.dns"),
        "apply": ("console", "apply", "apply.execute", "render", "helm", "tokens", "verify", "diff", "checks.engine",
                  "checks.cluster"),
        "diagnose": ("diagnose.engine", "diagnose.collect", "diagnose.analyzers", "diagnose.fixes")}


def _warm(name: str) -> None:
    """Import what every cluster's thread imports, once, before the threads start: they would
    otherwise queue on the same module locks (and an import cycle across threads deadlocks)."""
    import importlib

    for mod in WARM.get(name, ()):
        try:
            importlib.import_module(f"{__package__}.{mod}")
        except ImportError:  # a module that moved: the thread imports what it needs itself
            log.debug("fleet: no module %s to import ahead", mod)


def _json_or_text(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"text": text}


def _run_all(members: list[Any], margs: list[argparse.Namespace], opts: Any, command: Command,
             name: str) -> list[Outcome]:
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    local = threading.local()
    saved = sys.stdout, sys.stderr
    sys.stdout = _Routed(saved[0], local, "out")  # type: ignore[assignment]
    sys.stderr = _Routed(saved[1], local, "err")  # type: ignore[assignment]
    outcomes = [Outcome(m.context, m.index) for m in members]
    pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(members)), thread_name_prefix="fleet")
    try:
        futures = {pool.submit(_one, m, a, opts, command, name, local, o): o
                   for m, a, o in zip(members, margs, outcomes)}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                o = futures[f]
                f.result()  # _one catches everything; a bug here should still be seen
                saved[1].write(f"fleet: {printable(o.context, 100)}: exit {o.exit} after {o.seconds:.1f}s"
                               f"{f' ({o.note})' if o.note and o.exit else ''}\n")
                saved[1].flush()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        sys.stdout, sys.stderr = saved  # type: ignore[assignment]
    return outcomes


def _one(member: Any, args: argparse.Namespace, opts: Any, command: Command, name: str,
         local: threading.local, o: Outcome) -> None:
    """One cluster, in its own thread: every exception becomes this cluster's exit code."""
    from .errors import BadInput, WizardError

    threading.current_thread().name = f"fleet:{printable(member.context, 40)}"
    out, err = io.StringIO(), io.StringIO()
    local.bufs = {"out": out, "err": err}
    t0 = time.monotonic()
    try:
        if member.error is not None:
            raise member.error
        o.exit = int(command(args, dataclasses.replace(opts, context=member.context), answers=member.answers,
                             record=lambda **kw: _record(o, name, **kw)) or 0)
        if o.exit and not o.note:
            o.note = _last_line(err.getvalue())
    except BadInput as exc:
        o.exit = 2
        print(f"runner-wizard: {exc.render()}\nnothing was written or applied.", file=err)
        o.note = f"bad input: {printable(exc.errors[0].path, 80)}" if exc.errors else "bad input"
    except WizardError as exc:
        o.exit = exc.exit_code
        print(f"runner-wizard: {exc}", file=err)
        o.note = printable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 100)
    except Exception as exc:  # noqa: BLE001 - one cluster's crash must not stop the others
        log.exception("fleet: %s failed", member.context)
        o.exit = max(o.exit, 1)
        print(f"runner-wizard: {type(exc).__name__}: {exc}", file=err)
        o.note = printable(f"{type(exc).__name__}: {exc}", 100)
    finally:
        local.bufs = None
        o.seconds = time.monotonic() - t0
        o.out, o.err = out.getvalue(), err.getvalue()


def _last_line(text: str) -> str:

    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return printable(lines[-1].removeprefix("runner-wizard: "), 100) if lines else ""


def _record(o: Outcome, name: str, **kw: Any) -> None:
    from .results import Status

    results = kw.get("results")
    report = kw.get("report")
    diag = kw.get("diagnosis")
    if report is not None:
        results = list(report.checks)
        o.changes = sum(1 for ob in report.objects if getattr(ob, "action", "") in ("created", "changed"))
        if not report.dry_run and not report.stopped:
            o.verified = bool(report.verified)
        if report.stopped:
            o.note = f"stopped ({report.stopped})"
        elif o.verified is False:
            o.note = "not verified"
    if diag is not None:
        results = list(diag.results)
    if results is not None:
        o.passed = sum(1 for r in results if r.status == Status.PASS)
        o.failed = sum(1 for r in results if r.status == Status.FAIL)
        failed = [r.id for r in results if r.status == Status.FAIL]
        if failed and not o.note:
            o.note = "failed: " + ", ".join(failed[:3]) + (f" (+{len(failed) - 3})" if len(failed) > 3 else "")


def summary_table(name: str, outcomes: list[Outcome], seconds: float) -> str:
    """One line per cluster: checks passed/failed, changes, verified, exit, and what went wrong."""

    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "NO"
        return str(v)

    head = ("CONTEXT", "PASSED", "FAILED", "CHANGES", "VERIFIED", "EXIT", "NOTE")
    rows = [(printable(o.context, 40), cell(o.passed), cell(o.failed), cell(o.changes), cell(o.verified),
             str(o.exit), o.note) for o in outcomes]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    lines = [f"{name} on {len(outcomes)} clusters in {seconds:.1f}s "
             f"(exit {max(o.exit for o in outcomes)}, the worst):"]
    for r in [head, *rows]:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1])
    return "\n".join(ln.rstrip() for ln in lines)
