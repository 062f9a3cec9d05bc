"""Live checks against GitLab, TLS, the cluster, registries and DNS (``runner-wizard check``).

    from wizard.checks import run_checks
    results = run_checks(answers, kubeconfig=..., on_result=print)

Every check is a row of :data:`CHECKS` (see :mod:`wizard.checks.engine`); ``steps``
selects rows by wizard step ("cluster", "gitlab", "token", "namespaces",
"host_aliases", "registries", "runner"), ``ids`` by id or glob ("rbac.*").
"""

from __future__ import annotations

import logging
import os
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..answers import Answers
from ..results import Result, Status, gate, report_json, summarize, unknown_ignores
from . import cluster, dns, gitlab, registry, tls
from .engine import STEPS, CheckContext, CheckSpec, Skip, run_specs

_log = logging.getLogger("wizard.checks")

CHECKS: list[CheckSpec] = [*tls.CHECKS, *gitlab.CHECKS, *dns.CHECKS, *cluster.CHECKS, *registry.CHECKS]

__all__ = ["CHECKS", "STEPS", "CheckContext", "CheckSpec", "Skip", "run_checks", "command", "format_table",
           "check_ids", "validate_ignore"]


def run_checks(answers: Answers, *, kubeconfig: str | None = None, context: str | None = None,
               steps: Sequence[str] | None = None, ids: Sequence[str] | None = None,
               on_result: Callable[[Result], None] | None = None, timeout_scale: float = 1.0,
               checks: Sequence[CheckSpec] | None = None, kube_opening: Any = None) -> list[Result]:
    """Run the checks (all, or those of ``steps``/``ids``) concurrently; results in table order.

    Changes nothing in the cluster. In GitLab, ``gitlab.token`` is verified with POST
    /runners/verify (system_id "runner-wizard-check"), which records a contact."""
    t0 = time.monotonic()
    _log.info("checks: starting (steps %s, ids %s)", ",".join(steps) if steps is not None else "all",
              ",".join(ids) if ids is not None else "all")

    def logged(r: Result) -> None:
        _log.info("check %s: %s after %.2fs: %s%s", r.id, r.status.value, time.monotonic() - t0, r.title,
                  f" ({r.detail})" if r.detail else "")
        if on_result is not None:
            on_result(r)

    ctx = CheckContext(answers, kubeconfig=kubeconfig, context=context, timeout_scale=timeout_scale,
                       kube_opening=kube_opening)
    results = run_specs(checks if checks is not None else CHECKS, answers, kubeconfig=kubeconfig,
                        context=context, steps=steps, ids=ids, on_result=logged, timeout_scale=timeout_scale,
                        ctx=ctx)
    s = summarize(results)
    _log.info("checks: %d passed, %d warnings, %d failed, %d skipped in %.2fs", s["pass"], s["warn"], s["fail"],
              s["skip"], time.monotonic() - t0)
    return results


# --------------------------------------------------------------------------- command line

_COLORS = {"pass": "32", "warn": "33", "fail": "31", "skip": "90", "apply": "36", "ignored": "35"}


def format_table(results: list[Result], *, color: bool = False, width: int = 100,
                 ignore: Sequence[str] = ()) -> str:
    """The text table of ``check``. Results apply creates or repairs show as ``+ APPLY``; ignored
    failures and warnings keep their status and say ``(ignored)``."""
    def paint(s: str, status: str) -> str:
        return f"\033[{_COLORS[status]}m{s}\033[0m" if color else s

    g = gate(results, ignore)
    ignored = {r.id for r in g.ignored}
    lines = []
    idw = min(44, max((len(r.id) for r in results), default=10))
    for r in results:
        st = "apply" if r.apply else r.status.value
        tail = "  (ignored)" if r.id in ignored else ""
        head = f"{paint(r.mark + ' ' + r.label.ljust(5), st)} {r.id.ljust(idw)}  {r.title}{tail}"
        lines.append(head)
        wrap = max(40, width - 8)
        if r.detail:
            lines += textwrap.wrap(r.detail, wrap, initial_indent="        ", subsequent_indent="        ")
        if r.fix and r.status in (Status.FAIL, Status.WARN):
            lines += textwrap.wrap(r.fix, wrap, initial_indent="    fix: ", subsequent_indent="         ")
        if r.catalog and r.status in (Status.FAIL, Status.WARN):
            lines.append(f"        catalog: {', '.join(r.catalog)}")
    s = summarize(results)
    lines.append("")
    todo = len(g.todo)
    failed = f"{s['fail']} failed" + (f" ({len([r for r in g.ignored if r.status is Status.FAIL])} ignored)"
                                      if any(r.status is Status.FAIL for r in g.ignored) else "")
    lines.append(f"{s['pass']} passed, {s['warn'] - todo} warnings, {todo} for apply to create or repair, "
                 f"{failed}, {s['skip']} skipped")
    if g.ignored:
        lines.append(f"ignored (--ignore): {', '.join(r.id for r in g.ignored)}")
    return "\n".join(lines)


def _require_context(answers: Any, opts: Any) -> None:
    """A context that is named but not in the kubeconfig is bad input (exit 2), not a skipped cluster."""
    from ..kube import require_context

    flag = getattr(opts, "context", None)
    require_context(getattr(opts, "kubeconfig", None), flag or answers.cluster.context,
                    "--context" if flag else "cluster.context")


def check_ids(answers: Answers, checks: Sequence[CheckSpec] | None = None) -> list[str]:
    """Every check id these answers expand to (per-item rows included)."""
    from .engine import _expand

    return [b.id for b in _expand(checks if checks is not None else CHECKS, answers)]


def validate_ignore(answers: Answers, ignore: Sequence[str]) -> None:
    """Bad input (exit 2) for an ``--ignore`` entry that names no check."""
    from ..errors import BadInput

    ids = check_ids(answers)
    unknown = unknown_ignores(ignore, ids)
    if unknown:
        import difflib

        hints = []
        for u in unknown:
            close = difflib.get_close_matches(u, ids, n=1)
            hints.append(f"{u!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise BadInput(f"--ignore: no check has the id {', '.join(hints)}; use a check id from "
                       "`runner-wizard check --answers FILE`, a glob like 'rbac.*', or 'all'")


def command(args: Any, opts: Any, kube_opening: Any = None, *, answers: Any = None,
            record: Any = None) -> int:
    """``runner-wizard check``; ``answers`` (already read, e.g. one cluster of a fleet) and
    ``record`` (called with the results) are for :mod:`wizard.fleet_cli`."""
    from ..answers import load

    from ..results import parse_ignore

    answers = answers if answers is not None else load(args.answers)
    if getattr(opts, "settings", None) is not None:
        answers = opts.settings.with_answers(answers)  # --chart-version: the chart's helper image
    ignore = parse_ignore(getattr(args, "ignore", None))
    validate_ignore(answers, sorted(ignore))
    _require_context(answers, opts)
    as_json = bool(getattr(args, "json", False))
    results = run_checks(answers, kubeconfig=getattr(opts, "kubeconfig", None),
                         context=getattr(opts, "context", None), kube_opening=kube_opening)
    if record is not None:
        record(results=results, ignore=ignore)
    if as_json:
        print(report_json(results, ignore))
    else:
        color = sys.stdout.isatty() and not getattr(opts, "no_color", False) and not os.environ.get("NO_COLOR")
        try:
            width = os.get_terminal_size().columns
        except OSError:
            width = 100
        print(format_table(results, color=color, width=width, ignore=sorted(ignore)))
    # exit 0 unless a failure nobody ignored: what apply creates or repairs is not a failure
    return 0 if gate(results, ignore).ok else 1
