"""What the manager pod really gets: ``helm template`` of the real upstream chart.

Every golden answers file in Helm mode is rendered for every chart version runner-wizard
targets (``runner.chart_version`` overridden to 0.77.2, 0.83.3 and 0.86.0), and the
packaged chart from ``../shared/charts`` is templated with the values.yaml render writes.
The assertions read the chart's own output: the Deployment, its volumes and mounts, the
ConfigMap with ``config.template.toml``. The names runner-wizard computes for the chart's
objects (:func:`wizard.names.chart_fullname`) and the chart facts per version
(:mod:`wizard.chart`) are held to what helm prints.
"""

from __future__ import annotations

import base64
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support import charts
from wizard import chart as chart_facts
from wizard import names
from wizard.answers import load
from wizard.errors import BadInput
from wizard.render import CERTS_DIR_MANAGER, Rendered, render

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = ROOT / "tests" / "data" / "answers"
CASES = sorted(p.stem for p in ANSWERS.glob("*.yaml") if load(p).cluster.mode == "helm")
VERSIONS = charts.VERSIONS
COMBOS = [(c, v) for c in CASES for v in VERSIONS]
FAKE_ENV = {"RUNNER_TOKEN": "glrt-FAKEtokenRUNNER0001", "REG_TOKEN": "GR1348941FAKEregistration0002",
            "GITLAB_API_TOKEN": "glpat-FAKEapiTOKEN0003", "REG_USER": "u", "REG_PASS": "FAKEpass",
            "REG1_USER": "u", "REG1_PASS": "FAKEpass", "REG2_PASS": "FAKEpass",
            "GITLAB_REGISTRY_USER": "u", "HARBOR_USER": "u", "HARBOR_PASS": "FAKEpass"}
TOKEN_KEYS = {"runner-token", "runner-registration-token"}


def _answers(case: str, version: str):
    a = load(ANSWERS / f"{case}.yaml")
    a.runner.chart_version = version
    return a


def _values_yaml(r: Rendered) -> str:
    return r.files["values.yaml"]


@pytest.fixture(scope="module")
def templated() -> dict[tuple[str, str], tuple[object, Rendered, charts.Output]]:
    """(case, version) -> (answers, rendered, helm template output); helm runs in parallel."""
    prepared = {}
    for case, version in COMBOS:
        a = _answers(case, version)
        r = render(a)
        prepared[(case, version)] = (a, r, charts.job(version, a.runner.release_name,
                                                         a.cluster.runner_namespace, _values_yaml(r)))
    outs = charts.template_many([j for _, _, j in prepared.values()])
    return {k: (a, r, outs[j.key]) for k, (a, r, j) in prepared.items()}


@pytest.fixture
def combo(request, templated):
    """(answers, rendered, helm output, (case, version)) for one golden file and chart version."""
    a, r, out = templated[request.param]
    assert out.returncode == 0, f"helm template failed for {request.param}:\n{out.stderr}"
    return a, r, out, request.param


def _pod(out: charts.Output, a) -> dict:
    return out.one("Deployment", names.deployment(a))["spec"]["template"]["spec"]


def _container(out: charts.Output, a) -> dict:
    (c,) = _pod(out, a)["containers"]
    return c


def _ids(p):
    return f"{p[0]}-{p[1]}"


parametrize_combos = pytest.mark.parametrize("combo", COMBOS, indirect=True, ids=[_ids(c) for c in COMBOS])


# --------------------------------------------------------------------------- objects and names


@parametrize_combos
def test_chart_objects_names_and_namespace(combo):
    a, r, out, _key = combo
    full = names.chart_fullname(a.runner.release_name)
    kinds = sorted(o["kind"] for o in out.objects)
    # rbac.create false and serviceAccount.create false: the chart makes no RBAC object, no
    # ServiceAccount, and (runners.secret) no token Secret of its own, in every version.
    assert kinds == ["ConfigMap", "Deployment"], kinds
    dep = out.one("Deployment", names.deployment(a))
    cm = out.one("ConfigMap", names.configmap(a))
    assert dep["metadata"]["name"] == cm["metadata"]["name"] == full
    assert dep["metadata"]["labels"]["chart"] == f"gitlab-runner-{a.runner.chart_version}"
    assert dep["spec"]["selector"]["matchLabels"] == {"app": names.app_label(a)}
    for o in out.objects:
        assert o["metadata"]["namespace"] == a.cluster.runner_namespace


