"""Fixes for diagnosis findings: plan exactly what changes, apply after consent, then re-check.

Each fix in :data:`FIXES` has ``plan(state, finding, answers) -> list[Change]``.
A :class:`Change` carries the exact object, patch or values change and a
rendering of it (Secret values are never shown). :func:`apply_plan` applies the
changes in order through one :class:`~wizard.kube.Kube`; callers re-run the
diagnosis afterwards (the CLI and the recovery screen both do) so a fix is only
reported done when its finding is gone.

Fixes:

* ``rbac.role``            server-side apply of the manager Role in the jobs namespace with the
                           full permission table (existing extra rules kept), plus its RoleBinding
* ``sa.create``            create a missing ServiceAccount
* ``secret.copy``          copy the CA Secret from the release namespace into the jobs namespace
* ``secret.strip``         remove whitespace around the runner token in its Secret
* ``secret.add-key``       add the missing (empty) token key the chart's projected volume needs
* ``values.rbac``          chart values ``rbac.create`` + ``serviceAccount.create`` → helm upgrade
* ``values.host-aliases``  ``[[runners.kubernetes.host_aliases]]`` in ``runners.config`` → helm upgrade
* ``token.reregister``     stale runner token (seed 003), through :mod:`wizard.tokens`
"""

from __future__ import annotations

import base64
import copy
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from wizard import diff as objdiff
from wizard.diagnose.model import ClusterState, Diagnosis, Finding
from wizard.kube import KubeError, collection_path
from wizard.rbac import role_rules

if TYPE_CHECKING:
    from wizard.answers import Answers
    from wizard.kube import Kube

RBAC_API = "rbac.authorization.k8s.io/v1"


@dataclass
class Change:
    action: str
    """``apply`` (server-side apply of ``obj``), ``merge-patch`` (``body`` to ``path``),
    ``helm-upgrade`` (``values``), ``reregister`` (runner token)."""
    target: str
    text: str
    """What changes, exactly, as shown to the user (no secret values)."""
    obj: dict[str, Any] | None = None
    path: str | None = None
    body: Any = None
    values: dict[str, Any] | None = None


@dataclass
class FixPlan:
    finding_id: str
    catalog: str
    fix_id: str
    title: str
    changes: list[Change]

    def render(self) -> str:
        lines = [f"fix for {self.finding_id} ({self.catalog}): {self.title}"]
        for ch in self.changes:
            lines.append(f"  {ch.action} {ch.target}")
            lines += ["    " + ln for ln in ch.text.splitlines()]
        return "\n".join(lines)


@dataclass
class FixOutcome:
    ok: bool
    message: str
    applied: list[str] = field(default_factory=list)


PlanFn = Callable[[ClusterState, Finding, "Answers | None"], list[Change]]


# --------------------------------------------------------------------------- plans


def _obj_change(live: dict[str, Any] | None, new: dict[str, Any]) -> Change:
    meta = new["metadata"]
    target = f"{new['kind']} {meta.get('namespace') + '/' if meta.get('namespace') else ''}{meta['name']}"
    if live is None:
        text = "create:\n" + objdiff.render(objdiff.summary(new), indent="  ")
    else:
        chs = objdiff.changes(live, new)
        text = objdiff.render(chs, indent="  ") if chs else "  (no change)"
    return Change("apply", target, text, obj=new)


