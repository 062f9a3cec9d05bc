"""Shared state touched by several threads: each test forces the interleaving that broke (or would
break) it, and fails without the fix it names.

The interpreter is made to switch threads as often as it can (``sys.setswitchinterval``) and many
threads hit the same object at once; where an ordering matters, Events impose it. No test measures
time: a deadline is only the mechanism that makes a check give up, never an assertion.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from wizard.answers import load
from wizard.checks.engine import CheckSpec, Skip, run_specs
from wizard.results import Status

ANSWERS = load(Path(__file__).parents[1] / "data" / "answers" / "minimal.yaml")


@pytest.fixture
def switch_often():
    """Switch threads every microsecond (the default is every 5 ms) for the test's duration."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def spec(id_: str, run, **kw) -> CheckSpec:
    return CheckSpec(id=id_, area="test", step="cluster", title=id_, run=run, **kw)


# --------------------------------------------------------------------------- checks engine


def test_results_are_redacted_while_other_checks_add_secrets(switch_often):
    """engine.emit redacts each result with the secrets seen so far while other check threads add
    more (the CI failure behind 5f45a21: "Set changed size during iteration"). Fixed by a locked
    snapshot (CheckContext.secrets_now)."""
    adders, emitters = 4, 40
    stop, filling = threading.Event(), threading.Event()

    def adder(n: int):
        def run(ctx):
            i = 0
            while not stop.is_set() and i < 200_000:
                ctx.register_secret(f"secret-{n}-{i:06d}")
                i += 1
                if i == 2_000:
                    filling.set()
            return ctx.ok("added")
        return run

    done = []

    def emitter(ctx):
        filling.wait(60)  # a big set, still growing, when the results are redacted
        done.append(1)
        if len(done) == emitters:
            stop.set()
        return ctx.ok(f"detail with secret-0-000001 and secret-{len(done)}")

    specs = [spec(f"add{n}", adder(n), timeout=60) for n in range(adders)]
    specs += [spec(f"emit{n}", emitter, timeout=60) for n in range(emitters)]
    results = run_specs(specs, ANSWERS)
    stop.set()
    crashed = [r for r in results if "the check itself failed" in r.detail or "changed size" in r.detail]
    assert not crashed, crashed[0]
    assert all(r.status is Status.PASS for r in results), [r for r in results if r.status is not Status.PASS][:1]


def test_a_shared_fact_is_not_poisoned_by_the_deadline_of_the_check_that_computed_it():
    """A fact whose computation waits for another fact (the GitLab client waits for the presented
    chain to pick its CA) used to inherit the deadline of whichever check asked first: that check
    gave up waiting, the fact stored the fallback chosen because of it (no CA), and every later
    check got the fallback, however long it was willing to wait."""
    inner_started, release_inner = threading.Event(), threading.Event()

    def inner():
        inner_started.set()
        release_inner.wait(60)
        return "the real chain"

    def outer(ctx):
        try:
            return f"client trusting {ctx.fact('inner', inner)}"
        except Skip:
            return "client trusting nothing"  # as wizard.checks.tls.ca_pem falls back

    def first(ctx):  # starts the slow inner fact
        return ctx.ok(ctx.fact("inner", inner))

    def hasty(ctx):  # computes the outer fact, then runs out of time while it waits for the inner one
        inner_started.wait(60)
        return ctx.ok(ctx.fact("outer", lambda: outer(ctx)))

    def patient(ctx):  # runs after `hasty` gave up; lets the inner fact finish, then reads the outer one
        release_inner.set()
        return ctx.ok(ctx.fact("outer", lambda: "never computed here"))

    try:
        results = run_specs([spec("first", first, timeout=60), spec("hasty", hasty, timeout=0.3),
                             spec("patient", patient, timeout=60, after=("hasty",))], ANSWERS)
    finally:
        release_inner.set()
    by_id = {r.id: r for r in results}
    assert by_id["hasty"].status is Status.FAIL and "no answer within" in by_id["hasty"].detail
    assert by_id["patient"].detail == "client trusting the real chain", by_id["patient"]


# --------------------------------------------------------------------------- --log-file


def test_closing_the_log_file_while_check_threads_still_log(tmp_path, switch_often, capsys):
    """A check that overran its deadline keeps running on its daemon thread and logs when its socket
    gives up, after the command closed --log-file: logging then printed "--- Logging error ---" and
    a traceback (ValueError: I/O operation on closed file) to stderr."""
    import logging

    from wizard.cli import _close_logging, setup_logging

    log = logging.getLogger("wizard.checks.test")
    for _ in range(20):
        handler = setup_logging(str(tmp_path / "debug.log"))
        stop, logging_now = threading.Event(), threading.Event()

        def spam() -> None:
            while not stop.is_set():
                log.debug("gitlab GET /version: no answer after 4.00s")
                logging_now.set()

        threads = [threading.Thread(target=spam, daemon=True) for _ in range(6)]
        for t in threads:
            t.start()
        logging_now.wait(30)
        _close_logging(handler)
        stop.set()
        for t in threads:
            t.join(30)
    err = capsys.readouterr().err
    assert "Logging error" not in err and "Traceback" not in err, err[:2000]
    assert "no answer after" in (tmp_path / "debug.log").read_text()


# --------------------------------------------------------------------------- kube


