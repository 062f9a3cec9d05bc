"""``runner-wizard adopt``: take over an install made by hand (or by the chart alone).

1. **Read** the release the way the diagnosis does (:class:`wizard.diagnose.collect.Collector`:
   the Helm release record's values, the Deployment, the config template, Secrets' key names,
   Roles).
2. **Infer** an answers file from it: GitLab URL, namespaces, ServiceAccounts, runner options
   from ``runners.config``, host aliases from the manager and the job pods, the CA from the
   ``certsSecretName`` Secret (written next to the answers as ``gitlab-ca.pem``: a public
   certificate, whatever key it was stored under), the chart version of the release.
   Secrets stay references: an authentication token becomes ``gitlab.token: env:RUNNER_TOKEN``
   (adopt prints the command that exports it from the cluster); a registration token becomes
   ``gitlab.create_runner`` (``env:GITLAB_API_TOKEN``), keeping the tags, run-untagged and the
   description, so apply creates a runner with an authentication token.
3. **Show side by side** what changes to reach runner-wizard's shape (one row per topic),
   then apply's own dry run of exactly those answers.
4. With consent (``--yes`` or a terminal), **write** the answers (``--save``, mode 0644: no
   secret in it) and **apply** them. Objects Helm made that the new answers keep (the
   chart-made manager ServiceAccount) get ``helm.sh/resource-policy: keep`` first, so the
   upgrade with ``serviceAccount.create: false`` hands them over instead of deleting them;
   server-side apply adds runner-wizard's fields next to Helm's. A conflict stops apply and is
   shown; adopt never passes ``--force-conflicts``.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from wizard.errors import WizardError
from wizard.safeio import write_atomic

if TYPE_CHECKING:
    from wizard.diagnose.model import ClusterState
    from wizard.kube import Kube



@dataclass
class Row:
    topic: str
    now: str
    then: str

    @property
    def changes(self) -> bool:
        return self.now != self.then


@dataclass
class Inference:
    answers: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ca_pem: str | None = None
    token_secret: tuple[str, str] | None = None
    """(namespace, name) of the Secret holding the current authentication token, if any."""
    helm_objects_to_keep: list[str] = field(default_factory=list)
    """API paths of Helm-made objects the answers keep (annotated ``resource-policy: keep`` before apply)."""


def _b64d(v: str | None) -> str:
    try:
        return base64.b64decode(v or "").decode("utf-8").strip()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return ""


def _wildcard(rules: list[dict[str, Any]]) -> bool:
    return any("*" in (r.get("resources") or ["*"]) or "*" in (r.get("verbs") or ["*"])
               or "*" in (r.get("apiGroups") or []) for r in rules or [])


def _role_summary(roles: list[dict[str, Any]], namespace: str) -> str:
    out = []
    for r in roles:
        rules = r.get("rules") or []
        kind = "wildcard rules" if _wildcard(rules) else f"{len(rules)} rule(s)"
        out.append(f"Role {r['metadata'].get('namespace')}/{r['metadata']['name']} ({kind})")
    return ", ".join(out) or f"no Role in {namespace}"


def chart_value_keys(release_doc: dict[str, Any] | None) -> set[str]:
    """Top-level value names the release's chart templates read (``.Values.<name>``), from the
    templates stored in the Helm release record; empty when unknown."""
    out: set[str] = set()
    for tpl in ((release_doc or {}).get("chart") or {}).get("templates") or []:
        text = _b64d(tpl.get("data")) if isinstance(tpl, dict) else ""
        out.update(re.findall(r"\.Values\.([A-Za-z_][A-Za-z0-9_]*)", text))
    return out


def infer(kube: Kube, st: ClusterState, *, group_id: int | None = None, project_id: int | None = None,
          chart_reads: set[str] | frozenset[str] = frozenset()) -> Inference:
    """An answers document for the install in ``st`` and the side-by-side rows. ``chart_reads``: the
    top-level values the chart's templates read (:func:`chart_value_keys`)."""
    mv = st.merged_values
    uv = st.values
    runners_v = mv.get("runners") or {}
    cfg = st.config
    k = st.kubernetes_config
    url = str(mv.get("gitlabUrl") or cfg.get("url") or "")
    if not url:
        raise WizardError(f"cannot adopt {st.namespace}/{st.release}: no gitlabUrl in its values or config")
    host = urlsplit(url).hostname or ""
    release = st.release
    inf = Inference({"version": 1})
    rows = inf.rows

    # ---- GitLab: URL, CA, token
    gitlab: dict[str, Any] = {"url": url}
    certs = mv.get("certsSecretName")
    if certs:
        sec = kube.get_or_none(f"/api/v1/namespaces/{quote(st.namespace)}/secrets/{quote(str(certs))}") or {}
        pems = {key: _b64d(v) for key, v in (sec.get("data") or {}).items()}
        pem_keys = [key for key, v in pems.items() if "BEGIN CERTIFICATE" in v]
        if pem_keys:
            inf.ca_pem = "\n".join(pems[key] for key in pem_keys).strip() + "\n"
            gitlab["ca"] = {"file": "gitlab-ca.pem"}
            want = f"{host}.crt"
            now = f"Secret {certs} (key{'s' if len(pem_keys) > 1 else ''} {', '.join(pem_keys)})"
            if want not in pem_keys:
                now += f"; the runner looks for {want}: not trusted"
            jobs_has = (st.jobs_namespace, str(certs)) in st.secrets and st.secrets[(st.jobs_namespace, str(certs))]
            if st.jobs_namespace != st.namespace and not jobs_has:
                now += f"; missing in {st.jobs_namespace}"
            rows.append(Row("GitLab CA", now, f"Secret {release}-gitlab-ca (key {want}) in {st.namespace} and "
                                              f"{st.jobs_namespace}, from gitlab-ca.pem"))
        else:
            rows.append(Row("GitLab CA", f"Secret {certs} holds no PEM certificate", "no CA (system trust)"))
    tok_name = st.token_secret_name()
    token = reg = ""
    if uv.get("runnerToken"):
        token = str(uv["runnerToken"])
    if uv.get("runnerRegistrationToken"):
        reg = str(uv["runnerRegistrationToken"])
    if tok_name and not (token or reg):
        obj = kube.get_or_none(f"/api/v1/namespaces/{quote(st.namespace)}/secrets/{quote(tok_name)}") or {}
        token = _b64d((obj.get("data") or {}).get("runner-token"))
        reg = _b64d((obj.get("data") or {}).get("runner-registration-token"))
        if token:
            inf.token_secret = (st.namespace, tok_name)
    where = "values runnerToken (plain text in the Helm release)" if uv.get("runnerToken") else \
        "values runnerRegistrationToken (plain text in the Helm release)" if uv.get("runnerRegistrationToken") else \
        f"Secret {tok_name}" if tok_name else "nowhere"
    if token and not token.startswith(("GR1348941",)) and not reg:
        gitlab["token"] = "env:RUNNER_TOKEN"
        rows.append(Row("runner token", f"authentication token in {where}",
                        f"the same token in Secret {release}-token, from env:RUNNER_TOKEN"))
        if inf.token_secret is None and tok_name:
            inf.token_secret = (st.namespace, tok_name)
        if uv.get("runnerToken"):
            inf.notes.append("export RUNNER_TOKEN with the token from the release values: "
                             f"helm get values -n {st.namespace} {release} -o json | jq -r .runnerToken")
        else:
            inf.notes.append(f"export RUNNER_TOKEN=$(kubectl -n {st.namespace} get secret {tok_name} "
                             "-o jsonpath='{.data.runner-token}' | base64 -d)")
    else:
        tags = [t.strip() for t in str(runners_v.get("tags") or cfg.get("tags") or "").split(",") if t.strip()]
        run_untagged = runners_v.get("runUntagged")
        run_untagged = (not tags) if run_untagged is None else bool(run_untagged)
        desc = str(runners_v.get("name") or cfg.get("name") or "k8s runner")
        cr: dict[str, Any] = {"api_token": "env:GITLAB_API_TOKEN", "description": desc, "tags": tags,
                              "run_untagged": run_untagged}
        if project_id is not None:
            cr.update(runner_type="project_type", project_id=project_id)
        elif group_id is not None:
            cr.update(runner_type="group_type", group_id=group_id)
        else:
            cr["runner_type"] = "instance_type"
            inf.notes.append("the runner is created as instance_type (needs an admin token); pass --group-id or "
                             "--project-id for a group or project runner")
        gitlab["create_runner"] = cr
        kept = f"tags [{', '.join(tags)}], run_untagged {str(run_untagged).lower()}, description \"{desc}\""
        rows.append(Row("runner token", f"registration token in {where} (deprecated; registers at every start)",
                        f"an authentication token through POST /user/runners, keeping {kept}"))
        if runners_v.get("locked") is not None:
            inf.notes.append(f"locked: {str(bool(runners_v.get('locked'))).lower()} in the values; runner-wizard "
                             "does not set it, change it in GitLab's runner settings if needed")
        inf.notes.append("export GITLAB_API_TOKEN (a token with the create_runner scope) before applying")
    inf.answers["gitlab"] = gitlab

    # ---- cluster: namespaces and ServiceAccounts
    manager_sa = st.manager_sa
    job_sa = str(k.get("service_account") or "")
    cluster: dict[str, Any] = {"runner_namespace": st.namespace, "jobs_namespace": st.jobs_namespace,
                               "create_namespaces": False, "manager_service_account": manager_sa}
    from wizard.diagnose.infer import chart_creates_service_account

    if chart_creates_service_account(mv):
        inf.helm_objects_to_keep.append(f"/api/v1/namespaces/{quote(st.namespace)}/serviceaccounts/{quote(manager_sa)}")
        rows.append(Row("manager SA", f"ServiceAccount {manager_sa} made by the chart",
                        "the same ServiceAccount, kept and managed by runner-wizard (serviceAccount.create: false)"))
    if job_sa:
        cluster["job_service_account"] = job_sa
        exists = st.service_accounts.get((st.jobs_namespace, job_sa))
        rows.append(Row("job SA", f"ServiceAccount {st.jobs_namespace}/{job_sa}" + ("" if exists else " (missing)"),
                        f"ServiceAccount {st.jobs_namespace}/{job_sa}"))
    inf.answers["cluster"] = cluster
    rbac = mv.get("rbac") or {}
    chart_rules = rbac.get("rules") or []
    now_rbac = _role_summary(st.roles, st.jobs_namespace)
    if rbac.get("create"):
        now_rbac = ("chart Role (rbac.create) with " + ("wildcard rules" if not chart_rules or _wildcard(chart_rules)
                                                         else f"{len(chart_rules)} rule(s)") + "; " + now_rbac)
    rows.append(Row("RBAC", now_rbac, f"Role {release}-manager in {st.jobs_namespace}: exactly the executor's "
                                      "permissions, bound to the manager (rbac.create: false)"))

    # ---- runner options
    runner: dict[str, Any] = {"release_name": release}
    chart = (st.release_ref.chart if st.release_ref else None) or ""
    if chart.startswith("gitlab-runner-"):
        runner["chart_version"] = chart.removeprefix("gitlab-runner-")
    for key, src in (("name", runners_v.get("name") or cfg.get("name")), ("replicas", mv.get("replicas")),
                     ("concurrent", mv.get("concurrent")), ("check_interval", mv.get("checkInterval")),
                     ("job_image", k.get("image")), ("poll_timeout", k.get("poll_timeout"))):
        if src not in (None, ""):
            runner[key] = src
    res = {f: k[f] for f in ("cpu_request", "memory_request", "cpu_limit", "memory_limit") if k.get(f)}
    if res:
        runner["resources"] = res
    if cfg.get("environment"):
        runner["environment"] = list(cfg["environment"])
    if k.get("privileged"):
        runner["privileged"] = True
    metrics = (mv.get("metrics") or {}).get("enabled")
    if metrics is not None:
        runner["metrics"] = bool(metrics)
    inf.answers["runner"] = runner

    # ---- host aliases: manager and job pods
    by_ip: dict[str, dict[str, Any]] = {}
    for where_, aliases in (("manager", mv.get("hostAliases") or []), ("jobs", k.get("host_aliases") or [])):
        for al in aliases:
            if not isinstance(al, dict) or not al.get("ip"):
                continue
            entry = by_ip.setdefault(al["ip"], {"ip": al["ip"], "hostnames": [], "on": set()})
            entry["hostnames"] = list(dict.fromkeys(entry["hostnames"] + list(al.get("hostnames") or [])))
            entry["on"].add(where_)
    if by_ip:
        inf.answers["host_aliases"] = [{"ip": e["ip"], "hostnames": e["hostnames"]} for e in by_ip.values()]
        now = "; ".join(f"{e['ip']} {','.join(e['hostnames'])} on {'+'.join(sorted(e['on']))}" for e in by_ip.values())
        then = "; ".join(f"{e['ip']} on manager+jobs" for e in by_ip.values())
        rows.append(Row("host aliases", now, then))

    # ---- keys the chart ignores or the runner does not know
    known = set(st.chart_defaults) | chart_reads
    ignored = sorted(key for key in uv if chart_reads and key not in known)
    if ignored:
        rows.append(Row("ignored keys", f"values {', '.join(ignored)} (the chart ignores them)", "dropped"))
    raw_cfg = str(runners_v.get("config") or "")
    if "tls_server_name" in raw_cfg:
        rows.append(Row("tls_server_name", "set in runners.config (the runner has no such option)",
                        f"dropped; trust comes from the CA Secret key {host}.crt"))
    inf.answers["node_runtime"] = "auto"
    return inf


