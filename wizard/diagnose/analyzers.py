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
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from wizard.diagnose import infer
from wizard.diagnose import logs as logmod
from wizard.diagnose.model import ClusterState, Finding
from wizard.logsafe import redact as _redact_base
from wizard.rbac import MANAGER_PERMISSIONS, OPTIONAL_VERBS, required_checks
from wizard.results import Result, Status

if TYPE_CHECKING:
    from wizard.kube import Kube

redact = _redact_base
_slug = logmod.slug  # one id-suffix rule for log findings and object findings


# --------------------------------------------------------------------------- findings


@dataclass
class LogHit:
    """A log-analyzer finding plus where its lines came from."""

    finding: logmod.Finding
    origin: str
    """``pod/<name>/<container>``, ``events <ns>``, a file name or ``pasted log``."""

    @property
    def catalog(self) -> str:
        return self.finding.catalog

    @property
    def groups(self) -> dict[str, str]:
        return self.finding.groups

    @property
    def rule_id(self) -> str:
        return self.finding.rule.id

    def evidence(self) -> list[str]:
        return [f"{self.origin}: {line}" for line in self.finding.evidence]


@dataclass
class Context:
    state: ClusterState | None
    hits: list[LogHit]
    kube: Kube | None = None
    checks: dict[str, Result] = field(default_factory=dict)
    """Results of live checks (``wizard.checks``) run to confirm log findings, by id."""
    consumed: set[int] = field(default_factory=set)
    _sar_cache: dict[tuple[str, str, str, str, str], bool | None] = field(default_factory=dict)

    def hits_for(self, *catalogs: str, unclaimed: bool = True) -> list[LogHit]:
        return [h for h in self.hits if h.catalog in catalogs and (not unclaimed or id(h) not in self.consumed)]

    def claim(self, hit: LogHit) -> None:
        self.consumed.add(id(hit))

    def absorb(self, finding: Finding, *catalogs: str, match: Callable[[LogHit], bool] | None = None,
               origin: str | None = None) -> None:
        """Claim the unclaimed log hits of ``catalogs`` that ``match``, as evidence for ``finding``.
        ``origin`` (e.g. "cluster+logs") marks a finding the logs corroborate."""
        for hit in self.hits_for(*catalogs):
            if match is None or match(hit):
                self.claim(hit)
                finding.add_evidence(*hit.evidence())
                if origin:
                    finding.origin = origin

    def can(self, sa_ns: str, sa: str, namespace: str, resource: str, verb: str) -> bool | None:
        """Is ``system:serviceaccount:<sa_ns>:<sa>`` allowed ``verb resource`` in ``namespace`` now?"""
        st = self.state
        if st and sa_ns == st.namespace and sa == st.manager_sa and (namespace, resource, verb) in st.access:
            return st.access[(namespace, resource, verb)]
        key = (sa_ns, sa, namespace, resource, verb)
        if key in self._sar_cache:
            return self._sar_cache[key]
        ans: bool | None = None
        if self.kube is not None:
            from wizard.kube import KubeError, service_account_user

            user, groups = service_account_user(sa_ns, sa)
            base, _, sub = resource.partition("/")
            try:
                ans, _ = self.kube.access_review(verb=verb, resource=base, subresource=sub, namespace=namespace,
                                                 user=user, groups=groups)
            except KubeError:
                ans = None
        self._sar_cache[key] = ans
        return ans

    def check_verdict(self, prefixes: tuple[str, ...]) -> tuple[str, str] | None:
        """(``fail``|``pass``, note) from live check results whose id starts with a prefix."""
        rel = [r for r in self.checks.values()
               if any(r.id == p or r.id.startswith(p + ".") for p in prefixes) and r.status is not Status.SKIP]
        if not rel:
            return None
        # what apply would create or repair (Result.apply) is missing or wrong right now: still a problem here
        bad = [r for r in rel if r.status is Status.FAIL or r.apply]
        if bad:
            return "fail", f"live check {bad[0].id}: {bad[0].detail or bad[0].title}"
        return "pass", f"live check {rel[0].id} passes now"


Verdict = tuple[str, str]
"""(``fail`` | ``pass`` | ``unknown``, note)."""
Confirm = Callable[[Context, LogHit], Verdict]


