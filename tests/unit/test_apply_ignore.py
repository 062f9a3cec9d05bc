"""``apply(ignore=...)``: failed checks the user accepted ("Continue anyway" in the wizard)
do not stop the run; the others still do."""

from __future__ import annotations

from typing import Any

from wizard.answers import parse
from wizard.apply import apply
from wizard.kube import KubeError
from wizard.results import Result, Status


class DownKube:
    """Every call fails: the run must get past the checks to notice."""

    context = "test"
    server = "https://127.0.0.1:1"

    def __getattr__(self, name: str) -> Any:
        def fail(*_a: Any, **_k: Any) -> Any:
            raise KubeError(503, "Service Unavailable", "test cluster is down")
        return fail


ANSWERS = {"version": 1, "gitlab": {"url": "https://gitlab.company.com/", "token": "env:RUNNER_TOKEN"},
           "node_runtime": "cri-o"}
FAILED = [Result("rbac.pods-attach", "rbac", Status.FAIL, "cannot create pods/attach", fix="add it"),
          Result("cluster.reachable", "cluster", Status.PASS, "reachable")]


def _run(tmp_path, ignore: tuple[str, ...]) -> tuple[Any, list[Any]]:
    events: list[Any] = []
    report = apply(parse(ANSWERS, check_files=False), kube=DownKube(), dry_run=True, assume_yes=True,
                   out_dir=tmp_path, reporter=events.append, checks=list(FAILED), ignore=ignore)
    return report, events


def test_failed_check_stops_without_ignore(tmp_path) -> None:
    report, _ = _run(tmp_path, ())
    assert report.stopped == "checks"


def test_accepted_failure_continues(tmp_path) -> None:
    report, events = _run(tmp_path, ("rbac.pods-attach",))
    assert report.stopped != "checks"
    assert any(e.step == "check" and e.status == "warn" and "ignored" in e.message for e in events)
    assert any(e.step in ("plan", "token", "apply") for e in events)


def test_ignoring_another_id_still_stops(tmp_path) -> None:
    report, _ = _run(tmp_path, ("something.else",))
    assert report.stopped == "checks"
