"""GitOps export of an answers file with ``clusters``: the Argo CD ApplicationSet and the Flux
folders per cluster, server-side dry-run with strict field validation against the real CRDs
from ../shared/crds (as tests/e2e/test_gitops.py does for one cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.e2e.test_gitops import _contains, dry_run, install_crds
from wizard import fleet
from wizard.gitops import chart_source, export_fleet, objects
from wizard.kube import Kube, KubeError
from wizard.render import render

pytestmark = pytest.mark.envtest

CRDS = ["argocd-applicationset.yaml", "argocd-application.yaml", "flux-helmrelease.yaml",
        "flux-helmrepository.yaml", "flux-ocirepository.yaml"]


@pytest.fixture(scope="module")
def kube(envtest):
    k = Kube.connect(str(envtest.kubeconfig))
    try:
        install_crds(k, CRDS)
        yield k
    finally:
        k.close()


def fleet_export(tmp_path: Path, k8s_ns, engine: str, chart: str | None = None) -> tuple[dict, list]:
    ns = {c: (k8s_ns("gfr"), k8s_ns("gfj")) for c in ("eu", "us")}
    raw = {"version": 1, "gitlab": {"url": "https://gitlab.example.test/", "token": "env:RW_T"},
           "runner": {"chart_version": "0.86.0"},
           "clusters": [
               {"context": "eu", "cluster": {"runner_namespace": ns["eu"][0], "jobs_namespace": ns["eu"][1]}},
               {"context": "us", "cluster": {"runner_namespace": ns["us"][0], "jobs_namespace": ns["us"][1]},
                "runner": {"chart_version": "0.83.3"}, "node_runtime": "cri-o",
                "host_aliases": [{"ip": "10.0.0.9", "hostnames": ["gitlab.example.test"]}]}]}
    f = fleet.from_raw(raw, base_dir=tmp_path)
    members = [(m.context, render(m.answers), chart_source(chart, m.answers.runner.chart_version))
               for m in f.members()]
    return export_fleet(members, engine, argocd_namespace=k8s_ns("argocd")), members


@pytest.mark.parametrize("chart", [None, "oci://registry.example.com/charts/gitlab-runner"])
def test_applicationset_passes_a_server_side_dry_run(kube, k8s_ns, tmp_path, chart):
    files, members = fleet_export(tmp_path, k8s_ns, "argocd", chart)
    appset = yaml.safe_load(files["applicationset.yaml"])
    out = dry_run(kube, appset)
    assert _contains(out, {k: v for k, v in appset.items() if k not in ("apiVersion", "kind")})
    elements = out["spec"]["generators"][0]["list"]["elements"]
    assert [e["cluster"] for e in elements] == ["eu", "us"]
    assert [e["chartVersion"] for e in elements] == ["0.86.0", "0.83.3"]
    for e, (_, r, _) in zip(elements, members):  # each cluster's own values, whole
        assert yaml.safe_load(e["values"]) == r.values and e["namespace"] == r.answers.cluster.runner_namespace
    assert "10.0.0.9" in elements[1]["values"] and "10.0.0.9" not in elements[0]["values"]
    # every cluster's own objects (wave -1) are valid objects too
    own = [o for o in objects(files) if o["kind"] != "ApplicationSet"]
    assert {o["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] for o in own} == {"-1"}
    for obj in own:
        dry_run(kube, obj)


def test_flux_has_one_helmrelease_per_cluster_folder(kube, k8s_ns, tmp_path):
    files, members = fleet_export(tmp_path, k8s_ns, "flux")
    folders = sorted({f.split("/")[1] for f in files if f.startswith("clusters/")})
    assert folders == ["eu", "us"]
    for folder, (_, r, _) in zip(folders, members):
        releases = [d for d in yaml.safe_load_all(files[f"clusters/{folder}/helmrelease.yaml"]) if d]
        assert len(releases) == 1 and releases[0]["spec"]["values"] == r.values
    for obj in objects(files):
        try:
            dry_run(kube, obj)
        except KubeError as exc:
            pytest.fail(f"{obj['kind']} {obj['metadata'].get('name')}: {exc.status} {exc.message}")


def test_strict_dry_run_rejects_a_wrong_applicationset_field(kube, k8s_ns, tmp_path):
    files, _ = fleet_export(tmp_path, k8s_ns, "argocd")
    appset = yaml.safe_load(files["applicationset.yaml"])
    appset["spec"]["generatorz"] = appset["spec"].pop("generators")
    with pytest.raises(KubeError) as exc:
        dry_run(kube, appset)
    assert "generatorz" in exc.value.message
