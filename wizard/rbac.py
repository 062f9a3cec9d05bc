"""The permissions the Kubernetes executor needs (Runner 18.9, chart 0.86).

One table drives the rendered Role and the SubjectAccessReview checks, so the two
can never disagree. Source: GitLab Runner docs, executors/kubernetes,
"Configure runner API permissions", at v18.9.0.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    resource: str          # "pods", "pods/attach", ...
    verbs: tuple[str, ...]
    why: str
    required: bool = True  # False: only for an optional feature; a missing one is a warning
    catalog: tuple[str, ...] = ("E11",)

    @property
    def base(self) -> str:
        return self.resource.split("/", 1)[0]

    @property
    def subresource(self) -> str:
        return self.resource.split("/", 1)[1] if "/" in self.resource else ""


MANAGER_PERMISSIONS: tuple[Permission, ...] = (
    Permission("events", ("list", "watch"), "print pod warning events into the job log (list); "
               "FF_PRINT_POD_EVENTS (watch)", catalog=("E11",)),
    Permission("pods", ("create", "delete", "get", "list", "watch"),
               "create and clean up job pods; list/watch for informers", catalog=("E01", "E11")),
    Permission("pods/attach", ("create", "delete", "get", "patch"),
               "attach to build containers (the default execution strategy)", catalog=("E11",)),
    Permission("pods/exec", ("create", "delete", "get", "patch"), "run commands in job containers",
               catalog=("E11",)),
    Permission("pods/log", ("get", "list"), "read container logs (FF_KUBERNETES_HONOR_ENTRYPOINT, "
               "CI_DEBUG_SERVICES)", catalog=("E11",)),
    Permission("secrets", ("create", "delete", "get", "update"),
               "store registry credentials and job variables for each job", catalog=("E01", "E17")),
    Permission("serviceaccounts", ("get",), "check the job ServiceAccount exists", catalog=("E16",)),
    Permission("services", ("create", "get"), "expose CI services (e.g. postgres) to the job",
               catalog=("E11",)),
)

OPTIONAL_VERBS = {("events", "watch"), ("pods", "watch"), ("pods", "list"), ("pods/log", "list")}
"""Verbs whose absence degrades a feature (informers, event streaming) instead of failing jobs."""


def role_rules() -> list[dict[str, object]]:
    """The Role rules, one rule per resource, in table order."""
    return [{"apiGroups": [""], "resources": [p.resource], "verbs": list(p.verbs)}
            for p in MANAGER_PERMISSIONS]


def required_checks() -> list[tuple[Permission, str]]:
    """Every (permission, verb) pair, for one SubjectAccessReview each."""
    return [(p, verb) for p in MANAGER_PERMISSIONS for verb in p.verbs]
