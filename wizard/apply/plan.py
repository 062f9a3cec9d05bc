"""The plan: what apply will do, found read-only before anything is written.

:func:`build_plan` checks the runner token against GitLab (``wizard.tokens.plan_token``), takes the
objects render made (manifests and credentials Secrets), reads each one live and dry-runs it on the
server (created / changed / unchanged / conflict, with a readable diff), and names the Helm release
target. The dry run shows the plan; :func:`wizard.apply.execute.execute` carries it out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .. import diff as _diff
from .. import names
from ..kube import KubeError, object_path
from ..progress import CHANGED, FAIL, INFO, UNCHANGED, WARN

if TYPE_CHECKING:
    from ..answers import Answers
    from ..gitlab_api import GitLabAPI
    from ..helm import HelmTarget
    from ..kube import Kube
    from ..render import Rendered
    from ..tokens import TokenOutcome

CONFLICT = "conflict"
Action = Literal["created", "changed", "unchanged", "conflict"]
"""What apply does (did) to one object."""
Emit = Callable[..., None]
"""``emit(step, status, message, detail="", **data)``: one progress event."""


@dataclass
class ObjectResult:
    kind: str
    namespace: str | None
    name: str
    action: Action
    changes: list[_diff.Change] = field(default_factory=list)
    message: str = ""
    existed: bool = False
    applied: bool = False
    live: dict[str, Any] | None = field(default=None, repr=False)
    """The object as the cluster has it (None: absent), for ``--dry-run``'s diff."""
    wanted: dict[str, Any] | None = field(default=None, repr=False)
    """The server's dry-run result (or the object itself where the server cannot dry-run it)."""

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}" if self.namespace else f"{self.kind} {self.name}"


@dataclass
class Planned:
    """One object to apply and what the cluster has of it."""

    obj: dict[str, Any]
    result: ObjectResult
    token_secret: bool = False
    """The runner token's Secret: written after the runner exists (and with the restart marker)."""


@dataclass
class Plan:
    """Everything apply will do, found without writing anything."""

    answers: Answers
    rendered: Rendered
    out_dir: Path
    token: TokenOutcome
    objects: list[Planned]
    api: GitLabAPI | None = field(default=None, repr=False)
    """The GitLab API client for the token work (None: not needed)."""
    helm: HelmTarget | None = None
    """The Helm release to install or upgrade (None in ``mode: external``)."""

    @property
    def external(self) -> bool:
        return self.answers.cluster.mode == "external"

    @property
    def results(self) -> list[ObjectResult]:
        return [p.result for p in self.objects]

    @property
    def conflicts(self) -> list[ObjectResult]:
        return [p.result for p in self.objects if p.result.action == CONFLICT]

    @property
    def backups(self) -> list[dict[str, Any]]:
        """Objects that exist and will change: their live versions are saved first."""
        return [p.obj for p in self.objects if p.result.existed and p.result.action == _diff.CHANGED]

    def token_secret_object(self) -> dict[str, Any]:
        """The token Secret for the runner ``create_runner`` made (render's object, with the token and the
        runner's id now known)."""
        from ..render import token_secret_object

        return token_secret_object(self.answers, self.token.token, annotations=self.token.annotations())


PREFETCH_MAX_AGE = 1.0
"""Seconds a :class:`Prefetch` stays usable: older reads are made again (the plan describes the cluster as
it is when apply goes on, not as it was before a long check run)."""