def from_hit(hit: LogHit, verdict: Verdict, *, suffix: str | None = None, fix_id: str | None = None,
             fix_args: dict[str, Any] | None = None) -> Finding:
    """A finding for one log hit, with its live verdict applied."""
    lf = hit.finding
    kind, note = verdict
    rest = lf.result_id[len("log."):]
    rest = rest[len(lf.catalog):].lstrip(".")
    sfx = suffix or ("log." + rest if rest else "log")
    if kind == "pass":
        status = Status.PASS
        detail = f"seen in logs, no longer the case: {note}" if note else "seen in logs, no longer the case"
        fix_id = None
    elif kind == "fail":
        status = lf.status
        detail = f"seen in logs and confirmed live: {note}" if note else "seen in logs and confirmed live"
    else:
        status = lf.status
        detail = f"seen in logs; not confirmed live ({note})" if note else "seen in logs; not confirmed live"
    f = Finding(lf.catalog, sfx, status, lf.title, lf.fix, [], f"{detail}. {lf.detail}", fix_id,
                dict(fix_args or {}), "logs")
    f.add_evidence(*hit.evidence())
    return f


def route(ctx: Context, catalog: str, confirm: Confirm | None = None, **kw: Any) -> list[Finding]:
    """Every unclaimed hit for ``catalog``, confirmed by ``confirm`` (or by live checks)."""
    out: list[Finding] = []
    merged: dict[str, Finding] = {}
    for hit in ctx.hits_for(catalog):
        ctx.claim(hit)
        verdict: Verdict = ("unknown", "no cluster access" if ctx.state is None else "")
        if ctx.state is not None:
            if confirm is not None:
                verdict = confirm(ctx, hit)
            if verdict[0] == "unknown":
                cv = ctx.check_verdict(hit.finding.confirm)
                if cv:
                    verdict = cv
        f = from_hit(hit, verdict, **kw)
        if f.id in merged:
            merged[f.id].add_evidence(*f.evidence)
            continue
        merged[f.id] = f
        out.append(f)
    return out


# --------------------------------------------------------------------------- helpers on state


def _dep_spec(st: ClusterState) -> dict[str, Any]:
    return ((st.deployment or {}).get("spec", {}).get("template", {}).get("spec", {})) or {}


def _gitlab_host(st: ClusterState) -> str:
    return urlsplit(str(st.merged_values.get("gitlabUrl") or "")).hostname or ""


def _chart_role_hint(st: ClusterState) -> str:
    """Where the chart's own ``rbac.create`` Role would go, for this release's chart version."""
    from wizard import chart

    ref = (st.release_ref.chart if st.release_ref else None) or ""
    version = ref[len("gitlab-runner-"):] if ref.startswith("gitlab-runner-") else chart.DEFAULT_VERSION
    if chart.facts(version).role_in_jobs_namespace:
        return f" (with rbac.create: true, set runners.jobNamespace: {st.jobs_namespace})"
    return (f" (chart {version} puts its rbac.create Role next to the Deployment, not in {st.jobs_namespace}; "
            "from chart 0.84.0 it follows runners.jobNamespace)")


def _release_is_helm(st: ClusterState) -> bool:
    return bool(st.values_source.startswith("helm"))


def _dep_ref(st: ClusterState) -> str:
    return f"Deployment {st.namespace}/{st.fullname}"


def _ca_secret_names(st: ClusterState) -> set[str]:
    """Secret volumes of job pods that carry a CA (name or mount path says cert/ca, or the certs secret)."""
    out = set()
    certs = st.merged_values.get("certsSecretName")
    for vol in ((st.kubernetes_config.get("volumes") or {}).get("secret") or []):
        if not isinstance(vol, dict) or not vol.get("name"):
            continue
        name, mount = str(vol["name"]), str(vol.get("mount_path") or "")
        if name == certs or re.search(r"(?i)(cert|\bca\b|-ca$|^ca-|tls)", name + " " + mount):
            out.add(name)
    return out


# --------------------------------------------------------------------------- E01, E11, E17: RBAC


