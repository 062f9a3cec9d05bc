"""Runner token lifecycle and the external manager's cluster credentials.

Runner token (``gitlab.create_runner``)
    The runner is created with ``POST /api/v4/user/runners`` (works with a token that
    has only the ``create_runner`` scope; ``GET /user`` is never called). Its token is
    kept only in the cluster Secret (``names.token_secret``), never on disk and never
    printed; the runner id is stored in the Secret's annotation
    ``runner-wizard/runner-id``. Re-runs are idempotent: a token already in the Secret
    that GitLab accepts (``POST /runners/verify`` with system_id ``runner-wizard-check``;
    the check's manager row is removed again) is reused, so no second runner appears.

Interrupted apply (no orphaned runner)
    The token Secret is written right after ``POST /user/runners`` answers, before anything
    else. For the one round trip in between, every runner apply creates carries a mark in its
    maintenance note, ``[runner-wizard:<16 hex>]``, derived from the cluster (the UID of
    ``kube-system``), the runner namespace and the Secret's name. Each apply in
    ``create_runner`` mode lists the runners of that group / project (instance: all) with that
    description, reads their notes, and deletes the marked ones the Secret does not hold:
    runners a stopped apply created but never stored. Listing needs a token with ``api``,
    ``read_api`` or ``manage_runner`` (deleting: ``api`` or ``manage_runner``); with a
    ``create_runner``-only token this clean-up is skipped and said so.

Stale token (seed 003)
    When GitLab rejects the stored token (403, or 422 "orphaned"), the wizard offers
    to delete the old runner by id (when known and allowed), create a new one, update
    the Secret and restart the manager pods (pod-template annotation
    ``runner-wizard/restartedAt``).

External manager (``cluster.mode: external``)
    A ServiceAccount token from the TokenRequest API, lifetime 8760h (one year) by
    default (``--token-lifetime`` in hours overrides it), written with the
    API server address and its CA into ``config.toml`` (mode 0600) in the output
    directory. ``--external-token secret`` uses a non-expiring
    ``kubernetes.io/service-account-token`` Secret instead (with a warning).
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import names
from .answers import Answers
from .errors import WizardError
from .gitlab_api import CHECK_SYSTEM_ID, GitLabAPI, GitLabError
from .kube import Kube, KubeError, collection_path

RUNNER_ID_ANNOTATION = "runner-wizard/runner-id"
MARK_PREFIX = "[runner-wizard:"
RESTART_ANNOTATION = "runner-wizard/restartedAt"
RESTART_PENDING_ANNOTATION = "runner-wizard/restart-pending"
"""On the token Secret between writing a changed token and restarting the manager pods: an apply stopped
in between leaves it, and the next apply restarts the pods (then removes it)."""
TOKEN_KEY = "runner-token"
REGISTRATION_KEY = "runner-registration-token"

DEFAULT_LIFETIME_HOURS = 8760
RENEW_WHEN_LEFT = 0.25
"""An external token with less than this share of its lifetime left is replaced."""


class TokenError(WizardError):
    """The runner token could not be settled; the message says why and what to do."""

    def __init__(self, message: str, next_step: str = ""):
        self.next_step = next_step
        super().__init__(message + (f"\n  next step: {next_step}" if next_step else ""))


# ---------------------------------------------------------------------------- stored state


@dataclass
class StoredToken:
    """What the token Secret holds now."""

    exists: bool
    token: str = field(default="", repr=False)
    registration_token: str = field(default="", repr=False)
    runner_id: int | None = None
    restart_pending: bool = False


def read_stored(answers: Answers, kube: Kube) -> StoredToken:
    path = f"{collection_path('Secret', answers.cluster.runner_namespace)}/{names.token_secret(answers)}"
    obj = kube.get_or_none(path)
    if obj is None:
        return StoredToken(False)
    data = obj.get("data") or {}
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    rid = ann.get(RUNNER_ID_ANNOTATION)
    return StoredToken(True, token=_b64d(data.get(TOKEN_KEY)), registration_token=_b64d(data.get(REGISTRATION_KEY)),
                       runner_id=int(rid) if rid and str(rid).isdigit() else None,
                       restart_pending=RESTART_PENDING_ANNOTATION in ann)


# ---------------------------------------------------------------------------- outcome


@dataclass
class TokenOutcome:
    """What apply does (or did) about the runner token.

    ``action``:
      * ``from-answers``   the token comes from ``gitlab.token`` / ``registration_token``
      * ``reuse``          the Secret already holds a token GitLab accepts
      * ``create``         a new runner is (to be) created
      * ``reregister``     the stored token is stale: replace it with a new runner
      * ``declined``       stale token, and the user declined re-registration
    """

    source: str
    action: str
    token: str = field(default="", repr=False)
    registration_token: str = field(default="", repr=False)
    runner_id: int | None = None
    token_expires_at: str | None = None
    stale_runner_id: int | None = None
    stale_deleted: bool | None = None
    secret_exists: bool = False
    changed: bool = False
    """The Secret's token differs from what it held (pods must restart if they run)."""
    restart_pending: bool = False
    """An earlier apply wrote a new token but was stopped before it restarted the pods."""
    done: bool = False
    """The GitLab side is settled (runner created, if one was needed)."""
    warnings: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)
    mark: str = ""
    """``[runner-wizard:...]``: put into the maintenance note of a runner apply creates."""
    orphans: list[int] = field(default_factory=list)
    """Marked runners the Secret does not hold: left by an interrupted apply; deleted once the token is stored."""
    deleted_orphans: list[int] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        """A runner still has to be created before the Secret can be written."""
        return self.action in ("create", "reregister") and not self.done

    def annotations(self) -> dict[str, str]:
        return {RUNNER_ID_ANNOTATION: str(self.runner_id)} if self.runner_id is not None else {}

    def describe(self) -> str:
        rid = f"runner #{self.runner_id}" if self.runner_id is not None else "runner"
        return {
            "from-answers": f"token from the answers ({self.source})",
            "reuse": f"{rid} already registered; its token in the Secret is valid",
            "create": f"created {rid} in GitLab" if self.done else "a new runner will be created in GitLab",
            "reregister": (f"stale token replaced: created {rid}" if self.done else
                           f"the stored token is rejected by GitLab; a new runner will replace "
                           f"runner #{self.stale_runner_id or '?'}"),
            "declined": "the stored runner token is rejected by GitLab and re-registration was declined",
        }.get(self.action, self.action)


