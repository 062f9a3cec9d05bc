"""The check engine: checks are rows in a table, run concurrently with bounded time.

A :class:`CheckSpec` names one check (stable id, area, wizard step, title), the
function that runs it and what it needs. :func:`run_checks` expands per-item rows
(one per registry, host alias...), runs every independent check at once on daemon
threads (:class:`_DaemonRunner`, plain ``threading``), and emits each :class:`~wizard.results.Result` through
``on_result`` as it arrives. A check that overruns its deadline yields a
"no answer within Ns" result at that moment; the run never waits for its thread.

Expensive shared facts (the Kubernetes client, the GitLab client, the presented
TLS chain, resolved secrets, node lists) are computed once per run through
:meth:`CheckContext.fact` and shared by every check that asks.
"""

from __future__ import annotations

import copy
import fnmatch
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..answers import Answers
from ..errors import SecretUnavailable
from ..logsafe import redact
from ..results import Result, Status
from ..steps import FORM_STEP_IDS

STEPS: tuple[str, ...] = FORM_STEP_IDS
"""The wizard steps checks belong to (defined by :data:`wizard.steps.STEPS`)."""

RunFn = Callable[["CheckContext"], "Result | list[Result]"]


class Skip(Exception):
    """Raise inside a check (or a fact) to report ``skip`` with this reason."""

    def __init__(self, reason: str, catalog: Sequence[str] = ()):
        super().__init__(reason)
        self.reason = reason
        self.catalog = tuple(catalog)


class SecretMissing(Skip):
    """A secret the check needs cannot be read: the check cannot run, which is a failure
    (a "skip" would let ``check`` exit 0 without ever testing the token)."""

    fix = "set the environment variable or create the file the reference names, then run the check again"


@dataclass(frozen=True)
class CheckSpec:
    """One row of the check table."""

    id: str
    """Stable id; ``<n>`` is replaced by the item index for per-item rows."""
    area: str
    step: str
    title: str
    run: RunFn
    needs: tuple[str, ...] = ()
    """"kube" and/or "gitlab": when missing, the check reports skip with the reason."""
    after: tuple[str, ...] = ()
    """Ids whose results this check reads through :meth:`CheckContext.results_of`."""
    timeout: float = 6.0
    each: Callable[[Answers], list[Any]] | None = None
    """Per-item rows: one check per returned item, ``<n>`` = its index."""
    on_timeout: Status = Status.FAIL
    catalog: tuple[str, ...] = ()


@dataclass
class _Bound:
    spec: CheckSpec
    id: str
    index: int
    item: Any = None
    title: str = ""


