"""``runner-wizard uninstall``: show what goes, then remove it -- and nothing else.

What is removed, in this order (each step can be rerun; a second uninstall finds
nothing and says so):

1. the **Helm release** (``helm uninstall``; helm removes the objects it made: the
   Deployment, its ConfigMap, a chart-made Secret, ...);
2. the **runner in GitLab**, unless ``--keep-runner``: ``DELETE /runners`` with the
   runner's authentication token, read from the token Secret in the cluster (the token is
   never printed). Done before the Secret goes, so a failed call can be retried;
3. the **objects runner-wizard created**: an object qualifies only when it carries both
   labels apply stamps (``app.kubernetes.io/managed-by: runner-wizard`` and
   ``app.kubernetes.io/part-of: <release>``) *and* its ``managedFields`` list the field
   manager ``runner-wizard``. Objects with the labels but no such field manager, and
   objects Helm owns, are left alone and listed. Deletes carry the object's UID as a
   precondition, so an object replaced in the meantime is not touched;
4. **namespaces**, only when runner-wizard created them (its labels, its field manager as
   the only one, and its entry written when the namespace was created) and, after the
   steps above, they hold nothing else (every listable namespaced resource is looked at;
   the ``default`` ServiceAccount, ``kube-root-ca.crt`` and objects that have an owner or
   are already being deleted do not count).

Deleting a runner vs. deleting a runner manager: a *runner* is the GitLab object with the
token, its tags and settings; every process that runs ``gitlab-runner run`` with that token
is one *runner manager* under it (one per manager pod, keyed by its system id).
``DELETE /runners`` (runner token) or ``DELETE /runners/:id`` (a user token with rights on
the runner) remove the runner with all its managers: the token stops working everywhere.
``DELETE /runners/managers`` (runner token + system id; what the chart's preStop
``unregister`` does) removes one manager only and leaves the runner and its token in place.
"""

from __future__ import annotations

import base64
import binascii
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wizard import names
from wizard.errors import WizardError
from wizard.lifecycle.common import Confirm, Revision, Target, current, helm_binary, revisions

if TYPE_CHECKING:
    from wizard.kube import Kube

FIELD_MANAGER = "runner-wizard"
MANAGED_BY = "app.kubernetes.io/managed-by"
PART_OF = "app.kubernetes.io/part-of"
NAMESPACED_KINDS = (  # (kind, collection under /namespaces/<ns>/, delete order)
    ("Secret", "/api/v1", "secrets"),
    ("ConfigMap", "/api/v1", "configmaps"),
    ("RoleBinding", "/apis/rbac.authorization.k8s.io/v1", "rolebindings"),
    ("Role", "/apis/rbac.authorization.k8s.io/v1", "roles"),
    ("ServiceAccount", "/api/v1", "serviceaccounts"),
)
IGNORED_RESOURCES = {"events", "endpoints", "bindings", "localsubjectaccessreviews"}
RUNNER_EXPLANATION = (
    "Deleting the runner (DELETE /runners with its token, or DELETE /runners/:id with a user token) removes "
    "it from GitLab with every runner manager under it (one per manager pod that ran with the token): the "
    "token stops working everywhere. Deleting only a runner manager (DELETE /runners/managers, what the "
    "chart's preStop `unregister` does) would keep the runner and its token. --keep-runner keeps the runner.")


@dataclass
class Item:
    kind: str
    namespace: str
    name: str
    uid: str
    path: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


@dataclass
class NamespaceDecision:
    name: str
    delete: bool
    reason: str


@dataclass
class RunnerPlan:
    action: str
    """``delete`` | ``keep`` | ``none`` (no token to delete it with) | ``gone`` (nothing found)"""
    detail: str
    runner_id: int | None = None
    gitlab_url: str | None = None
    ca_pem: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