# --------------------------------------------------------------------------- output


def side_by_side(rows: list[Row], cap: int = 80) -> str:
    """Topic | now | runner-wizard's shape, one row per topic; a "now" longer than ``cap`` puts the
    right-hand column on the next line (never wrapped mid-phrase)."""
    width = min(cap, max([len(r.now) for r in rows] + [len("now (made by hand)")]))
    lines = [f"{'':14} {'now (made by hand)':<{width}} | runner-wizard's shape", "-" * (17 + width + 40)]
    for r in rows:
        then = r.then if r.changes else "(unchanged)"
        if len(r.now) <= width:
            lines.append(f"{r.topic:<14} {r.now:<{width}} | {then}")
        else:
            lines.append(f"{r.topic:<14} {r.now}")
            lines.append(f"{'':14} {'':<{width}} | {then}")
    return "\n".join(lines)


def write_answers(doc: dict[str, Any], path: Path, ca_pem: str | None) -> Path:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    if ca_pem:
        (path.parent / "gitlab-ca.pem").write_text(ca_pem, encoding="utf-8")
    header = ("# Inferred by `runner-wizard adopt` from the install in the cluster. References only: no token or\n"
              "# password is in this file. Review it, then: runner-wizard apply --answers " + path.name + "\n")
    return write_atomic(path, header + yaml.safe_dump(doc, sort_keys=False))


