"""GitLab: reachability, version, token type and validity, create_runner scope (E06, E07, E13, E14, E29)."""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from ..gitlab_api import GitLabAPI, GitLabError
from ..results import Status
from .engine import CheckContext, CheckSpec, Skip
from .tls import ca_pem

_CUSTOM_PREFIX = re.compile(r"^([A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*)-(glrtr?-)")


def classify_token(value: str) -> str:
    """runner_auth | runner_auth_registered | runner_auth_custom_prefix | registration | user_token | legacy."""
    if value.startswith("glrt-"):
        return "runner_auth"
    if value.startswith("glrtr-"):
        return "runner_auth_registered"
    if value.startswith("GR1348941"):
        return "registration"
    if re.match(r"^gl(pat|oas|dt|ptt|ft)-", value):
        return "user_token"
    if _CUSTOM_PREFIX.match(value):
        return "runner_auth_custom_prefix"
    return "legacy"


def gitlab_api(ctx: CheckContext) -> GitLabAPI:
    g = ctx.answers.gitlab

    def make() -> GitLabAPI:
        return GitLabAPI(g.url, ca_pem=ca_pem(ctx) if g.url.startswith("https") else None,
                         timeout=ctx.t(4.0), connect_to=ctx.alias_ip(g.host, "manager"))

    return ctx.fact("gitlab_api", make)


def _transport(ctx: CheckContext, exc: GitLabError) -> Skip:
    return Skip(f"GitLab did not answer ({exc.message}); see gitlab.reachable", ("E29",))


def user_token(ctx: CheckContext) -> str:
    g = ctx.answers.gitlab
    if g.create_runner is None:
        raise Skip("needs a user token (only gitlab.create_runner has one); nothing to check with a runner token")
    return ctx.secret("gitlab.create_runner.api_token")


# --------------------------------------------------------------------------- checks


def check_reachable(ctx: CheckContext):
    g = ctx.answers.gitlab
    api = gitlab_api(ctx)
    try:
        status = api.probe()
    except GitLabError as exc:
        if exc.kind == "tls":
            try:
                insecure = GitLabAPI(g.url, verify=False, timeout=ctx.t(4.0),
                                     connect_to=ctx.alias_ip(g.host, "manager"))
                status = insecure.probe()
                insecure.close()
            except GitLabError:
                return ctx.fail(exc.message, "see tls.gitlab.* for the certificate problem", ("E02", "E29"))
            return ctx.warn(f"GitLab answers at {g.url} (HTTP {status} on /api/v4/version) but TLS verification "
                            f"fails: {exc.message}", "fix the certificate problem reported by tls.gitlab.*",
                            ("E02",), data={"status": status})
        fixes = {"dns": f"make {g.host} resolvable, or add a host alias for it (host_aliases)",
                 "refused": "check the port in gitlab.url and that GitLab listens there",
                 "timeout": "check firewalls, proxies and NetworkPolicies between here and GitLab"}
        return ctx.fail(f"{exc.kind or 'network'}: {exc.message}",
                        fixes.get(exc.kind, "check the network path to GitLab"), ("E29",),
                        data={"kind": exc.kind})
    if status in (200, 401, 403):
        return ctx.ok(f"a GitLab API answers at {g.url}api/v4 (HTTP {status} on /version without a token)",
                      data={"status": status}, catalog=("E29",))
    if 300 <= status < 400:
        return ctx.warn(f"{g.url}api/v4/version redirects (HTTP {status})",
                        "use the final URL (scheme, host, port, path) as gitlab.url", ("E29",))
    if status == 404:
        return ctx.fail(f"no GitLab API at {g.url}api/v4 (HTTP 404)",
                        "check gitlab.url: it must be GitLab's base URL (including any relative URL root)",
                        ("E29",))
    return ctx.fail(f"GitLab answered HTTP {status} on /api/v4/version",
                    "GitLab seems unhealthy or a proxy is in the way; try again later", ("E29",))


def check_version(ctx: CheckContext):
    token = user_token(ctx)
    api = gitlab_api(ctx)
    try:
        info = api.version(token)
    except GitLabError as exc:
        if not exc.status:
            raise _transport(ctx, exc) from None
        if exc.insufficient_scope:
            return ctx.skip("the API token has no read_api/api scope, so GET /version is not allowed "
                            "(a create_runner-only token is enough to create the runner)")
        if exc.status == 401:
            return ctx.fail("the API token was rejected (401): revoked, expired or mistyped",
                            "create a new access token with the create_runner scope", ())
        return ctx.fail(f"GET /version: {exc}", "", ())
    ver = str(info.get("version", "?"))
    m = re.match(r"(\d+)\.(\d+)", ver)
    data = {"version": ver, "revision": info.get("revision")}
    if m and (int(m[1]), int(m[2])) < (16, 0):
        return ctx.warn(f"GitLab {ver}: runner authentication tokens (glrt-) need GitLab 16.0 or later",
                        "upgrade GitLab, or use a Runner version matching it", ("E06",), data=data)
    return ctx.ok(f"GitLab {ver} ({info.get('revision', '')})", data=data)


