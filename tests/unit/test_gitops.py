"""GitOps export (render --gitops flux|argocd): golden files per seed, order, no secret inline.

Regenerate the golden files with ``RW_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_gitops.py``.
The real CRDs judge the objects in tests/e2e/test_gitops.py.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from runner_wizard import main
from wizard.answers import load
from wizard.errors import BadInput
from wizard.gitops import SYNC_WAVE, chart_source, export, objects
from wizard.render import render

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = ROOT / "tests" / "data" / "answers"
GOLDEN = ROOT / "tests" / "golden"
HELM_CASES = ["seed000", "seed001", "seed003", "seed004", "minimal"]
ENGINES = ["flux", "argocd"]
SECRET_VALUES = {"RUNNER_TOKEN": "glrt-FAKEgitopsTOKEN0001", "REG_TOKEN": "GR1348941FAKEgitopsREG0002",
                 "GITLAB_API_TOKEN": "glpat-FAKEgitopsAPI0003", "REG1_USER": "fakegitopsuser1",
                 "REG1_PASS": "FAKEgitops-pass-0004", "REG2_PASS": "FAKEgitops-pass-0005",
                 "GITLAB_REGISTRY_USER": "fakegitopsuser3", "HARBOR_USER": "fakegitopsharbor",
                 "HARBOR_PASS": "FAKEgitops-pass-0006", "REG_USER": "fakegitopsuser4",
                 "REG_PASS": "FAKEgitops-pass-0007"}
DEFAULT_CHART = chart_source(None, "0.86.0")



@pytest.fixture(autouse=True)
def _default_chart(monkeypatch: pytest.MonkeyPatch) -> None:
    """The export names the chart a GitOps engine fetches; the suite-wide local chart does not apply."""
    monkeypatch.delenv("RUNNER_WIZARD_CHART", raising=False)

def _export(case: str, engine: str, chart: str | None = None) -> dict[str, str]:
    a = load(ANSWERS / f"{case}.yaml")
    return export(render(a), engine, chart_source(chart, a.runner.chart_version))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", HELM_CASES)
def test_golden(case: str, engine: str) -> None:
    files = _export(case, engine)
    gdir = GOLDEN / case / f"gitops-{engine}"
    if os.environ.get("RW_UPDATE_GOLDEN") == "1":
        shutil.rmtree(gdir, ignore_errors=True)
        gdir.mkdir(parents=True)
        for rel, text in files.items():
            (gdir / rel).write_text(text)
    golden = {p.name: p.read_text() for p in gdir.iterdir() if p.is_file()}
    assert sorted(golden) == sorted(files), "set of files differs from the golden; RW_UPDATE_GOLDEN=1"
    for rel, text in files.items():
        assert text == golden[rel], f"{case}/gitops-{engine}/{rel} differs from the golden file"


@pytest.mark.parametrize("engine", ENGINES)
def test_no_secret_value_in_the_export(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in SECRET_VALUES.items():
        monkeypatch.setenv(k, v)
    for case in HELM_CASES:
        text = "".join(_export(case, engine).values())
        for v in SECRET_VALUES.values():
            assert v not in text, f"{case}: a secret value leaked into the export"
        for obj in objects(_export(case, engine)):
            if obj["kind"] == "Secret":  # only the GitLab CA (a public certificate) goes into Git
                assert set(obj["data"]) == {f"{load(ANSWERS / f'{case}.yaml').gitlab.host}.crt"}


@pytest.mark.parametrize("case", HELM_CASES)
def test_flux_layout_and_order(case: str) -> None:
    files = _export(case, "flux")
    kust = yaml.safe_load(files["kustomization.yaml"])
    assert kust["resources"] == ["manifests.yaml", "helmrepository.yaml", "helmrelease.yaml"]
    assert sorted(f for f in files if f.endswith(".yaml") and f != "kustomization.yaml") == sorted(kust["resources"])
    a = load(ANSWERS / f"{case}.yaml")
    r = render(a)
    own = yaml.safe_load_all(files["manifests.yaml"])
    assert [o for o in own if o] == [o for o in r.manifests if o["kind"] != "Secret" or o.get("data")]
    release = yaml.safe_load(files["helmrelease.yaml"])
    assert release["spec"]["values"] == r.values
    assert release["spec"]["releaseName"] == a.runner.release_name
    assert release["metadata"]["namespace"] == a.cluster.runner_namespace
    assert release["spec"]["chart"]["spec"]["version"] == a.runner.chart_version
    repo = yaml.safe_load(files["helmrepository.yaml"])
    assert repo["spec"]["url"] == "https://charts.gitlab.io"
    assert release["spec"]["chart"]["spec"]["sourceRef"] == {
        "kind": "HelmRepository", "name": repo["metadata"]["name"], "namespace": repo["metadata"]["namespace"]}


@pytest.mark.parametrize("case", HELM_CASES)
def test_argocd_layout_and_waves(case: str) -> None:
    files = _export(case, "argocd")
    assert sorted(files) == ["README.md", "SECRETS.md", "application.yaml", "manifests.yaml"]
    a = load(ANSWERS / f"{case}.yaml")
    r = render(a)
    own = [o for o in yaml.safe_load_all(files["manifests.yaml"]) if o]
    assert own and all(o["metadata"]["annotations"][SYNC_WAVE] == "-1" for o in own)
    app = yaml.safe_load(files["application.yaml"])
    assert int(app["metadata"]["annotations"][SYNC_WAVE]) > -1
    src = app["spec"]["source"]
    assert (src["repoURL"], src["chart"], src["targetRevision"]) == (
        "https://charts.gitlab.io", "gitlab-runner", a.runner.chart_version)
    assert src["helm"]["valuesObject"] == r.values
    assert app["spec"]["destination"]["namespace"] == a.cluster.runner_namespace


def test_oci_chart() -> None:
    ref = "oci://registry.example.com/charts/gitlab-runner"
    flux = _export("seed000", "flux", ref)
    assert "helmrepository.yaml" not in flux
    assert yaml.safe_load(flux["kustomization.yaml"])["resources"][1] == "ocirepository.yaml"
    oci = yaml.safe_load(flux["ocirepository.yaml"])
    assert oci["kind"] == "OCIRepository" and oci["spec"]["url"] == ref
    assert oci["spec"]["ref"] == {"tag": "0.86.0"}
    assert oci["spec"]["layerSelector"]["operation"] == "copy"
    rel = yaml.safe_load(flux["helmrelease.yaml"])
    assert "chart" not in rel["spec"]
    assert rel["spec"]["chartRef"] == {"kind": "OCIRepository", "name": "gitlab-runner", "namespace": "ci-system"}
    src = yaml.safe_load(_export("seed000", "argocd", ref)["application.yaml"])["spec"]["source"]
    assert (src["repoURL"], src["chart"]) == ("registry.example.com/charts", "gitlab-runner")


@pytest.mark.parametrize("ref", ["./chart", "/tmp/gitlab-runner-0.86.0.tgz", "mycharts/gitlab-runner",
                                 "oci://registry.example.com", "oci://r.example.com/charts/gitlab-runner:0.86.0"])
def test_chart_references_an_engine_cannot_fetch(ref: str) -> None:
    with pytest.raises(BadInput) as exc:
        chart_source(ref, "0.86.0")
    assert "--chart" in exc.value.render()


def test_chart_repository_url() -> None:
    c = chart_source("https://charts.example.com/stable/", "0.86.0")
    assert (c.kind, c.url, c.chart) == ("helm", "https://charts.example.com/stable", "gitlab-runner")
    assert chart_source("gitlab/gitlab-runner", "0.86.0") == DEFAULT_CHART


def test_external_mode_has_no_release_to_export() -> None:
    with pytest.raises(BadInput) as exc:
        _export("seed002", "flux")
    assert "cluster.mode" in exc.value.render()


def test_secrets_md_names_every_secret_left_out() -> None:
    a = load(ANSWERS / "seed000.yaml")
    text = _export("seed000", "flux")["SECRETS.md"]
    assert "create secret generic gitlab-runner-token" in text and '"$RUNNER_TOKEN"' in text
    for reg in a.registries:
        if reg.needs_pull_secret:
            assert f"--docker-server={reg.host}" in text
    assert "secrets/gitlab-registry-password" in text  # a file: reference is read, never copied
    assert '"$REG_TOKEN"' in _export("seed004", "flux")["SECRETS.md"]  # legacy registration token


# --------------------------------------------------------------------------- command line


def test_cli_writes_artifacts_and_the_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("RUNNER_WIZARD_CHART", raising=False)
    out = tmp_path / "out"
    assert main(["render", "--answers", str(ANSWERS / "seed000.yaml"), "--out", str(out), "--gitops", "argocd"]) == 0
    assert (out / "values.yaml").is_file() and (out / "manifests.yaml").is_file()
    assert sorted(p.name for p in (out / "gitops-argocd").iterdir()) == sorted(_export("seed000", "argocd"))
    assert str(out / "gitops-argocd" / "application.yaml") in capsys.readouterr().out


def test_cli_bad_chart_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("RUNNER_WIZARD_CHART", str(tmp_path / "gitlab-runner.tgz"))
    out = tmp_path / "out"
    rc = main(["render", "--answers", str(ANSWERS / "seed000.yaml"), "--out", str(out), "--gitops", "flux"])
    assert rc == 2
    assert "RUNNER_WIZARD_CHART" in capsys.readouterr().err
    assert not out.exists()


def test_cli_external_mode_exits_2(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    rc = main(["render", "--answers", str(ANSWERS / "seed002.yaml"), "--out", str(out), "--gitops", "flux"])
    assert rc == 2 and "cluster.mode" in capsys.readouterr().err
    assert not out.exists()


def test_cli_unknown_engine_exits_2(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["render", "--answers", str(ANSWERS / "seed000.yaml"), "--out", str(tmp_path), "--gitops", "fleet"])
    assert exc.value.code == 2
