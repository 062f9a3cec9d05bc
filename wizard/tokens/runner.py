"""The runner token's lifecycle: read the stored token, plan (reuse, create, re-register),
realize it in GitLab and the Secret, clean up runners an interrupted apply left, restart the manager.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import names
from ..answers import Answers
from ..gitlab_api import CHECK_SYSTEM_ID, GitLabAPI, GitLabError
from ..kube import Kube, KubeError, collection_path
from .common import (MARK_PREFIX, REGISTRATION_KEY, RESTART_ANNOTATION, RESTART_PENDING_ANNOTATION,
                     RUNNER_ID_ANNOTATION, TOKEN_KEY, TokenError, _b64d, _int)


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
