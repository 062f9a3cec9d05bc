"""Cluster checks on where jobs run: a server-side dry run of a job-shaped pod as the manager,
and the nodes' container runtime and architecture.
"""

from __future__ import annotations

import re
import time
from typing import Any

from ... import chart, names
from ...kube import KubeError, collection_path, service_account_user
from ..engine import CheckContext, Skip
from .access import _psa_by_apply
from .common import PSA_ENFORCE, _cache_lag, _get, _ns_exists, _obj_path, by_apply, rbac_repair, role_exists


# --------------------------------------------------------------------------- job pod dry run


def job_pod(a) -> dict[str, Any]:
    """A pod shaped like the ones the Kubernetes executor creates from the rendered config."""
    r = a.runner
    res = {"requests": {"cpu": r.resources.cpu_request, "memory": r.resources.memory_request},
           "limits": {"cpu": r.resources.cpu_limit, "memory": r.resources.memory_limit}}
    priv = {"privileged": True} if a.privileged_jobs else None
    helper = r.helper_image or chart.facts(r.chart_version).helper_image  # the chart's Runner version

    def container(name: str, image: str) -> dict[str, Any]:
        c: dict[str, Any] = {"name": name, "image": image, "command": ["sh", "-c", "true"],
                             "resources": res, "volumeMounts": [{"name": "repo", "mountPath": "/builds"}]}
        if priv:
            c["securityContext"] = dict(priv)
        return c

    containers = [container("build", r.job_image), container("helper", helper)]
    volumes: list[dict[str, Any]] = [{"name": "repo", "emptyDir": {}}]
    if r.docker_builds == "dind":
        containers.append(container("svc-0", "docker.io/library/docker:dind"))
    if r.docker_builds == "host-socket":
        volumes.append({"name": "docker", "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"}})
        containers[0]["volumeMounts"].append({"name": "docker", "mountPath": "/var/run/docker.sock"})
    init = container("init-permissions", helper)
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": a.cluster.job_service_account,
        "automountServiceAccountToken": a.cluster.job_api_access != "none",
        "initContainers": [init],
        "containers": containers,
        "volumes": volumes,
    }
    pulls = names.pull_secrets(a)
    if pulls:
        spec["imagePullSecrets"] = [{"name": n} for n in pulls]
    if r.node_selector:
        spec["nodeSelector"] = dict(r.node_selector)
    if r.tolerations:
        spec["tolerations"] = [{k: v for k, v in (("key", t.key), ("operator", t.operator), ("value", t.value),
                                                  ("effect", t.effect)) if v} for t in r.tolerations]
    aliases = [{"ip": h.ip, "hostnames": list(h.hostnames)} for h in a.host_aliases if "jobs" in h.targets]
    if aliases:
        spec["hostAliases"] = aliases
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"generateName": "runner-wizard-dryrun-", "namespace": a.cluster.jobs_namespace,
                         "labels": {"app.kubernetes.io/managed-by": "runner-wizard", "pod": "runner-wizard-check"}},
            "spec": spec}


def _classify_admission(msg: str) -> tuple[tuple[str, ...], str]:
    low = msg.lower()
    if "podsecurity" in low:
        return ("E28",), ("PodSecurity admission rejects the pod: label the jobs namespace "
                          "pod-security.kubernetes.io/enforce=privileged only if dind is really needed, or make "
                          "the job pods compliant (security contexts in [runners.kubernetes])")
    if "exceeded quota" in low or "must specify" in low or "failed quota" in low or "status unknown for quota" in low:
        return ("E26",), ("raise the ResourceQuota, lower concurrent or the per-job resources, and set requests "
                          "and limits on every container (helper_* and service_* too)")
    if "usage per" in low and ("maximum" in low or "minimum" in low):
        return ("E27",), "adjust the LimitRange or the runner's resources to fit it"
    if "admission webhook" in low or "failed calling webhook" in low:
        return ("E28", "E30"), "exempt the jobs namespace from the webhook, or make the pod satisfy its policy"
    if "is forbidden: user" in low or "cannot create resource" in low:
        return ("E01", "E11"), "grant the manager ServiceAccount pods create in the jobs namespace (apply does)"
    if "serviceaccount" in low and "not found" in low:
        return ("E16",), "create the job ServiceAccount (apply does)"
    return (), "read the API server's message and adjust the job pod settings"


