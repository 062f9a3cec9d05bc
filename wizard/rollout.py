"""Why is the manager Deployment not available? Read from the objects the controllers write.

:func:`causes` looks at what kube-controller-manager, the scheduler and the kubelet
record: the Deployment's status and conditions, its ReplicaSets (``ReplicaFailure``
conditions, ``FailedCreate`` events: quota, admission, missing ServiceAccount), its
pods (``PodScheduled=False`` / ``FailedScheduling``: no node fits; container waiting
reasons: image pulls, crash loops, config errors; Running but not Ready) and names
the cause with the catalog entry it belongs to. A Deployment with fewer available
replicas than desired always gets at least one cause, never silence.

Pure functions over plain dicts: used by ``diagnose`` (analyzer ``analyze_rollout``)
and by ``apply``'s verify step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

ROLLOUT_CATALOG = "DEP"
"""Catalog id for causes outside the failure catalog (crash loop, not Ready, stuck rollout)."""

_IMAGE_WAITING = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                  "RegistryUnavailable", "SignatureValidationFailed")
_CONFIG_WAITING = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")


@dataclass
class Cause:
    catalog: str
    key: str
    """Stable slug (``unschedulable``, ``quota``, ``image-pull``, ``crash-loop``...)."""
    title: str
    fix: str
    evidence: list[str] = field(default_factory=list)
    fatal: bool = True
    """False for a rollout that is merely in progress (no error recorded yet)."""


@dataclass
class Availability:
    name: str
    namespace: str
    desired: int
    available: int
    ready: int
    updated: int
    current: bool
    """status.observedGeneration == metadata.generation"""
    total: int = 0
    """status.replicas: pods of every ReplicaSet, the old template's included"""

    @property
    def ok(self) -> bool:
        # as `kubectl rollout status`: mid-update the old pods are still available and the new ones count as
        # updated before they are; only a finished rollout (no old pod left) is available
        return (self.current and self.available >= self.desired and self.updated >= self.desired
                and self.total <= self.updated)

    @property
    def text(self) -> str:
        old = self.total - self.updated
        return f"{self.available}/{self.desired} available" + (f", {old} old pod(s) still running" if old > 0 else "")


def availability(dep: dict[str, Any]) -> Availability:
    meta, spec, st = dep.get("metadata") or {}, dep.get("spec") or {}, dep.get("status") or {}
    desired = spec.get("replicas")
    desired = 1 if desired is None else int(desired)
    return Availability(meta.get("name", ""), meta.get("namespace", ""), desired,
                        int(st.get("availableReplicas") or 0), int(st.get("readyReplicas") or 0),
                        int(st.get("updatedReplicas") or 0),
                        st.get("observedGeneration") == meta.get("generation") and bool(st),
                        int(st.get("replicas") or 0))


def _owned_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    uid = (owner.get("metadata") or {}).get("uid")
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    if uid and refs:
        return any(r.get("uid") == uid for r in refs)
    return True  # no uids to compare (hand-made objects): trust the label selection


def _revision(obj: dict[str, Any]) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(
            "deployment.kubernetes.io/revision", "0"))
    except ValueError:
        return 0


def _events_for(events: list[dict[str, Any]], kind: str, name: str) -> list[dict[str, Any]]:
    out = [e for e in events if (e.get("involvedObject") or {}).get("kind") == kind
           and (e.get("involvedObject") or {}).get("name") == name and e.get("type") == "Warning"]
    return sorted(out, key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "", reverse=True)


def _short(msg: str, limit: int = 300) -> str:
    msg = " ".join(str(msg).split())
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"


def _create_failure(ns: str, rs_name: str, message: str) -> Cause:
    ev = [f"ReplicaSet {ns}/{rs_name}: FailedCreate: {_short(message)}"]
    low = message.lower()
    if "exceeded quota" in low or "must specify limits" in low or "must specify requests" in low:
        q = re.search(r"exceeded quota: ([^,]+)", message)
        which = f"ResourceQuota {ns}/{q.group(1)}" if q else f"a ResourceQuota in {ns}"
        return Cause("E26", "quota", f"{which} rejects the manager pods, so none is created",
                     f"Raise or remove the quota in {ns} (kubectl -n {ns} describe resourcequota), or set "
                     "resources requests/limits in the chart values that fit it.", ev)
    if "service account" in low or "serviceaccount" in low:
        return Cause("E16", "service-account", "The manager pods name a ServiceAccount that does not exist, so "
                     "the ReplicaSet cannot create them",
                     "Create the ServiceAccount, or set serviceAccount.create=true (or the right "
                     "serviceAccount.name) in the chart values.", ev)
    if "podsecurity" in low or "violates podsecurity" in low:
        return Cause("E28", "pod-security", f"Pod Security admission in {ns} rejects the manager pods",
                     "Give the manager a restricted security context (the chart's securityContext and "
                     "podSecurityContext), or relax the namespace's pod-security.kubernetes.io/enforce label.", ev)
    if "limitrange" in low or ("maximum" in low and ("cpu" in low or "memory" in low)):
        return Cause("E27", "limit-range", f"A LimitRange in {ns} rejects the manager pods' resources",
                     "Set resources in the chart values within the LimitRange.", ev)
    return Cause(ROLLOUT_CATALOG, "create-failed", "The ReplicaSet cannot create the manager pods",
                 f"Read kubectl -n {ns} describe replicaset/{rs_name} and fix what the message names.", ev)