class Prefetch:
    """The read-only part of :func:`build_plan` started early, on a daemon thread, while the live checks
    still run: the runner token's Secret and every object's live read and server-side dry run. Only
    where nothing in it can ask a question or call GitLab (a token given in the answers, not
    ``gitlab.create_runner``). :func:`build_plan` uses it when it is complete, fresh and for the same
    objects; otherwise (or when it failed) it plans as before. Dry runs change nothing, so a prefetch
    whose checks then fail leaves no trace."""

    def __init__(self, a: Answers, kube: Kube, rendered: Rendered, *, force: bool):
        import threading
        import time

        self._a, self._rendered, self._force = a, rendered, force
        self._done = threading.Event()
        self.token: TokenOutcome | None = None
        self.wanted: list[dict[str, Any]] = []
        self.results: list[ObjectResult | BaseException] = []
        self.finished_at = 0.0
        self._monotonic = time.monotonic

        def run() -> None:
            from .. import tokens as _tokens

            try:
                token = _tokens.plan_token(a, kube, None, values=rendered.values, ask=None)
                wanted = wanted_objects(a, rendered, token, None)
                self.results = plan_all(kube, wanted, force=force)
                self.token, self.wanted = token, wanted
            except BaseException:  # noqa: BLE001 - build_plan plans again and meets the problem itself
                self.token = None
            finally:
                self.finished_at = self._monotonic()
                self._done.set()

        threading.Thread(target=run, name="plan-prefetch", daemon=True).start()

    @staticmethod
    def possible(a: Answers) -> bool:
        return a.gitlab.create_runner is None

    def wait(self) -> None:
        self._done.wait()

    def take(self, a: Answers, rendered: Rendered, force: bool) -> Prefetch | None:
        """Itself when complete (waits for it), for these answers and objects, and fresh; else None."""
        self._done.wait()
        if self.token is None or a is not self._a or rendered is not self._rendered or force != self._force:
            return None
        if self._monotonic() - self.finished_at > PREFETCH_MAX_AGE:
            return None
        return self


def build_plan(a: Answers, kube: Kube, rendered: Rendered, out_dir: Path, *, ca_pem: str | None,
               gitlab: GitLabAPI | None, ask: Callable[[str, bool], bool], emit: Emit, force: bool,
               dry_run: bool, on_token: Callable[[Plan], None] | None = None,
               on_object: Callable[[ObjectResult], None] | None = None,
               prefetch: Prefetch | None = None) -> Plan:
    """Plan the token and every object (:func:`plan_release` adds the Helm release); an event for each.
    ``on_token(plan)`` is called once the token is planned, ``on_object(result)`` for each object planned, so
    the caller's report holds what was found even when a later read fails. ``prefetch``: the same reads
    made earlier (:class:`Prefetch`), used when still valid."""
    from .. import tokens as _tokens

    early = prefetch.take(a, rendered, force) if prefetch is not None else None
    api = gitlab
    if api is None and a.gitlab.create_runner is not None:
        from ..gitlab_api import GitLabAPI

        api = GitLabAPI(a.gitlab.url, ca_pem=ca_pem, timeout=5)
    token = early.token if early is not None and early.token is not None else \
        _tokens.plan_token(a, kube, api, values=rendered.values, ask=ask)
    plan = Plan(answers=a, rendered=rendered, out_dir=out_dir, token=token, objects=[], api=api)
    if on_token is not None:
        on_token(plan)
    for w in token.warnings:
        emit("token", WARN, w)
    emit("token", INFO, token.describe(), runner_id=token.runner_id, action=token.action)
    if token.orphans:
        emit("token", CHANGED, f"{'would delete' if dry_run else 'will delete'} runner(s) "
                               f"{', '.join('#' + str(i) for i in token.orphans)}: created for this install by an "
                               "apply that was stopped before it stored their token", runner_ids=token.orphans)
    wanted = wanted_objects(a, rendered, token, plan)
    planned = early.results if early is not None and early.wanted == wanted else plan_all(kube, wanted, force=force)
    for obj, res in zip(wanted, planned):
        if isinstance(res, BaseException):
            raise res
        is_token = is_token_secret(a, obj)
        if is_token and token.pending:
            res.message = "the token comes from the new runner"
        plan.objects.append(Planned(obj, res, token_secret=is_token))
        if on_object is not None:
            on_object(res)
        emit_object(emit, "plan", res, dry_run)
    return plan


def plan_release(plan: Plan, kube: Kube, *, kubeconfig: str | None, settings: Any) -> None:
    """Name the Helm release to install or upgrade (``mode: helm``); it looks for the helm binary and its
    repositories, so it runs once nothing stops the plan."""
    from .. import helm as _helm

    if plan.external:
        return
    plan.helm = _helm.target(plan.answers, plan.out_dir / "values.yaml", kubeconfig=kubeconfig,
                             context=kube.context, binary=_helm.find_helm(), settings=settings,
                             kube=kube)  # release reads: its Secret, no helm process