def plan_token(answers: Answers, kube: Kube, api: GitLabAPI | None, *, values: dict[str, Any] | None = None,
               ask: Callable[[str, bool], bool] | None = None) -> TokenOutcome:
    """Decide what to do about the runner token. Reads the cluster and verifies a stored token,
    but creates nothing."""
    g = answers.gitlab
    stored = read_stored(answers, kube)
    ask = ask or (lambda q, d: d)
    if g.create_runner is None:
        if g.token is not None:
            token = g.token.resolve("gitlab.token")
            out = TokenOutcome("token", "from-answers", token=token, secret_exists=stored.exists,
                               changed=stored.exists and stored.token != token, done=True,
                               restart_pending=stored.restart_pending)
        else:
            reg = g.registration_token.resolve("gitlab.registration_token") if g.registration_token else ""
            out = TokenOutcome("registration_token", "from-answers", registration_token=reg,
                               secret_exists=stored.exists, changed=stored.exists and stored.registration_token != reg,
                               done=True, restart_pending=stored.restart_pending)
            out.warnings.append(
                "gitlab.registration_token is the deprecated registration workflow (disabled by default since "
                "GitLab 17.0; removal scheduled for 20.0); prefer gitlab.create_runner or a glrt- token")
        _unregister_warning(out, out.token or "glrtr-", values)
        return out

    if api is None:
        raise TokenError("gitlab.create_runner needs the GitLab API, but no client was given")
    out = TokenOutcome("create_runner", "create", secret_exists=stored.exists, mark=install_mark(answers, kube),
                       restart_pending=stored.restart_pending)
    marked = find_marked_runners(answers, api, out)
    if stored.token:
        try:
            info = api.verify_runner(stored.token, system_id=CHECK_SYSTEM_ID)
        except GitLabError as exc:
            if exc.status in (403, 422):
                why = "orphaned (its group or project is gone)" if exc.status == 422 else "403 Forbidden"
                out.action = "reregister"
                out.stale_runner_id = stored.runner_id
                q = (f"GitLab rejects the runner token stored in Secret {answers.cluster.runner_namespace}/"
                     f"{names.token_secret(answers)} ({why}). Delete the stale runner"
                     f"{' #' + str(stored.runner_id) if stored.runner_id else ''}, create a new one, update the "
                     "Secret and restart the manager pods?")
                if not ask(q, False):
                    out.action = "declined"
                    out.next_steps.append(
                        "re-register the runner: run apply again and accept the question, or add --yes")
                    return out
                out.orphans = [i for i in marked or [] if i != stored.runner_id]
                return out
            raise TokenError(f"cannot check the stored runner token with GitLab: {exc.message}",
                             "make GitLab reachable from here, then run apply again (no second runner is "
                             "created while the stored token cannot be checked)") from exc
        _forget_check_manager(api, stored.token)
        out.action = "reuse"
        out.token = stored.token
        out.runner_id = _int(info.get("id")) or stored.runner_id
        out.token_expires_at = info.get("token_expires_at")
        out.done = True
        _expiry_warning(out)
    out.orphans = [i for i in marked or [] if i != out.runner_id]
    if marked is None and out.action == "create" and \
            kube.get_or_none(f"/api/v1/namespaces/{answers.cluster.runner_namespace}") is not None:
        # the namespace exists but the Secret does not: maybe an apply stopped right after creating a runner
        out.warnings.append(_NO_LISTING.format(path=_list_path(answers)))
    _unregister_warning(out, "glrt-", values)
    return out


