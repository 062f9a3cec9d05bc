"""Live checks against GitLab, TLS, the cluster, registries and DNS (``runner-wizard check``).

    from wizard.checks import run_checks
    results = run_checks(answers, kubeconfig=..., on_result=print)

Every check is a row of :data:`CHECKS` (see :mod:`wizard.checks.engine`); ``steps``
selects rows by wizard step ("cluster", "gitlab", "token", "namespaces",
"host_aliases", "registries", "runner"), ``ids`` by id or glob ("rbac.*").
"""

from __future__ import annotations

import logging
import textwrap
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..answers import Answers
from ..results import Result, Status, gate, summarize, unknown_ignores
from . import cluster, dns, gitlab, registry, tls
from .engine import STEPS, CheckContext, CheckSpec, Skip, run_specs

_log = logging.getLogger("wizard.checks")

CHECKS: list[CheckSpec] = [*tls.CHECKS, *gitlab.CHECKS, *dns.CHECKS, *cluster.CHECKS, *registry.CHECKS]

__all__ = ["CHECKS", "STEPS", "CheckContext", "CheckSpec", "Skip", "run_checks", "format_table",
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


# --------------------------------------------------------------------------- the text table (printed by wizard.console)

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