def _unschedulable(ns: str, pod: str, message: str) -> Cause:
    ev = [f"pod {ns}/{pod}: Unschedulable: {_short(message)}"]
    low = message.lower()
    if "insufficient" in low or "too many pods" in low:
        res = sorted(set(re.findall(r"insufficient ([\w./-]+)", low)))
        what = ", ".join(res) if res else "pods"
        return Cause("E10", "insufficient-resources",
                     f"No node has enough free {what} for the manager pod, so it stays Pending",
                     "Lower resources.requests in the chart values, free capacity or add nodes.", ev)
    if "0/0 nodes" in low or "no nodes available" in low:
        return Cause("E10", "no-nodes", "The cluster has no nodes to run the manager pod",
                     "Add nodes (or check that the kubelets registered).", ev)
    reasons = []
    if "affinity/selector" in low or "node selector" in low or "affinity" in low:
        reasons.append("nodeSelector/affinity")
    if "taint" in low:
        reasons.append("taints")
    if "unschedulable" in low:
        reasons.append("cordoned nodes")
    why = " or ".join(reasons) or "the scheduler's constraints"
    return Cause("E10", "no-schedulable-node",
                 f"No schedulable node fits the manager pod ({why}), so it stays Pending",
                 "Fix nodeSelector/affinity/tolerations in the chart values to match a schedulable node "
                 "(kubectl get nodes --show-labels; kubectl describe node).", ev)


def _image_cause(ns: str, pod: str, container: str, reason: str, message: str) -> Cause:
    ev = [f"pod {ns}/{pod} container {container}: {reason}: {_short(message)}"]
    low = message.lower()
    if "x509" in low or "certificate" in low:
        return Cause("E22", "image-tls", "The nodes do not trust the registry's certificate, so the manager image "
                     "cannot be pulled", "Install the registry CA on the nodes' container runtime.", ev)
    if "http response to https" in low:
        return Cause("E23", "image-http", "The registry speaks plain HTTP, so the manager image cannot be pulled",
                     "Configure the registry as insecure/plain-HTTP on the nodes, or serve it over HTTPS.", ev)
    if "short-name" in low or "short name" in low:
        return Cause("E24", "image-short-name", "CRI-O cannot resolve the manager image's short name",
                     "Use a fully qualified image name in the chart values (image.registry/image.image).", ev)
    if any(s in low for s in ("unauthorized", "denied", "authentication required", "403", "401")):
        return Cause("E21", "image-auth", "The registry refuses to serve the manager image to the nodes",
                     "Add imagePullSecrets with credentials for the registry to the chart values.", ev)
    return Cause("E09", "image-pull", f"The manager image cannot be pulled ({reason})",
                 "Check image.registry, image.image and image.tag in the chart values and that the nodes can "
                 "reach the registry.", ev)