def realize_token(answers: Answers, outcome: TokenOutcome, api: GitLabAPI,
                  on_write: Callable[[str], None] | None = None) -> TokenOutcome:
    """Create the runner (deleting a stale one first when allowed). Fills ``token`` and ``runner_id``."""
    if not outcome.pending:
        return outcome
    cr = answers.gitlab.create_runner
    assert cr is not None
    api_token = cr.api_token.resolve("gitlab.create_runner.api_token")
    if outcome.action == "reregister" and outcome.stale_runner_id is not None:
        try:
            api.delete_runner(api_token, outcome.stale_runner_id)
            outcome.stale_deleted = True
            if on_write:
                on_write(f"deleted stale runner #{outcome.stale_runner_id}")
        except GitLabError as exc:
            if exc.status == 404:
                outcome.stale_deleted = True  # already gone
            elif exc.status in (401, 403):
                outcome.stale_deleted = False
                outcome.warnings.append(
                    f"could not delete the stale runner #{outcome.stale_runner_id} ({exc.message}); "
                    "the API token may lack the api/manage_runner scope")
                outcome.next_steps.append(
                    f"delete the stale runner #{outcome.stale_runner_id} in GitLab: "
                    f"{answers.gitlab.base_url}admin/runners/{outcome.stale_runner_id} (or the group/project "
                    "CI/CD settings, Runners)")
            else:
                raise TokenError(f"cannot delete the stale runner #{outcome.stale_runner_id}: {exc.message}",
                                 "make GitLab reachable, then run apply again") from exc
    try:
        created = api.create_runner(api_token, cr.runner_type, group_id=cr.group_id, project_id=cr.project_id,
                                    description=cr.description, tag_list=list(cr.tags),
                                    run_untagged=cr.run_untagged,
                                    maintenance_note=maintenance_note(answers, outcome.mark) if outcome.mark else None)
    except GitLabError as exc:
        hint = {401: "the API token is invalid, expired or revoked; create a new one with the create_runner "
                     "scope",
                403: "the API token's user may not create this runner type here (Owner/Maintainer of the "
                     "group or project, admin for instance runners) or lacks the create_runner scope"}
        raise TokenError(f"GitLab refused to create the runner: {exc.message}",
                         hint.get(exc.status, "fix the problem above and run apply again")) from exc
    if on_write:
        on_write(f"created runner #{created.get('id')}")
    outcome.token = str(created.get("token") or "")
    outcome.runner_id = _int(created.get("id"))
    outcome.token_expires_at = created.get("token_expires_at")
    outcome.changed = outcome.secret_exists
    outcome.done = True
    if not outcome.token:
        raise TokenError("GitLab created the runner but returned no token",
                         f"delete runner #{outcome.runner_id} in GitLab and run apply again")
    _expiry_warning(outcome)
    return outcome


