"""Cluster: reachability, the installer's rights, namespaces, the manager's RBAC (SubjectAccessReview),
service accounts, Secrets, a server-side dry run of a job-shaped pod as the manager, and the nodes.

One meaning for check and apply: a state that ``apply`` itself creates or repairs (a missing
namespace, ServiceAccount, CA, token or pull Secret, a Role lacking a rule, a RoleBinding missing
its subject...) is reported with ``apply="creates"`` / ``apply="repairs"`` and status ``warn``,
the same before a first install, after a partial one and on a damaged one; it never blocks
apply. A failure is what apply cannot change (an immutable field, a namespace it may not create,
the answers' own CA being unusable...). Checks that depend on objects apply will create (the
SubjectAccessReviews, the job pod dry run) say so instead of failing.

This module holds the table; the checks live by subject in :mod:`.access` (reachability,
installer rights, namespaces, manager RBAC, ServiceAccounts), :mod:`.secrets` (CA, token and
pull Secrets) and :mod:`.pods` (the job pod dry run, the nodes); :mod:`.common` has what they
share. Their public names stay importable from here.
"""

from __future__ import annotations

from ... import rbac
from ...results import Status
from ..engine import CheckSpec
from .access import (INSTALLER_RIGHTS, _installer_check, _namespace_check, _rbac_check, _sa_check, check_escalate,
                     check_reachable)
from .common import DEFAULT_HELPER, PSA_ENFORCE, RBAC_GROUP, RUNNER_VERSION, by_apply, rbac_repair, role_exists
from .pods import check_arch, check_dryrun, check_runtime, job_pod, matching_nodes
from .secrets import _ca_secret_check, _pull_secrets, check_pull_secret, check_token_secret

__all__ = ["CHECKS", "DEFAULT_HELPER", "INSTALLER_RIGHTS", "PSA_ENFORCE", "RBAC_GROUP", "RUNNER_VERSION", "by_apply",
           "check_arch", "check_dryrun", "check_escalate", "check_pull_secret", "check_reachable", "check_runtime",
           "check_token_secret", "job_pod", "matching_nodes", "rbac_repair", "role_exists"]


# --------------------------------------------------------------------------- table


def _rbac_id(perm: rbac.Permission, verb: str) -> str:
    return f"rbac.manager.{perm.resource.replace('/', '-')}.{verb}"


CHECKS: list[CheckSpec] = [
    CheckSpec("cluster.reachable", "cluster", "cluster", "Kubernetes API reachable", check_reachable,
              timeout=6.0, catalog=("E30",)),
]
CHECKS += [
    CheckSpec(f"cluster.installer.{verb}.{res}", "cluster", "cluster", f"You may {verb} {res}",
              _installer_check(verb, res, grp, where, helm), needs=("kube",), timeout=5.0)
    for verb, res, grp, where, helm in INSTALLER_RIGHTS
]
CHECKS += [
    CheckSpec("cluster.installer.escalate.roles", "cluster", "cluster", "You may create the manager Role",
              check_escalate, needs=("kube",), timeout=6.0),
    CheckSpec("cluster.namespace.runner", "cluster", "namespaces", "Runner namespace", _namespace_check("runner"),
              needs=("kube",), timeout=5.0),
    CheckSpec("cluster.namespace.jobs", "cluster", "namespaces", "Jobs namespace", _namespace_check("jobs"),
              needs=("kube",), timeout=5.0),
]
CHECKS += [
    CheckSpec(_rbac_id(p, verb), "rbac", "namespaces", f"Runner manager can {verb} {p.resource} in the jobs namespace",
              _rbac_check(p, verb), needs=("kube",), timeout=5.0, catalog=p.catalog)
    for p, verb in rbac.required_checks()
]
CHECKS += [
    CheckSpec("cluster.sa.manager", "cluster", "namespaces", "Manager ServiceAccount exists", _sa_check("manager"),
              needs=("kube",), timeout=5.0, catalog=("E16",)),
    CheckSpec("cluster.sa.job", "cluster", "namespaces", "Job ServiceAccount exists", _sa_check("job"),
              needs=("kube",), timeout=5.0, catalog=("E16",)),
    CheckSpec("cluster.secret.ca.runner", "cluster", "namespaces", "CA Secret in the runner namespace",
              _ca_secret_check("runner"), needs=("kube",), timeout=5.0, catalog=("E03",)),
    CheckSpec("cluster.secret.ca.jobs", "cluster", "namespaces", "CA Secret in the jobs namespace",
              _ca_secret_check("jobs"), needs=("kube",), timeout=5.0, catalog=("E15",)),
    CheckSpec("cluster.secret.token", "cluster", "token", "Runner token Secret", check_token_secret,
              needs=("kube",), timeout=5.0, catalog=("E15",)),
    CheckSpec("cluster.secret.pull.<n>", "cluster", "registries", "Pull Secret for {item.host}", check_pull_secret,
              needs=("kube",), timeout=5.0, each=_pull_secrets, catalog=("E21",)),
    CheckSpec("cluster.dryrun.jobpod", "cluster", "runner", "A job pod is admitted in the jobs namespace",
              check_dryrun, needs=("kube",), timeout=8.0, catalog=("E28",)),
    CheckSpec("cluster.nodes.runtime", "cluster", "runner", "Node container runtime fits the build setup",
              check_runtime, needs=("kube",), timeout=6.0, on_timeout=Status.WARN),
    CheckSpec("cluster.nodes.arch", "cluster", "runner", "Node architecture fits the helper image", check_arch,
              needs=("kube",), timeout=6.0, on_timeout=Status.WARN),
]