def wanted_objects(a: Answers, rendered: Rendered, token: TokenOutcome, plan: Plan | None) -> list[dict[str, Any]]:
    """What render made, as apply writes it, in render's order (namespaces first, Secrets last): the manifests
    without the opt-in service-account-token Secret, then the credentials Secrets, the token Secret as the
    token's source needs it."""
    ext_secret = names.external_token_secret(a)
    # The non-expiring service-account-token Secret is opt-in (--external-token secret);
    # wizard.tokens creates it then. The default is a TokenRequest token.
    objs = [m for m in rendered.manifests if not (m.get("kind") == "Secret" and m["metadata"]["name"] == ext_secret)]
    secrets = rendered.secret_objects()
    if token.source == "create_runner":
        assert plan is not None
        secrets = [s for s in secrets if not is_token_secret(a, s)] + [plan.token_secret_object()]
    elif a.cluster.mode != "helm":
        secrets = [s for s in secrets if not is_token_secret(a, s)]
    return objs + secrets


def is_token_secret(a: Answers, obj: dict[str, Any]) -> bool:
    m = obj.get("metadata") or {}
    return obj.get("kind") == "Secret" and m.get("name") == names.token_secret(a) and \
        m.get("namespace") == a.cluster.runner_namespace


def plan_all(kube: Kube, desired: list[dict[str, Any]], *, force: bool) -> list[ObjectResult | BaseException]:
    """Plan every object at once (each a live read plus a server-side dry run); the result or the
    error per object, in order. Namespaces first: objects in one that does not exist yet cannot be
    dry-run, so they are planned as created."""
    from concurrent.futures import ThreadPoolExecutor

    def plan(obj: dict[str, Any], new_namespaces: set[str]) -> ObjectResult | BaseException:
        try:
            return plan_object(kube, obj, force=force, new_namespaces=new_namespaces)
        except Exception as exc:  # noqa: BLE001 - raised by the caller in order
            return exc

    out: list[ObjectResult | BaseException] = [None] * len(desired)  # type: ignore[list-item]
    first = [i for i, o in enumerate(desired) if o["kind"] == "Namespace"]
    rest = [i for i, o in enumerate(desired) if o["kind"] != "Namespace"]
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="plan") as pool:
        for i, r in zip(first, pool.map(lambda i: plan(desired[i], set()), first)):
            out[i] = r
        new_namespaces = {desired[i]["metadata"]["name"] for i in first
                          if isinstance(out[i], ObjectResult) and out[i].action == _diff.CREATED}
        for i, r in zip(rest, pool.map(lambda i: plan(desired[i], new_namespaces), rest)):
            out[i] = r
    return out


def plan_object(kube: Kube, obj: dict[str, Any], *, force: bool, new_namespaces: set[str]) -> ObjectResult:
    meta = obj["metadata"]
    res = ObjectResult(obj["kind"], meta.get("namespace"), meta["name"], _diff.UNCHANGED)
    live = kube.get_or_none(object_path(obj))
    res.existed = live is not None
    if live is None and meta.get("namespace") in new_namespaces:
        # The namespace is only planned, so the server cannot dry-run objects inside it.
        res.action = _diff.CREATED
        res.changes = _diff.summary(obj)
        res.wanted = obj
        return res
    try:
        result = kube.apply(obj, dry_run=True, force=force)
    except KubeError as exc:
        if exc.conflict:
            res.action = CONFLICT
            res.message = exc.message
            return res
        raise
    res.action = _diff.classify(live, result)
    res.live, res.wanted = live, result
    res.changes = _diff.summary(result) if live is None else _diff.changes(live, result)
    return res


def emit_object(emit: Emit, step: str, res: ObjectResult, dry_run: bool) -> None:
    verb = {"created": "create", "changed": "change", "unchanged": "unchanged", CONFLICT: "CONFLICT"}[res.action]
    if res.action == _diff.UNCHANGED:
        emit(step, UNCHANGED, f"unchanged {res.ref}", action=res.action, kind=res.kind, name=res.name)
        return
    if res.action == CONFLICT:
        emit(step, FAIL, f"conflict {res.ref}: {res.message}", action=res.action, kind=res.kind, name=res.name)
        return
    if not dry_run and res.action == _diff.CREATED and not res.message:
        return  # reported when applied
    label = ("would " + verb) if dry_run else ("will " + verb)
    detail = _diff.render(res.changes) if (res.action == _diff.CHANGED or dry_run) else ""
    if res.message:
        detail = (detail + "\n" if detail else "") + f"    ({res.message})"
    emit(step, CHANGED, f"{label} {res.ref}", detail, action=res.action, kind=res.kind, name=res.name)