def install_mark(answers: Answers, kube: Kube) -> str:
    """``[runner-wizard:<16 hex>]`` naming this install: cluster (kube-system's UID, else the API server
    address), runner namespace and token Secret. The same for every run of the same answers."""
    uid = ""
    try:
        uid = ((kube.get_or_none("/api/v1/namespaces/kube-system") or {}).get("metadata") or {}).get("uid") or ""
    except KubeError:
        pass
    ident = f"{uid or kube.server}/{answers.cluster.runner_namespace}/{names.token_secret(answers)}"
    return f"{MARK_PREFIX}{hashlib.sha256(ident.encode()).hexdigest()[:16]}]"


def maintenance_note(answers: Answers, mark: str) -> str:
    return (f"{mark} Created by runner-wizard; its token is kept in the cluster, Secret "
            f"{answers.cluster.runner_namespace}/{names.token_secret(answers)}. A runner with this mark that the "
            "Secret does not hold was left by an interrupted apply; the next apply deletes it.")


def _list_path(answers: Answers) -> str:
    cr = answers.gitlab.create_runner
    assert cr is not None
    if cr.runner_type == "group_type":
        return f"/groups/{int(cr.group_id or 0)}/runners"
    if cr.runner_type == "project_type":
        return f"/projects/{int(cr.project_id or 0)}/runners"
    return "/runners/all"


_NO_LISTING = ("the API token may not list runners (GET {path}), so runners an interrupted apply may have left "
               "cannot be found; a token with the api, read_api or manage_runner scope lets apply find and delete "
               "them")


def find_marked_runners(answers: Answers, api: GitLabAPI, out: TokenOutcome) -> list[int] | None:
    """Ids of the runners carrying this install's mark (read-only); None when the API token may not
    list runners."""
    cr = answers.gitlab.create_runner
    assert cr is not None
    token = cr.api_token.resolve("gitlab.create_runner.api_token")
    path = _list_path(answers)
    candidates: list[int] = []
    try:
        page = 1
        while page <= 20:
            items = api.request("GET", path, token=token,
                                query={"type": cr.runner_type, "per_page": 100, "page": page})[1] or []
            for it in items:
                if isinstance(it, dict) and (it.get("description") or "") == cr.description \
                        and it.get("runner_type", cr.runner_type) == cr.runner_type:
                    rid = _int(it.get("id"))
                    if rid is not None:
                        candidates.append(rid)
            if len(items) < 100:
                break
            page += 1
        marked = []
        for rid in candidates:
            note = api.get_runner(token, rid).get("maintenance_note") or ""
            if out.mark and out.mark in note:
                marked.append(rid)
        return marked
    except GitLabError as exc:
        if exc.status in (401, 403, 404):
            return None
        raise TokenError(f"cannot list the runners of this install: {exc.message}",
                         "make GitLab reachable from here, then run apply again") from exc


def delete_orphans(answers: Answers, outcome: TokenOutcome, api: GitLabAPI,
                   on_write: Callable[[str], None] | None = None) -> list[int]:
    """Delete ``outcome.orphans`` (never the runner the Secret holds). Returns the ids deleted."""
    cr = answers.gitlab.create_runner
    assert cr is not None
    token = cr.api_token.resolve("gitlab.create_runner.api_token")
    done: list[int] = []
    for rid in list(outcome.orphans):
        if rid == outcome.runner_id:
            continue
        try:
            api.delete_runner(token, rid)
        except GitLabError as exc:
            if exc.status == 404:
                outcome.deleted_orphans.append(rid)
                continue
            outcome.warnings.append(f"could not delete runner #{rid}, left by an interrupted apply ({exc.message})")
            outcome.next_steps.append(f"delete runner #{rid} in GitLab: {answers.gitlab.base_url}admin/runners/{rid} "
                                      "(or the group/project CI/CD settings, Runners)")
            continue
        outcome.deleted_orphans.append(rid)
        done.append(rid)
        if on_write:
            on_write(f"deleted runner #{rid} (left by an interrupted apply)")
    return done