def check_token_type(ctx: CheckContext):
    g = ctx.answers.gitlab
    src = g.token_source
    if src == "create_runner":
        return ctx.ok(f"apply creates a {g.create_runner.runner_type} runner through POST /user/runners and "
                      "stores its glrt- token in the token Secret", catalog=("E06", "E14"))
    if src == "registration_token":
        value = ctx.secret("gitlab.registration_token")
        kind = classify_token(value)
        if kind.startswith("runner_auth"):
            return ctx.fail("gitlab.registration_token holds a runner authentication token (glrt-): the runner "
                            "would fall back to legacy registration and silently drop tags and other settings",
                            "move it to gitlab.token", ("E14",))
        return ctx.warn("legacy registration token (deprecated), disabled by default since GitLab 17.0 and "
                        "scheduled for removal in GitLab 20.0",
                        "create the runner in GitLab (or with gitlab.create_runner) and use its glrt- token as "
                        "gitlab.token", ("E06",))
    value = ctx.secret("gitlab.token")
    kind = classify_token(value)
    if kind == "runner_auth":
        return ctx.ok("runner authentication token (glrt-): unregistering on pod stop removes only that "
                      "pod's runner manager", catalog=("E07", "E13"))
    if kind == "runner_auth_registered":
        return ctx.ok("runner authentication token created through a registration token (glrtr-)",
                      catalog=("E07",))
    if kind == "runner_auth_custom_prefix":
        prefix = _CUSTOM_PREFIX.match(value)[1]  # type: ignore[index]
        return ctx.warn(f"runner token with the instance prefix \"{prefix}-\": GitLab Runner 18.9 does not "
                        "recognize it as a glrt- token, so the chart's unregisterRunners (on by default) "
                        "DELETES THE WHOLE RUNNER on every pod stop (rollout, drain, restart)",
                        "set unregisterRunners: false in values.yaml for this token, or use a token without "
                        "an instance prefix", ("E07",), data={"prefix": prefix})
    if kind == "registration":
        return ctx.fail("gitlab.token holds a registration token (GR1348941...), not a runner authentication "
                        "token", "move it to gitlab.registration_token, or better create the runner and use "
                        "its glrt- token", ("E06", "E14"))
    if kind == "user_token":
        return ctx.fail("gitlab.token holds a user/project access token, not a runner authentication token",
                        "use the runner's glrt- token, or put this token in gitlab.create_runner.api_token",
                        ("E07",))
    return ctx.warn("legacy runner token (no glrt- prefix): unregisterRunners deletes the whole runner on "
                    "every pod stop", "create a new runner in GitLab and use its glrt- token", ("E06", "E07"))


def token_verify(ctx: CheckContext) -> dict[str, Any]:
    """POST /runners/verify once per run, then remove the manager row it created."""
    token = ctx.secret("gitlab.token")
    api = gitlab_api(ctx)
    return ctx.fact("token_verify", lambda: api.verify_runner_cleanly(token))


def check_token_valid(ctx: CheckContext):
    g = ctx.answers.gitlab
    src = g.token_source
    if src == "create_runner":
        return ctx.skip("the runner does not exist yet: apply creates it and receives its token")
    if src == "registration_token":
        ctx.secret("gitlab.registration_token")  # must resolve; its value is not sent anywhere by check
        return ctx.warn("legacy registration token (deprecated), disabled by default since GitLab 17.0 (410 Gone "
                        "when the instance or group does not allow it) and removed in GitLab 20.0. check does not "
                        "register a probe runner to test it, because that would create a runner; apply registers "
                        "for real and stops on 410 or 403",
                        "create the runner in GitLab (or use gitlab.create_runner) and use its glrt- token in "
                        "gitlab.token", ("E06", "E14"))
    try:
        info = token_verify(ctx)
    except GitLabError as exc:
        if not exc.status:
            return ctx.fail(f"POST /runners/verify got no answer: {exc.message}",
                            "check the network path to GitLab (see gitlab.reachable)", ("E29",))
        if exc.status == 403:
            return ctx.fail("GitLab rejects the runner token (403 on POST /runners/verify): the runner was "
                            "deleted, the token reset or expired, or the wrong string was copied",
                            "create a new runner in GitLab (or use gitlab.create_runner) and put its glrt- "
                            "token in gitlab.token; restarting pods or new registration tokens do not help",
                            ("E07",))
        if exc.status == 422:
            return ctx.fail("the runner is orphaned: its group or project was deleted (422)",
                            "create a new runner and use its token", ("E07",))
        return ctx.fail(f"POST /runners/verify: {exc}", "", ("E07",))
    data = {"runner_id": info.get("id"), "token_expires_at": info.get("token_expires_at")}
    return ctx.ok(f"GitLab accepts the token (runner id {info.get('id')}). POST /runners/verify records a "
                  "contact; the runner manager row it created was removed again (GitLab has no "
                  "side-effect-free check for a runner token)", data=data, catalog=("E07",))