def test_an_opened_connection_is_handed_to_one_taker(tmp_path, refused_port, switch_often):
    """kube.Opening.take checked and set "taken" without a lock: callers asking at once could all
    get the connection (or all get its error) instead of one of them."""
    from wizard.kube import KubeError, Opening

    kc = tmp_path / "kubeconfig"
    kc.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{refused_port}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: abc}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    for _ in range(150):
        opening = Opening(str(kc), None, timeout=5)
        assert opening._done.wait(30)
        gate = threading.Barrier(8, timeout=30)
        got: list[str] = []

        def take() -> None:
            gate.wait()
            try:
                got.append("connection" if opening.take(str(kc), None) is not None else "none")
            except KubeError:
                got.append("error")

        threads = [threading.Thread(target=take) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(got) == ["error"] + ["none"] * 7, got


def test_an_expired_exec_credential_is_refreshed_by_one_thread_at_a_time(tmp_path, refused_port, switch_often):
    """With an exec plugin (kubernetes package path) every request asks the package to refresh an
    expired credential; concurrent checks ran the plugin concurrently, each rewriting the shared
    client configuration. The refresh is serialized: the plugin never runs twice at once."""
    import json

    from wizard.kube import Kube, KubeError

    cred = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
            "status": {"token": "tok-exec-1234", "expirationTimestamp": "2000-01-01T00:00:00Z"}}
    plugin = tmp_path / "cred.sh"
    plugin.write_text(f"""#!/bin/sh
mkdir "{tmp_path}/running" 2>/dev/null || touch "{tmp_path}/overlap"
sleep 0.05
rmdir "{tmp_path}/running" 2>/dev/null
printf '%s' '{json.dumps(cred)}'
""")
    plugin.chmod(0o755)
    kc = tmp_path / "kubeconfig"
    kc.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{refused_port}",
                                               "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                  "command": str(plugin), "interactiveMode": "Never"}}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    kube = Kube.connect(str(kc), timeout=5)
    gate = threading.Barrier(6, timeout=30)

    def request() -> None:
        gate.wait()
        try:
            kube.get("/version")
        except KubeError:
            pass  # nothing listens: only the credential refresh before the request matters

    threads = [threading.Thread(target=request) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    kube.close()
    assert not (tmp_path / "overlap").exists(), "the exec plugin ran twice at once"


# --------------------------------------------------------------------------- diagnose


def test_what_diagnose_could_not_read_is_listed_in_one_order(switch_often):
    """The collectors run on a thread pool and append what they cannot read as they finish: the
    finding "N item(s) could not be read" (the first five) and the bundle's collect-errors.txt
    changed from run to run for the same cluster."""
    import random

    from wizard.diagnose.collect import Collector
    from wizard.kube import KubeError

    class Refusing:
        """Every read fails, each after a different pause."""

        def _no(self, *_a, **_kw):
            threading.Event().wait(random.random() / 500)
            raise KubeError(500, "InternalError", "etcd is overloaded")

        get = get_or_none = access_review = get_text = _no

    orders = {tuple(Collector(Refusing(), log_source=lambda *a: None).collect("ci", "gitlab-runner").errors)
              for _ in range(8)}
    assert len(orders) == 1, "\n---\n".join("\n".join(o) for o in orders)
    assert len(next(iter(orders))) > 5


# --------------------------------------------------------------------------- private files


def test_two_writers_of_the_external_config_toml_never_tear_it(tmp_path, switch_often):
    """wizard.tokens writes config.toml (it holds a bearer token) through a temporary file with a
    fixed name: two applies writing the same --out at once truncated each other's temporary file
    and one of them failed (FileNotFoundError) or left a mix. Each write now has its own file."""
    import stat

    from wizard.tokens import _write_private

    target = tmp_path / "config.toml"
    texts = {n: f"writer {n}\n" + f"token-{n}" * 2000 + "\n" for n in range(4)}
    errors: list[BaseException] = []
    gate = threading.Barrier(4, timeout=30)

    def writer(n: int) -> None:
        gate.wait()
        for _ in range(60):
            try:
                _write_private(target, texts[n])
            except BaseException as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)
                return

    threads = [threading.Thread(target=writer, args=(n,)) for n in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[0]
    assert target.read_text() in texts.values()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]  # no temporary file left


# --------------------------------------------------------------------------- the cluster's caches


def test_an_rbac_check_right_after_apply_waits_out_the_authorizer_cache():
    """Right after apply wrote the manager's Role and RoleBinding, the API server's authorizer may still
    deny for a moment (its informer cache lags, the more the busier the machine). The check retried ten
    times 0.1 s apart, about a second, and on a loaded CI machine reported FAIL ("another authorizer
    refuses it") for a grant that was in place. It now retries within its own deadline."""
    import time

    from wizard import names, rbac
    from wizard.checks import cluster
    from wizard.checks.engine import CheckContext

    a = ANSWERS
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "rules": rbac.role_rules(),
            "metadata": {"name": names.manager_role(a), "namespace": a.cluster.jobs_namespace}}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": {"name": names.manager_role(a), "namespace": a.cluster.jobs_namespace},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": names.manager_role(a)},
               "subjects": [{"kind": "ServiceAccount", "name": a.cluster.manager_service_account,
                             "namespace": a.cluster.runner_namespace}]}

    class LaggingAuthorizer:
        """Denies until 1.5 s after the first review, as an authorizer whose cache has not caught up."""

        first: float | None = None

        def access_review(self, **_kw):
            now = time.monotonic()
            self.first = self.first if self.first is not None else now
            return now - self.first >= 1.5, ""

        def get_or_none(self, path: str):
            return role if "/roles/" in path else binding if "/rolebindings/" in path else None

    ctx = CheckContext(a)
    fake = LaggingAuthorizer()
    ctx.fact("kube", lambda: fake)
    spec = next(c for c in cluster.CHECKS if c.id == "rbac.manager.pods.create")
    [r] = run_specs([spec], a, ctx=ctx)
    assert r.status is Status.PASS, r