class _DaemonRunner:
    """Runs jobs on at most ``limit`` daemon threads, started on demand.

    Built on ``threading`` alone: a job that never returns holds one daemon thread,
    never the caller and never the interpreter's exit. Jobs past the limit wait in
    a queue and start when a thread frees up; :meth:`close` drops those not started.
    """

    def __init__(self, limit: int, name: str = "check"):
        self._limit = max(1, limit)
        self._name = name
        self._lock = threading.Lock()
        self._backlog: deque[Callable[[], None]] = deque()
        self._running = 0
        self._started = 0
        self._closed = False

    def start(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("runner is closed")
            if self._running >= self._limit:
                self._backlog.append(job)
                return
            self._running += 1
            self._started += 1
            n = self._started
        threading.Thread(target=self._work, args=(job,), name=f"{self._name}_{n}", daemon=True).start()

    def _work(self, job: Callable[[], None]) -> None:
        while True:
            try:
                job()
            except BaseException:  # noqa: BLE001 - a job reports its own outcome; never kill the worker loop
                pass
            with self._lock:
                if self._closed or not self._backlog:
                    self._running -= 1
                    return
                job = self._backlog.popleft()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._backlog.clear()


class _StillWaiting(Exception):
    """A shared fact was not ready within the caller's deadline."""


class _Once:
    """A value computed once and awaited by many threads, with a bounded wait."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None

    def set(self, value: Any = None, error: BaseException | None = None) -> None:
        self._value, self._error = value, error
        self._ready.set()

    def get(self, timeout: float | None) -> Any:
        if not self._ready.wait(timeout):
            raise _StillWaiting
        if self._error is not None:
            raise self._error
        return self._value


_local = threading.local()


class CheckContext:
    """What a check sees: the answers, shared facts, and helpers to build results."""

    def __init__(self, answers: Answers, *, kubeconfig: str | None = None, context: str | None = None,
                 timeout_scale: float = 1.0, kube_opening: Any = None):
        self.answers = answers
        self.kube_opening = kube_opening
        """A :class:`wizard.kube.Opening` started earlier (e.g. while the answers were read)."""
        self.kubeconfig = kubeconfig
        self.context = context or answers.cluster.context
        self.timeout_scale = timeout_scale
        self._facts: dict[str, _Once] = {}
        self._lock = threading.Lock()
        self._results: dict[str, list[Result]] = {}
        self._done: dict[str, threading.Event] = {}
        self.secret_values: set[str] = set()
        # per-check view
        self.check_id = ""
        self.spec: CheckSpec | None = None
        self.item: Any = None
        self.index: int = 0
        self.title = ""

    # ---- per-check view

    def bind(self, b: _Bound) -> CheckContext:
        view = copy.copy(self)
        view.check_id, view.spec, view.item, view.index, view.title = b.id, b.spec, b.item, b.index, b.title
        return view

    @property
    def area(self) -> str:
        return self.spec.area if self.spec else ""

    def t(self, seconds: float) -> float:
        """A timeout scaled by ``timeout_scale``."""
        return seconds * self.timeout_scale

    # ---- results

    def result(self, status: Status | str, detail: str = "", fix: str = "", catalog: Iterable[str] = (),
               *, id: str | None = None, title: str | None = None, area: str | None = None,
               data: dict[str, Any] | None = None, evidence: Iterable[str] = ()) -> Result:
        return Result(id=id or self.check_id, area=area or self.area, status=Status(status),
                      title=title or self.title, detail=detail, fix=fix, catalog=tuple(catalog),
                      evidence=tuple(evidence), data=dict(data or {}))

    def ok(self, detail: str = "", **kw: Any) -> Result:
        return self.result(Status.PASS, detail, **kw)

    def warn(self, detail: str, fix: str = "", catalog: Iterable[str] = (), **kw: Any) -> Result:
        return self.result(Status.WARN, detail, fix, catalog, **kw)

    def fail(self, detail: str, fix: str = "", catalog: Iterable[str] = (), **kw: Any) -> Result:
        return self.result(Status.FAIL, detail, fix, catalog, **kw)

    def skip(self, detail: str, catalog: Iterable[str] = (), **kw: Any) -> Result:
        return self.result(Status.SKIP, detail, "", catalog, **kw)

    def results_of(self, check_id: str, timeout: float | None = None) -> list[Result]:
        """Results of another check (waits for it, within this check's deadline)."""
        ev = self._done.get(check_id)
        if ev is None:
            return []
        ev.wait(self._remaining(timeout))
        return list(self._results.get(check_id, []))

    # ---- shared facts

    def fact(self, key: str, compute: Callable[[], Any]) -> Any:
        """Compute ``compute()`` once per run; every caller gets the same value or exception.

        The value is shared, so it is computed without the deadline of the check that happened to
        ask first: a fact that waits for another fact (the GitLab client for the presented chain)
        must not store "still waiting" (or a fallback chosen because of it) for every later caller.
        Each caller still waits for the value only until its own deadline."""
        with self._lock:
            fut = self._facts.get(key)
            owner = fut is None
            if owner:
                fut = self._facts[key] = _Once()
        if owner:
            deadline = getattr(_local, "deadline", None)
            _local.deadline = None
            try:
                fut.set(compute())
            except BaseException as exc:  # noqa: BLE001 - re-raised to every waiter
                fut.set(error=exc)
            finally:
                _local.deadline = deadline
        try:
            return fut.get(timeout=self._remaining())
        except _StillWaiting:
            raise Skip(f"still waiting for {key.replace('_', ' ')}") from None

    def time_left(self) -> float | None:
        """Seconds until this check's deadline (None outside a check run by the engine)."""
        return self._remaining()

    def _remaining(self, cap: float | None = None) -> float | None:
        deadline = getattr(_local, "deadline", None)
        if deadline is None:
            return cap
        left = max(0.0, deadline - time.monotonic())
        return min(left, cap) if cap is not None else left

    def secret(self, field_path: str) -> str:
        """Resolve a secret reference once; raises Skip naming the missing env var or file."""
        refs = self.answers.secret_refs()
        ref = refs.get(field_path)
        if ref is None:
            raise Skip(f"{field_path} is not set")

        def resolve() -> str:
            value = ref.resolve(field_path)
            with self._lock:
                self.secret_values.add(value)
            return value

        try:
            return self.fact(f"secret:{field_path}", resolve)
        except SecretUnavailable as exc:
            raise SecretMissing(f"cannot run: the secret is not available: {exc.render()}") from None

    def register_secret(self, value: str | None) -> None:
        if value:
            with self._lock:
                self.secret_values.add(value)

    def secrets_now(self) -> tuple[str, ...]:
        """A snapshot of the secret values seen so far (other checks add to the set concurrently)."""
        with self._lock:
            return tuple(self.secret_values)

    # ---- common facts used by several areas

    def kube(self) -> Any:
        from ..kube import Kube, KubeError

        def connect() -> Any:
            if self.kube_opening is not None:
                opened = self.kube_opening.take(self.kubeconfig, self.context, wait=self._remaining())
                if opened is not None:
                    return opened
            k = Kube.connect(self.kubeconfig, self.context, timeout=self.t(4.0))
            k.version()  # prove it answers
            return k

        try:
            return self.fact("kube", connect)
        except KubeError as exc:
            raise Skip(f"no cluster: {exc.message}", ("E30",)) from None

    def alias_ip(self, host: str, target: str = "manager") -> str | None:
        """The host-alias IP for ``host`` that the given pod kind gets, if any."""
        for a in self.answers.host_aliases:
            if target in a.targets and host.lower() in (h.lower() for h in a.hostnames):
                return a.ip
        return None


def _expand(specs: Sequence[CheckSpec], answers: Answers) -> list[_Bound]:
    out: list[_Bound] = []
    for spec in specs:
        if spec.each is None:
            out.append(_Bound(spec, spec.id, 0, None, spec.title))
            continue
        for i, item in enumerate(spec.each(answers)):
            title = spec.title
            try:
                title = spec.title.format(item=item, n=i)
            except (AttributeError, KeyError, IndexError, ValueError):
                pass
            out.append(_Bound(spec, spec.id.replace("<n>", str(i)), i, item, title))
    return out


def _selected(b: _Bound, steps: Sequence[str] | None, ids: Sequence[str] | None) -> bool:
    if steps is not None and b.spec.step not in steps:
        return False
    if ids is not None:
        return any(b.id == p or fnmatch.fnmatchcase(b.id, p) or b.id.startswith(p.rstrip(".*") + ".")
                   for p in ids)
    return True


def _redacted(r: Result, secrets: Iterable[str]) -> Result:
    extra = sorted((s for s in secrets if s), key=len, reverse=True)
    data = {k: (redact(v, extra) if isinstance(v, str) else v) for k, v in r.data.items()}
    return replace(r, title=redact(r.title, extra), detail=redact(r.detail, extra), fix=redact(r.fix, extra),
                   evidence=tuple(redact(e, extra) for e in r.evidence), data=data)


def _call(ctx: CheckContext, b: _Bound, deadline: float) -> list[Result]:
    _local.deadline = deadline
    view = ctx.bind(b)
    try:
        for need in b.spec.needs:
            if need == "kube":
                view.kube()
        out = b.spec.run(view)
    except SecretMissing as s:
        out = view.fail(s.reason, s.fix, s.catalog)
    except Skip as s:
        out = view.skip(s.reason, s.catalog)
    except Exception as exc:  # a bug or an unexpected server answer: report it, never crash the run
        out = view.fail(f"the check itself failed: {type(exc).__name__}: {exc}",
                        "report this to the runner-wizard maintainers with --log-file output")
    finally:
        _local.deadline = None
    return [out] if isinstance(out, Result) else list(out)


def _warm_kube(ctx: CheckContext) -> None:
    try:
        ctx.kube()
    except Skip:  # the checks that need it report why
        pass


def run_specs(specs: Sequence[CheckSpec], answers: Answers, *, kubeconfig: str | None = None,
              context: str | None = None, steps: Sequence[str] | None = None,
              ids: Sequence[str] | None = None, on_result: Callable[[Result], None] | None = None,
              timeout_scale: float = 1.0, ctx: CheckContext | None = None) -> list[Result]:
    ctx = ctx or CheckContext(answers, kubeconfig=kubeconfig, context=context, timeout_scale=timeout_scale)
    plan = [b for b in _expand(specs, answers) if _selected(b, steps, ids)]
    order = {b.id: i for i, b in enumerate(plan)}
    for b in plan:
        ctx._done[b.id] = threading.Event()
    collected: dict[str, list[Result]] = {}

    def emit(b: _Bound, results: list[Result]) -> None:
        secrets = ctx.secrets_now()
        results = [_redacted(r, secrets) for r in results]
        collected[b.id] = results
        ctx._results[b.id] = results
        ctx._done[b.id].set()
        if on_result:
            for r in results:
                try:
                    on_result(r)
                except Exception:  # a UI callback must not break the run
                    pass

    runner = _DaemonRunner(min(160, max(4, len(plan)) + 1), "check")  # mostly I/O waits
    if any("kube" in b.spec.needs for b in plan):
        # Most checks wait for the cluster connection: open it (TLS handshake, /version) before
        # anything else competes for the interpreter.
        runner.start(lambda: _warm_kube(ctx))
    finished: queue.SimpleQueue[tuple[str, list[Result]]] = queue.SimpleQueue()
    pending: dict[str, tuple[_Bound, float]] = {}
    waiting = list(plan)

    def job(b: _Bound, deadline: float) -> None:
        try:
            results = _call(ctx, b, deadline)
        except BaseException as exc:  # noqa: BLE001 - SystemExit and the like inside a check
            results = [ctx.bind(b).fail(f"the check itself failed: {type(exc).__name__}")]
        finished.put((b.id, results))

    try:
        while waiting or pending:
            now = time.monotonic()
            still = []
            for b in waiting:
                if all(ctx._done[d].is_set() for d in b.spec.after if d in ctx._done):
                    deadline = now + b.spec.timeout * timeout_scale
                    pending[b.id] = (b, deadline)
                    runner.start(lambda b=b, deadline=deadline: job(b, deadline))
                else:
                    still.append(b)
            waiting = still
            if not pending:
                if waiting:  # unsatisfiable ordering: run them anyway
                    for b in waiting:
                        ctx._done[b.id].set()
                    continue
                break
            next_deadline = min(d for _, d in pending.values())
            arrived: list[tuple[str, list[Result]]] = []
            try:
                arrived.append(finished.get(timeout=max(0.0, next_deadline - time.monotonic())))
                while True:
                    arrived.append(finished.get_nowait())
            except queue.Empty:
                pass
            for bid, results in arrived:
                entry = pending.pop(bid, None)
                if entry is not None:  # an answer after its deadline was already reported as a timeout
                    emit(entry[0], results)
            now = time.monotonic()
            for bid, (b, deadline) in list(pending.items()):
                if now >= deadline:
                    del pending[bid]
                    secs = b.spec.timeout * timeout_scale
                    view = ctx.bind(b)
                    emit(b, [view.result(b.spec.on_timeout,
                                         f"no answer within {secs:g}s; the endpoint hangs or the network "
                                         "drops packets",
                                         "check firewalls and proxies between this machine and the target, "
                                         "then run the check again", b.spec.catalog)])
    finally:
        runner.close()
    out: list[Result] = []
    for b in sorted(collected, key=lambda i: order[i]):
        out.extend(collected[b])
    return out