@parametrize_combos
def test_manager_pod_service_account_aliases_replicas_image(combo):
    a, r, out, _key = combo
    dep = out.one("Deployment", names.deployment(a))
    pod = dep["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == a.cluster.manager_service_account
    want = [{"ip": h.ip, "hostnames": list(h.hostnames)} for h in a.host_aliases if "manager" in h.targets]
    assert pod.get("hostAliases", []) == want
    assert dep["spec"]["replicas"] == a.runner.replicas
    c = _container(out, a)
    runner = chart_facts.facts(a.runner.chart_version).runner_version
    assert c["image"] == f"registry.gitlab.com/gitlab-org/gitlab-runner:alpine-v{runner}"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["CI_SERVER_URL"] == a.gitlab.base_url
    # runners.config names the namespace, so the chart does not force its own
    assert "KUBERNETES_NAMESPACE" not in env
    prestop = ((c.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get("command")
    values = yaml.safe_load(r.files["values.yaml"])
    assert (prestop == ["/entrypoint", "unregister", "--all-runners"]) == values["unregisterRunners"]


@parametrize_combos
def test_token_secret_is_projected_with_both_keys(combo, monkeypatch):
    a, r, out, key = combo
    pod, c = _pod(out, a), _container(out, a)
    vols = {v["name"]: v for v in pod["volumes"]}
    sources = vols["projected-secrets"]["projected"]["sources"]
    tok = [s["secret"] for s in sources if s["secret"]["name"] == names.token_secret(a)]
    assert len(tok) == 1
    assert {i["key"] for i in tok[0]["items"]} == TOKEN_KEYS
    assert {i["path"] for i in tok[0]["items"]} == TOKEN_KEYS
    assert not tok[0].get("optional"), "a missing key must be visible, never silently optional"
    assert {"name": "projected-secrets", "mountPath": "/secrets"} in c["volumeMounts"]
    entry = out.one("ConfigMap", names.configmap(a))["data"]["entrypoint"]
    assert "cat /secrets/runner-token" in entry
    # the Secret runner-wizard creates under that name carries both keys
    for k, v in FAKE_ENV.items():
        monkeypatch.setenv(k, v)
    a2 = _answers(*key)
    a2.registries = []  # only the token Secret here
    env_refs = all(ref is None or ref.kind == "env" for ref in (a2.gitlab.token, a2.gitlab.registration_token))
    rr = render(a2) if env_refs and not a2.gitlab.create_runner else \
        render(a2, runner_token=FAKE_ENV["RUNNER_TOKEN"])  # API-created or file: token, as apply passes it
    (sec,) = rr.secret_objects()
    assert sec["metadata"] == {**sec["metadata"], "name": names.token_secret(a),
                               "namespace": a.cluster.runner_namespace}
    assert set(sec["data"]) == TOKEN_KEYS
    if a2.gitlab.registration_token is not None:
        assert base64.b64decode(sec["data"]["runner-registration-token"]) == FAKE_ENV["REG_TOKEN"].encode()


def _runner_ca_file_name(url: str) -> str:
    """The runner's lookup: ``strings.Split(url.Host, ":")[0] + ".crt"`` (network/client.go)."""
    netloc = urlsplit(url).netloc.rsplit("@", 1)[-1]
    return netloc.split(":")[0] + ".crt"


@parametrize_combos
def test_ca_secret_is_mounted_where_the_runner_looks(combo):
    a, r, out, _key = combo
    pod, c = _pod(out, a), _container(out, a)
    vols = {v["name"]: v for v in pod["volumes"]}
    if a.gitlab.ca is None:
        assert "custom-certs" not in vols
        return
    assert vols["custom-certs"]["secret"]["secretName"] == names.ca_secret(a)
    (mount,) = [m for m in c["volumeMounts"] if m["name"] == "custom-certs"]
    assert mount["readOnly"] is True
    # non-root (uid 100): the runner's certificate directory is $HOME/.gitlab-runner/certs
    uid = (pod.get("securityContext") or {}).get("runAsUser")
    assert uid not in (None, 0)
    assert mount["mountPath"].rstrip("/") == CERTS_DIR_MANAGER == "/home/gitlab-runner/.gitlab-runner/certs"
    url = {e["name"]: e.get("value") for e in c["env"]}["CI_SERVER_URL"]
    (ca_sec,) = [m for m in r.manifests if m["kind"] == "Secret" and m["metadata"]["name"] == names.ca_secret(a)
                 and m["metadata"]["namespace"] == a.cluster.runner_namespace]
    keys = list(ca_sec.get("data") or {})
    run = tomllib.loads(out.one("ConfigMap")["data"]["config.template.toml"])["runners"][0]
    if "tls-ca-file" in run:  # IPv6 literal: the lookup by name cannot work, the file is named
        assert run["tls-ca-file"] in {f"{CERTS_DIR_MANAGER}/{k}" for k in keys}
    else:
        assert keys == [_runner_ca_file_name(url)]
        assert ":" not in keys[0]


@parametrize_combos
def test_config_template_carries_runners_config(combo):
    a, r, out, _key = combo
    cm = out.one("ConfigMap", names.configmap(a))["data"]
    assert tomllib.loads(cm["config.template.toml"]) == tomllib.loads(r.config_template)
    assert "--template-config /configmaps/config.template.toml" in cm["register-the-runner"]
    pod = _pod(out, a)
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["configmaps"]["configMap"]["name"] == names.configmap(a)
    assert {"name": "configmaps", "mountPath": "/configmaps"} in _container(out, a)["volumeMounts"]
    (run,) = tomllib.loads(cm["config.template.toml"])["runners"]
    assert "url" not in run and "token" not in run
    k = run["kubernetes"]
    assert k["namespace"] == a.cluster.jobs_namespace
    assert k["service_account"] == a.cluster.job_service_account
    jobs_aliases = [{"ip": h.ip, "hostnames": list(h.hostnames)} for h in a.host_aliases if "jobs" in h.targets]
    assert k.get("host_aliases", []) == jobs_aliases
    assert k.get("image_pull_secrets", []) == names.pull_secrets(a)
    secret_vols = (k.get("volumes") or {}).get("secret") or []
    if a.gitlab.ca is not None:
        assert {"name": names.ca_secret(a), "mount_path": "/etc/gitlab-runner/certs", "read_only": True} \
            in secret_vols
    else:
        assert secret_vols == []
    glob = tomllib.loads(cm["config.toml"])
    assert glob["concurrent"] == a.runner.concurrent and glob["check_interval"] == a.runner.check_interval
    assert ("listen_address" in glob) == bool(a.runner.metrics)


@parametrize_combos
def test_every_value_render_writes_is_read_by_the_chart(combo):
    a, r, _out, _key = combo
    values = yaml.safe_load(r.files["values.yaml"])
    assert charts.unread_keys(a.runner.chart_version, values) == []


def test_unread_key_detector_can_fail():
    """The detector flags what a version ignores, and only that."""
    v = {"runners": {"privileged": True, "jobNamespace": "j"}, "namespace": "n", "extraEnvFromRefs": [],
         "resources": {"limits": {"cpu": "1"}}, "serviceAccount": {"name": "x"}}
    assert charts.unread_keys("0.77.2", v) == ["runners.privileged", "runners.jobNamespace", "namespace",
                                               "extraEnvFromRefs"]
    assert charts.unread_keys("0.83.3", v) == ["runners.privileged", "runners.jobNamespace"]
    assert charts.unread_keys("0.86.0", v) == ["runners.privileged"]


def test_braces_survive_the_charts_tpl():
    a = _answers("minimal", "0.86.0")
    a.runner.environment = ["GREETING={{hello}}", "REL={{ .Release.Name }}"]
    r = render(a)
    out = charts.template("0.86.0", a.runner.release_name, a.cluster.runner_namespace, _values_yaml(r))
    assert out.returncode == 0, out.stderr
    run = tomllib.loads(out.one("ConfigMap")["data"]["config.template.toml"])["runners"][0]
    assert run["environment"] == ["GREETING={{hello}}", "REL={{ .Release.Name }}"]


# --------------------------------------------------------------------------- names, differential

_R50 = "r" * 36 + "-gitlab-runner"               # 50 characters, contains the chart name but not first
_R53 = "gitlab-runner-" + "x" * 39                 # 53 (Helm's limit), starts with the chart name
RELEASES = ["gitlab-runner", "x-gitlab-runner", "gitlab-runner-x", "my-gitlab", "r" * 50, _R50, _R53,
            "g" * 49]
OVERRIDES = [{}, {"nameOverride": "runner"}, {"nameOverride": "my"},
             {"fullnameOverride": "a" * 62 + "-b"}, {"fullnameOverride": "custom-" + "c" * 70},
             {"fullnameOverride": "a" * 61 + "--"}]


def _name_jobs():
    base = {"gitlabUrl": "https://gitlab.example/", "runners": {"secret": "tok"}}
    out = []
    for rel in RELEASES:
        for ov in OVERRIDES:
            out.append((rel, ov, charts.job("0.86.0", rel, "ns", {**base, **ov})))
    for v in VERSIONS[:-1]:
        for rel in ("x-gitlab-runner", "r" * 50):
            out.append((rel, {}, charts.job(v, rel, "ns", base)))
    return out


def test_chart_fullname_equals_helm():
    jobs = _name_jobs()
    outs = charts.template_many([j for _, _, j in jobs])
    assert len(RELEASES[4]) == 50 and len(_R50) == 50 and len(_R53) == 53
    for rel, ov, j in jobs:
        out = outs[j.key]
        assert out.returncode == 0, out.stderr
        want = names.chart_fullname(rel, ov)
        dep = out.one("Deployment")
        assert dep["metadata"]["name"] == want, (rel, ov)
        assert out.one("ConfigMap")["metadata"]["name"] == want
        assert dep["metadata"]["labels"]["app"] == want
        assert dep["spec"]["template"]["spec"]["containers"][0]["name"] == want
        assert len(want) <= 63


def test_answers_release_names_map_to_the_charts_deployment(tmp_path):
    for rel in ("gitlab-runner", "x-gitlab-runner", "gitlab-runner-x", "r" * 50, _R53):
        p = tmp_path / "a.yaml"
        p.write_text(yaml.safe_dump({"version": 1, "gitlab": {"url": "https://gitlab.example/",
                                                                "token": "env:RUNNER_TOKEN"},
                                     "runner": {"release_name": rel}}))
        a = load(p)
        out = charts.template(a.runner.chart_version, rel, a.cluster.runner_namespace, _values_yaml(render(a)))
        assert out.returncode == 0, out.stderr
        out.one("Deployment", names.deployment(a))
        out.one("ConfigMap", names.configmap(a))


def test_a_63_character_release_is_refused_by_helm_and_by_the_answers(tmp_path):
    rel = "r" * 63
    out = charts.template("0.86.0", rel, "ns", {"runners": {"secret": "tok"}})
    assert out.returncode != 0 and "53" in out.stderr
    p = tmp_path / "a.yaml"
    p.write_text(yaml.safe_dump({"version": 1, "gitlab": {"url": "https://gitlab.example/",
                                                            "token": "env:RUNNER_TOKEN"},
                                 "runner": {"release_name": rel}}))
    with pytest.raises(BadInput) as exc:
        load(p)
    assert "runner.release_name" in str(exc.value) and "53" in str(exc.value)


# --------------------------------------------------------------------------- version differences


@pytest.mark.parametrize("version", VERSIONS)
def test_chart_facts_match_the_package(version):
    files = charts.chart_files(version)
    meta = yaml.safe_load(files["gitlab-runner/Chart.yaml"])
    f = chart_facts.facts(version)
    assert meta["version"] == version and f.tested
    assert str(meta["appVersion"]) == f.runner_version
    assert meta["name"] == names.CHART_NAME


RBAC_VARIANTS = [{}, {"runners": {"jobNamespace": "jobs-ns"}}, {"namespace": "other-ns"},
                 {"namespace": "other-ns", "runners": {"jobNamespace": "jobs-ns"}}]


def test_where_each_version_puts_its_role_and_deployment():
    """rbac.create puts the Role beside the Deployment before 0.84.0, in runners.jobNamespace after;
    the top-level ``namespace`` value exists from 0.83.0."""
    jobs = []
    for v in VERSIONS:
        for var in RBAC_VARIANTS:
            values = {"rbac": {"create": True}, "runners": {"secret": "tok", **(var.get("runners") or {})},
                      **({"namespace": var["namespace"]} if "namespace" in var else {})}
            jobs.append((v, values, charts.job(v, "gitlab-runner", "rel-ns", values)))
    outs = charts.template_many([j for *_, j in jobs])
    seen = {}
    for v, values, j in jobs:
        out = outs[j.key]
        assert out.returncode == 0, out.stderr
        role, rb = out.one("Role"), out.one("RoleBinding")
        want = chart_facts.role_namespace(v, values, "rel-ns")
        assert role["metadata"]["namespace"] == rb["metadata"]["namespace"] == want, (v, values)
        assert out.one("Deployment")["metadata"]["namespace"] == \
            chart_facts.manager_namespace(v, values, "rel-ns"), (v, values)
        assert out.one("ServiceAccount")["metadata"]["namespace"] == rb["subjects"][0]["namespace"]
        seen[(v, j.values_yaml)] = want
    # the three versions really differ for {"runners": {"jobNamespace": ...}}
    assert chart_facts.role_namespace("0.77.2", {"runners": {"jobNamespace": "j"}}, "r") == "r"
    assert chart_facts.role_namespace("0.83.3", {"runners": {"jobNamespace": "j"}}, "r") == "r"
    assert chart_facts.role_namespace("0.86.0", {"runners": {"jobNamespace": "j"}}, "r") == "j"


def test_secret_from_runner_token_value_has_both_keys_in_every_version():
    """The chart's own token Secret (runnerToken in values; render never writes it) has the same
    two keys the Deployment projects, in every version."""
    jobs = [charts.job(v, "gitlab-runner", "ns", {"runnerToken": "glrt-x"}) for v in VERSIONS]
    outs = charts.template_many(jobs)
    for j in jobs:
        sec = outs[j.key].one("Secret", "gitlab-runner")
        assert set(sec["data"]) == TOKEN_KEYS
        assert base64.b64decode(sec["data"]["runner-token"]) == b"glrt-x"


@pytest.mark.parametrize("version", VERSIONS)
def test_diagnose_values_rbac_fix_puts_the_role_where_it_can_work(version):
    """diagnose's ``values.rbac`` fix (manager on the default ServiceAccount): from 0.84.0 it also sets
    runners.jobNamespace so the chart's Role lands in the jobs namespace; before, the chart cannot
    put it there, and the E17 advice says so."""
    from wizard.diagnose.analyzers import _chart_role_hint
    from wizard.diagnose.collect import ClusterState, ReleaseRef
    from wizard.diagnose.fixes import plan_values_rbac

    defaults = yaml.safe_load(charts.chart_files(version)["gitlab-runner/values.yaml"])
    st = ClusterState(namespace="rel-ns", release="gitlab-runner", fullname="gitlab-runner",
                      jobs_namespace="jobs-ns", chart_defaults=defaults,
                      release_ref=ReleaseRef("rel-ns", "gitlab-runner", "gitlab-runner",
                                             chart=f"gitlab-runner-{version}"),
                      values={"gitlabUrl": "https://gitlab.example/", "runners": {
                          "secret": "tok", "config": '[[runners]]\n  [runners.kubernetes]\n    namespace = "jobs-ns"\n'}})
    (change,) = plan_values_rbac(st, None, None)  # type: ignore[arg-type]
    out = charts.template(version, "gitlab-runner", "rel-ns", change.values)
    assert out.returncode == 0, out.stderr
    f = chart_facts.facts(version)
    assert out.one("Role")["metadata"]["namespace"] == ("jobs-ns" if f.role_in_jobs_namespace else "rel-ns")
    sa = out.one("ServiceAccount")["metadata"]
    assert out.one("RoleBinding")["subjects"] == [{"kind": "ServiceAccount", "name": sa["name"],
                                                   "namespace": "rel-ns"}]
    assert out.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == sa["name"]
    assert charts.unread_keys(version, change.values) == []
    hint = _chart_role_hint(st)
    assert ("runners.jobNamespace: jobs-ns" in hint) == f.role_in_jobs_namespace


# --------------------------------------------------------------------------- which versions render targets


def _answers_with_version(tmp_path: Path, version: str) -> Path:
    p = tmp_path / "a.yaml"
    p.write_text(yaml.safe_dump({"version": 1, "gitlab": {"url": "https://gitlab.example/",
                                                          "token": "env:RUNNER_TOKEN"},
                                 "runner": {"chart_version": version}}))
    return p


@pytest.mark.parametrize("version", ["0.65.0", "0.53.2"])
def test_a_chart_older_than_service_account_values_is_bad_input(tmp_path, version):
    with pytest.raises(BadInput) as exc:
        load(_answers_with_version(tmp_path, version))
    msg = str(exc.value)
    assert "runner.chart_version" in msg and "0.66.0" in msg and '"0.86.0"' in msg


@pytest.mark.parametrize("version", VERSIONS)
def test_tested_versions_render_without_warning(tmp_path, version):
    a = load(_answers_with_version(tmp_path, version))
    r = render(a)
    assert chart_facts.version_warning(version) is None
    assert "WARNING" not in r.files["values.yaml"] and "not one runner-wizard is tested with" \
        not in r.files["NEXT-STEPS.md"]
    assert f"--version {version} " in r.files["NEXT-STEPS.md"]


def test_an_untested_version_renders_with_a_clear_warning(tmp_path, capsys, monkeypatch):
    from wizard.cli import main

    p = _answers_with_version(tmp_path, "0.87.1")
    a = load(p)
    r = render(a)
    assert "WARNING: gitlab-runner chart 0.87.1 is not one runner-wizard is tested with" in r.files["values.yaml"]
    assert "0.77.2, 0.83.3, 0.86.0" in r.files["NEXT-STEPS.md"]
    f = chart_facts.facts("0.87.1")
    assert not f.tested and f.runner_version == "18.9.0" and f.role_in_jobs_namespace
    assert chart_facts.facts("0.80.0").runner_version == "18.0.2"
    monkeypatch.setenv("RUNNER_TOKEN", FAKE_ENV["RUNNER_TOKEN"])
    assert main(["render", "--answers", str(p), "--out", str(tmp_path / "out")]) == 0
    assert "warning: gitlab-runner chart 0.87.1 is not one" in capsys.readouterr().err


@pytest.mark.parametrize("version", VERSIONS)
def test_the_dry_run_job_pod_uses_the_helper_of_the_charts_runner(version):
    from wizard.checks.cluster import job_pod

    a = _answers("minimal", version)
    meta = yaml.safe_load(charts.chart_files(version)["gitlab-runner/Chart.yaml"])
    images = {c["name"]: c["image"] for c in job_pod(a)["spec"]["containers"]}
    assert images["helper"] == ("registry.gitlab.com/gitlab-org/gitlab-runner/gitlab-runner-helper:"
                                f"x86_64-v{meta['appVersion']}")


def test_real_users_get_the_gitlab_chart_repository_at_the_answers_version(tmp_path, monkeypatch):
    """Without --chart the release comes from https://charts.gitlab.io at chart_version
    (no helm is run here; the test suite itself always points at a local .tgz)."""
    from wizard import helm
    from wizard.settings import DEFAULTS

    a = load(_answers_with_version(tmp_path, "0.83.3"))
    t = helm.target(a, tmp_path / "values.yaml", binary=None, settings=DEFAULTS)
    argv = t.upgrade_argv()
    assert argv[:5] == ["helm", "upgrade", "--install", "gitlab-runner", "gitlab-runner"]
    assert argv[argv.index("--repo") + 1] == "https://charts.gitlab.io"
    assert argv[argv.index("--version") + 1] == "0.83.3"


def test_the_suite_points_helm_at_a_local_chart():
    from wizard import helm

    from wizard.settings import from_env

    for v in VERSIONS:  # through the variable the conftest guard sets: what apply, diagnose and the TUI read
        assert Path(helm.chart_reference(v, from_env().chart)) == charts.chart_tgz(v), \
            "a helm call in a test would fetch the chart from a repository"


def test_helm_multi_error_output_keeps_the_reason():
    import subprocess

    from wizard import helm

    stderr = ('Release "x" does not exist. Installing it now.\nError: 1 error occurred:\n'
              '\t* ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value\n\n')
    err = helm.error_from(subprocess.CompletedProcess([], 1, "", stderr), what="helm upgrade --install")
    assert err.message == 'helm upgrade --install failed: ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value'
    stderr = "Error: UPGRADE FAILED: cannot patch:\n* a\n* b\n"
    err = helm.error_from(subprocess.CompletedProcess([], 1, "", stderr), what="helm upgrade")
    assert err.message == "helm upgrade failed: UPGRADE FAILED: cannot patch: a; b"
    err = helm.error_from(subprocess.CompletedProcess([], 1, "", "Error: plain reason\n"), what="helm list")
    assert err.message == "helm list failed: plain reason"


def test_a_folder_of_packaged_charts_resolves_to_the_answers_version(monkeypatch, tmp_path):
    from wizard import helm

    from wizard.settings import Settings

    d = charts.shared_charts_dir()
    for v in VERSIONS:
        a = load(_answers_with_version(tmp_path, v))
        t = helm.target(a, tmp_path / "values.yaml", binary=None, settings=Settings(chart=str(d)))
        assert t.chart == str(d / f"gitlab-runner-{v}.tgz") and t.repo_url is None
        assert helm.local_chart_version(t.chart) == v
    fault = str(ROOT / "tests" / "data" / "fault-chart" / "gitlab-runner")
    assert helm.chart_reference("0.86.0", fault).endswith("fault-chart/gitlab-runner")
    assert helm.local_chart_version(helm.chart_reference("0.86.0", fault)) == "0.86.0"


def test_a_local_chart_of_another_version_is_refused_before_helm_runs(monkeypatch, tmp_path):
    """helm ignores --version for a local chart; apply must not install 0.86.0 for answers that say 0.83.3."""
    from wizard import helm

    from wizard.settings import Settings

    a = load(_answers_with_version(tmp_path, "0.83.3"))
    t = helm.target(a, tmp_path / "values.yaml", binary="/nonexistent/helm",
                    settings=Settings(chart=str(charts.chart_tgz("0.86.0"))))
    with pytest.raises(helm.HelmError) as exc:
        helm.upgrade(t)
    assert "is version 0.86.0, but runner.chart_version is 0.83.3" in exc.value.message
    assert "gitlab-runner-0.83.3.tgz" in exc.value.next_step
