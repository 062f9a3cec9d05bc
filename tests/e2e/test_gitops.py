"""GitOps export against the real schemas: the Flux and Argo CD CRDs from ../shared/crds are
installed into the test apiserver and every exported object is server-side dry-run with
strict field validation (an unknown or misspelt field fails)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from wizard.answers import load
from wizard.gitops import chart_source, export, objects
from wizard.kube import Kube, KubeError, object_path
from wizard.render import render

pytestmark = pytest.mark.envtest

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = ROOT / "tests" / "data" / "answers"
CASES = ["seed000", "seed001", "seed003", "seed004", "minimal"]
CRD_FILES = ["flux-helmrelease.yaml", "flux-helmrepository.yaml", "flux-ocirepository.yaml",
             "argocd-application.yaml"]
CUSTOM = {  # kind -> (api prefix, plural)
    "HelmRelease": ("/apis/helm.toolkit.fluxcd.io/v2", "helmreleases"),
    "HelmRepository": ("/apis/source.toolkit.fluxcd.io/v1", "helmrepositories"),
    "OCIRepository": ("/apis/source.toolkit.fluxcd.io/v1", "ocirepositories"),
    "Application": ("/apis/argoproj.io/v1alpha1", "applications"),
    "ApplicationSet": ("/apis/argoproj.io/v1alpha1", "applicationsets"),
}
CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def shared_crds() -> Path:
    """``shared/crds`` beside the repository (or one of its parents); RW_SHARED_DIR overrides."""
    if os.environ.get("RW_SHARED_DIR"):
        return Path(os.environ["RW_SHARED_DIR"]) / "crds"
    for d in ROOT.parents:
        if (d / "shared" / "crds").is_dir():
            return d / "shared" / "crds"
    pytest.fail(f"no shared/crds beside {ROOT} or its parents (set RW_SHARED_DIR)", pytrace=False)


def _path(obj: dict) -> str:
    if obj["kind"] in CUSTOM:
        prefix, plural = CUSTOM[obj["kind"]]
        m = obj["metadata"]
        return f"{prefix}/namespaces/{quote(m['namespace'])}/{plural}/{quote(m['name'])}"
    return object_path(obj)


def _contains(got, sent) -> bool:
    """Every field of ``sent`` is in ``got`` with the same value (the server may add defaults)."""
    if isinstance(sent, dict):
        return isinstance(got, dict) and all(k in got and _contains(got[k], v) for k, v in sent.items())
    if isinstance(sent, list):
        return isinstance(got, list) and len(got) == len(sent) and all(map(_contains, got, sent))
    return got == sent


def dry_run(kube: Kube, obj: dict) -> dict:
    return kube.request("PATCH", _path(obj), body=obj, content_type="application/apply-patch+yaml",
                        query={"fieldManager": "runner-wizard", "force": "true", "dryRun": "All",
                               "fieldValidation": "Strict"})


def install_crds(k: Kube, files: list[str]) -> None:
    """Server-side apply the CRDs of ``files`` (from shared/crds) and wait until each is established."""
    crds = [c for f in files for c in yaml.safe_load_all((shared_crds() / f).read_text()) if c]
    for crd in crds:
        k.request("PATCH", f"{CRD_PATH}/{crd['metadata']['name']}", body=crd,
                  content_type="application/apply-patch+yaml",
                  query={"fieldManager": "runner-wizard-tests", "force": "true"}, timeout=30)
    for _ in range(600):  # bounded: the apiserver establishes a CRD within moments
        pending = [c["metadata"]["name"] for c in crds
                   if not any(x["type"] == "Established" and x["status"] == "True"
                              for x in (k.get(f"{CRD_PATH}/{c['metadata']['name']}").get("status") or {})
                              .get("conditions") or [])]
        if not pending:
            return
        time.sleep(0.1)
    pytest.fail(f"CRDs never established: {pending}")


@pytest.fixture(scope="module")
def kube(envtest):
    k = Kube.connect(str(envtest.kubeconfig))
    try:
        install_crds(k, CRD_FILES)
        yield k
    finally:
        k.close()


def _answers_in_fresh_namespaces(case: str, k8s_ns):
    a = load(ANSWERS / f"{case}.yaml")
    c = a.cluster
    same = c.jobs_namespace == c.runner_namespace
    c.runner_namespace = k8s_ns("gor")
    c.jobs_namespace = c.runner_namespace if same else k8s_ns("goj")
    return a


MATRIX = [(case, engine, None) for case in CASES for engine in ("flux", "argocd")] + [
    ("seed000", engine, chart) for engine in ("flux", "argocd")
    for chart in ("oci://registry.example.com/charts/gitlab-runner", "https://charts.example.com/stable")]


@pytest.mark.parametrize(("case", "engine", "chart"), MATRIX)
def test_every_exported_object_passes_a_server_side_dry_run(kube, k8s_ns, case, engine, chart):
    a = _answers_in_fresh_namespaces(case, k8s_ns)
    argocd_ns = k8s_ns("argocd")
    files = export(render(a), engine, chart_source(chart, a.runner.chart_version), argocd_namespace=argocd_ns)
    objs = objects(files)
    kinds = {o["kind"] for o in objs}
    assert ({"HelmRelease"} <= kinds) if engine == "flux" else ("Application" in kinds)
    for obj in objs:
        try:
            out = dry_run(kube, obj)
        except KubeError as exc:
            pytest.fail(f"{obj['kind']} {obj['metadata'].get('name')}: {exc.status} {exc.message}")
        assert out["kind"] == obj["kind"]
        sent = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        assert _contains(out, sent), f"{obj['kind']}: the server dropped or changed a field we sent"
    if engine == "flux":
        release = next(o for o in objs if o["kind"] == "HelmRelease")
        assert dry_run(kube, release)["spec"]["values"] == render(a).values


def test_strict_dry_run_rejects_a_wrong_field(kube, k8s_ns):
    """The judge can say no: a misspelt HelmRelease field is refused."""
    a = _answers_in_fresh_namespaces("minimal", k8s_ns)
    files = export(render(a), "flux", chart_source(None, a.runner.chart_version))
    release = next(o for o in objects(files) if o["kind"] == "HelmRelease")
    release["spec"]["valuez"] = release["spec"].pop("values")
    with pytest.raises(KubeError) as exc:
        dry_run(kube, release)
    assert "valuez" in exc.value.message