def check_dryrun(ctx: CheckContext):
    a = ctx.answers
    kube = ctx.kube()
    ns = a.cluster.jobs_namespace
    if not _ns_exists(ctx, ns):
        return ctx.skip(f"namespace {ns} does not exist yet (apply creates it): the dry run needs it; run check "
                        "again after apply")
    job_sa = a.cluster.job_service_account
    if job_sa != "default" and _get(ctx, _obj_path("ServiceAccount", ns, job_sa)) is None:
        return ctx.skip(f"ServiceAccount {ns}/{job_sa} does not exist yet (apply creates it): a job pod running as "
                        "it cannot be dry-run before; run check again after apply")
    pod = job_pod(a)
    path = collection_path("Pod", ns)
    user, _ = service_account_user(a.cluster.runner_namespace, a.cluster.manager_service_account)
    rbac_todo, rbac_why = rbac_repair(ctx)
    as_manager = rbac_todo is None and role_exists(ctx)
    note = f"as {user} (impersonated)" if as_manager else \
        (f"as you ({rbac_why}; apply {rbac_todo} it, so the manager's rights are not part of this dry run)"
         if rbac_todo else "as you")
    headers = {"Impersonate-User": user} if as_manager else None
    kinds = [c["name"] for c in pod["spec"]["containers"]]
    try:
        try:
            pauses = _cache_lag(ctx)
            while True:
                try:
                    kube.request("POST", path, body=pod, query={"dryRun": "All"}, headers=headers,
                                 timeout=ctx.t(5.0))
                    break
                except KubeError as exc:
                    # the manager's Role was just written: the authorizer's cache may lag for a moment
                    pause = next(pauses, None)
                    if not (as_manager and exc.status == 403 and "cannot create resource" in exc.message.lower()
                            and "impersonate" not in exc.message.lower() and pause is not None):
                        raise
                    time.sleep(pause)
        except KubeError as exc:
            if as_manager and exc.status == 403 and "impersonate" in exc.message.lower():
                note = "as you (you may not impersonate the manager ServiceAccount)"
                kube.request("POST", path, body=pod, query={"dryRun": "All"}, timeout=ctx.t(5.0))
            else:
                raise
    except KubeError as exc:
        if exc.status == 0:
            raise
        catalog, fix = _classify_admission(exc.message)
        if not as_manager and exc.status == 403 and catalog == ("E01", "E11"):
            return ctx.skip(f"you may not create pods in {ns}, and the manager's rights are not in place yet: "
                            f"nothing to dry-run ({exc.message})")
        labels = ((_get(ctx, _obj_path("Namespace", None, ns)) or {}).get("metadata") or {}).get("labels") or {}
        if catalog == ("E28",) and _psa_by_apply(a) and labels.get(PSA_ENFORCE) != "privileged":
            return by_apply(ctx, "repairs", f"server-side dry run of a job pod in {ns} {note} was rejected by Pod "
                            f"Security until {ns} is labelled {PSA_ENFORCE}=privileged ({exc.message})",
                            f"label {ns} {PSA_ENFORCE}=privileged (apply does)", catalog, data={"pod": pod})
        return ctx.fail(f"server-side dry run of a job pod ({', '.join(kinds)}) in {ns} {note} was rejected: "
                        f"{exc.message}", fix, catalog, data={"pod": pod})
    return ctx.ok(f"server-side dry run of a job pod ({', '.join(kinds)}) in {ns} {note} passes RBAC, Pod Security, "
                  "quotas, LimitRanges and webhooks", catalog=("E01", "E16", "E26", "E27", "E28"),
                  data={"pod": pod})


# --------------------------------------------------------------------------- nodes