def check_token_expiry(ctx: CheckContext):
    if ctx.answers.gitlab.token_source != "token":
        return ctx.skip("only for gitlab.token (apply reports the expiry of a created runner)")
    try:
        info = token_verify(ctx)
    except GitLabError:
        raise Skip("the token could not be verified (see gitlab.token.valid)") from None
    exp = info.get("token_expires_at")
    if not exp:
        return ctx.ok("the runner token does not expire", catalog=("E07",))
    try:
        when = _dt.datetime.fromisoformat(str(exp).replace("Z", "+00:00"))
        days = (when - _dt.datetime.now(_dt.timezone.utc)).days
        left = f" ({days} days left)"
    except ValueError:
        left = ""
    return ctx.warn(f"the runner token expires at {exp}{left}. The runner rotates it at 75% of its lifetime "
                    "and saves the new token only in config.toml, which the chart keeps in an emptyDir: after "
                    "the next pod restart the Secret's old token is revoked (403, CrashLoopBackOff)",
                    "disable runner token expiry for this group/instance, or plan to update the token Secret "
                    "after each rotation (FF_DISABLE_AUTOMATIC_TOKEN_ROTATION only logs a warning)",
                    ("E07",), data={"token_expires_at": exp})


def check_create_scope(ctx: CheckContext):
    cr = ctx.answers.gitlab.create_runner
    if cr is None:
        return ctx.skip("gitlab.create_runner is not used")
    token = ctx.secret("gitlab.create_runner.api_token")
    api = gitlab_api(ctx)
    try:
        info = api.token_self(token)
    except GitLabError as exc:
        if not exc.status:
            raise _transport(ctx, exc) from None
        if exc.status == 401:
            return ctx.fail("the API token was rejected (401): revoked, expired or mistyped",
                            "create a new access token with the create_runner scope")
        if exc.status == 404:
            return ctx.skip("this GitLab cannot report token scopes (GET /personal_access_tokens/self: 404)")
        return ctx.fail(f"GET /personal_access_tokens/self: {exc}")
    scopes = list(info.get("scopes") or [])
    data = {"scopes": scopes, "expires_at": info.get("expires_at")}
    if not ({"create_runner", "api"} & set(scopes)):
        return ctx.fail(f"the API token's scopes ({', '.join(scopes) or 'none'}) allow neither create_runner "
                        "nor api", "create an access token with the create_runner scope", data=data)
    if info.get("active") is False or info.get("revoked"):
        return ctx.fail("the API token is revoked or inactive", "create a new access token", data=data)
    return ctx.ok(f"the API token has the scopes {', '.join(scopes)} (create_runner is allowed)", data=data)


def check_create_rights(ctx: CheckContext):
    cr = ctx.answers.gitlab.create_runner
    if cr is None:
        return ctx.skip("gitlab.create_runner is not used")
    token = ctx.secret("gitlab.create_runner.api_token")
    if cr.runner_type != "instance_type":
        where = f"group {cr.group_id}" if cr.runner_type == "group_type" else f"project {cr.project_id}"
        return ctx.skip(f"cannot check without creating: GitLab needs the token's user to be Maintainer or "
                        f"Owner of {where}; apply reports a 403 if not")
    api = gitlab_api(ctx)
    try:
        scopes = set(api.token_self(token).get("scopes") or [])
    except GitLabError:
        scopes = set()
    if not ({"api", "read_user"} & scopes):
        return ctx.skip("instance runners need an administrator; the token's scopes do not allow reading "
                        "the user (GET /user), so this cannot be checked")
    try:
        user = api.current_user(token)
    except GitLabError as exc:
        return ctx.skip(f"GET /user failed ({exc}); cannot check administrator rights")
    if user.get("is_admin"):
        return ctx.ok(f"{user.get('username')} is an administrator: can create instance runners")
    return ctx.fail(f"{user.get('username')} is not an administrator: instance runners need one",
                    "use an administrator's token, or create a group_type/project_type runner")


CHECKS = [
    CheckSpec("gitlab.reachable", "gitlab", "gitlab", "GitLab answers at gitlab.url", check_reachable,
              timeout=6.0, catalog=("E29",)),
    CheckSpec("gitlab.version", "gitlab", "gitlab", "GitLab version", check_version, timeout=6.0,
              on_timeout=Status.WARN),
    CheckSpec("gitlab.token.type", "gitlab", "token", "Token type", check_token_type, timeout=3.0),
    CheckSpec("gitlab.token.valid", "gitlab", "token", "GitLab accepts the token", check_token_valid,
              timeout=8.0, catalog=("E07",)),
    CheckSpec("gitlab.token.expiry", "gitlab", "token", "Runner token expiry", check_token_expiry, timeout=8.0,
              on_timeout=Status.WARN),
    CheckSpec("gitlab.create_runner.scope", "gitlab", "token", "API token can create runners",
              check_create_scope, timeout=6.0),
    CheckSpec("gitlab.create_runner.rights", "gitlab", "token", "API token's user may create this runner type",
              check_create_rights, timeout=8.0, on_timeout=Status.WARN),
]