def plan_rbac_role(st: ClusterState, f: Finding, answers: Answers | None) -> list[Change]:
    jns, ns, sa = st.jobs_namespace, st.namespace, st.manager_sa
    role_name = f.fix_args.get("role") or f"{st.release}-manager"
    live = next((r for r in st.roles if r.get("metadata", {}).get("name") == role_name), None)
    table = role_rules()
    extra = [r for r in (live or {}).get("rules") or [] if r not in table]
    role = {"apiVersion": RBAC_API, "kind": "Role",
            "metadata": {"name": role_name, "namespace": jns,
                         "labels": {"app.kubernetes.io/managed-by": "runner-wizard"}},
            "rules": table + extra}
    live_view = None
    if live is not None:
        live_view = {"apiVersion": RBAC_API, "kind": "Role",
                     "metadata": {"name": role_name, "namespace": jns,
                                  "labels": dict(live.get("metadata", {}).get("labels") or {})},
                     "rules": live.get("rules") or []}
        role["metadata"]["labels"] = {**live_view["metadata"]["labels"], **role["metadata"]["labels"]}
    ch = _obj_change(live_view, role)
    if live_view is not None:
        old = live_view["rules"]
        lines = [f"+ rules: {_rule_text(r)}" for r in table if r not in old]
        if extra:
            lines.append(f"  (kept: {len(extra)} existing rule(s) that are not in the runner's table)")
        lines.append("  rules afterwards (server-side apply, full table):")
        lines += [f"    - {_rule_text(r)}" for r in role["rules"]]
        ch.text = "\n".join(lines)
    out = [ch]
    bound = f.fix_args.get("role") is not None
    if not bound:
        rb = {"apiVersion": RBAC_API, "kind": "RoleBinding",
              "metadata": {"name": role_name, "namespace": jns,
                           "labels": {"app.kubernetes.io/managed-by": "runner-wizard"}},
              "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
              "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}]}
        out.append(_obj_change(None, rb))
    return out


def plan_sa_create(st: ClusterState, f: Finding, answers: Answers | None) -> list[Change]:
    obj = {"apiVersion": "v1", "kind": "ServiceAccount",
           "metadata": {"name": f.fix_args["name"], "namespace": f.fix_args["namespace"],
                        "labels": {"app.kubernetes.io/managed-by": "runner-wizard"}}}
    return [_obj_change(None, obj)]


def plan_secret_copy(st: ClusterState, f: Finding, answers: Answers | None, *, kube: Kube | None = None
                     ) -> list[Change]:
    name, src, dst = f.fix_args["name"], f.fix_args["from"], f.fix_args["to"]
    info = st.secret(src, name)
    keys = sorted(info.keys) if info else []
    text = (f"create: copy of Secret {src}/{name} (type {info.type if info else '?'}), keys: "
            f"{', '.join(keys) or '(none)'} (values copied, not shown)")
    return [Change("copy-secret", f"Secret {dst}/{name}", text, path=f"{src}/{name}",
                   body={"name": name, "from": src, "to": dst})]


def plan_secret_strip(st: ClusterState, f: Finding, answers: Answers | None) -> list[Change]:
    ns, name, keys = f.fix_args["namespace"], f.fix_args["name"], list(f.fix_args["keys"])
    text = "\n".join(f"~ data.{k}: remove leading/trailing whitespace (value not shown)" for k in keys)
    return [Change("strip-secret", f"Secret {ns}/{name}", text,
                   path=f"{collection_path('Secret', ns)}/{quote(name)}", body={"keys": keys})]


def plan_secret_add_key(st: ClusterState, f: Finding, answers: Answers | None) -> list[Change]:
    ns, name, key = f.fix_args["namespace"], f.fix_args["name"], f.fix_args["key"]
    return [Change("merge-patch", f"Secret {ns}/{name}", f"+ data.{key}: \"\" (empty)",
                   path=f"{collection_path('Secret', ns)}/{quote(name)}", body={"data": {key: ""}})]


def _values_change(st: ClusterState, new_values: dict[str, Any]) -> Change:
    chs = objdiff.changes({"values": st.values}, {"values": new_values})
    text = objdiff.render(chs, indent="  ") if chs else "  (no change)"
    chart = (st.release_ref.chart if st.release_ref else None) or "gitlab-runner"
    return Change("helm-upgrade", f"Helm release {st.namespace}/{st.release} ({chart})",
                  "values:\n" + text, values=new_values)


def _release_chart_version(st: ClusterState) -> str | None:
    ref = st.release_ref.chart if st.release_ref else None
    return ref[len("gitlab-runner-"):] if ref and ref.startswith("gitlab-runner-") else None


def plan_values_rbac(st: ClusterState, f: Finding, answers: Answers | None) -> list[Change]:
    from wizard import chart
    from wizard.diagnose.model import deep_merge

    v = copy.deepcopy(st.values)
    v.setdefault("rbac", {})["create"] = True
    v.setdefault("serviceAccount", {})["create"] = True
    # Since chart 0.84.0 the Role follows runners.jobNamespace; before, it stays next to the Deployment.
    version = _release_chart_version(st) or chart.DEFAULT_VERSION
    jns = st.jobs_namespace
    if jns and chart.facts(version).role_in_jobs_namespace and \
            chart.role_namespace(version, deep_merge(st.chart_defaults, v), st.namespace) != jns:
        v.setdefault("runners", {})["jobNamespace"] = jns
    return [_values_change(st, v)]


def plan_values_host_aliases(st: ClusterState, f: Finding, answers: Answers | None) -> list[Change]:
    from wizard.diagnose import infer

    v = copy.deepcopy(st.values)
    runners = v.setdefault("runners", {})
    cfg = str(runners.get("config") or (st.merged_values.get("runners") or {}).get("config") or "")
    have = {h for a in st.kubernetes_config.get("host_aliases") or [] if isinstance(a, dict)
            for h in a.get("hostnames") or []}
    blocks = []
    for a in st.merged_values.get("hostAliases") or []:
        names = [h for h in a.get("hostnames") or [] if h not in have]
        if names and a.get("ip"):
            blocks.append("\n  [[runners.kubernetes.host_aliases]]\n"
                          f"    ip = {json.dumps(str(a['ip']))}\n"
                          f"    hostnames = [{', '.join(json.dumps(str(h)) for h in names)}]\n")
    if not blocks:
        return []
    new_cfg = cfg.rstrip("\n") + "\n" + "".join(blocks)
    if not infer.config_is_valid_toml(infer.render_config_template(new_cfg, st.namespace, st.release, v)):
        return []
    runners["config"] = new_cfg
    return [_values_change(st, v)]


def plan_token_reregister(st: ClusterState, f: Finding, answers: Answers | None) -> list[Change]:
    if answers is None or answers.gitlab.create_runner is None:
        return []
    from wizard import names

    return [Change("reregister", f"runner token in Secret {st.namespace}/{names.token_secret(answers)}",
                   "delete the stale runner in GitLab (when its id is known), create a new runner with "
                   "gitlab.create_runner, store its token in the Secret (value not shown) and restart the "
                   "manager pods")]


FIXES: dict[str, tuple[str, PlanFn]] = {
    "rbac.role": ("add the missing permissions to the manager Role", plan_rbac_role),
    "sa.create": ("create the missing ServiceAccount", plan_sa_create),
    "secret.copy": ("copy the CA Secret into the jobs namespace", plan_secret_copy),
    "secret.strip": ("strip whitespace from the runner token", plan_secret_strip),
    "secret.add-key": ("add the missing token key", plan_secret_add_key),
    "values.rbac": ("enable rbac.create and serviceAccount.create, upgrade the release", plan_values_rbac),
    "values.host-aliases": ("add host aliases for job pods to runners.config, upgrade the release",
                            plan_values_host_aliases),
    "token.reregister": ("re-register the runner with a new token", plan_token_reregister),
}


def plan(st: ClusterState, f: Finding, answers: Answers | None = None) -> FixPlan | None:
    if not f.fixable or f.fix_id not in FIXES:
        return None
    title, fn = FIXES[f.fix_id]
    changes = fn(st, f, answers)
    if not changes:
        return None
    return FixPlan(f.id, f.catalog, f.fix_id, title, changes)


def plan_all(d: Diagnosis, answers: Answers | None = None) -> list[FixPlan]:
    if d.state is None:
        return []
    out: list[FixPlan] = []
    seen: set[str] = set()
    for f in d.fixable:
        p = plan(d.state, f, answers)
        if p is None:
            continue
        key = p.render().split("\n", 1)[1]
        if key in seen:  # the same change for two findings (e.g. one Role for E11 and E17)
            continue
        seen.add(key)
        out.append(p)
    return out


# --------------------------------------------------------------------------- apply


def apply_plan(kube: Kube, st: ClusterState, p: FixPlan, *, answers: Answers | None = None,
               kubeconfig: str | None = None, context: str | None = None, settings: Any = None) -> FixOutcome:
    """Apply every change of a plan, stopping at the first failure. ``settings``
    (:class:`wizard.settings.Settings`; default: the documented variables): the chart and helm's time limit."""
    done: list[str] = []
    try:
        for ch in p.changes:
            _apply_change(kube, st, ch, answers=answers, kubeconfig=kubeconfig, context=context, settings=settings)
            done.append(ch.target)
    except (KubeError, FixError) as exc:
        where = f" after changing {', '.join(done)}" if done else ""
        return FixOutcome(False, f"fix {p.fix_id} failed{where}: {exc}", done)
    return FixOutcome(True, f"applied: {p.title} ({', '.join(done)})", done)


class FixError(Exception):
    pass


def _apply_change(kube: Kube, st: ClusterState, ch: Change, *, answers: Answers | None,
                  kubeconfig: str | None, context: str | None, settings: Any = None) -> None:
    if ch.action == "apply":
        assert ch.obj is not None
        kube.apply(ch.obj, force=True)
    elif ch.action == "merge-patch":
        kube.request("PATCH", ch.path or "", body=ch.body, content_type="application/merge-patch+json")
    elif ch.action == "copy-secret":
        b = ch.body
        src = kube.get(f"{collection_path('Secret', b['from'])}/{quote(b['name'])}")
        obj = {"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": b["name"], "namespace": b["to"],
                            "labels": {"app.kubernetes.io/managed-by": "runner-wizard"},
                            "annotations": {"runner-wizard/copied-from": f"{b['from']}/{b['name']}"}},
               "type": src.get("type") or "Opaque", "data": dict(src.get("data") or {})}
        kube.apply(obj, force=True)
    elif ch.action == "strip-secret":
        cur = kube.get(ch.path or "")
        data = dict(cur.get("data") or {})
        patch = {}
        for k in ch.body["keys"]:
            if k in data:
                raw = base64.b64decode(data[k])
                patch[k] = base64.b64encode(raw.strip()).decode()
                del raw
        kube.request("PATCH", ch.path or "", body={"data": patch}, content_type="application/merge-patch+json")
    elif ch.action == "helm-upgrade":
        _helm_upgrade(st, ch.values or {}, kubeconfig=kubeconfig, context=context, settings=settings)
    elif ch.action == "reregister":
        _reregister(kube, answers)
    else:  # pragma: no cover - table and actions are defined together
        raise FixError(f"unknown change {ch.action}")