@dataclass
class Plan:
    target: Target
    release: Revision | None
    release_objects: list[str]
    objects: list[Item]
    left_alone: list[str]
    namespaces: list[NamespaceDecision]
    runner: RunnerPlan

    @property
    def empty(self) -> bool:
        return (self.release is None and not self.objects and not any(n.delete for n in self.namespaces)
                and self.runner.action != "delete")

    def render(self) -> str:
        t = self.target
        if self.empty:
            lines = [f"nothing to uninstall for {t}: no Helm release and no object runner-wizard created "
                     "(already uninstalled?)"]
            lines += [f"  left alone: {x}" for x in self.left_alone]
            return "\n".join(lines)
        lines = [f"uninstall {t}:"]
        if self.release is not None:
            r = self.release
            lines.append(f"  - Helm release {t} (chart {r.chart}, revision {r.number}, {r.status}): "
                         "helm uninstall removes")
            lines += [f"      {o}" for o in self.release_objects]
        run = self.runner
        mark = "-" if run.action == "delete" else "="
        lines.append(f"  {mark} GitLab: {run.detail}")
        if run.action == "delete":
            lines += [f"      {ln.strip()}." for ln in RUNNER_EXPLANATION.rstrip(".").split(". ")]
        for o in self.objects:
            lines.append(f"  - {o} (created by runner-wizard)")
        for n in self.namespaces:
            lines.append(f"  {'-' if n.delete else '='} Namespace {n.name}: {n.reason}")
        for x in self.left_alone:
            lines.append(f"  = left alone: {x}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- plan


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _managers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return list((obj.get("metadata") or {}).get("managedFields") or [])


def ownership(obj: dict[str, Any], release: str) -> tuple[bool, str]:
    """(True, "") when runner-wizard created ``obj`` for ``release``; else (False, why not)."""
    labels = _labels(obj)
    if labels.get(MANAGED_BY) != FIELD_MANAGER or labels.get(PART_OF) != release:
        return False, "not labelled as runner-wizard's"
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    if ann.get("meta.helm.sh/release-name"):
        return False, "owned by Helm"
    if not any(m.get("manager") == FIELD_MANAGER for m in _managers(obj)):
        return False, "labelled as runner-wizard's but never written by field manager runner-wizard"
    return True, ""


def namespace_created_by_us(ns: dict[str, Any], release: str) -> tuple[bool, str]:
    ok, why = ownership(ns, release)
    if not ok:
        return False, why
    ours = [m for m in _managers(ns) if m.get("manager") == FIELD_MANAGER]
    others = sorted({str(m.get("manager")) for m in _managers(ns) if m.get("manager") != FIELD_MANAGER})
    if others:
        return False, f"also written by {', '.join(others)}: it existed before or is shared"
    created = (ns.get("metadata") or {}).get("creationTimestamp")
    if created and not any(m.get("time") == created for m in ours):
        return False, "it existed before runner-wizard first applied to it"
    return True, ""


def _item(kind: str, obj: dict[str, Any], base: str, plural: str) -> Item:
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace", "")
    return Item(kind, ns, meta.get("name", ""), meta.get("uid", ""),
                f"{base}/namespaces/{quote(ns)}/{plural}/{quote(meta.get('name', ''))}")


def _candidate_namespaces(kube: Kube, t: Target) -> list[str]:
    """The runner namespace, the answers' jobs namespace, and namespaces where a RoleBinding of ours
    binds a ServiceAccount of the runner namespace (the jobs namespace when there are no answers)."""
    out = [t.namespace]
    if t.answers is not None:
        out.append(t.answers.cluster.jobs_namespace)
    sel = f"{MANAGED_BY}={FIELD_MANAGER},{PART_OF}={t.release}"
    rbs = kube.get("/apis/rbac.authorization.k8s.io/v1/rolebindings", labelSelector=sel).get("items") or []
    for rb in rbs:
        if any(s.get("kind") == "ServiceAccount" and s.get("namespace") == t.namespace
               for s in rb.get("subjects") or []):
            out.append(rb["metadata"]["namespace"])
    return list(dict.fromkeys(out))


def _release_objects(kube: Kube, t: Target, rev: Revision | None) -> list[str]:
    """What the release's manifest holds (``kind namespace/name``), from the release record."""
    if rev is None:
        return []
    import yaml

    out = []
    try:
        docs = list(yaml.safe_load_all(rev.doc.get("manifest") or ""))
    except yaml.YAMLError:
        return []
    for d in docs:
        if isinstance(d, dict) and d.get("kind"):
            meta = d.get("metadata") or {}
            out.append(f"{d['kind']} {meta.get('namespace') or t.namespace}/{meta.get('name')}")
    return out


def _b64d(v: str | None) -> str:
    try:
        return base64.b64decode(v or "").decode("utf-8").strip()
    except (binascii.Error, ValueError):
        return ""


def _runner_plan(kube: Kube, t: Target, rev: Revision | None, keep: bool) -> RunnerPlan:
    from wizard.tokens import RUNNER_ID_ANNOTATION

    values = rev.values if rev else {}
    if t.answers is not None:
        secret = names.token_secret(t.answers)
    else:
        secret = str((values.get("runners") or {}).get("secret") or "") or None
        if secret is None and (values.get("runnerToken") or values.get("runnerRegistrationToken")):
            secret = names.chart_fullname(t.release, values)
        secret = secret or f"{t.release}-token"
    obj = kube.get_or_none(f"/api/v1/namespaces/{quote(t.namespace)}/secrets/{quote(secret)}")
    if obj is None:
        return RunnerPlan("gone", f"no token Secret {t.namespace}/{secret}: nothing to delete in GitLab "
                                  "(already uninstalled, or the token lives elsewhere)")
    data = obj.get("data") or {}
    token = _b64d(data.get("runner-token"))
    rid_raw = ((obj.get("metadata") or {}).get("annotations") or {}).get(RUNNER_ID_ANNOTATION)
    rid = int(rid_raw) if rid_raw and str(rid_raw).isdigit() else None
    label = f"runner #{rid}" if rid is not None else "the runner"
    if keep:
        return RunnerPlan("keep", f"{label} is kept (--keep-runner); its token is in Secret {t.namespace}/{secret}, "
                                  "which is removed: keep the token where your answers read it from to reinstall",
                          rid)
    if not token:
        how = ("registered at start with a registration token" if _b64d(data.get("runner-registration-token"))
               else "no runner-token in the Secret")
        return RunnerPlan("none", f"cannot delete the runner in GitLab ({how}); remove it under Settings > CI/CD > "
                                  "Runners", rid)
    url = (t.answers.gitlab.url if t.answers is not None else values.get("gitlabUrl"))
    if not url:
        return RunnerPlan("none", "cannot delete the runner in GitLab: the GitLab URL is unknown", rid)
    ca = _ca_pem(kube, t, values)
    return RunnerPlan("delete", f"delete {label} (DELETE /runners with its token from Secret {t.namespace}/{secret}) "
                                f"at {url}", rid, str(url), ca, token)


def _ca_pem(kube: Kube, t: Target, values: dict[str, Any]) -> str | None:
    if t.answers is not None:
        from wizard.tls import load_ca_pem

        try:
            return load_ca_pem(t.answers, fetch=False)
        except WizardError:
            return None
    name = values.get("certsSecretName")
    if not name:
        return None
    obj = kube.get_or_none(f"/api/v1/namespaces/{quote(t.namespace)}/secrets/{quote(str(name))}") or {}
    pems = [_b64d(v) for k, v in (obj.get("data") or {}).items() if k.endswith(".crt")]
    return "\n".join(p for p in pems if p) or None


def plan(kube: Kube, t: Target, *, keep_runner: bool = False) -> Plan:
    """Read-only: what :func:`execute` would remove."""
    revs = revisions(kube, t)
    rev = current(revs)
    objects: list[Item] = []
    left: list[str] = []
    nss = _candidate_namespaces(kube, t)
    sel = f"{MANAGED_BY}={FIELD_MANAGER},{PART_OF}={t.release}"
    for ns in nss:
        for kind, base, plural in NAMESPACED_KINDS:
            items = kube.get(f"{base}/namespaces/{quote(ns)}/{plural}", labelSelector=sel).get("items") or []
            for obj in items:
                if (obj.get("metadata") or {}).get("deletionTimestamp"):
                    continue
                ok, why = ownership(obj, t.release)
                if ok:
                    objects.append(_item(kind, obj, base, plural))
                else:
                    left.append(f"{kind} {ns}/{obj['metadata']['name']} ({why})")
    resources = namespaced_resources(kube)
    decisions = [_namespace_decision(kube, t, ns, objects, rev, resources) for ns in nss]
    return Plan(t, rev, _release_objects(kube, t, rev), objects, left,
                [d for d in decisions if d is not None], _runner_plan(kube, t, rev, keep_runner))


def _namespace_decision(kube: Kube, t: Target, ns: str, ours: list[Item], rev: Revision | None,
                        resources: list[tuple[str, str, str]]) -> NamespaceDecision | None:
    obj = kube.get_or_none(f"/api/v1/namespaces/{quote(ns)}")
    if obj is None or (obj.get("metadata") or {}).get("deletionTimestamp"):
        return None
    made, why = namespace_created_by_us(obj, t.release)
    if not made:
        return NamespaceDecision(ns, False, f"kept: {why}" if why != "not labelled as runner-wizard's" else
                                 "kept: runner-wizard did not create it")
    others = other_contents(kube, t, ns, {o.uid for o in ours}, helm_goes=rev is not None, resources=resources)
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        return NamespaceDecision(ns, False, f"kept: it holds other objects ({shown})")
    return NamespaceDecision(ns, True, "created by runner-wizard and holds nothing else")


def namespaced_resources(kube: Kube) -> list[tuple[str, str, str]]:
    """(kind, group-version base path, plural) of every listable namespaced resource (API discovery;
    read afresh each time, so resources of CRDs installed meanwhile count too)."""
    bases = ["/api/v1"]
    for g in kube.get("/apis").get("groups") or []:
        pv = (g.get("preferredVersion") or {}).get("groupVersion")
        if pv:
            bases.append(f"/apis/{pv}")
    out: list[tuple[str, str, str]] = []
    for base in bases:
        try:
            doc = kube.get(base)
        except Exception:  # noqa: BLE001 - an aggregated API that does not answer is skipped
            continue
        for r in doc.get("resources") or []:
            name = r.get("name", "")
            if "/" in name or not r.get("namespaced") or "list" not in (r.get("verbs") or []):
                continue
            if name in IGNORED_RESOURCES:
                continue
            out.append((r.get("kind", name), base, name))
    return out


def other_contents(kube: Kube, t: Target, ns: str, ours: set[str], *, helm_goes: bool,
                   resources: list[tuple[str, str, str]] | None = None) -> list[str]:
    """Objects in ``ns`` that are not ours, not the release's (when it is removed), and count."""
    from wizard.kube import KubeError

    found: list[str] = []
    for kind, base, plural in resources if resources is not None else namespaced_resources(kube):
        try:
            items = kube.get(f"{base}/namespaces/{quote(ns)}/{plural}").get("items") or []
        except KubeError:
            continue
        for obj in items:
            meta = obj.get("metadata") or {}
            name = meta.get("name", "")
            if meta.get("uid") in ours or meta.get("deletionTimestamp") or meta.get("ownerReferences"):
                continue
            if (kind, name) in (("ServiceAccount", "default"), ("ConfigMap", "kube-root-ca.crt")):
                continue
            labels = meta.get("labels") or {}
            ann = meta.get("annotations") or {}
            if helm_goes and ns == t.namespace and labels.get("owner") == "helm" and labels.get("name") == t.release:
                continue  # the release records
            if helm_goes and ann.get("meta.helm.sh/release-name") == t.release and \
                    ann.get("meta.helm.sh/release-namespace") == t.namespace:
                continue  # helm uninstall removes it
            found.append(f"{kind} {name}")
    return found


# --------------------------------------------------------------------------- execute


@dataclass
class Outcome:
    done: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def execute(kube: Kube, p: Plan, *, say: Any = print) -> Outcome:
    """Remove what ``p`` lists, in order; a failed GitLab call stops before the token Secret goes."""
    from wizard.kube import KubeError

    out = Outcome()
    t = p.target
    if p.release is not None:
        _helm_uninstall(t, out, say)
        if not out.ok:
            return out
    if p.runner.action == "delete":
        _delete_runner(p.runner, out, say)
        if not out.ok:
            return out
    for item in p.objects:
        try:
            kube.request("DELETE", item.path, body={"apiVersion": "v1", "kind": "DeleteOptions",
                                                    "preconditions": {"uid": item.uid}})
            out.done.append(f"deleted {item}")
            say(f"  deleted {item}")
        except KubeError as exc:
            if exc.not_found:
                say(f"  {item} was already gone")
                continue
            if exc.conflict:  # the UID precondition failed: replaced meanwhile, not ours to delete
                say(f"  {item} was replaced meanwhile; left alone")
                continue
            out.problems.append(f"cannot delete {item}: {exc.message}")
            say(f"  x cannot delete {item}: {exc.message}")
    resources = namespaced_resources(kube) if any(d.delete for d in p.namespaces) else []
    for d in p.namespaces:
        if not d.delete:
            continue
        # look again now that the release and our objects are gone
        others = other_contents(kube, t, d.name, set(), helm_goes=True, resources=resources)
        if others:
            say(f"  = Namespace {d.name} kept: it holds {', '.join(others[:5])}")
            continue
        try:
            kube.delete(f"/api/v1/namespaces/{quote(d.name)}")
            out.done.append(f"deleted Namespace {d.name}")
            say(f"  deleted Namespace {d.name}")
        except KubeError as exc:
            if not exc.not_found:
                out.problems.append(f"cannot delete Namespace {d.name}: {exc.message}")
                say(f"  x cannot delete Namespace {d.name}: {exc.message}")
    return out


def _helm_uninstall(t: Target, out: Outcome, say: Any) -> None:
    from wizard.helm import HelmError, error_from, run

    try:
        binary = helm_binary()
        argv = [binary, "uninstall", t.release, *t.helm_flags()]
        proc = run(argv, timeout_s=t.config().helm_timeout)
        if proc.returncode != 0 and "not found" not in (proc.stderr or "").lower():
            raise error_from(proc, what="helm uninstall")
    except (HelmError, WizardError) as exc:
        msg = exc.message if isinstance(exc, HelmError) else str(exc)
        out.problems.append(msg)
        say(f"  x {msg}")
        return
    out.done.append(f"helm uninstall {t}")
    say(f"  removed Helm release {t} ({shlex.join(['helm', 'uninstall', t.release, '-n', t.namespace])})")


def _delete_runner(r: RunnerPlan, out: Outcome, say: Any) -> None:
    from wizard.gitlab_api import GitLabAPI, GitLabError

    label = f"runner #{r.runner_id}" if r.runner_id is not None else "the runner"
    assert r.gitlab_url and r.token
    api = GitLabAPI(r.gitlab_url, ca_pem=r.ca_pem, timeout=10)
    try:
        api.delete_runner_by_token(r.token)
    except GitLabError as exc:
        if exc.status in (401, 403, 404):
            say(f"  GitLab no longer accepts the token of {label} ({exc.status}): it was already deleted")
            out.done.append(f"{label} already gone in GitLab")
            return
        out.problems.append(f"cannot delete {label} in GitLab: {exc}; nothing else was removed after the "
                            "Helm release, so run uninstall again (or add --keep-runner)")
        say(f"  x {out.problems[-1]}")
        return
    finally:
        api.close()
    out.done.append(f"deleted {label} in GitLab")
    say(f"  deleted {label} in GitLab (with all its runner managers)")


# --------------------------------------------------------------------------- command line


def command(args: Any, opts: Any) -> int:
    """``runner-wizard uninstall (--answers FILE | --namespace NS --release NAME) [--dry-run] [--yes]
    [--keep-runner]``; exit 0 (removed, or nothing to remove), 1 (declined or a step failed)."""
    from wizard.lifecycle.common import connect, consent, target_from_args

    t = target_from_args(args, opts)
    kube = connect(t)
    try:
        p = plan(kube, t, keep_runner=bool(args.keep_runner))
        print(p.render())
        if p.empty:
            return 0
        if args.dry_run:
            print("dry run: nothing was changed")
            return 0
        ask: Confirm | None = consent(args)
        if ask is None:
            print("nothing was changed: no terminal to ask; rerun with --yes to remove the above")
            return 1
        if not ask("remove everything marked with - above?", False):
            print("nothing was changed")
            return 1
        outcome = execute(kube, p)
        if outcome.ok:
            print(f"uninstalled {t}")
            return 0
        print("uninstall stopped: " + "; ".join(outcome.problems))
        return 1
    finally:
        kube.close()
