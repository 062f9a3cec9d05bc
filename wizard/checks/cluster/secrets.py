"""Cluster checks on the Secrets apply writes: the GitLab CA in both namespaces, the runner token
and the registry pull Secrets.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ... import names, tls
from ..engine import CheckContext, Skip
from .common import _get, _missing, _obj_path, by_apply


# --------------------------------------------------------------------------- secrets


def _decode(secret: dict[str, Any], key: str) -> bytes | None:
    raw = (secret.get("data") or {}).get(key)
    if raw is None:
        sd = (secret.get("stringData") or {}).get(key)
        return sd.encode() if sd is not None else None
    try:
        return base64.b64decode(raw)
    except ValueError:
        return None


def _ca_secret_check(which: str):
    def run(ctx: CheckContext):
        a = ctx.answers
        if a.gitlab.ca is None:
            return ctx.skip("gitlab.ca is not set: no CA Secret is needed (GitLab must be trusted by the system "
                            "store; see tls.gitlab.trust)")
        ns = a.cluster.runner_namespace if which == "runner" else a.cluster.jobs_namespace
        name = names.ca_secret(a)
        catalog = ("E03", "E15") if which == "runner" else ("E15", "E21", "E05")
        sec = _get(ctx, _obj_path("Secret", ns, name))
        if sec is None:
            why = "the manager mounts it (certsSecretName)" if which == "runner" else \
                "job pods mount it; Secrets are not visible across namespaces"
            return _missing(ctx, f"CA Secret {ns}/{name} ({why})",
                            f"create it in {ns} with key {a.gitlab.ca_key} (apply does)", catalog)
        keys = sorted((sec.get("data") or {}).keys())
        key = a.gitlab.ca_key
        live = tls.load_pem_certificates(_decode(sec, key) or b"") if key in keys else []
        want = _desired_ca_fingerprints(ctx)
        if want is not None and {tls.fingerprint(c) for c in live} != want:
            what = (f"has keys {', '.join(keys) or '(none)'} but the runner looks only for {key} (<host>.crt, "
                    "port stripped)") if key not in keys else \
                f"key {key} does not hold the CA of gitlab.ca ({len(live)} other certificate(s))"
            return by_apply(ctx, "repairs", f"Secret {ns}/{name} {what}",
                            f"store gitlab.ca under the key {key} in {ns} (apply does)", catalog)
        if key not in keys:
            return ctx.fail(f"Secret {ns}/{name} has keys {', '.join(keys) or '(none)'} but the runner looks only "
                            f"for {key} (<host>.crt, port stripped)",
                            f"store the CA bundle under the key {key}", ("E03",))
        certs = tls.load_pem_certificates(_decode(sec, key) or b"")
        if not certs:
            return ctx.fail(f"{ns}/{name} key {key} holds no PEM certificate (DER is not supported)",
                            "store the CA as PEM", ("E03",))
        faults = tls.ca_bundle_faults(certs, None, f"{ns}/{name} key {key}")
        if faults:
            return ctx.fail(faults[0].message, "store the CA (root and intermediates), not the server certificate",
                            ("E03",))
        fps = ", ".join(tls.fingerprint(c) for c in certs)
        return ctx.ok(f"Secret {ns}/{name} has {key} with {len(certs)} CA certificate(s) ({fps})",
                      catalog=catalog)
    return run


def _desired_ca_fingerprints(ctx: CheckContext) -> set[str] | None:
    """Fingerprints of the CA bundle apply writes into the CA Secret (None when it cannot be read)."""
    from ...tls import load_ca_pem

    def compute() -> set[str] | None:
        try:
            pem = load_ca_pem(ctx.answers, timeout=ctx.t(4.0))
        except Exception:  # noqa: BLE001 - unreadable gitlab.ca is reported by the tls checks
            return None
        return {tls.fingerprint(c) for c in tls.load_pem_certificates(pem.encode())} if pem else None

    try:
        return ctx.fact("desired_ca_fingerprints", compute)
    except Skip:
        return None


def check_token_secret(ctx: CheckContext):
    """The token Secret apply writes (Helm mode). Whatever is wrong with it, apply rewrites both keys from
    the answers (or from the runner it creates), except a glrt- token the answers themselves put in the
    registration slot."""
    a = ctx.answers
    if a.cluster.mode == "external":
        return ctx.skip("cluster.mode is external: the manager's token lives in its config.toml, not in a Secret")
    ns, name = a.cluster.runner_namespace, names.token_secret(a)
    source = a.gitlab.token_source
    fix_all = ("run apply: it writes runner-token and runner-registration-token "
               + ("from the runner it creates in GitLab" if source == "create_runner" else "from the answers"))
    sec = _get(ctx, _obj_path("Secret", ns, name))
    if sec is None:
        what = f"token Secret {ns}/{name}" + (" (apply creates the runner in GitLab, then this Secret with its "
                                              "token)" if source == "create_runner" else "")
        return _missing(ctx, what, f"create it in {ns} with keys runner-token and runner-registration-token "
                        "(apply does)", ("E15",))
    data = sec.get("data") or {}
    missing = [k for k in ("runner-token", "runner-registration-token") if k not in data]
    if missing:
        return by_apply(ctx, "repairs", f"Secret {ns}/{name} lacks the key(s) {', '.join(missing)}: the chart mounts "
                        "both, so the manager pod stays in ContainerCreating (FailedMount)",
                        "add the missing key; runner-registration-token may be empty (\"\") (apply does)", ("E15",))
    tok = (_decode(sec, "runner-token") or b"").decode(errors="replace")
    reg = (_decode(sec, "runner-registration-token") or b"").decode(errors="replace")
    ctx.register_secret(tok.strip())
    ctx.register_secret(reg.strip())
    if tok != tok.strip() or reg != reg.strip():
        return by_apply(ctx, "repairs", f"Secret {ns}/{name} has a trailing newline or spaces in its token: the "
                        "runner fails with 'invalid header field for \"Private-Token\"'", fix_all, ("E32",))
    if not tok and not reg:
        return by_apply(ctx, "repairs", f"Secret {ns}/{name} has no token in either key", fix_all, ("E15",))
    if reg.startswith("glrt-") or "-glrt-" in reg:
        detail = (f"{ns}/{name}: runner-registration-token holds a runner authentication token: the runner "
                  "falls back to legacy registration and ignores tags and other settings")
        if source == "registration_token":  # the answers put it there: apply would write it again
            return ctx.warn(detail, "move it to gitlab.token in the answers and leave the registration token out",
                            ("E14",))
        return by_apply(ctx, "repairs", detail, fix_all, ("E14",))
    if a.gitlab.token is not None and tok:
        try:
            want = ctx.secret("gitlab.token")
        except Skip:
            want = None
        if want and want != tok:
            return by_apply(ctx, "repairs", f"Secret {ns}/{name} holds a different runner token than gitlab.token: "
                            "the running manager uses the Secret's (possibly stale) token",
                            "run apply to replace it (it restarts the manager pods)", ("E07",))
    if "runner-wizard/restart-pending" in ((sec.get("metadata") or {}).get("annotations") or {}):
        return by_apply(ctx, "repairs", f"Secret {ns}/{name} got a new token, but an apply was stopped before it "
                        "restarted the manager pods, which still use the old one", "run apply again (it restarts "
                        "them)", ("E07",))
    return ctx.ok(f"Secret {ns}/{name} has runner-token and runner-registration-token, without stray whitespace",
                  catalog=("E15", "E32"))


def _pull_secrets(a) -> list[Any]:
    return [r for r in a.registries if r.needs_pull_secret]


def check_pull_secret(ctx: CheckContext):
    a = ctx.answers
    reg = ctx.item
    ns, name = a.cluster.jobs_namespace, names.pull_secret(a, reg)
    sec = _get(ctx, _obj_path("Secret", ns, name))
    if sec is None:
        return _missing(ctx, f"pull Secret {ns}/{name} for {reg.host}",
                        f"create a kubernetes.io/dockerconfigjson Secret {name} in {ns} (apply does)", ("E21",))
    typ = sec.get("type", "")
    if typ != "kubernetes.io/dockerconfigjson":  # type is immutable: apply cannot change it
        return ctx.fail(f"Secret {ns}/{name} has type {typ or '(none)'}, not kubernetes.io/dockerconfigjson (a "
                        "Secret's type cannot be changed)",
                        f"delete it (kubectl -n {ns} delete secret {name}); apply then recreates it", ("E21",))
    try:
        auths = json.loads(_decode(sec, ".dockerconfigjson") or b"{}").get("auths") or {}
    except ValueError:
        auths = {}
    hosts = [h.replace("https://", "").replace("http://", "").rstrip("/") for h in auths]
    if reg.host not in hosts:
        return by_apply(ctx, "repairs", f"Secret {ns}/{name} has no credentials for {reg.host} (it has: "
                        f"{', '.join(hosts) or 'none'})", "write the registry's credentials into it (apply does)",
                        ("E21",))
    return ctx.ok(f"Secret {ns}/{name} holds credentials for {reg.host}", catalog=("E21",))
