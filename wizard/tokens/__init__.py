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

Modules: :mod:`.runner` (the runner token), :mod:`.external` (the external manager's
credentials), :mod:`.common` (keys, annotations, :class:`TokenError`). Every name stays
importable from ``wizard.tokens``.
"""

from __future__ import annotations

from .common import (DEFAULT_LIFETIME_HOURS, MARK_PREFIX, REGISTRATION_KEY, RENEW_WHEN_LEFT, RESTART_ANNOTATION,
                     RESTART_PENDING_ANNOTATION, RUNNER_ID_ANNOTATION, TOKEN_KEY, TokenError)
from .external import CredentialCheck, ExternalOutcome, external_credentials, verify_external
from .external import _cluster_ca, _jwt_claims, _write_private  # noqa: F401 - apply and the tests use them
from .runner import (StoredToken, TokenOutcome, delete_orphans, ensure_runner_token, find_marked_runners, install_mark,
                     maintenance_note, plan_token, read_stored, realize_token, restart_manager)

__all__ = ["DEFAULT_LIFETIME_HOURS", "CredentialCheck", "ExternalOutcome", "MARK_PREFIX", "REGISTRATION_KEY",
           "RENEW_WHEN_LEFT", "RESTART_ANNOTATION", "RESTART_PENDING_ANNOTATION", "RUNNER_ID_ANNOTATION",
           "StoredToken", "TOKEN_KEY", "TokenError", "TokenOutcome", "delete_orphans", "ensure_runner_token",
           "external_credentials", "find_marked_runners", "install_mark", "maintenance_note", "plan_token",
           "read_stored", "realize_token", "restart_manager", "verify_external"]