def causes(dep: dict[str, Any] | None, replicasets: list[dict[str, Any]], pods: list[dict[str, Any]],
           events: list[dict[str, Any]]) -> list[Cause]:
    """Why ``dep`` has fewer available replicas than desired; empty when it is available."""
    if dep is None:
        return []
    av = availability(dep)
    if av.ok or av.desired == 0:
        return []
    ns, name = av.namespace, av.name
    out: list[Cause] = []
    seen: set[tuple[str, str]] = set()

    def add(c: Cause) -> None:
        if (c.catalog, c.key) in seen:
            for old in out:
                if (old.catalog, old.key) == (c.catalog, c.key):
                    old.evidence += [e for e in c.evidence if e not in old.evidence][: max(0, 4 - len(old.evidence))]
            return
        seen.add((c.catalog, c.key))
        out.append(c)

    head = f"Deployment {ns}/{name}: {av.text}, {av.ready} ready, {av.updated} updated"
    st = dep.get("status") or {}
    conds = {c.get("type"): c for c in st.get("conditions") or []}
    if not st.get("observedGeneration"):
        return [Cause(ROLLOUT_CATALOG, "not-processed",
                      f"Nothing has processed Deployment {ns}/{name} (no status, no ReplicaSet), so no manager pod "
                      "exists", "Check that kube-controller-manager runs (kubectl get --raw /readyz; the "
                      "kube-system pods) and that its deployment controller is enabled.", [head])]

    rss = [r for r in replicasets if _owned_by(r, dep)]
    rss.sort(key=_revision, reverse=True)
    pods = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    rs_names = {(r.get("metadata") or {}).get("name") for r in rss}
    if rs_names:
        pods = [p for p in pods if any(ref.get("name") in rs_names for ref in
                                       (p.get("metadata") or {}).get("ownerReferences") or [])] or pods

    for rs in rss[:2]:
        rs_name = (rs.get("metadata") or {}).get("name", "")
        rs_st = rs.get("status") or {}
        msgs = [c.get("message", "") for c in rs_st.get("conditions") or []
                if c.get("type") == "ReplicaFailure" and c.get("status") == "True"]
        short = int((rs.get("spec") or {}).get("replicas") or 0) > int(rs_st.get("replicas") or 0)
        if short:  # pods are missing: the newest FailedCreate event says why (older ones may be stale)
            msgs += [e.get("message", "") for e in _events_for(events, "ReplicaSet", rs_name)
                     if e.get("reason") == "FailedCreate"][:1]
        for m in msgs[:1]:
            add(_create_failure(ns, rs_name, m))

    for pod in pods:
        pmeta, pst = pod.get("metadata") or {}, pod.get("status") or {}
        pname = pmeta.get("name", "")
        pconds = {c.get("type"): c for c in pst.get("conditions") or []}
        sched = pconds.get("PodScheduled") or {}
        if sched.get("status") == "False" and sched.get("reason") == "Unschedulable":
            add(_unschedulable(ns, pname, sched.get("message", "")))
            continue
        fs = [e for e in _events_for(events, "Pod", pname) if e.get("reason") == "FailedScheduling"]
        if fs and not (pod.get("spec") or {}).get("nodeName"):
            add(_unschedulable(ns, pname, fs[0].get("message", "")))
            continue
        statuses = (pst.get("initContainerStatuses") or []) + (pst.get("containerStatuses") or [])
        for cs in statuses:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            reason, msg = waiting.get("reason", ""), waiting.get("message", "")
            last = (cs.get("lastState") or {}).get("terminated") or {}
            if reason in _IMAGE_WAITING:
                add(_image_cause(ns, pname, cs.get("name", ""), reason, msg or cs.get("image", "")))
            elif reason == "CrashLoopBackOff" or (last and int(cs.get("restartCount") or 0) > 0
                                                  and not cs.get("ready")):
                ev = [f"pod {ns}/{pname} container {cs.get('name')}: {reason or 'restarting'}, "
                      f"{cs.get('restartCount', 0)} restart(s)"]
                if last:
                    ev.append(f"last exit: code {last.get('exitCode')} ({last.get('reason', '')})"
                              + (f": {_short(last.get('message', ''), 200)}" if last.get("message") else ""))
                add(Cause(ROLLOUT_CATALOG, "crash-loop",
                          "The manager container keeps exiting (crash loop), so the pod never becomes Ready",
                          f"Read its log: kubectl -n {ns} logs {pname} -c {cs.get('name')} --previous "
                          "(runner-wizard diagnose --log FILE analyzes it).", ev))
            elif reason in _CONFIG_WAITING:
                add(Cause("E15", "container-config",
                          f"The manager container cannot be created ({reason})",
                          "Create the Secret/ConfigMap (and key) the message names, or fix the chart values "
                          "that reference it.", [f"pod {ns}/{pname} container {cs.get('name')}: {reason}: "
                                                 f"{_short(msg)}"]))
        for e in _events_for(events, "Pod", pname):
            if e.get("reason") == "FailedMount":
                add(Cause("E15", "mount", "A volume of the manager pod cannot be mounted, so it stays in "
                          "ContainerCreating", "Create the Secret (with the key) the message names.",
                          [f"pod {ns}/{pname}: FailedMount: {_short(e.get('message', ''))}"]))
                break
        if (pst.get("phase") == "Running" and (pconds.get("Ready") or {}).get("status") == "False"
                and not any((cs.get("state") or {}).get("waiting") for cs in statuses)):
            add(Cause(ROLLOUT_CATALOG, "not-ready", "The manager pod runs but is not Ready (readiness probe "
                      "failing)", f"Read kubectl -n {ns} describe pod {pname} and the pod's log.",
                      [f"pod {ns}/{pname}: Ready=False {(pconds.get('Ready') or {}).get('message', '')}".strip()]))

    if not out:
        prog = conds.get("Progressing") or {}
        if prog.get("status") == "False":
            out.append(Cause(ROLLOUT_CATALOG, "progress-deadline",
                             f"The rollout of {ns}/{name} stopped: {prog.get('reason')}: {prog.get('message')}",
                             f"kubectl -n {ns} describe deployment/{name}", [head]))
        else:
            phases = ", ".join(f"{(p.get('metadata') or {}).get('name')} {(p.get('status') or {}).get('phase')}"
                               for p in pods[:3]) or "no pods yet"
            out.append(Cause(ROLLOUT_CATALOG, "rolling-out",
                             f"The manager Deployment is not available yet ({av.text}); no error is recorded, the "
                             "rollout may still be in progress",
                             f"Wait, then run diagnose again; kubectl -n {ns} rollout status deployment/{name}",
                             [head, f"pods: {phases}"], fatal=False))
    for c in out:
        if head not in c.evidence:
            c.evidence.insert(0, head)
    return out
