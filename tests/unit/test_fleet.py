"""The fleet model (``clusters:``) and the fleet runner's parts that need no cluster."""

from __future__ import annotations

import argparse
import copy
import io
import threading
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from wizard import fleet, fleet_cli
from wizard.cli import main
from wizard.errors import BadInput

BASE = {"version": 1,
        "gitlab": {"url": "https://gitlab.example.test/", "token": "env:RW_FLEET_UNIT_TOKEN"},
        "cluster": {"runner_namespace": "ci", "jobs_namespace": "jobs"},
        "runner": {"replicas": 2, "resources": {"cpu_limit": "2"}},
        "host_aliases": [{"ip": "10.0.0.1", "hostnames": ["gitlab.example.test"]}],
        "node_runtime": "containerd"}


def doc(*clusters: dict) -> dict:
    return {**copy.deepcopy(BASE), "clusters": list(clusters)}


def write(tmp_path: Path, raw: dict) -> Path:
    p = tmp_path / "answers.yaml"
    p.write_text(yaml.safe_dump(raw, sort_keys=False))
    return p


def test_merge_is_deep_for_mappings_and_replaces_lists():
    merged = fleet.merge(BASE, {"runner": {"resources": {"memory_limit": "2Gi"}}, "host_aliases": [],
                                "cluster": {"jobs_namespace": "jobs-eu"}})
    assert merged["runner"] == {"replicas": 2, "resources": {"cpu_limit": "2", "memory_limit": "2Gi"}}
    assert merged["host_aliases"] == [] and merged["cluster"] == {"runner_namespace": "ci", "jobs_namespace": "jobs-eu"}
    assert BASE["runner"]["resources"] == {"cpu_limit": "2"}  # the base is not touched


def test_each_member_is_the_base_with_its_overrides(tmp_path):
    f = fleet.from_raw(doc({"context": "eu"},
                           {"context": "us", "cluster": {"runner_namespace": "ci-us"}, "node_runtime": "cri-o",
                            "registries": [{"host": "registry.us.example.test"}]}), base_dir=tmp_path)
    eu, us = f.members()
    assert (eu.context, eu.answers.cluster.context, eu.answers.cluster.runner_namespace) == ("eu", "eu", "ci")
    assert (us.answers.cluster.context, us.answers.cluster.runner_namespace, us.answers.cluster.jobs_namespace) == \
        ("us", "ci-us", "jobs")
    assert us.answers.node_runtime == "cri-o" and eu.answers.node_runtime == "containerd"
    assert [r.host for r in us.answers.registries] == ["registry.us.example.test"] and eu.answers.registries == []
    assert str(us.answers.gitlab.token) == "env:RW_FLEET_UNIT_TOKEN"  # still a reference


def test_a_bad_override_is_named_by_its_entry_and_fails_only_that_member(tmp_path):
    f = fleet.from_raw(doc({"context": "eu"},
                           {"context": "us", "cluster": {"jobs_namespace": "Bad_NS"},
                            "host_aliases": [{"ip": "not-an-ip", "hostnames": ["x.example.test"]}],
                            "runner": {"resources": {"cpu_limit": "lots"}}}), base_dir=tmp_path, source="a.yaml")
    eu, us = f.members()
    assert eu.answers is not None and us.answers is None
    paths = {e.path for e in us.error.errors}
    assert {"clusters[1].cluster.jobs_namespace", "clusters[1].runner.resources.cpu_limit"} <= paths
    assert any(p.startswith("clusters[1].host_aliases[0]") for p in paths), paths
    assert "context us" in us.error.render()


def test_a_mistake_in_the_base_is_bad_input_for_the_whole_run(tmp_path):
    raw = doc({"context": "eu"}, {"context": "us"})
    raw["runner"] = {"replicas": "two"}
    f = fleet.from_raw(raw, base_dir=tmp_path)
    with pytest.raises(BadInput) as e:
        f.members()
    assert [x.path for x in e.value.errors] == ["runner.replicas"]


def test_a_base_filled_in_by_every_cluster_is_fine(tmp_path):
    raw = doc({"context": "eu", "gitlab": {"token": "env:EU_TOKEN"}},
              {"context": "us", "gitlab": {"token": "env:US_TOKEN"}})
    del raw["gitlab"]["token"]
    eu, us = fleet.from_raw(raw, base_dir=tmp_path).members()
    assert (str(eu.answers.gitlab.token), str(us.answers.gitlab.token)) == ("env:EU_TOKEN", "env:US_TOKEN")


