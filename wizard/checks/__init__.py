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
from ..results import Result, Status, any_failed, report_json, summarize
from . import cluster, dns, gitlab, registry, tls
from .engine import STEPS, CheckContext, CheckSpec, Skip, run_specs

_log = logging.getLogger("wizard.checks")

CHECKS: list[CheckSpec] = [*tls.CHECKS, *gitlab.CHECKS, *dns.CHECKS, *cluster.CHECKS, *registry.CHECKS]

__all__ = ["CHECKS", "STEPS", "CheckContext", "CheckSpec", "Skip", "run_checks", "command", "format_table"]


def run_checks(answers: Answers, *, kubeconfig: str | None = None, context: str | None = None,
               steps: Sequence[str] | None = None, ids: Sequence[str] | None = None,
               on_result: Callable[[Result], None] | None = None, timeout_scale: float = 1.0,
               checks: Sequence[CheckSpec] | None = None) -> list[Result]:
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

    results = run_specs(checks if checks is not None else CHECKS, answers, kubeconfig=kubeconfig,
                        context=context, steps=steps, ids=ids, on_result=logged, timeout_scale=timeout_scale)
    s = summarize(results)
    _log.info("checks: %d passed, %d warnings, %d failed, %d skipped in %.2fs", s["pass"], s["warn"], s["fail"],
              s["skip"], time.monotonic() - t0)
    return results


# --------------------------------------------------------------------------- command line

_COLORS = {"pass": "32", "warn": "33", "fail": "31", "skip": "90"}


def format_table(results: list[Result], *, color: bool = False, width: int = 100) -> str:
    def paint(s: str, status: str) -> str:
        return f"\033[{_COLORS[status]}m{s}\033[0m" if color else s

    lines = []
    idw = min(44, max((len(r.id) for r in results), default=10))
    for r in results:
        st = r.status.value
        head = f"{paint(r.status.symbol + ' ' + st.upper().ljust(4), st)}  {r.id.ljust(idw)}  {r.title}"
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
    lines.append(f"{s['pass']} passed, {s['warn']} warnings, {s['fail']} failed, {s['skip']} skipped")
    return "\n".join(lines)


def command(args: Any, opts: Any) -> int:
    from ..answers import load

    answers = load(args.answers)
    as_json = bool(getattr(args, "json", False))
    results = run_checks(answers, kubeconfig=getattr(opts, "kubeconfig", None),
                         context=getattr(opts, "context", None))
    if as_json:
        print(report_json(results))
    else:
        color = sys.stdout.isatty() and not getattr(opts, "no_color", False) and not os.environ.get("NO_COLOR")
        try:
            width = os.get_terminal_size().columns
        except OSError:
            width = 100
        print(format_table(results, color=color, width=width))
    return 1 if any_failed(results) else 0
