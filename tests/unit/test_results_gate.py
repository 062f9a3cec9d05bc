"""wizard.results: what a set of check results means for apply (gate), --ignore parsing, JSON."""

from __future__ import annotations

import json

from wizard.results import Result, Status, gate, parse_ignore, report_json, unknown_ignores


def r(id_: str, status: Status, apply=None) -> Result:
    return Result(id=id_, area=id_.split(".")[0], status=status, title=id_, apply=apply)


RESULTS = [
    r("gitlab.reachable", Status.FAIL),
    r("rbac.manager.pods.create", Status.WARN, "repairs"),
    r("cluster.sa.job", Status.WARN, "creates"),
    r("cluster.nodes.runtime", Status.WARN),
    r("tls.gitlab.trust", Status.PASS),
    r("registry.0.tls", Status.FAIL),
    r("dns.gitlab", Status.SKIP),
]


def test_gate_without_ignore():
    g = gate(RESULTS)
    assert [x.id for x in g.blocking] == ["gitlab.reachable", "registry.0.tls"]
    assert [x.id for x in g.warnings] == ["cluster.nodes.runtime"]
    assert [x.id for x in g.todo] == ["rbac.manager.pods.create", "cluster.sa.job"]
    assert g.ignored == () and not g.ok


def test_what_apply_creates_never_blocks_even_when_ignored_or_not():
    g = gate(RESULTS, {"all"})
    assert g.ok and not g.blocking and not g.warnings
    assert {x.id for x in g.todo} == {"rbac.manager.pods.create", "cluster.sa.job"}
    assert {x.id for x in g.ignored} == {"gitlab.reachable", "registry.0.tls", "cluster.nodes.runtime"}


def test_ignore_by_id_glob_and_prefix():
    assert [x.id for x in gate(RESULTS, {"gitlab.reachable"}).blocking] == ["registry.0.tls"]
    assert gate(RESULTS, {"gitlab.reachable", "registry.*"}).ok
    assert gate(RESULTS, {"gitlab", "registry.0"}).ok  # a prefix covers the ids below it
    assert not gate(RESULTS, {"gitlab.reach"}).ok       # but not a partial word


def test_parse_ignore():
    assert parse_ignore(None) == frozenset()
    assert parse_ignore(["a.b,c.d", " e ", ""]) == {"a.b", "c.d", "e"}
    assert parse_ignore("ALL") == {"all"}
    assert unknown_ignores({"all", "rbac.*", "gitlab.reachble"}, ["gitlab.reachable", "rbac.manager.x"]) == \
        ["gitlab.reachble"]


def test_json_lists_apply_and_ignored():
    doc = json.loads(report_json(RESULTS, {"gitlab.reachable"}))
    assert doc["apply"] == ["rbac.manager.pods.create", "cluster.sa.job"]
    assert doc["ignored"] == ["gitlab.reachable"]
    rows = {x["id"]: x for x in doc["results"]}
    assert rows["gitlab.reachable"]["ignored"] is True and rows["gitlab.reachable"]["status"] == "fail"
    assert rows["cluster.sa.job"]["apply"] == "creates" and rows["cluster.sa.job"]["status"] == "warn"
    assert "apply" not in rows["tls.gitlab.trust"] and "ignored" not in rows["registry.0.tls"]
    assert doc["summary"] == {"pass": 1, "warn": 3, "fail": 2, "skip": 1}