def _helm_upgrade(st: ClusterState, values: dict[str, Any], *, kubeconfig: str | None, context: str | None,
                  settings: Any = None) -> None:
    import yaml

    from wizard import chart, helm
    from wizard.settings import from_env

    settings = settings if settings is not None else from_env()

    binary = helm.find_helm()
    version = _release_chart_version(st) or chart.DEFAULT_VERSION
    with tempfile.TemporaryDirectory(prefix="runner-wizard-fix-") as tmp:
        vf = Path(tmp) / "values.yaml"
        vf.write_text(yaml.safe_dump(values, sort_keys=False))
        vf.chmod(0o600)
        t = helm.HelmTarget(release=st.release, namespace=st.namespace,
                            chart=helm.chart_reference(version, settings.chart), timeout=settings.helm_timeout,
                            chart_version=version, values_file=vf, kubeconfig=kubeconfig,
                            context=context, binary=binary)
        if t.chart == helm.DEFAULT_CHART and (binary is None or not helm._has_repo(binary, helm.GITLAB_REPO_NAME)):
            t.chart, t.repo_url = "gitlab-runner", helm.GITLAB_REPO_URL
        if binary is None:
            raise FixError("helm is not on PATH; install helm, or apply the values change above with "
                           f"helm upgrade {st.release} -n {st.namespace} --reuse-values ...")
        try:
            helm.upgrade(t)
        except helm.HelmError as exc:
            raise FixError(f"{exc.message}{'; ' + exc.next_step if exc.next_step else ''}") from exc


