"""Analyzers for what the manager trusts and presents: TLS (E02..E05), the runner token (E06, E07,
E13, E14, E32), the Secrets it mounts and the ServiceAccounts it needs (E15, E16).
"""

from __future__ import annotations

from wizard.diagnose.analyzers.base import (Context, LogHit, Verdict, _ca_secret_names, _dep_ref, _gitlab_host, _slug,
                                            from_hit, route)
from wizard.diagnose.model import Finding
from wizard.results import Status


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