def _missing_access(st: ClusterState) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(required denied, optional denied) (resource, verb) pairs in the jobs namespace."""
    req, opt = [], []
    for perm, verb in required_checks():
        allowed = st.access.get((st.jobs_namespace, perm.resource, verb))
        if allowed is False:
            (opt if (perm.resource, verb) in OPTIONAL_VERBS else req).append((perm.resource, verb))
    return req, opt


def _fmt_missing(pairs: list[tuple[str, str]]) -> str:
    by: dict[str, list[str]] = {}
    for res, verb in pairs:
        by.setdefault(res, []).append(verb)
    return "; ".join(f"{res} ({', '.join(v)})" for res, v in by.items())


def _sar_confirm(ctx: Context, hit: LogHit) -> Verdict:
    g = hit.groups
    ns, sa, jobns, res, verb = g.get("ns"), g.get("sa"), g.get("jobns"), g.get("r"), g.get("verb")
    if not (ns and sa and res and verb):
        if hit.rule_id == "E11.informers" and ctx.state:
            st = ctx.state
            ok = ctx.can(st.namespace, st.manager_sa, st.jobs_namespace, "pods", g.get("verb") or "list")
            if ok is None:
                return "unknown", "SubjectAccessReview failed"
            return (("pass", f"{st.manager_sa} may now {g.get('verb')} pods") if ok
                    else ("fail", f"{st.manager_sa} still cannot {g.get('verb')} pods"))
        return "unknown", ""
    jobns = jobns or ns
    ok = ctx.can(ns, sa, jobns, res, verb)
    if ok is None:
        return "unknown", "SubjectAccessReview failed"
    if ok:
        return "pass", f"SubjectAccessReview allows system:serviceaccount:{ns}:{sa} to {verb} {res} in {jobns}"
    return "fail", f"SubjectAccessReview denies system:serviceaccount:{ns}:{sa} {verb} {res} in {jobns}"


def _absorb_rbac(ctx: Context, f: Finding, catalogs: tuple[str, ...], denied: set[tuple[str, str]]) -> None:
    st = ctx.state
    assert st is not None
    for hit in ctx.hits_for(*catalogs):
        g = hit.groups
        if (g.get("ns") == st.namespace and g.get("sa") == st.manager_sa
                and (g.get("jobns") or st.namespace) == st.jobs_namespace
                and (g.get("r"), g.get("verb")) in denied):
            ctx.claim(hit)
            f.add_evidence(*hit.evidence())
            f.origin = "cluster+logs"


def analyze_e01(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None and st.deployment is not None and st.manager_sa == "default":
        req, _opt = _missing_access(st)
        if req:
            spec_sa = _dep_spec(st).get("serviceAccountName")
            f = Finding(
                "E01", "default-sa", Status.FAIL,
                "The runner manager runs as the namespace's default ServiceAccount, which has no rights to "
                "create job Secrets and Pods",
                "Set rbac.create: true and serviceAccount.create: true in the chart values (the chart then "
                "creates a ServiceAccount, Role and RoleBinding) and upgrade the release.",
                [f"{_dep_ref(st)}: serviceAccountName {spec_sa or '(empty)'}",
                 f"SubjectAccessReview system:serviceaccount:{st.namespace}:default in {st.jobs_namespace}: "
                 f"denied {_fmt_missing(req)}"],
                detail=f"{len(req)} required permissions denied in {st.jobs_namespace}",
                fix_id="values.rbac" if _release_is_helm(st) else None,
            )
            _absorb_rbac(ctx, f, ("E01", "E11", "E17"), set(req))
            ctx.absorb(f, "E01", match=lambda hit: hit.groups.get("ns") == st.namespace)
            out.append(f)
    return out + route(ctx, "E01", _sar_confirm)


def analyze_rbac(ctx: Context) -> list[Finding]:
    """E11 (verbs or sub-resources missing) and E17 (no rights at all in the jobs namespace)."""
    out: list[Finding] = []
    st = ctx.state
    if st is not None and st.manager_sa != "default" and st.access:
        req, opt = _missing_access(st)
        n_required = sum(1 for p, v in required_checks() if (p.resource, v) not in OPTIONAL_VERBS)
        role = _bound_role(st)
        args = {"role": role}
        if req and len(req) == n_required:
            f = Finding(
                "E17", "rbac-namespace", Status.FAIL,
                f"The manager's ServiceAccount {st.namespace}/{st.manager_sa} has no RBAC rights in the jobs "
                f"namespace {st.jobs_namespace}",
                f"Create a Role with the runner's permission table in {st.jobs_namespace} and bind it to "
                f"system:serviceaccount:{st.namespace}:{st.manager_sa}{_chart_role_hint(st)}.",
                [f"SubjectAccessReview system:serviceaccount:{st.namespace}:{st.manager_sa} in "
                 f"{st.jobs_namespace}: denied {_fmt_missing(req)}"],
                detail=f"all {n_required} required permissions denied", fix_id="rbac.role", fix_args=args)
            _absorb_rbac(ctx, f, ("E11", "E17"), set(req) | set(opt))
            out.append(f)
        elif req or opt:
            f = Finding(
                "E11", "rbac", Status.FAIL if req else Status.WARN,
                f"The Role of {st.namespace}/{st.manager_sa} in {st.jobs_namespace} lacks "
                f"{_fmt_missing(req or opt)}",
                f"Add {_fmt_missing(req or opt)} to Role {role or f'{st.release}-manager'} in "
                f"{st.jobs_namespace} (server-side apply of the runner's full permission table: "
                + "; ".join(f"{p.resource} {','.join(p.verbs)}" for p in MANAGER_PERMISSIONS) + ").",
                [f"SubjectAccessReview system:serviceaccount:{st.namespace}:{st.manager_sa} in "
                 f"{st.jobs_namespace}: denied {_fmt_missing(req + opt)}"],
                detail=("required: " + _fmt_missing(req) if req else "") +
                       (("; optional: " if req else "optional: ") + _fmt_missing(opt) if opt else ""),
                fix_id="rbac.role", fix_args=args)
            if role:
                f.add_evidence(f"Role {st.jobs_namespace}/{role} is bound to {st.manager_sa}")
            _absorb_rbac(ctx, f, ("E11", "E17"), set(req) | set(opt))
            out.append(f)
    return out + route(ctx, "E11", _sar_confirm) + route(ctx, "E17", _sar_confirm_e17)


def _sar_confirm_e17(ctx: Context, hit: LogHit) -> Verdict:
    if hit.rule_id == "E17.overwrite":
        return "unknown", ""
    return _sar_confirm(ctx, hit)


def _bound_role(st: ClusterState) -> str | None:
    for rb in st.rolebindings:
        ref = rb.get("roleRef") or {}
        if ref.get("kind") != "Role":
            continue
        for s in rb.get("subjects") or []:
            if (s.get("kind") == "ServiceAccount" and s.get("name") == st.manager_sa
                    and (s.get("namespace") or rb.get("metadata", {}).get("namespace")) == st.namespace):
                return ref.get("name")
    return None


# --------------------------------------------------------------------------- TLS: E02, E03, E04, E05


def analyze_e02(ctx: Context) -> list[Finding]:
    def confirm(c: Context, hit: LogHit) -> Verdict:
        st = c.state
        assert st is not None
        cv = c.check_verdict(("tls.gitlab",))
        if cv:
            return cv
        if not st.merged_values.get("certsSecretName"):
            return "fail", "values set no certsSecretName, so the runner trusts only the image's system roots"
        return "unknown", f"certsSecretName {st.merged_values.get('certsSecretName')} is set; see E03"

    return route(ctx, "E02", confirm)


def analyze_e03(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is None:
        return route(ctx, "E03")
    host = _gitlab_host(st)
    certs = st.merged_values.get("certsSecretName")
    if certs:
        info = st.secret(st.namespace, str(certs))
        if info is not None and host:
            want = f"{host}.crt"
            if want not in info.keys:
                out.append(Finding(
                    "E03", "certs-key", Status.FAIL,
                    f"Secret {st.namespace}/{certs} (certsSecretName) has no key {want}, the only file name the "
                    f"runner loads for {host}",
                    f"Recreate the Secret with the CA chain under key {want}: kubectl -n {st.namespace} create "
                    f"secret generic {certs} --from-file={want}=ca-chain.pem",
                    [f"Secret {st.namespace}/{certs}: keys {', '.join(sorted(info.keys)) or '(none)'}"]))
            elif info.pem.get(want) is False:
                out.append(Finding(
                    "E03", "certs-pem", Status.FAIL,
                    f"Key {want} of Secret {st.namespace}/{certs} holds no PEM certificate",
                    f"Put the PEM-encoded CA chain (root and intermediates) in key {want}; DER is not supported.",
                    [f"Secret {st.namespace}/{certs} key {want}: no BEGIN CERTIFICATE block"]))
    # The CA Secret that job pods mount must exist in the jobs namespace too.
    for name in sorted(_ca_secret_names(st)):
        if st.secrets.get((st.jobs_namespace, name), "?") is not None:
            continue
        source = st.secret(st.namespace, name)
        f = Finding(
            "E03", f"ca-secret-jobs.{_slug(name)}", Status.FAIL,
            f"Job pods mount CA Secret {name}, but it does not exist in the jobs namespace {st.jobs_namespace}",
            (f"Copy Secret {name} from {st.namespace} to {st.jobs_namespace} (Secrets are not shared across "
             f"namespaces)." if source else
             f"Create Secret {name} with the GitLab CA chain (key {host}.crt) in {st.jobs_namespace}."),
            [f"{st.config_source}: [[runners.kubernetes.volumes.secret]] name = \"{name}\"",
             f"Secret {st.jobs_namespace}/{name}: not found"],
            fix_id="secret.copy" if source else None,
            fix_args={"name": name, "from": st.namespace, "to": st.jobs_namespace})
        ctx.absorb(f, "E15", match=lambda hit: hit.groups.get("secret") == name, origin="cluster+logs")
        out.append(f)
    # FailedMount of a CA Secret that is there now: resolved.
    for hit in ctx.hits_for("E15"):
        name = hit.groups.get("secret")
        if name and name in _ca_secret_names(st) and st.secrets.get((st.jobs_namespace, name)) is not None:
            ctx.claim(hit)
            out.append(from_hit(hit, ("pass", f"Secret {st.jobs_namespace}/{name} exists now"),
                                suffix=f"ca-secret-jobs.{_slug(name)}"))
    return out + route(ctx, "E03")


def analyze_tls_other(ctx: Context) -> list[Finding]:
    return route(ctx, "E04") + route(ctx, "E05")


# --------------------------------------------------------------------------- tokens: E06, E07, E13, E14, E32


def _token_check(ctx: Context, hit: LogHit) -> Verdict:
    cv = ctx.check_verdict(("gitlab.token",))
    return cv or ("unknown", "no GitLab token probe result")


def analyze_tokens(ctx: Context) -> list[Finding]:
    out = route(ctx, "E06", _token_check)
    st = ctx.state
    stale = route(ctx, "E07", _token_check)
    for f in stale:
        if f.status is not Status.PASS and st is not None:
            f.fix_id, f.fix_args = "token.reregister", {"namespace": st.namespace, "release": st.release}
    out += stale
    out += route(ctx, "E14")
    return out


def analyze_e13(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None:
        runners = st.merged_values.get("runners") or {}
        tok = st.token_secret_name()
        info = st.secret(st.namespace, tok) if tok else None
        auth_token = bool(info and info.keys.get("runner-token"))
        bad = [k for k in ("maximumTimeout",) if runners.get(k) not in (None, "", 0)]
        env_bad = [e.get("name") for e in st.merged_values.get("envVars") or []
                   if isinstance(e, dict) and e.get("name") in ("RUNNER_TAG_LIST", "REGISTER_LOCKED",
                                                                "REGISTER_RUN_UNTAGGED", "REGISTER_ACCESS_LEVEL",
                                                                "REGISTER_MAXIMUM_TIMEOUT", "REGISTER_PAUSED")]
        if auth_token and (bad or env_bad):
            keys = [f"runners.{k}" for k in bad] + [f"envVars {n}" for n in env_bad]
            f = Finding("E13", "reserved", Status.FAIL,
                        "An authentication token (runner-token) is used together with registration settings that "
                        "GitLab reserves: " + ", ".join(keys),
                        "Remove " + ", ".join(keys) + " from the values and set them on the runner in GitLab.",
                        [f"values: {k}" for k in keys])
            ctx.absorb(f, "E13")
            out.append(f)
    return out + route(ctx, "E13")


def analyze_e32(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None:
        tok = st.token_secret_name()
        info = st.secret(st.namespace, tok) if tok else None
        if info is not None:
            bad = sorted(k for k, v in info.whitespace.items() if v)
            if bad:
                f = Finding("E32", "token-whitespace", Status.FAIL,
                            f"The token in Secret {st.namespace}/{tok} ends with a newline or space, which breaks "
                            "the Private-Token header",
                            f"Rewrite key(s) {', '.join(bad)} of Secret {st.namespace}/{tok} without the trailing "
                            "whitespace (kubectl create secret generic ... --from-literal, or echo -n | base64).",
                            [f"Secret {st.namespace}/{tok} key {k}: value has leading/trailing whitespace" for k in bad],
                            fix_id="secret.strip", fix_args={"namespace": st.namespace, "name": tok, "keys": bad})
                ctx.absorb(f, "E32", origin="cluster+logs")
                out.append(f)

    def confirm(c: Context, hit: LogHit) -> Verdict:
        s = c.state
        assert s is not None
        tok = s.token_secret_name()
        info = s.secret(s.namespace, tok) if tok else None
        if info is None:
            return "unknown", "token Secret not readable"
        return "pass", f"Secret {s.namespace}/{tok} has no whitespace around the token now"

    return out + route(ctx, "E32", confirm)


# --------------------------------------------------------------------------- secrets and service accounts: E15, E16


def analyze_e15(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None and st.deployment is not None:
        tok = st.token_secret_name()
        names = list(st.deployment_secret_names())
        certs = st.merged_values.get("certsSecretName")
        if certs and certs not in names:
            names.append(str(certs))
        for name in names:
            info = st.secrets.get((st.namespace, name), "?")
            if info == "?":
                continue
            if info is None:
                f = Finding("E15", f"secret.{_slug(name)}", Status.FAIL,
                            f"The manager pod mounts Secret {st.namespace}/{name}, which does not exist",
                            f"Create Secret {name} in {st.namespace}"
                            + (" with keys runner-token and runner-registration-token (the unused one empty)."
                               if name == tok else "."),
                            [f"{_dep_ref(st)} mounts Secret {name}", f"Secret {st.namespace}/{name}: not found"])
                _absorb_secret(ctx, f, name)
                out.append(f)
            elif name == tok:
                missing = [k for k in ("runner-registration-token", "runner-token") if k not in info.keys]
                for key in missing:
                    other = "runner-token" if key == "runner-registration-token" else "runner-registration-token"
                    f = Finding("E15", f"secret-key.{_slug(key)}", Status.FAIL,
                                f"Secret {st.namespace}/{name} lacks key {key}, which the chart's projected volume "
                                "requires, so the manager pod cannot start",
                                f"Add key {key} to Secret {st.namespace}/{name}"
                                + (" with an empty value." if other in info.keys else "."),
                                [f"Secret {st.namespace}/{name}: keys {', '.join(sorted(info.keys)) or '(none)'}"],
                                fix_id="secret.add-key" if other in info.keys else None,
                                fix_args={"namespace": st.namespace, "name": name, "key": key})
                    ctx.absorb(f, "E15", match=lambda hit, key=key: hit.groups.get("key") == key,
                               origin="cluster+logs")
                    out.append(f)

    def confirm(c: Context, hit: LogHit) -> Verdict:
        s = c.state
        assert s is not None
        name, key = hit.groups.get("secret"), hit.groups.get("key")
        if name:
            for ns in (s.namespace, s.jobs_namespace):
                if (ns, name) in s.secrets:
                    return (("pass", f"Secret {ns}/{name} exists now") if s.secrets[(ns, name)] is not None
                            else ("fail", f"Secret {ns}/{name} is still missing"))
            if c.kube is not None:
                from urllib.parse import quote

                for ns in dict.fromkeys([s.namespace, s.jobs_namespace]):
                    try:
                        if c.kube.get_or_none(f"/api/v1/namespaces/{quote(ns)}/secrets/{quote(name)}") is None:
                            return "fail", f"Secret {ns}/{name} does not exist"
                    except Exception:  # noqa: BLE001 - unconfirmed then
                        return "unknown", ""
                return "pass", f"Secret {name} exists now"
        if key:
            tok = s.token_secret_name()
            info = s.secret(s.namespace, tok) if tok else None
            if info is not None:
                return (("pass", f"Secret {s.namespace}/{tok} has key {key} now") if key in info.keys
                        else ("fail", f"Secret {s.namespace}/{tok} still lacks key {key}"))
        return "unknown", ""

    return out + route(ctx, "E15", confirm)


def _absorb_secret(ctx: Context, f: Finding, name: str) -> None:
    ctx.absorb(f, "E15", match=lambda hit: hit.groups.get("secret") == name, origin="cluster+logs")


def analyze_e16(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None:
        sa = st.manager_sa
        if st.deployment is not None and sa != "default" and st.service_accounts.get((st.namespace, sa)) is False:
            f = Finding("E16", "manager-sa", Status.FAIL,
                        f"The manager Deployment uses ServiceAccount {st.namespace}/{sa}, which does not exist, "
                        "so no manager pod can be created",
                        f"Create ServiceAccount {sa} in {st.namespace} (or set serviceAccount.create: true).",
                        [f"{_dep_ref(st)}: serviceAccountName {sa}", f"ServiceAccount {st.namespace}/{sa}: not found"],
                        fix_id="sa.create", fix_args={"namespace": st.namespace, "name": sa})
            _absorb_sa(ctx, f, sa)
            out.append(f)
        job_sa = st.kubernetes_config.get("service_account")
        if job_sa and job_sa != "default" and st.service_accounts.get((st.jobs_namespace, str(job_sa))) is False:
            f = Finding("E16", "job-sa", Status.FAIL,
                        f"runners.config sets service_account = \"{job_sa}\", but that ServiceAccount does not exist "
                        f"in the jobs namespace {st.jobs_namespace}",
                        f"Create ServiceAccount {job_sa} in {st.jobs_namespace} (no RBAC needed unless jobs call "
                        "the Kubernetes API).",
                        [f"{st.config_source}: service_account = \"{job_sa}\"",
                         f"ServiceAccount {st.jobs_namespace}/{job_sa}: not found"],
                        fix_id="sa.create", fix_args={"namespace": st.jobs_namespace, "name": str(job_sa)})
            _absorb_sa(ctx, f, str(job_sa))
            out.append(f)

    def confirm(c: Context, hit: LogHit) -> Verdict:
        s = c.state
        assert s is not None
        name = hit.groups.get("sa2") or hit.groups.get("sa") or ""
        name = name.split("/")[-1]
        for (ns, n), exists in s.service_accounts.items():
            if n == name:
                return (("pass", f"ServiceAccount {ns}/{n} exists now") if exists
                        else ("fail", f"ServiceAccount {ns}/{n} is still missing"))
        return "unknown", ""

    return out + route(ctx, "E16", confirm)


def _absorb_sa(ctx: Context, f: Finding, sa: str) -> None:
    ctx.absorb(f, "E16", origin="cluster+logs", match=lambda hit: sa in (
        hit.groups.get("sa"), hit.groups.get("sa2"), (hit.groups.get("sa3") or "").split("/")[-1]))


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


# --------------------------------------------------------------------------- admission: E26, E27, E28, E30


_QUOTA_KEYS = {
    "limits.cpu": ("cpu_limit", "helper_cpu_limit"),
    "limits.memory": ("memory_limit", "helper_memory_limit"),
    "requests.cpu": ("cpu_request", "helper_cpu_request"),
    "cpu": ("cpu_request", "helper_cpu_request"),
    "requests.memory": ("memory_request", "helper_memory_request"),
    "memory": ("memory_request", "helper_memory_request"),
}


def analyze_e26(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None:
        k = st.kubernetes_config
        defaults: set[str] = set()
        for lr in st.limitranges:
            for item in (lr.get("spec") or {}).get("limits") or []:
                if item.get("type") == "Container":
                    for res in (item.get("default") or {}):
                        defaults.add(f"limits.{res}")
                    for res in (item.get("defaultRequest") or item.get("default") or {}):
                        defaults |= {f"requests.{res}", res}
        for q in st.quotas:
            hard = (q.get("spec") or {}).get("hard") or {}
            name = q.get("metadata", {}).get("name", "")
            missing = []
            for res in hard:
                if res in _QUOTA_KEYS and res not in defaults:
                    missing += [key for key in _QUOTA_KEYS[res] if not k.get(key)]
            if missing:
                missing = list(dict.fromkeys(missing))
                f = Finding("E26", f"quota.{_slug(name)}", Status.FAIL,
                            f"ResourceQuota {st.jobs_namespace}/{name} requires "
                            f"{', '.join(r for r in hard if r in _QUOTA_KEYS)} on every container, but runners.config "
                            f"does not set {', '.join(missing)}, so job pods are rejected",
                            f"Set {', '.join(missing)} in [runners.kubernetes] (or add a LimitRange with defaults in "
                            f"{st.jobs_namespace}).",
                            [f"ResourceQuota {st.jobs_namespace}/{name}: hard "
                             + ", ".join(f"{a}={b}" for a, b in hard.items())])
                for hit in ctx.hits_for("E26"):
                    ctx.claim(hit)
                    f.add_evidence(*hit.evidence())
                    f.origin = "cluster+logs"
                out.append(f)
    return out + route(ctx, "E26", _event_is_live)


def analyze_e27(ctx: Context) -> list[Finding]:
    from wizard import validate as v

    out: list[Finding] = []
    st = ctx.state
    if st is not None:
        k = st.kubernetes_config
        for lr in st.limitranges:
            name = lr.get("metadata", {}).get("name", "")
            for item in (lr.get("spec") or {}).get("limits") or []:
                if item.get("type") != "Container":
                    continue
                for res, bound in (item.get("max") or {}).items():
                    val = k.get(f"{res}_limit")
                    try:
                        too_big = val and v.parse_quantity(str(val)) > v.parse_quantity(str(bound))
                    except ValueError:
                        too_big = False
                    if too_big:
                        out.append(Finding("E27", f"limitrange.{_slug(name)}.{res}", Status.FAIL,
                                           f"LimitRange {st.jobs_namespace}/{name} allows at most {bound} {res} per "
                                           f"container, but runners.config asks for {val}",
                                           f"Lower {res}_limit in [runners.kubernetes] to {bound} or raise the "
                                           "LimitRange.",
                                           [f"LimitRange {st.jobs_namespace}/{name}: max {res}={bound}",
                                            f"{st.config_source}: {res}_limit = \"{val}\""]))
    return out + route(ctx, "E27", _event_is_live)


def analyze_e28(ctx: Context) -> list[Finding]:
    out: list[Finding] = []
    st = ctx.state
    if st is not None:
        labels = st.namespaces.get(st.jobs_namespace) or {}
        level = labels.get("pod-security.kubernetes.io/enforce", "")
        k = st.kubernetes_config
        privileged = bool(k.get("privileged"))
        why = ""
        if level in ("baseline", "restricted") and privileged:
            why = "privileged = true (needed for dind)"
        elif level == "restricted" and not (k.get("build_container_security_context")
                                            and k.get("helper_container_security_context")):
            why = "job containers set no restricted security context (runAsNonRoot, drop ALL, seccomp)"
        if why:
            f = Finding("E28", f"psa.{level}", Status.FAIL,
                        f"The jobs namespace {st.jobs_namespace} enforces Pod Security \"{level}\", which rejects "
                        f"the job pods: {why}",
                        ("Use a dedicated jobs namespace labelled pod-security.kubernetes.io/enforce=privileged if "
                         "dind is really needed, or build without privileges (kaniko, buildah, BuildKit rootless)."
                         if privileged else
                         "Set pod_security_context and build/helper/service container security contexts in "
                         "[runners.kubernetes] (runAsNonRoot, drop ALL, no privilege escalation)."),
                        [f"Namespace {st.jobs_namespace}: pod-security.kubernetes.io/enforce={level}",
                         f"{st.config_source}: privileged = {str(privileged).lower()}"])
            for hit in ctx.hits_for("E28"):
                ctx.claim(hit)
                f.add_evidence(*hit.evidence())
                f.origin = "cluster+logs"
            out.append(f)
    return out + route(ctx, "E28", _event_is_live)


def analyze_e12(ctx: Context) -> list[Finding]:
    def confirm(c: Context, hit: LogHit) -> Verdict:
        s = c.state
        assert s is not None
        if not s.kubernetes_config.get("privileged"):
            return "fail", "runners.config has privileged = false, so docker:dind cannot start"
        return "unknown", ""

    return route(ctx, "E12", confirm)


def analyze_kapi(ctx: Context) -> list[Finding]:
    """E18, E19, E20, E30: the runner's own access to the Kubernetes API."""

    def confirm(c: Context, hit: LogHit) -> Verdict:
        s = c.state
        assert s is not None
        spec = _dep_spec(s)
        if spec.get("automountServiceAccountToken") is False:
            return "fail", f"{_dep_ref(s)} sets automountServiceAccountToken: false"
        return "unknown", ""

    return route(ctx, "E18", confirm) + route(ctx, "E19") + route(ctx, "E20", confirm) + route(ctx, "E30")


def analyze_e29(ctx: Context) -> list[Finding]:
    def confirm(c: Context, hit: LogHit) -> Verdict:
        cv = c.check_verdict(("dns", "gitlab.reach"))
        return cv or ("unknown", "")

    return route(ctx, "E29", confirm)


def analyze_rest(ctx: Context) -> list[Finding]:
    """Entries only job scripts or GitLab show (E33..E37): reported from the logs as they are."""
    out: list[Finding] = []
    for cat in ("E33", "E34", "E35", "E37"):
        out += route(ctx, cat)
    # anything else the log analyzer knows and no row claimed
    for cat in sorted({h.catalog for h in ctx.hits_for(*{h.catalog for h in ctx.hits})}):
        out += route(ctx, cat)
    return out


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
