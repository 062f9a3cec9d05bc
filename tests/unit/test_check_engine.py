"""The check engine's scheduling: deadlines, ordering, shared facts, daemon threads.

Runs on plain ``threading``; no private interpreter API (CPython 3.14 changed the
internals the engine used to override)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from wizard.answers import load
from wizard.checks.engine import CheckSpec, Skip, _DaemonRunner, run_specs
from wizard.results import Status

ANSWERS = load(Path(__file__).parents[1] / "data" / "answers" / "minimal.yaml")
ROOT = Path(__file__).parents[2]


def spec(id_: str, run, **kw) -> CheckSpec:
    return CheckSpec(id=id_, area="test", step="cluster", title=id_, run=run, **kw)


@pytest.fixture
def release():
    ev = threading.Event()
    yield ev
    ev.set()  # let any check still blocked on it finish


def test_hung_check_reports_no_answer_and_does_not_hold_the_run(release):
    entered = threading.Event()

    def hang(ctx):
        entered.set()
        release.wait(120)
        return ctx.ok("late")

    seen = []
    results = run_specs([spec("a", lambda c: c.ok("fine")), spec("hung", hang, timeout=0.3),
                         spec("b", lambda c: c.warn("meh"))], ANSWERS, on_result=seen.append)
    assert entered.is_set()
    assert not release.is_set()  # the hung check is still inside its function: nobody waited for it
    assert [r.id for r in results] == ["a", "hung", "b"]  # table order, whatever the arrival order
    hung = results[1]
    assert hung.status is Status.FAIL
    assert "no answer within 0.3s" in hung.detail
    assert sorted(r.id for r in seen) == ["a", "b", "hung"]
    blocked = [t for t in threading.enumerate() if t.name.startswith("check_") and t.is_alive()]
    assert blocked and all(t.daemon for t in blocked)


def test_on_timeout_status_and_catalog_are_used(release):
    r = run_specs([spec("slow", lambda c: release.wait(120), timeout=0.2, on_timeout=Status.WARN,
                        catalog=("E30",))], ANSWERS)
    assert r[0].status is Status.WARN and r[0].catalog == ("E30",)


def test_timeout_scale_stretches_deadlines(release):
    r = run_specs([spec("slow", lambda c: release.wait(120), timeout=0.1)], ANSWERS, timeout_scale=3)
    assert "no answer within 0.3s" in r[0].detail


def test_a_process_with_a_hung_check_still_exits():
    code = (
        "import threading\n"
        "from wizard.answers import load\n"
        "from wizard.checks.engine import CheckSpec, run_specs\n"
        "never = threading.Event()\n"
        "def hang(ctx):\n    never.wait()\n"
        "a = load('tests/data/answers/minimal.yaml')\n"
        "r = run_specs([CheckSpec('hung', 't', 'cluster', 'hung', hang, timeout=0.2)], a)\n"
        "print(r[0].status.value)\n"
    )
    # a non-daemon worker would keep the interpreter alive forever; the timeout only guards the test run
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "fail"


def test_after_orders_checks_and_results_of_reads_them():
    order = []

    def first(ctx):
        order.append("first")
        return ctx.ok("one")

    def second(ctx):
        order.append("second")
        got = ctx.results_of("first")
        return ctx.ok(f"saw {got[0].detail}")

    r = run_specs([spec("second", second, after=("first",)), spec("first", first)], ANSWERS)
    assert order == ["first", "second"]
    assert r[0].detail == "saw one"


def test_unsatisfiable_after_still_runs():
    r = run_specs([spec("x", lambda c: c.ok(), after=("y",)), spec("y", lambda c: c.ok(), after=("x",))],
                  ANSWERS)
    assert [x.status for x in r] == [Status.PASS, Status.PASS]


def test_fact_is_computed_once_and_shared():
    calls = []
    gate = threading.Barrier(5, timeout=30)

    def compute():
        calls.append(1)
        return "value"

    def check(ctx):
        gate.wait()
        return ctx.ok(ctx.fact("shared", compute))

    r = run_specs([spec(f"c{i}", check) for i in range(5)], ANSWERS)
    assert len(calls) == 1
    assert {x.detail for x in r} == {"value"}


def test_fact_error_reaches_every_caller_even_a_timeout_error():
    def compute():
        raise TimeoutError("socket timed out")  # an I/O timeout is the fact's failure, not "still waiting"

    def check(ctx):
        ctx.fact("boom", compute)
        return ctx.ok()

    r = run_specs([spec("a", check), spec("b", check)], ANSWERS)
    for x in r:
        assert x.status is Status.FAIL
        assert "TimeoutError: socket timed out" in x.detail


def test_fact_not_ready_within_deadline_is_a_skip(release):
    computing = threading.Event()

    def compute():
        computing.set()
        release.wait(120)

    def owner(ctx):
        return ctx.ok(str(ctx.fact("slow_thing", compute)))

    def waiter(ctx):
        computing.wait(60)  # the owner is inside compute(): this caller only waits for it
        return ctx.ok(str(ctx.fact("slow_thing", lambda: "never used")))

    r = run_specs([spec("owner", owner, timeout=0.6), spec("waiter", waiter, timeout=0.3)], ANSWERS)
    assert r[0].status is Status.FAIL and "no answer within 0.6s" in r[0].detail
    # the waiter gives up at its own deadline; the run's deadline check may report it first
    assert (r[1].status, r[1].detail) == (Status.SKIP, "still waiting for slow thing") or (
        r[1].status is Status.FAIL and "no answer within 0.3s" in r[1].detail)


def test_skip_and_crash_are_reported():
    def skipper(ctx):
        raise Skip("not today", ("E01",))

    def crasher(ctx):
        raise ValueError("bad answer from server")

    r = run_specs([spec("s", skipper), spec("c", crasher)], ANSWERS)
    assert r[0].status is Status.SKIP and r[0].detail == "not today" and r[0].catalog == ("E01",)
    assert r[1].status is Status.FAIL and "ValueError: bad answer from server" in r[1].detail


def test_per_item_rows_and_selection():
    rows = spec("item.<n>", lambda c: c.ok(str(c.item)), each=lambda a: ["x", "y", "z"])
    r = run_specs([rows], ANSWERS)
    assert [(x.id, x.detail) for x in r] == [("item.0", "x"), ("item.1", "y"), ("item.2", "z")]
    r = run_specs([rows, spec("other", lambda c: c.ok())], ANSWERS, ids=["item.*"])
    assert [x.id for x in r] == ["item.0", "item.1", "item.2"]


def test_a_failing_ui_callback_does_not_break_the_run():
    def cb(_):
        raise RuntimeError("widget gone")

    r = run_specs([spec("a", lambda c: c.ok())], ANSWERS, on_result=cb)
    assert r[0].status is Status.PASS


def test_runner_is_bounded_and_drains_its_backlog():
    runner = _DaemonRunner(2, "t")
    lock = threading.Lock()
    now, peak, done = [0], [0], threading.Semaphore(0)
    go = threading.Event()

    def job():
        with lock:
            now[0] += 1
            peak[0] = max(peak[0], now[0])
        go.wait(60)
        with lock:
            now[0] -= 1
        done.release()

    for _ in range(6):
        runner.start(job)
    go.set()
    for _ in range(6):
        assert done.acquire(timeout=60)
    assert peak[0] == 2


def test_closed_runner_drops_jobs_not_started():
    runner = _DaemonRunner(1, "t")
    go, ran = threading.Event(), []
    runner.start(lambda: go.wait(60))
    runner.start(lambda: ran.append("late"))
    runner.close()
    go.set()
    with pytest.raises(RuntimeError):
        runner.start(lambda: None)
    assert ran == []


def test_engine_uses_no_private_executor_api():
    src = (ROOT / "wizard" / "checks" / "engine.py").read_text()
    for private in ("_adjust_thread_count", "_worker", "concurrent.futures.thread", "_work_queue"):
        assert private not in src
