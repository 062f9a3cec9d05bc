"""The analyzer table: one row per failure-catalog entry that the collected signals can show.

Each :class:`Analyzer` looks at the collected objects (``ClusterState``) and at the
log/event findings of :mod:`wizard.diagnose.logs` for its catalog id, then
*confirms* against the live state before it reports:

* found in the objects (a denied SubjectAccessReview, a missing Secret key...) →
  ``fail`` (or ``warn`` for latent problems), with the log lines as extra evidence;
* seen in logs or events and still true now → ``fail`` ("confirmed live");
* seen in logs but the live state says it is fixed → ``pass`` with
  "seen in logs, no longer the case";
* seen in logs and nothing live can confirm it (no cluster, or no probe for it) →
  reported as the log says, with "not confirmed live".

Benign lines (catalog section 1b) never reach this module as failures: the log
analyzer turns them into notices.

A :class:`Finding` becomes a :class:`~wizard.results.Result` with id
``diagnose.<catalog>.<suffix>``; the suffix is stable for the same problem.
Findings that a fix in :mod:`wizard.diagnose.fixes` can repair carry its ``fix_id``.

This module holds the table and runs it; the analyzers live by subject in
:mod:`.access` (RBAC), :mod:`.credentials` (TLS, token, Secrets, ServiceAccounts),
:mod:`.pods` (job pod placement and images, the manager's rollout) and :mod:`.admission`
(quota, LimitRange, Pod Security, API access, the rest); :mod:`.base` has what they share
(:class:`LogHit`, :class:`Context`, :func:`route`). The names stay importable from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wizard.diagnose.analyzers.base import Confirm, Context, LogHit, Verdict, from_hit, redact, route
from wizard.diagnose.analyzers.base import _chart_role_hint  # noqa: F401 - the chart tests read it from here
from wizard.diagnose.analyzers.access import analyze_e01, analyze_rbac
from wizard.diagnose.analyzers.admission import (analyze_e12, analyze_e26, analyze_e27, analyze_e28, analyze_e29,
                                                 analyze_kapi, analyze_rest)
from wizard.diagnose.analyzers.credentials import (analyze_e02, analyze_e03, analyze_e13, analyze_e15, analyze_e16,
                                                   analyze_e32, analyze_tls_other, analyze_tokens)
from wizard.diagnose.analyzers.pods import (analyze_arch, analyze_e08, analyze_e10, analyze_e24, analyze_e25,
                                            analyze_images, analyze_rollout)
from wizard.diagnose.model import ClusterState, Finding
from wizard.results import Status

__all__ = ["TABLE", "Analyzer", "ClusterState", "Confirm", "Context", "Finding", "LogHit", "Verdict", "from_hit",
           "redact", "route", "run_table"]


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Analyzer:
    catalog: tuple[str, ...]
    title: str
    signals: tuple[str, ...]
    """Catalog section 0.1 signals it reads: M, ME, J, JE, V, T, R, N, S (Secrets)."""
    run: Callable[[Context], list[Finding]]
    fixes: tuple[str, ...] = ()


TABLE: tuple[Analyzer, ...] = (
    Analyzer(("DEP", "E10", "E26", "E09", "E21", "E15", "E16"), "Manager Deployment not available",
             ("ME", "V"), analyze_rollout),
    Analyzer(("E01",), "Manager runs as the default ServiceAccount", ("R", "V", "M", "J"), analyze_e01,
             ("values.rbac",)),
    Analyzer(("E03",), "CA Secret name, content and namespace", ("V", "T", "S", "JE"), analyze_e03, ("secret.copy",)),
    Analyzer(("E02",), "GitLab TLS certificate not trusted", ("M", "V"), analyze_e02),
    Analyzer(("E04", "E05"), "TLS name mismatch / clone TLS", ("M", "J"), analyze_tls_other),
    Analyzer(("E06", "E07", "E14"), "Runner token rejected, stale or in the wrong slot", ("M", "S"), analyze_tokens,
             ("token.reregister",)),
    Analyzer(("E13",), "Reserved registration settings with an authentication token", ("V", "S", "M"), analyze_e13),
    Analyzer(("E32",), "Token Secret with a trailing newline", ("S", "M"), analyze_e32, ("secret.strip",)),
    Analyzer(("E15",), "Secrets the manager mounts", ("S", "ME"), analyze_e15, ("secret.add-key",)),
    Analyzer(("E16",), "ServiceAccounts that must exist", ("V", "T", "ME", "J"), analyze_e16, ("sa.create",)),
    Analyzer(("E11", "E17"), "Manager RBAC in the jobs namespace", ("R", "M", "J"), analyze_rbac, ("rbac.role",)),
    Analyzer(("E08", "E36"), "Job pods resolve GitLab", ("V", "T", "J"), analyze_e08, ("values.host-aliases",)),
    Analyzer(("E10",), "Job pods cannot be scheduled", ("JE", "N", "T"), analyze_e10),
    Analyzer(("E09", "E21", "E22", "E23"), "Job image pulls", ("JE", "T", "S"), analyze_images),
    Analyzer(("E24",), "CRI-O short image names", ("N", "T", "JE"), analyze_e24),
    Analyzer(("E25",), "docker.sock on nodes without Docker", ("N", "T", "JE"), analyze_e25),
    Analyzer(("E31", "E38"), "Node architecture and OS", ("N", "T", "V"), analyze_arch),
    Analyzer(("E26",), "ResourceQuota in the jobs namespace", ("T", "JE"), analyze_e26),
    Analyzer(("E27",), "LimitRange in the jobs namespace", ("T", "JE"), analyze_e27),
    Analyzer(("E28",), "Pod Security Admission", ("T", "JE", "ME"), analyze_e28),
    Analyzer(("E12",), "docker:dind does not answer", ("J", "T"), analyze_e12),
    Analyzer(("E18", "E19", "E20", "E30"), "Runner's access to the Kubernetes API", ("M", "J"), analyze_kapi),
    Analyzer(("E29",), "Manager cannot reach GitLab", ("M",), analyze_e29),
    Analyzer(("E33", "E34", "E35", "E37"), "Log-only entries", ("M", "J"), analyze_rest),
)


def run_table(ctx: Context) -> list[Finding]:
    """Run every analyzer; a broken analyzer becomes a ``skip`` finding, never a crash."""
    out: list[Finding] = []
    for a in TABLE:
        try:
            out += a.run(ctx)
        except Exception as exc:  # noqa: BLE001
            import logging

            logging.getLogger("wizard.diagnose").debug("analyzer %s failed", a.catalog, exc_info=True)
            out.append(Finding(a.catalog[0], "analyzer-error", Status.SKIP, f"Analyzer for {a.title} failed",
                               "", [], detail=f"{type(exc).__name__}: {exc}"))
    # one result per id
    seen: dict[str, Finding] = {}
    for f in out:
        if f.id in seen:
            seen[f.id].add_evidence(*f.evidence)
            if f.status.rank > seen[f.id].status.rank:
                seen[f.id].status = f.status
        else:
            seen[f.id] = f
    return sorted(seen.values(), key=lambda f: (-f.status.rank, f.catalog, f.suffix))