def ensure_runner_token(answers: Answers, kube: Kube, api: GitLabAPI | None, *, dry_run: bool = False,
                        ask: Callable[[str, bool], bool] | None = None, values: dict[str, Any] | None = None,
                        on_write: Callable[[str], None] | None = None) -> TokenOutcome:
    """Plan and (unless dry_run) realize the runner token. The Secret itself is written by apply."""
    out = plan_token(answers, kube, api, values=values, ask=ask)
    if not dry_run and out.pending:
        assert api is not None
        realize_token(answers, out, api, on_write=on_write)
    return out


def restart_manager(answers: Answers, kube: Kube, *, now: str | None = None) -> bool:
    """Restart the manager pods by stamping the Deployment's pod template. False when it does not exist."""
    path = f"{collection_path('Deployment', answers.cluster.runner_namespace)}/{names.deployment(answers)}"
    if kube.get_or_none(path) is None:
        return False
    stamp = now or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = {"spec": {"template": {"metadata": {"annotations": {RESTART_ANNOTATION: stamp}}}}}
    kube.request("PATCH", path, body=body, content_type="application/strategic-merge-patch+json")
    return True


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


def verify_external(kube: Kube, answers: Answers, token: str) -> tuple[bool, str]:
    """Does the bearer token authenticate and allow creating job pods in the jobs namespace?"""
    probe = kube.with_token(token)
    try:
        allowed, reason = probe.access_review(verb="create", resource="pods",
                                              namespace=answers.cluster.jobs_namespace)
    except KubeError as exc:
        return False, f"the token does not work: {exc.message or exc}"
    finally:
        probe.close()
    if not allowed:
        return False, f"the token authenticates but may not create pods in {answers.cluster.jobs_namespace}: " \
                      f"{reason or 'denied'}"
    return True, f"the token authenticates and may create pods in {answers.cluster.jobs_namespace}"


# ---------------------------------------------------------------------------- internals


def _b64d(v: str | None) -> str:
    if not v:
        return ""
    try:
        return base64.b64decode(v).decode("utf-8").strip()
    except (ValueError, UnicodeDecodeError):
        return ""


def _int(v: Any) -> int | None:
    try:
        return int(v) if v is not None else None
    except (TypeError, ValueError):
        return None


def _forget_check_manager(api: GitLabAPI, token: str) -> None:
    """Remove the manager row POST /runners/verify created for our system_id (best effort)."""
    try:
        api.delete_runner_manager(token, CHECK_SYSTEM_ID)
    except GitLabError:
        pass


def _expiry_warning(out: TokenOutcome) -> None:
    if out.token_expires_at:
        out.warnings.append(
            f"the runner token expires at {out.token_expires_at}; the runner rotates it automatically, but the "
            "chart keeps the rotated token only in the pod, so after a restart the Secret holds a revoked token "
            "(403, CrashLoopBackOff). Run apply again to re-register, or disable rotation "
            "(FF_DISABLE_AUTOMATIC_TOKEN_ROTATION)")


def _unregister_warning(out: TokenOutcome, token: str, values: dict[str, Any] | None) -> None:
    unregister = (values or {}).get("unregisterRunners", True)
    if unregister and token and not token.startswith("glrt-"):
        out.warnings.append(
            "unregisterRunners is on and the token is not a glrt- runner authentication token: the pod's preStop "
            "hook deletes the WHOLE runner in GitLab on every pod stop (rollout, drain, eviction); use a glrt- "
            "token or set unregisterRunners: false")


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
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    # a temporary file of this write's own (created 0600, O_EXCL): two writers of the same path never
    # share one, and a planted file or symlink is never opened
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


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