def matching_nodes(ctx: CheckContext) -> tuple[list[dict[str, Any]], int]:
    """(nodes matching runner.node_selector, total nodes)."""
    kube = ctx.kube()
    try:
        items = ctx.fact("nodes", lambda: kube.get("/api/v1/nodes").get("items", []))
    except KubeError as exc:
        if exc.forbidden:
            raise Skip("you may not list nodes: runtime and architecture cannot be read") from None
        raise
    sel = ctx.answers.runner.node_selector
    match = [n for n in items
             if all(((n.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in sel.items())]
    return match, len(items)


def _runtime(node: dict[str, Any]) -> tuple[str, str]:
    v = ((node.get("status") or {}).get("nodeInfo") or {}).get("containerRuntimeVersion", "")
    name, _, ver = v.partition("://")
    return name or "unknown", ver


def _short_name(image: str) -> bool:
    first = image.split("/", 1)[0]
    return "/" not in image or not ("." in first or ":" in first or first == "localhost")


def check_runtime(ctx: CheckContext):
    a = ctx.answers
    nodes, total = matching_nodes(ctx)
    if not nodes:
        sel = ", ".join(f"{k}={v}" for k, v in a.runner.node_selector.items())
        if total == 0:
            return ctx.warn("the cluster reports no nodes", "join nodes before running jobs", ("E10",))
        return ctx.warn(f"no node matches runner.node_selector ({sel}): job pods would stay Pending",
                        "fix runner.node_selector", ("E10",))
    runtimes: dict[str, list[str]] = {}
    for n in nodes:
        rt, ver = _runtime(n)
        runtimes.setdefault(rt, []).append(f"{n['metadata']['name']} ({rt}://{ver})")
    found = ", ".join(f"{rt} on {len(v)} node(s)" for rt, v in runtimes.items())
    data = {"runtimes": {k: len(v) for k, v in runtimes.items()}}
    if a.runner.docker_builds == "host-socket":
        no_docker = [x for rt, v in runtimes.items() if rt != "docker" for x in v]
        if no_docker:
            return ctx.fail(f"docker_builds: host-socket mounts /var/run/docker.sock, but the nodes run {found}: "
                            f"there is no Docker daemon on {', '.join(no_docker[:3])}",
                            "use docker_builds: dind, or a daemonless builder (kaniko, buildah, BuildKit rootless)",
                            ("E25",), data=data)
    want = {"cri-o": "cri-o", "containerd": "containerd"}.get(a.node_runtime)
    if want and set(runtimes) != {want}:
        return ctx.warn(f"node_runtime is {a.node_runtime} but the nodes run {found}: node files would be "
                        "rendered for the wrong runtime", "set node_runtime: auto", ("E22", "E23"), data=data)
    if "cri-o" in runtimes:
        short = [img for img in (a.runner.job_image,) if _short_name(img)]
        if short:
            return ctx.warn(f"nodes run CRI-O, which does not expand short image names like {short[0]}",
                            "use fully qualified images (docker.io/library/alpine:3.22)", ("E24",), data=data)
    return ctx.ok(f"nodes run {found}", data=data, catalog=("E24", "E25"))


def _arch(node: dict[str, Any]) -> str:
    labels = (node.get("metadata") or {}).get("labels") or {}
    return labels.get("kubernetes.io/arch") or ((node.get("status") or {}).get("nodeInfo") or {}).get(
        "architecture", "unknown")


_HELPER_ARCH = {"x86_64": "amd64", "arm64": "arm64", "arm": "arm", "s390x": "s390x", "ppc64le": "ppc64le",
                "riscv64": "riscv64"}


def check_arch(ctx: CheckContext):
    a = ctx.answers
    nodes, total = matching_nodes(ctx)
    if not nodes:
        return ctx.skip("no node matches runner.node_selector (see cluster.nodes.runtime)")
    archs: dict[str, int] = {}
    for n in nodes:
        archs[_arch(n)] = archs.get(_arch(n), 0) + 1
    found = ", ".join(f"{k} ({v})" for k, v in archs.items())
    data = {"archs": archs}
    sel_arch = a.runner.node_selector.get("kubernetes.io/arch")
    helper = a.runner.helper_image
    pinned = None
    if helper:
        m = re.search(r":(?:[a-z0-9.]+-)?(x86_64|arm64|arm|s390x|ppc64le|riscv64)-", helper)
        pinned = _HELPER_ARCH.get(m[1]) if m else None
    target = sel_arch or pinned or "amd64"
    if pinned and sel_arch and pinned != sel_arch:
        return ctx.fail(f"runner.helper_image is built for {pinned} but node_selector picks {sel_arch} nodes",
                        "use the helper tag for the nodes' architecture", ("E31",), data=data)
    if target not in archs:
        why = "runner.helper_image" if pinned else ("node_selector" if sel_arch else
                                                     "the default helper image (x86_64, unless node_selector sets "
                                                     "kubernetes.io/arch)")
        return ctx.fail(f"{why} needs {target} nodes, but the eligible nodes are {found}",
                        f"set runner.node_selector kubernetes.io/arch: {next(iter(archs))} (the runner then picks the "
                        "matching helper image)", ("E31",), data=data)
    if len(archs) > 1 and not sel_arch:
        return ctx.warn(f"mixed architectures ({found}) and no kubernetes.io/arch node_selector: the helper image "
                        f"is {target}, so jobs fail on other nodes", "set runner.node_selector kubernetes.io/arch",
                        ("E31",), data=data)
    return ctx.ok(f"eligible nodes: {found}; the helper image's architecture ({target}) matches", data=data,
                  catalog=("E31",))