@pytest.mark.parametrize(("clusters", "path", "words"), [
    ({"eu": {}}, "clusters", "must be a list"),
    ([], "clusters", "must be a list"),
    (["eu"], "clusters[0]", "must be a mapping"),
    ([{"cluster": {}}], "clusters[0].context", "is required"),
    ([{"context": "eu"}, {"context": "eu"}], "clusters[1].context", "also clusters[0]"),
    ([{"context": "eu", "clusterr": {}}], "clusters[0].clusterr", 'did you mean "cluster"'),
    ([{"context": "eu", "version": 2}], "clusters[0].version", "cannot be set per cluster"),
    ([{"context": "eu", "cluster": {"context": "us"}}], "clusters[0].cluster.context", "is set by clusters[0].context"),
])
def test_the_section_itself_is_checked(clusters, path, words):
    with pytest.raises(BadInput) as e:
        fleet.from_raw({**BASE, "clusters": clusters})
    assert any(x.path == path and words in x.message for x in e.value.errors), e.value.render()


def test_no_section_no_fleet_and_the_plain_parser_reads_the_base(tmp_path):
    from wizard.answers import load

    assert fleet.from_raw(BASE) is None
    a = load(write(tmp_path, doc({"context": "eu", "cluster": {"runner_namespace": "other"}})))
    assert a.cluster.runner_namespace == "ci"


def test_unknown_context_is_bad_input(tmp_path):
    f = fleet.from_raw(doc({"context": "eu"}), base_dir=tmp_path)
    with pytest.raises(BadInput) as e:
        f.members(["us"])
    assert e.value.errors[0].path == "--context" and "eu" in e.value.errors[0].message


def test_cli_structural_errors_exit_2_and_nothing_runs(tmp_path, capsys):
    p = write(tmp_path, doc({"context": "eu"}, {"node_runtime": "cri-o"}))
    rc = main(["check", "--answers", str(p), "--kubeconfig", str(write_kubeconfig(tmp_path)), "--all-contexts"])
    err = capsys.readouterr().err
    assert rc == 2 and "clusters[1].context: is required" in err and "nothing was written" in err


def test_cli_context_and_all_contexts_together_exit_2(tmp_path, capsys):
    p = write(tmp_path, BASE)
    rc = main(["check", "--answers", str(p), "--kubeconfig", str(write_kubeconfig(tmp_path)),
               "--context", "a", "--all-contexts"])
    assert rc == 2 and "--all-contexts" in capsys.readouterr().err


def test_cli_without_context_needs_the_current_one_in_clusters(tmp_path, capsys):
    p = write(tmp_path, doc({"context": "eu"}, {"context": "us"}))
    rc = main(["apply", "--answers", str(p), "--kubeconfig", str(write_kubeconfig(tmp_path, current="a"))])
    err = capsys.readouterr().err
    assert rc == 2 and "'a' is not one of them" in err and "--all-contexts" in err


def write_kubeconfig(tmp_path: Path, current: str = "a") -> Path:
    p = tmp_path / "kubeconfig"
    p.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": current,
                                 "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
                                 "users": [{"name": "u", "user": {}}],
                                 "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}}
                                              for n in ("a", "b")]}))
    return p


def test_repeated_context_keeps_the_last_as_the_context():
    from wizard.cli import build_parser

    args = build_parser().parse_args(["check", "--answers", "x", "--context", "a", "--context", "b"])
    assert args.context == "b" and args.contexts == ["a", "b"]
    args = build_parser().parse_args(["check", "--answers", "x", "--context", "a"])
    assert args.context == "a" and not fleet_cli.wants_fleet(args)


def test_wants_fleet_looks_for_a_top_level_clusters_key(tmp_path):
    p = write(tmp_path, doc({"context": "eu"}))
    ns = argparse.Namespace
    assert fleet_cli.wants_fleet(ns(answers=str(p), contexts=None, all_contexts=False))
    q = tmp_path / "plain.yaml"
    q.write_text("version: 1\ngitlab:\n  url: https://g.example.test/\n  # clusters: not this\n")
    assert not fleet_cli.wants_fleet(ns(answers=str(q), contexts=None, all_contexts=False))
    assert fleet_cli.wants_fleet(ns(answers=str(q), contexts=["a", "b"], all_contexts=False))
    assert not fleet_cli.wants_fleet(ns(answers=str(q), contexts=["a", "a"], all_contexts=False))
    assert fleet_cli.wants_fleet(ns(answers=None, contexts=None, all_contexts=True))