def _reregister(kube: Kube, answers: Answers | None) -> None:
    if answers is None:
        raise FixError("re-registration needs an answers file with gitlab.create_runner")
    from wizard import names, tokens
    from wizard.gitlab_api import GitLabAPI

    ca = None
    if answers.gitlab.ca and answers.gitlab.ca.file:
        ca = answers.resolve_path(answers.gitlab.ca.file).read_text()
    api = GitLabAPI(answers.gitlab.url, ca_pem=ca)
    out = tokens.ensure_runner_token(answers, kube, api, ask=lambda _q, _d: True)
    if out.action in ("reregister", "create") and out.token:
        path = f"{collection_path('Secret', answers.cluster.runner_namespace)}/{quote(names.token_secret(answers))}"
        body = {"metadata": {"annotations": out.annotations()},
                "data": {tokens.TOKEN_KEY: base64.b64encode(out.token.encode()).decode(),
                         tokens.REGISTRATION_KEY: ""}}
        kube.request("PATCH", path, body=body, content_type="application/merge-patch+json")
        tokens.restart_manager(answers, kube)
    elif out.action == "declined":
        raise FixError("re-registration was declined")


def _rule_text(rule: dict[str, Any]) -> str:
    groups = ",".join(g or '""' for g in rule.get("apiGroups") or [""])
    return (f"{', '.join(rule.get('resources') or ['*'])} [{', '.join(rule.get('verbs') or ['*'])}]"
            + (f" (apiGroups {groups})" if groups != '""' else ""))
