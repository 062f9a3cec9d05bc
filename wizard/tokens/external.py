"""The external manager's cluster credentials (``cluster.mode: external``): a ServiceAccount token
(TokenRequest or a service-account-token Secret) written with the API server and its CA into
``config.toml``, and the check that it works.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .. import names
from ..answers import Answers
from ..kube import Kube, KubeError, collection_path
from .common import DEFAULT_LIFETIME_HOURS, RENEW_WHEN_LEFT, TokenError, _b64d


# ---------------------------------------------------------------------------- external manager


@dataclass
class ExternalOutcome:
    config_path: Path
    ca_path: Path | None
    action: str                      # created | renewed | unchanged | would-create
    expires_at: str | None = None
    kind: str = "token-request"      # token-request | secret
    warnings: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    token: str = field(default="", repr=False)


def external_credentials(answers: Answers, kube: Kube, config_template: str | None, out_dir: Path, *,
                         dry_run: bool = False, on_write: Callable[[str], None] | None = None,
                         wait_secret: float = 10.0, settings: Any = None) -> ExternalOutcome:
    """Get a ServiceAccount token for the external manager and write config.toml (mode 0600).
    ``settings`` (:class:`wizard.settings.Settings`): the token's kind and lifetime."""
    ns, sa = answers.cluster.runner_namespace, answers.cluster.manager_service_account
    out_dir = Path(out_dir)
    cfg_path = out_dir / "config.toml"
    ca_pem = _cluster_ca(kube)
    ca_path = out_dir / "kubernetes-ca.crt" if ca_pem else None
    mode = getattr(settings, "external_token", None) or "token-request"
    out = ExternalOutcome(cfg_path, ca_path, "created", kind="secret" if mode == "secret" else "token-request")
    if ca_pem is None:
        out.warnings.append("the kubeconfig has no cluster CA; config.toml gets no ca_file and the runner will "
                            "use the system trust store")
    existing = _read_bearer(cfg_path)
    sa_obj = kube.get_or_none(f"{collection_path('ServiceAccount', ns)}/{sa}")
    if out.kind == "secret":
        out.warnings.append(
            f"--external-token secret: the token in Secret {ns}/{names.external_token_secret(answers)} never "
            "expires; anyone who copies it keeps access until the Secret is deleted. Prefer the default "
            "TokenRequest token and renew it by running apply again")
    reuse = existing and sa_obj is not None and _token_still_good(existing, ns, sa, sa_obj, kube.server,
                                                                   _read_host(cfg_path), out.kind)
    if dry_run:
        out.action = "unchanged" if reuse else "would-create"
        return out
    if sa_obj is None:
        raise TokenError(f"ServiceAccount {ns}/{sa} does not exist", "run apply again; it creates it first")
    if reuse:
        token = existing
        out.action = "unchanged"
    elif out.kind == "secret":
        token = _secret_token(answers, kube, wait_secret, on_write)
        out.action = "created" if not existing else "renewed"
    else:
        hours = int(getattr(settings, "token_lifetime_hours", None) or DEFAULT_LIFETIME_HOURS)
        doc = kube.create(f"{collection_path('ServiceAccount', ns)}/{sa}/token",
                          {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                           "spec": {"expirationSeconds": hours * 3600}})
        if on_write:
            on_write(f"TokenRequest for ServiceAccount {ns}/{sa}")
        token = (doc.get("status") or {}).get("token") or ""
        out.expires_at = (doc.get("status") or {}).get("expirationTimestamp")
        got = _jwt_lifetime_hours(token)
        if got is not None and got + 1 < hours:
            out.warnings.append(f"the API server shortened the token lifetime to {got:.0f}h (asked for {hours}h; "
                                "--service-account-max-token-expiration); run apply again before it expires")
        out.action = "renewed" if existing else "created"
    if out.expires_at is None:
        exp = _jwt_claims(token).get("exp")
        if exp:
            out.expires_at = _dt.datetime.fromtimestamp(exp, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    out.token = token
    out_dir.mkdir(parents=True, exist_ok=True)
    if ca_pem and ca_path:
        ca_path.write_text(ca_pem, encoding="utf-8")
    text = _config_toml(config_template, answers, host=kube.server,
                        ca_file=str(ca_path.resolve()) if ca_path else None, bearer=token)
    _write_private(cfg_path, text)
    out.next_steps.append(
        f"copy {cfg_path}{' and ' + str(ca_path) if ca_path else ''} to the runner VM (/etc/gitlab-runner/), "
        "fix ca_file if the path differs there, and keep config.toml mode 0600")
    if out.expires_at and out.kind == "token-request":
        out.next_steps.append(f"the Kubernetes token expires at {out.expires_at}; run apply again before then "
                              "to renew it")
    return out


class CredentialCheck(NamedTuple):
    """Whether the external manager's bearer token works, and why (or why not)."""

    ok: bool
    reason: str


def verify_external(kube: Kube, answers: Answers, token: str) -> CredentialCheck:
    """Does the bearer token authenticate and allow creating job pods in the jobs namespace?"""
    probe = kube.with_token(token)
    try:
        allowed, reason = probe.access_review(verb="create", resource="pods",
                                              namespace=answers.cluster.jobs_namespace)
    except KubeError as exc:
        return CredentialCheck(False, f"the token does not work: {exc.message or exc}")
    finally:
        probe.close()
    if not allowed:
        return CredentialCheck(False, f"the token authenticates but may not create pods in "
                                      f"{answers.cluster.jobs_namespace}: {reason or 'denied'}")
    return CredentialCheck(True, f"the token authenticates and may create pods in {answers.cluster.jobs_namespace}")


def _cluster_ca(kube: Kube) -> str | None:
    return kube.ca_pem


def _jwt_claims(token: str) -> dict[str, Any]:
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        return {}


def _jwt_lifetime_hours(token: str) -> float | None:
    c = _jwt_claims(token)
    if "exp" in c and "iat" in c:
        return (c["exp"] - c["iat"]) / 3600
    return None


def _token_still_good(token: str, ns: str, sa: str, sa_obj: dict[str, Any], server: str, host: str | None,
                      kind: str) -> bool:
    c = _jwt_claims(token)
    if c.get("sub") != f"system:serviceaccount:{ns}:{sa}" or host != server:
        return False
    k8s = c.get("kubernetes.io") or {}
    uid = (k8s.get("serviceaccount") or {}).get("uid")
    if uid and uid != (sa_obj.get("metadata") or {}).get("uid"):
        return False
    exp, iat = c.get("exp"), c.get("iat")
    if kind == "secret":
        return exp is None
    if not exp or not iat:
        return False
    left = exp - time.time()
    return left > (exp - iat) * RENEW_WHEN_LEFT


def _read_toml(path: Path) -> dict[str, Any] | None:
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _kube_section(doc: dict[str, Any] | None) -> dict[str, Any]:
    runners = (doc or {}).get("runners") or []
    if runners and isinstance(runners, list):
        return runners[0].get("kubernetes") or {}
    return {}


def _read_bearer(path: Path) -> str:
    return str(_kube_section(_read_toml(path)).get("bearer_token") or "")


def _read_host(path: Path) -> str | None:
    return _kube_section(_read_toml(path)).get("host")


def _config_toml(template: str | None, answers: Answers, *, host: str, ca_file: str | None, bearer: str) -> str:
    import tomlkit

    doc = tomlkit.parse(template) if template else tomlkit.document()
    if "concurrent" not in doc:
        doc["concurrent"] = answers.runner.concurrent
    runners = doc.get("runners")
    if runners is None:
        runners = tomlkit.aot()
        t = tomlkit.table()
        t["name"] = answers.runner.name
        t["url"] = answers.gitlab.url
        t["executor"] = "kubernetes"
        runners.append(t)
        doc["runners"] = runners
    for r in runners:
        kube = r.get("kubernetes")
        if kube is None:
            kube = tomlkit.table()
            kube["namespace"] = answers.cluster.jobs_namespace
            r["kubernetes"] = kube
        kube["host"] = host
        if ca_file:
            kube["ca_file"] = ca_file
        elif "ca_file" in kube:
            del kube["ca_file"]
        kube["bearer_token"] = bearer
    return tomlkit.dumps(doc)


def _write_private(path: Path, text: str) -> None:
    from ..safeio import write_atomic

    write_atomic(path, text, mode=0o600)


def _secret_token(answers: Answers, kube: Kube, wait: float, on_write: Callable[[str], None] | None) -> str:
    ns, sa = answers.cluster.runner_namespace, answers.cluster.manager_service_account
    name = names.external_token_secret(answers)
    obj = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
           "metadata": {"name": name, "namespace": ns,
                        "labels": names.labels(answers, "external-manager"),
                        "annotations": {"kubernetes.io/service-account.name": sa}}}
    kube.apply(obj)
    if on_write:
        on_write(f"Secret {ns}/{name}")
    deadline = time.monotonic() + wait
    path = f"{collection_path('Secret', ns)}/{name}"
    while True:
        live = kube.get_or_none(path) or {}
        token = _b64d((live.get("data") or {}).get("token"))
        if token:
            return token
        if time.monotonic() >= deadline:
            raise TokenError(f"the token controller did not fill Secret {ns}/{name} within {wait:.0f}s",
                             "check that kube-controller-manager runs (its tokens controller fills the Secret), "
                             "or leave out --external-token secret to use a TokenRequest token")
        time.sleep(0.5)