def test_each_member_gets_its_own_out_folder_and_bundle(tmp_path):
    from wizard.fleet import Member

    args = argparse.Namespace(out=str(tmp_path / "o"), bundle=str(tmp_path / "b.tar.gz"))
    members = [Member(0, "arn:aws:eks:eu-west-1:1:cluster/ci"), Member(1, "arn:aws:eks:eu-west-1:1:cluster/ci?")]
    a, b = fleet_cli._per_member_args(args, members)
    assert Path(a.out).parent == tmp_path / "o" and a.out != b.out
    assert "/" not in Path(a.out).name and ":" not in Path(a.out).name
    assert a.bundle.endswith(".tar.gz") and a.bundle != b.bundle and Path(a.bundle).parent == tmp_path


def test_output_is_routed_per_thread():
    inner = io.StringIO()
    local = threading.local()
    routed = fleet_cli._Routed(inner, local, "out")
    mine = io.StringIO()

    def worker():
        local.bufs = {"out": mine}
        print("from the cluster", file=routed)
        assert not routed.isatty()

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    print("from the main thread", file=routed)
    assert mine.getvalue() == "from the cluster\n" and inner.getvalue() == "from the main thread\n"


def test_summary_table_has_a_row_per_cluster_and_the_worst_exit():
    o = [fleet_cli.Outcome("eu", 0, exit=0, passed=30, failed=0, changes=4, verified=True),
         fleet_cli.Outcome("us", 1, exit=1, passed=2, failed=1, note="failed: cluster.reachable")]
    text = fleet_cli.summary_table("apply", o, 1.25)
    lines = text.splitlines()
    assert lines[0] == "apply on 2 clusters in 1.2s (exit 1, the worst):"
    assert lines[1].split() == ["CONTEXT", "PASSED", "FAILED", "CHANGES", "VERIFIED", "EXIT", "NOTE"]
    assert lines[2].split() == ["eu", "30", "0", "4", "yes", "0"]
    assert lines[3].split()[:6] == ["us", "2", "1", "-", "-", "1"] and lines[3].endswith("failed: cluster.reachable")


names = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(names, st.none() | names, st.none() | names, st.sampled_from(["auto", "cri-o", None])),
                min_size=1, max_size=5, unique_by=lambda t: t[0]))
def test_every_member_is_what_the_base_and_its_overrides_say(tmp_path_factory, entries):
    clusters = []
    for ctx, rns, jns, rt in entries:
        e: dict = {"context": ctx}
        cl = {k: v for k, v in (("runner_namespace", rns), ("jobs_namespace", jns)) if v}
        if cl:
            e["cluster"] = cl
        if rt:
            e["node_runtime"] = rt
        clusters.append(e)
    f = fleet.from_raw(doc(*clusters), base_dir=tmp_path_factory.getbasetemp())
    try:
        members = f.members()
    except BadInput:  # runner and jobs namespace equal: allowed only if the parser says so
        return
    for m, (ctx, rns, jns, rt) in zip(members, entries):
        if m.answers is None:
            assert all(e.path.startswith("clusters[") or e.path.startswith("cluster") for e in m.error.errors)
            continue
        c = m.answers.cluster
        assert (c.context, c.runner_namespace, c.jobs_namespace, m.answers.node_runtime) == \
            (ctx, rns or "ci", jns or "jobs", rt or "containerd")