def protect_helm_objects(kube: Kube, paths: list[str]) -> list[str]:
    """Hand Helm-made objects the new answers keep over to runner-wizard, explicitly and only them:
    ``helm.sh/resource-policy: keep`` (helm leaves the object when the chart stops rendering it) and
    Helm's ownership marks removed (``meta.helm.sh/*`` annotations, the ``managed-by: Helm`` label, whose
    field Helm owns and runner-wizard's server-side apply would otherwise conflict on). Every other field
    stays as it is. Returns the paths changed."""
    import json

    patch = {"metadata": {"annotations": {"helm.sh/resource-policy": "keep", "meta.helm.sh/release-name": None,
                                          "meta.helm.sh/release-namespace": None},
                          "labels": {"app.kubernetes.io/managed-by": None}}}
    done = []
    for p in paths:
        obj = kube.get_or_none(p)
        if obj is None:
            continue
        meta = obj.get("metadata") or {}
        if not (meta.get("annotations") or {}).get("meta.helm.sh/release-name"):
            continue
        kube.raw("PATCH", p, body=json.dumps(patch), content_type="application/merge-patch+json",
                 query={"fieldManager": "runner-wizard"})
        done.append(p)
    return done


# --------------------------------------------------------------------------- command


def command(args: Any, opts: Any) -> int:
    """``runner-wizard adopt --namespace NS [--release NAME] [--save FILE] [--dry-run] [--yes]``."""
    from wizard.answers import load
    from wizard.apply import apply
    from wizard.diagnose.collect import Collector
    from wizard.diagnose.engine import resolve_release
    from wizard.kube import Kube, KubeError, require_context
    from wizard.lifecycle.common import bad, go_ahead
    from wizard.console import print_summary, redacted_printer

    require_context(opts.kubeconfig, opts.context, "--context")  # a context not in the kubeconfig: exit 2
    try:
        kube = Kube.connect(opts.kubeconfig, opts.context)
    except KubeError as exc:
        raise WizardError(f"cannot connect to the cluster: {exc.message}") from exc
    try:
        ns, rel, ref, _all = resolve_release(kube, args.namespace, args.release)
        st = Collector(kube, log_source=lambda *_a: None).collect(ns, rel, ref=ref)
        if not st.values and st.deployment is None:
            raise bad("--namespace/--release", f"{ns}/{rel} has neither a Helm release record nor a Deployment")
        from wizard.lifecycle.common import Target, current, revisions

        rev = current(revisions(kube, Target(ns, rel)))
        inf = infer(kube, st, group_id=getattr(args, "group_id", None), project_id=getattr(args, "project_id", None),
                    chart_reads=chart_value_keys(rev.doc if rev else None))
        save = Path(args.save or f"runner-wizard-{ns}-{rel}.yaml")
        print(f"adopt {ns}/{rel} ({st.values_source or 'no Helm release record'}):")
        print(side_by_side(inf.rows))
        for n in inf.notes:
            print(f"note: {n}")
        # validate what would be written, with the CA next to it (a scratch copy in dry runs)
        import tempfile

        with tempfile.TemporaryDirectory(prefix="runner-wizard-adopt-") as scratch:
            probe = write_answers(inf.answers, Path(scratch) / save.name, inf.ca_pem)
            load(probe)
        ask, rc = go_ahead(args, f"write {save} and apply it?", nothing="nothing was written or applied",
                           dry_run_note=f" (the answers would go to {save})")
        if ask is None:
            return rc
        write_answers(inf.answers, save, inf.ca_pem)
        print(f"answers written: {save}")
        answers = load(save)
        missing = [f"{path} ({ref_})" for path, ref_ in answers.secret_refs().items() if not ref_.available()]
        if missing:
            print("not applied: set " + ", ".join(missing) + " first (see the notes above), then run: "
                  f"runner-wizard apply --answers {save}")
            return 1
        kept = protect_helm_objects(kube, inf.helm_objects_to_keep)
        for p in kept:
            print(f"  took over {p.rsplit('/', 1)[-1]} from Helm: helm.sh/resource-policy=keep, Helm's ownership "
                  "annotations and managed-by label removed (helm leaves it; runner-wizard manages it now)")

        report = apply(answers, kube=kube, assume_yes=bool(args.yes), out_dir=args.out,
                       reporter=redacted_printer(), kubeconfig=opts.kubeconfig, confirm=ask,
                       settings=getattr(opts, "settings", None))
        print_summary(report)
        return report.exit_code
    finally:
        kube.close()
