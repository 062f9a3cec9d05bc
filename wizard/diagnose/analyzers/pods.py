"""Analyzers for where job pods run and what they pull (E08, E09, E10, E21..E25, E31, E38), and
for the manager Deployment's rollout.
"""

from __future__ import annotations

from wizard.diagnose import infer
from wizard.diagnose.analyzers.base import Context, LogHit, Verdict, _gitlab_host, _release_is_helm, _slug, route
from wizard.diagnose.model import Finding
from wizard.results import Status


# --------------------------------------------------------------------------- job pod placement and images


def analyze_e08(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None:
        manager_aliases = [a for a in st.merged_values.get("hostAliases") or [] if isinstance(a, dict)]
        job_names = {h for a in st.kubernetes_config.get("host_aliases") or [] if isinstance(a, dict)
                     for h in a.get("hostnames") or []}
        host = _gitlab_host(st)
        missing = [a for a in manager_aliases if any(h not in job_names for h in a.get("hostnames") or [])]
        if missing and any(host in (a.get("hostnames") or []) for a in missing):
            f = Finding("E08", "host-aliases", Status.FAIL,
                        f"hostAliases for {host} apply to the manager pod only; job pods have no host alias for it "
                        "and cannot resolve GitLab to clone",
                        "Add the same entries as [[runners.kubernetes.host_aliases]] in runners.config and upgrade "
                        "the release.",
                        [f"values hostAliases: {a.get('ip')} {', '.join(a.get('hostnames') or [])}" for a in missing]
                        + [f"{st.config_source}: no [[runners.kubernetes.host_aliases]] for {host}"],
                        fix_id="values.host-aliases" if _release_is_helm(st) else None)
            names = {h for a in missing for h in a.get("hostnames") or []}
            ctx.absorb(f, "E08", "E36", match=lambda hit: hit.groups.get("hostname") in names,
                       origin="cluster+logs")
            out.append(f)

    def confirm(c: Context, hit: LogHit) -> Verdict:
        s = c.state
        assert s is not None
        name = hit.groups.get("hostname")
        names = {h for a in s.kubernetes_config.get("host_aliases") or [] if isinstance(a, dict)
                 for h in a.get("hostnames") or []}
        if name and name in names:
            return "pass", f"runners.config now has a host alias for {name}"
        return "unknown", ""

    return out + route(ctx, "E08", confirm) + route(ctx, "E36")


def _has_sched_event(ctx: Context) -> bool:
    return bool(ctx.hits_for("E10", unclaimed=False))


def analyze_e10(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None and st.nodes:
        sel = st.kubernetes_config.get("node_selector") or {}
        if isinstance(sel, dict) and sel:
            # label values of nodes are not in the summary: check via arch/os/hostname which we know.
            known = {"kubernetes.io/arch": "arch", "kubernetes.io/os": "os", "kubernetes.io/hostname": "name"}
            checkable = {k: v for k, v in sel.items() if k in known}
            if checkable and not any(all(str(n.get(known[k])) == str(v) for k, v in checkable.items())
                                     for n in st.nodes):
                out.append(Finding("E10", "node-selector", Status.FAIL,
                                   "No node matches the job pods' node_selector, so job pods stay Pending",
                                   "Fix node_selector in [runners.kubernetes] to match existing node labels.",
                                   [f"{st.config_source}: node_selector " +
                                    ", ".join(f"{k}={v}" for k, v in checkable.items()),
                                    "nodes: " + ", ".join(f"{n['name']} ({n['os']}/{n['arch']})" for n in st.nodes)]))
    return out + route(ctx, "E10", _event_is_live)


def _event_is_live(ctx: Context, hit: LogHit) -> Verdict:
    """Events and pod statuses read from the cluster just now are live evidence."""
    if hit.origin.startswith(("events ", "pod ")):
        return "fail", "reported by the cluster now"
    return "unknown", ""


def analyze_images(ctx: Context) -> list[Finding]:
    """E09, E21, E22, E23: image pulls. Events are live; missing pull Secrets are read from the cluster."""
    out: list[Finding] = []
    st = ctx.state
    if st is not None:
        for name in st.kubernetes_config.get("image_pull_secrets") or []:
            if st.secrets.get((st.jobs_namespace, str(name)), "?") is None:
                f = Finding("E21", f"pull-secret.{_slug(str(name))}", Status.FAIL,
                            f"image_pull_secrets names Secret {name}, which does not exist in the jobs namespace "
                            f"{st.jobs_namespace}",
                            f"Create the kubernetes.io/dockerconfigjson Secret {name} in {st.jobs_namespace} or "
                            "remove it from image_pull_secrets.",
                            [f"{st.config_source}: image_pull_secrets includes \"{name}\"",
                             f"Secret {st.jobs_namespace}/{name}: not found"])
                ctx.absorb(f, "E21", match=lambda hit, name=name: hit.groups.get("s") == name)
                out.append(f)
    for cat in ("E09", "E21", "E22", "E23"):
        out += route(ctx, cat, _event_is_live)
    return out


def analyze_e24(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None and any(n["runtime"].startswith("cri-o") for n in st.nodes):
        k = st.kubernetes_config
        short = [str(k[key]) for key in ("image", "helper_image") if k.get(key) and infer.is_short_image(str(k[key]))]
        if short:
            f = Finding("E24", "short-names", Status.WARN,
                        f"Nodes run CRI-O, which does not expand short image names such as {short[0]} unless "
                        "registries.conf has unqualified-search-registries",
                        "Use fully qualified images (docker.io/library/alpine:3.22) in runners.config, or set "
                        "unqualified-search-registries = [\"docker.io\"] on every CRI-O node.",
                        [f"{st.config_source}: image = \"{i}\"" for i in short]
                        + [f"node {n['name']}: {n['runtime']}" for n in st.nodes if n["runtime"].startswith("cri-o")][:2])
            hits = ctx.hits_for("E24")
            for hit in hits:
                ctx.claim(hit)
                f.add_evidence(*hit.evidence())
                f.status, f.origin = Status.FAIL, "cluster+logs"
            out.append(f)
    return out + route(ctx, "E24", _event_is_live)


def analyze_e25(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None and st.nodes:
        paths = [v for v in ((st.kubernetes_config.get("volumes") or {}).get("host_path") or [])
                 if isinstance(v, dict) and "docker.sock" in str(v.get("host_path") or v.get("mount_path") or "")]
        no_docker = [n for n in st.nodes if not n["runtime"].startswith("docker")]
        if paths and no_docker:
            f = Finding("E25", "docker-socket", Status.FAIL,
                        "Job pods mount the node's /var/run/docker.sock, but the nodes run "
                        f"{no_docker[0]['runtime'].split(':')[0]} and have no Docker daemon",
                        "Remove the docker.sock host_path volume and build images with dind (privileged) or a "
                        "daemonless builder (BuildKit rootless, kaniko, buildah).",
                        [f"{st.config_source}: [[runners.kubernetes.volumes.host_path]] "
                         f"host_path = \"{paths[0].get('host_path') or paths[0].get('mount_path')}\""]
                        + [f"node {n['name']}: {n['runtime']}" for n in no_docker[:3]])
            ctx.absorb(f, "E25")
            out.append(f)
    return out + route(ctx, "E25", _event_is_live)


def analyze_arch(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None and st.nodes:
        linux = [n for n in st.nodes if n["os"] == "linux"]
        arches = {n["arch"] for n in linux}
        sel = st.kubernetes_config.get("node_selector") or {}
        helper = str(st.kubernetes_config.get("helper_image") or "")
        if len(arches) > 1 and "kubernetes.io/arch" not in sel and not st.kubernetes_config.get(
                "helper_image_autoset_arch_and_os"):
            out.append(Finding("E31", "mixed-arch", Status.WARN,
                               f"Nodes have several architectures ({', '.join(sorted(arches))}) and job pods are not "
                               "pinned to one, so the helper image may not match the node",
                               "Set node_selector \"kubernetes.io/arch\" in [runners.kubernetes] (one runner per "
                               "architecture) or helper_image_autoset_arch_and_os = true.",
                               [f"node {n['name']}: {n['arch']}" for n in linux[:4]]))
        elif "x86_64" in helper and arches and "amd64" not in arches:
            out.append(Finding("E31", "helper-arch", Status.FAIL,
                               f"helper_image is an x86_64 image but the nodes are {', '.join(sorted(arches))}",
                               "Use the helper tag for the nodes' architecture, e.g. arm64-v${CI_RUNNER_VERSION}.",
                               [f"{st.config_source}: helper_image = \"{helper}\""]))
        windows = [n for n in st.nodes if n["os"] == "windows"]
        node_sel = st.merged_values.get("nodeSelector") or {}
        if windows and "kubernetes.io/os" not in node_sel:
            out.append(Finding("E38", "windows-nodes", Status.WARN,
                               "The cluster has Windows nodes and the manager has no OS nodeSelector, so it may be "
                               "scheduled on Windows",
                               "Set nodeSelector: {kubernetes.io/os: linux} in the chart values.",
                               [f"node {n['name']}: windows" for n in windows[:3]]))
    return out + route(ctx, "E31", _event_is_live) + route(ctx, "E38", _event_is_live)


# --------------------------------------------------------------------------- the manager Deployment


def analyze_rollout(ctx: Context) -> list[Finding]:
    """A manager Deployment with fewer available replicas than desired is always a finding, with its cause:
    read from the ReplicaSets, pod states and events the controllers, the scheduler and the kubelet wrote."""
    from wizard import rollout

    st = ctx.state
    if st is None or st.deployment is None:
        return []
    av = rollout.availability(st.deployment)
    out: list[Finding] = []
    for cause in rollout.causes(st.deployment, st.replicasets, st.manager_pods, st.events):
        status = Status.FAIL if cause.fatal and av.available == 0 else Status.WARN
        f = Finding(cause.catalog, f"manager.{cause.key}", status,
                    f"Manager Deployment {st.namespace}/{av.name} is at {av.text}: {cause.title}", cause.fix)
        f.add_evidence(*cause.evidence)
        # the same scheduler/kubelet events, seen by the log analyzer, are evidence for this finding
        ctx.absorb(f, cause.catalog, match=lambda hit: hit.origin == f"events {st.namespace}",
                   origin="cluster+logs")
        out.append(f)
    return out