def test_render_gitops_of_a_fleet(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RUNNER_WIZARD_CHART", raising=False)  # the engine fetches the chart: no local one
    p = write(tmp_path, doc({"context": "arn:aws:eks:eu-west-1:1:cluster/ci"},
                            {"context": "us", "cluster": {"jobs_namespace": "jobs-us"}}))
    assert main(["render", "--answers", str(p), "--out", str(tmp_path / "o"), "--gitops", "argocd"]) == 0
    root = tmp_path / "o" / "gitops-argocd"
    appset = yaml.safe_load((root / "applicationset.yaml").read_text())
    assert appset["kind"] == "ApplicationSet"
    elements = appset["spec"]["generators"][0]["list"]["elements"]
    assert [e["cluster"] for e in elements] == ["arn:aws:eks:eu-west-1:1:cluster/ci", "us"]
    assert [e["name"] for e in elements] == ["arn-aws-eks-eu-west-1-1-cluster-ci", "us"]
    assert 'namespace = "jobs-us"' in elements[1]["values"] and 'namespace = "jobs"' in elements[0]["values"]
    assert sorted(x.name for x in (root / "clusters").iterdir()) == ["arn-aws-eks-eu-west-1-1-cluster-ci", "us"]
    assert "--context us" in (root / "clusters" / "us" / "SECRETS.md").read_text()
    assert not (root / "application.yaml").exists()
    assert main(["render", "--answers", str(p), "--out", str(tmp_path / "f"), "--gitops", "flux"]) == 0
    assert (tmp_path / "f" / "gitops-flux" / "clusters" / "us" / "helmrelease.yaml").is_file()
    # one context of the fleet: today's single-cluster export, with that cluster's answers
    assert main(["render", "--answers", str(p), "--out", str(tmp_path / "one"), "--gitops", "argocd",
                 "--context", "us"]) == 0
    app = yaml.safe_load((tmp_path / "one" / "gitops-argocd" / "application.yaml").read_text())
    assert 'namespace = "jobs-us"' in app["spec"]["source"]["helm"]["valuesObject"]["runners"]["config"]


def test_render_gitops_of_a_fleet_with_a_bad_override_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("RUNNER_WIZARD_CHART", raising=False)
    p = write(tmp_path, doc({"context": "eu"}, {"context": "us", "node_runtime": "podman"}))
    assert main(["render", "--answers", str(p), "--out", str(tmp_path / "o"), "--gitops", "flux"]) == 2
    assert "clusters[1].node_runtime" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_wants_fleet_never_reads_a_fifo(tmp_path):
    import os

    fifo = tmp_path / "answers.fifo"
    os.mkfifo(fifo)
    assert not fleet_cli.mentions_clusters(fifo)  # returns at once: nothing writes to the FIFO
    assert not fleet_cli.mentions_clusters(tmp_path)  # a folder
    assert not fleet_cli.mentions_clusters(tmp_path / "missing.yaml")


def test_render_of_a_fleet_writes_each_clusters_artifacts(tmp_path, capsys):
    p = write(tmp_path, doc({"context": "eu"}, {"context": "us", "cluster": {"jobs_namespace": "jobs-us"}}))
    assert main(["render", "--answers", str(p), "--out", str(tmp_path / "o")]) == 0
    eu = yaml.safe_load((tmp_path / "o" / "eu" / "values.yaml").read_text())
    us = yaml.safe_load((tmp_path / "o" / "us" / "values.yaml").read_text())
    assert 'namespace = "jobs"' in eu["runners"]["config"] and 'namespace = "jobs-us"' in us["runners"]["config"]
    assert main(["render", "--answers", str(p), "--out", str(tmp_path / "one"), "--context", "us"]) == 0
    one = yaml.safe_load((tmp_path / "one" / "values.yaml").read_text())
    assert one == us
    bad = write(tmp_path, doc({"context": "eu"}, {"context": "us", "node_runtime": "podman"}))
    assert main(["render", "--answers", str(bad), "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


def test_a_context_with_a_direction_character_is_named_by_its_entry_and_never_printed_raw(tmp_path, capsys):
    raw = doc({"context": "eu\u202e"})
    f = fleet.from_raw(raw, base_dir=tmp_path, source="a.yaml")
    (member,) = f.members()
    assert member.answers is None and {e.path for e in member.error.errors} == {"clusters[0].context"}
    kc = tmp_path / "kubeconfig"  # loopback only; the bad context stops the member before any connection
    kc.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Config", "current-context": "eu\u202e",
                                  "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                                  "users": [{"name": "u", "user": {"token": "t"}}],
                                  "contexts": [{"name": "eu\u202e", "context": {"cluster": "c", "user": "u"}}]},
                                 allow_unicode=True))
    rc = main(["check", "--answers", str(write(tmp_path, raw)), "--all-contexts", "--kubeconfig", str(kc)])
    out, err = capsys.readouterr()
    assert rc == 2
    assert "\u202e" not in out + err and "eu\\u202e" in out + err
