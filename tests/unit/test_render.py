"""render: golden files per answers case, and what matters to a Kubernetes engineer.

Regenerate the golden files with ``RW_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_render.py``.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import tomllib
from pathlib import Path

import pytest
import yaml

from wizard import names, rbac
from wizard.answers import load
from wizard.tls import ca_from_file, fetch_chain, fingerprint, load_ca_pem, trusted_from_chain
from wizard.tls import parse_ca_bundle as parse_pem_bundle
from wizard.errors import BadInput, SecretUnavailable
from wizard.render import Rendered, render, write

ROOT = Path(__file__).resolve().parents[2]
ANSWERS = ROOT / "tests" / "data" / "answers"
GOLDEN = ROOT / "tests" / "golden"
CASES = ["seed000", "seed001", "seed002", "seed003", "seed004", "minimal"]

FAKE = {
    "RUNNER_TOKEN": "glrt-FAKEtokenRUNNER0001",
    "REG_TOKEN": "GR1348941FAKEregistration0002",
    "GITLAB_API_TOKEN": "glpat-FAKEapiTOKEN0003",
    "REG1_USER": "fakeuser1", "REG1_PASS": "FAKEpass-reg1-0004",
    "REG2_PASS": "FAKEpass-reg2-0005",
    "GITLAB_REGISTRY_USER": "fakeuser3",
    "HARBOR_USER": "fakeharbor", "HARBOR_PASS": "FAKEpass-harbor-0006",
    "REG_USER": "fakeuser4", "REG_PASS": "FAKEpass-reg-0007",
}
FILE_SECRETS = {"secrets/runner-token": "glrt-FAKEtokenFROMFILE0008\n",
                "secrets/gitlab-registry-password": "FAKEpass-file-0009\n"}
SECRET_VALUES = [v.strip() for v in FAKE.values() if v.startswith(("glrt-", "GR13", "glpat-", "FAKE"))] + \
                [v.strip() for v in FILE_SECRETS.values()]

# Keys the 0.86.0 chart templates read (facts §1.1); anything else in values.yaml is silently ignored.
CHART_KEYS = {
    "gitlabUrl", "runnerToken", "runnerRegistrationToken", "unregisterRunners", "replicas",
    "certsSecretName", "concurrent", "checkInterval", "shutdown_timeout", "logLevel", "logFormat",
    "sentryDsn", "connectionMaxAge", "terminationGracePeriodSeconds", "image", "imagePullPolicy",
    "imagePullSecrets", "useTini", "rbac", "serviceAccount", "automountServiceAccountToken",
    "hostAliases", "metrics", "service", "sessionServer", "envVars", "extraEnv", "extraEnvFrom",
    "extraEnvFromRefs", "securityContext", "podSecurityContext", "nodeSelector", "tolerations",
    "affinity", "topologySpreadConstraints", "priorityClassName", "runtimeClassName", "schedulerName",
    "resources", "secrets", "volumes", "volumeMounts", "extraContainers", "extraObjects", "configMaps",
    "preEntrypointScript", "deploymentLifecycle", "strategy", "hpa", "probeTimeoutSeconds",
    "livenessProbe", "readinessProbe", "hostname", "podLabels", "podAnnotations", "deploymentLabels",
    "deploymentAnnotations", "namespace", "runners",
}
RUNNERS_KEYS = {"cache", "config", "configPath", "executor", "jobNamespace", "locked", "maximumTimeout",
                "name", "namespace", "protected", "runUntagged", "secret", "tags"}
SUB_KEYS = {"rbac": {"create", "rules", "clusterWideAccess", "podSecurityPolicy"},
            "serviceAccount": {"create", "name", "annotations", "imagePullSecrets"},
            "metrics": {"enabled", "port", "portName", "serviceMonitor", "podMonitor"}}


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for k, v in FAKE.items():
        monkeypatch.setenv(k, v)
    return tmp_path


def _load(case: str, tmp_path: Path | None = None):
    a = load(ANSWERS / f"{case}.yaml")
    if tmp_path is not None:
        # file: refs resolve against the answers folder; point them at a temp copy instead.
        for rel, text in FILE_SECRETS.items():
            p = tmp_path / "answers" / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        a.base_dir = tmp_path / "answers"
        for ref in a.secret_refs().values():
            object.__setattr__(ref, "base_dir", a.base_dir)
        for f in ("company-root-ca.pem", "registry-ca.pem", "helm-test-ca.pem"):
            (a.base_dir / f).write_bytes((ANSWERS / f).read_bytes())
    return a


def _rendered(case: str) -> Rendered:
    return render(_load(case))


def _manifests(r: Rendered) -> list[dict]:
    return [d for d in yaml.safe_load_all(r.files["manifests.yaml"]) if d]


# --------------------------------------------------------------------------- golden


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, tmp_path: Path) -> None:
    r = _rendered(case)
    out = tmp_path / "out"
    write(r, out)
    written = {str(p.relative_to(out)): p.read_text() for p in out.rglob("*") if p.is_file()}
    assert written == r.files
    gdir = GOLDEN / case
    own = [p for p in gdir.rglob("*") if p.is_file() and not p.relative_to(gdir).parts[0].startswith("gitops-")]
    if os.environ.get("RW_UPDATE_GOLDEN") == "1":  # gitops-*/ belong to test_gitops.py
        for p in own:
            p.unlink()
        for rel, text in written.items():
            (gdir / rel).parent.mkdir(parents=True, exist_ok=True)
            (gdir / rel).write_text(text)
        own = [p for p in gdir.rglob("*") if p.is_file() and not p.relative_to(gdir).parts[0].startswith("gitops-")]
    golden = {str(p.relative_to(gdir)): p.read_text() for p in own}
    assert sorted(golden) == sorted(written), "set of files differs from the golden; RW_UPDATE_GOLDEN=1"
    for rel in written:
        assert written[rel] == golden[rel], f"{case}/{rel} differs from the golden file"


@pytest.mark.parametrize("case", CASES)
def test_deterministic(case: str) -> None:
    assert _rendered(case).files == _rendered(case).files


@pytest.mark.parametrize("case", CASES)
def test_every_output_parses(case: str) -> None:
    r = _rendered(case)
    for rel, text in r.files.items():
        if rel.endswith((".yaml", ".yml")) or rel.endswith("kubeconfig"):
            list(yaml.safe_load_all(text))
        elif rel.endswith((".toml", ".conf")) and "service.d" not in rel:
            tomllib.loads(text)
        elif rel.endswith(".crt"):
            assert parse_pem_bundle(text)
    tomllib.loads(r.config_template)
    if r.values:
        assert yaml.safe_load(r.files["values.yaml"]) == r.values


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("case", CASES)
def test_no_secret_in_any_file_without_with_secrets(case: str, secrets_env: Path) -> None:
    out = secrets_env / "out"
    paths = write(render(_load(case, secrets_env)), out)
    assert not (out / "secrets.yaml").exists()
    for p in paths:
        text = p.read_text()
        for value in SECRET_VALUES:
            assert value not in text, f"{value} leaked into {p.name}"
            assert base64.b64encode(value.encode()).decode() not in text


@pytest.mark.parametrize("case", ["seed000", "seed003", "seed004", "minimal"])
def test_with_secrets(case: str, secrets_env: Path) -> None:
    a = _load(case, secrets_env)
    out = secrets_env / "out"
    write(render(a), out, with_secrets=True)
    sec = out / "secrets.yaml"
    assert stat.S_IMODE(sec.stat().st_mode) == 0o600
    for p in out.rglob("*"):
        if p.is_file() and p != sec:
            assert stat.S_IMODE(p.stat().st_mode) in (0o644, 0o755)
    docs = [d for d in yaml.safe_load_all(sec.read_text()) if d]
    token = next(d for d in docs if d["metadata"]["name"] == names.token_secret(a))
    assert token["metadata"]["namespace"] == a.cluster.runner_namespace
    data = {k: base64.b64decode(v).decode() for k, v in token["data"].items()}
    assert set(data) == {"runner-token", "runner-registration-token"}
    for v in data.values():
        assert v == v.strip()
    if a.gitlab.registration_token:
        assert data == {"runner-token": "", "runner-registration-token": FAKE["REG_TOKEN"]}
    elif case == "seed003":
        assert data["runner-token"] == "glrt-FAKEtokenFROMFILE0008"
    else:
        assert data == {"runner-token": FAKE["RUNNER_TOKEN"], "runner-registration-token": ""}
    pulls = [d for d in docs if d["type"] == "kubernetes.io/dockerconfigjson"]
    assert sorted(d["metadata"]["name"] for d in pulls) == sorted(names.pull_secrets(a))
    for d in pulls:
        assert d["metadata"]["namespace"] == a.cluster.jobs_namespace
        cfg = json.loads(base64.b64decode(d["data"][".dockerconfigjson"]))
        (host, entry), = cfg["auths"].items()
        assert base64.b64decode(entry["auth"]).decode() == f"{entry['username']}:{entry['password']}"
    if case == "seed000":
        cfg = json.loads(base64.b64decode(next(d for d in pulls if "5555" in d["metadata"]["name"])
                                          ["data"][".dockerconfigjson"]))
        assert cfg["auths"]["192.168.80.14:5555"]["password"] == "FAKEpass-file-0009"


def test_missing_secret_names_field_and_writes_nothing(secrets_env: Path, monkeypatch) -> None:
    monkeypatch.delenv("REG2_PASS")
    out = secrets_env / "out"
    with pytest.raises(SecretUnavailable) as exc:
        write(render(_load("seed000", secrets_env)), out, with_secrets=True)
    assert exc.value.errors[0].path == "registries[1].password"
    assert not out.exists() or not any(out.iterdir())


def test_create_runner_token_comes_from_apply(secrets_env: Path) -> None:
    a = _load("seed001", secrets_env)
    assert all(d["metadata"]["name"] != names.token_secret(a) for d in render(a).secret_objects())
    objs = render(a, runner_token="glrt-FROMAPI\n").secret_objects()
    tok = next(d for d in objs if d["metadata"]["name"] == names.token_secret(a))
    assert base64.b64decode(tok["data"]["runner-token"]) == b"glrt-FROMAPI"
    assert render(a, runner_token="glrt-x").values["unregisterRunners"] is True
    assert render(a, runner_token="acme-glrt-x").values["unregisterRunners"] is False


# --------------------------------------------------------------------------- values.yaml


def _walk_keys(d: dict, prefix: str = ""):
    for k, v in d.items():
        yield f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _walk_keys(v, f"{prefix}{k}.")


@pytest.mark.parametrize("case", [c for c in CASES if c != "seed002"])
def test_values_only_keys_the_chart_reads(case: str) -> None:
    a = _load(case)
    v = yaml.safe_load(_rendered(case).files["values.yaml"])
    assert set(v) <= CHART_KEYS
    assert set(v["runners"]) <= RUNNERS_KEYS
    for key, allowed in SUB_KEYS.items():
        if key in v:
            assert set(v[key]) <= allowed
    assert "runnerToken" not in v and "runnerRegistrationToken" not in v
    assert v["runners"]["secret"] == names.token_secret(a)
    assert v["serviceAccount"] == {"create": False, "name": a.cluster.manager_service_account}
    assert v["rbac"] == {"create": False}
    assert v["gitlabUrl"] == a.gitlab.base_url
    for ignored in ("privileged", "image", "serviceAccountName", "imagePullSecrets", "namespace",
                    "nodeSelector"):
        assert ignored not in v["runners"]
    assert "serviceAccountName" not in v["rbac"]
    if a.gitlab.create_runner or a.gitlab.token:
        assert "tags" not in v["runners"] and "runUntagged" not in v["runners"]
    cfg = tomllib.loads(v["runners"]["config"])
    assert set(cfg) == {"runners"}, "global keys never go into runners.config"
    run = cfg["runners"][0]
    assert "url" not in run and "token" not in run


@pytest.mark.parametrize("case", CASES)
def test_no_tls_server_name_or_tls_verify_anywhere(case: str) -> None:
    for rel, text in _rendered(case).files.items():
        if rel.endswith("NEXT-STEPS.md"):
            continue  # it may explain that the setting does not exist
        assert "tls_server_name" not in text and "tls_verify" not in text, rel


def test_seed000_values_and_config() -> None:
    r = _rendered("seed000")
    v = r.values
    assert v["certsSecretName"] == names.ca_secret(_load("seed000"))
    assert v["replicas"] == 2 and v["concurrent"] == 10 and v["checkInterval"] == 3
    assert v["metrics"] == {"enabled": True}
    assert v["hostAliases"] == [{"ip": "192.168.80.14", "hostnames": ["gitlab.company.com"]}]
    k = tomllib.loads(r.config_template)["runners"][0]["kubernetes"]
    assert k["namespace"] == "ci-jobs"
    assert k["service_account"] == "gitlab-runner-job"
    assert "automount_service_account_token" not in k  # job_api_access: view
    assert "privileged" not in k
    assert k["host_aliases"] == [{"ip": "192.168.80.14", "hostnames": ["gitlab.company.com"]},
                                 {"ip": "192.168.80.20", "hostnames": ["registry2.company.com"]}]
    assert k["image_pull_secrets"] == ["gitlab-runner-pull-registry2-company-com-5000",
                                       "gitlab-runner-pull-192-168-80-14-5555"]
    assert (k["cpu_request"], k["cpu_limit"], k["memory_request"], k["memory_limit"]) == \
        ("250m", "1000m", "256Mi", "1Gi")
    assert "tls-ca-file" not in tomllib.loads(r.config_template)["runners"][0]


def test_seed004_legacy_placement_and_socket() -> None:
    r = _rendered("seed004")
    assert r.values["runners"]["runUntagged"] is True
    assert "metrics" in r.values and r.values["metrics"]["enabled"] is False
    run = tomllib.loads(r.config_template)["runners"][0]
    k = run["kubernetes"]
    assert k["node_selector"] == {"role": "ci"}
    assert k["node_tolerations"] == {"dedicated=ci": "NoSchedule",
                                     "node-role.kubernetes.io/control-plane": "NoSchedule"}
    assert k["volumes"]["host_path"] == [{"name": "docker-sock", "mount_path": "/var/run/docker.sock",
                                          "host_path": "/var/run/docker.sock"}]
    assert k["automount_service_account_token"] is False
    hosts = ["gitlab.mylab.test", "minio.mylab.test", "registry.mylab.test"]
    assert k["host_aliases"] == [{"ip": "10.0.0.216", "hostnames": hosts}]
    assert r.values["hostAliases"] == [{"ip": "10.0.0.216", "hostnames": hosts}]


def test_seed002_external_mode() -> None:
    r = _rendered("seed002")
    assert r.values == {} and "values.yaml" not in r.files
    glob = tomllib.loads(r.files["config.toml"])
    assert glob == {"concurrent": 4, "check_interval": 3, "listen_address": ":9252"}
    run = tomllib.loads(r.files["config.template.toml"])["runners"][0]
    k = run["kubernetes"]
    assert "bearer_token" not in k and "host" not in k
    assert k["privileged"] is True
    assert k["helper_image"] == "harbor.example.cn/gitlab/gitlab-runner-helper:x86_64-v18.9.0"
    assert {"name": "docker-certs", "mount_path": "/certs/client", "medium": "Memory"} in k["volumes"]["empty_dir"]
    assert "DOCKER_HOST=tcp://docker:2376" in run["environment"]
    kc = yaml.safe_load(r.files["external/kubeconfig"])
    assert kc["users"][0]["user"] == {"tokenFile": "/etc/gitlab-runner/kubernetes-token"}
    m = _manifests(r)
    ext = next(d for d in m if d["kind"] == "Secret" and d["type"] == "kubernetes.io/service-account-token")
    assert ext["metadata"]["annotations"] == {"kubernetes.io/service-account.name": "gitlab-runner"}
    assert "data" not in ext
    ns = next(d for d in m if d["kind"] == "Namespace")
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    r2 = render(_load("seed002"), api_server="https://10.1.2.3:6443", api_ca_pem="PEM\n")
    assert yaml.safe_load(r2.files["external/kubeconfig"])["clusters"][0]["cluster"]["server"] == \
        "https://10.1.2.3:6443"
    assert r2.files["external/kubernetes-ca.crt"] == "PEM\n"


# --------------------------------------------------------------------------- manifests


@pytest.mark.parametrize("case", CASES)
def test_manifests(case: str) -> None:
    a = _load(case)
    r = _rendered(case)
    docs = _manifests(r)
    assert docs == r.manifests
    rns, jns = a.cluster.runner_namespace, a.cluster.jobs_namespace
    for d in docs:
        assert d["metadata"]["labels"].items() >= names.MANAGED_BY.items()
        if d["kind"] == "Namespace":
            assert "namespace" not in d["metadata"]
        else:
            assert d["metadata"]["namespace"] in (rns, jns)
        assert not (d["kind"] == "Secret" and d.get("type") == "kubernetes.io/dockerconfigjson")
    kinds = [d["kind"] for d in docs]
    assert kinds == sorted(kinds, key=["Namespace", "ServiceAccount", "Role", "RoleBinding", "Secret"].index)
    assert ("Namespace" in kinds) == a.cluster.create_namespaces
    role = next(d for d in docs if d["kind"] == "Role")
    assert role["metadata"]["namespace"] == jns
    assert role["rules"] == rbac.role_rules()
    rb = next(d for d in docs if d["kind"] == "RoleBinding" and d["roleRef"]["kind"] == "Role")
    assert rb["metadata"]["namespace"] == jns
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": a.cluster.manager_service_account,
                               "namespace": rns}]
    sas = {(d["metadata"]["namespace"], d["metadata"]["name"]): d for d in docs if d["kind"] == "ServiceAccount"}
    assert (rns, a.cluster.manager_service_account) in sas
    job = sas[(jns, a.cluster.job_service_account)]
    assert job["automountServiceAccountToken"] is (a.cluster.job_api_access == "view")
    views = [d for d in docs if d["kind"] == "RoleBinding" and d["roleRef"]["kind"] == "ClusterRole"]
    assert bool(views) == (a.cluster.job_api_access == "view")
    cas = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == names.ca_secret(a)]
    if a.gitlab.ca:
        assert sorted(d["metadata"]["namespace"] for d in cas) == sorted({rns, jns})
        for d in cas:
            assert d["type"] == "Opaque"
            assert list(d["data"]) == [a.gitlab.ca_key]
            assert parse_pem_bundle(base64.b64decode(d["data"][a.gitlab.ca_key]).decode())
    else:
        assert not cas


def test_seed000_ca_key_is_ip_without_port() -> None:
    docs = _manifests(_rendered("seed000"))
    cas = [d for d in docs if d["kind"] == "Secret"]
    assert {d["metadata"]["namespace"] for d in cas} == {"ci-system", "ci-jobs"}
    assert all(list(d["data"]) == ["192.168.80.14.crt"] for d in cas)


def test_psa_label_only_for_privileged_jobs() -> None:
    for case in CASES:
        for d in _manifests(_rendered(case)):
            if d["kind"] == "Namespace":
                labels = d["metadata"]["labels"]
                if case == "seed002":
                    assert labels["pod-security.kubernetes.io/enforce"] == "privileged"
                else:
                    assert not any(k.startswith("pod-security") for k in labels)


# --------------------------------------------------------------------------- nodes/


def test_seed000_crio_dropin_insecure_only_for_http() -> None:
    a = _load("seed000")
    r = _rendered("seed000")
    assert not any(p.startswith("nodes/containerd/") for p in r.files)
    conf = tomllib.loads(r.files["nodes/cri-o/registries.conf.d/50-runner-wizard.conf"])
    by_loc = {x["location"]: x for x in conf["registry"]}
    assert set(by_loc) == {reg.host for reg in a.registries}
    for reg in a.registries:
        assert by_loc[reg.host].get("insecure", False) is (reg.scheme == "http")
    assert "nodes/cri-o/certs.d/registry2.company.com:5000/ca.crt" in r.files
    script = r.files["nodes/cri-o/install.sh"]
    assert "set -euo pipefail" in script and "systemctl reload crio" in script
    assert "REG1_PASS" in script and "/var/lib/kubelet/config.json" in script
    assert "REG2_PASS" in script and "GITLAB_REGISTRY_USER" not in script  # pull-secret only


def test_auto_runtime_writes_both_and_apply_can_pick() -> None:
    a = _load("seed004")
    r = render(a)
    assert any(p.startswith("nodes/cri-o/") for p in r.files)
    hosts = tomllib.loads(r.files["nodes/containerd/certs.d/registry.mylab.test/hosts.toml"])
    assert hosts["server"] == "https://registry.mylab.test"
    entry = hosts["host"]["https://registry.mylab.test"]
    assert entry["capabilities"] == ["pull", "resolve"]
    assert entry["ca"] == "/etc/containerd/certs.d/registry.mylab.test/ca.crt"
    assert "skip_verify" not in r.files["nodes/containerd/certs.d/registry.mylab.test/hosts.toml"]
    only = render(a, node_runtime="containerd")
    assert not any(p.startswith("nodes/cri-o/") for p in only.files)


def test_containerd_http_registry() -> None:
    a = _load("seed000")
    a.node_runtime = "containerd"
    r = render(a)
    hosts = tomllib.loads(r.files["nodes/containerd/certs.d/192.168.80.20:5000/hosts.toml"])
    assert hosts["server"] == "http://192.168.80.20:5000"
    assert hosts["host"]["http://192.168.80.20:5000"]["capabilities"] == ["pull", "resolve"]
    assert "systemctl restart containerd" in r.files["nodes/containerd/install.sh"]


# --------------------------------------------------------------------------- smoke test, NEXT-STEPS


def test_smoke_test_and_next_steps() -> None:
    r1 = _rendered("seed001")
    smoke = yaml.safe_load(r1.files["smoke-test.gitlab-ci.yml"])
    assert smoke["runner-smoke-test"]["tags"] == ["k8s", "helm"]
    r0 = _rendered("seed000")
    nxt = r0.files["NEXT-STEPS.md"]
    assert "helm repo add gitlab https://charts.gitlab.io" in nxt
    assert ("helm upgrade --install gitlab-runner gitlab/gitlab-runner --version 0.86.0 "
            "--namespace ci-system -f values.yaml") in nxt
    assert "kubectl apply --server-side" in nxt
    assert '--from-literal=runner-token="$RUNNER_TOKEN"' in nxt
    assert "--from-literal=runner-registration-token=" in nxt
    assert "tags" not in yaml.safe_load(r0.files["smoke-test.gitlab-ci.yml"])["runner-smoke-test"]


def test_ipv6_gitlab_uses_tls_ca_file() -> None:
    a = _load("seed001")
    a.gitlab.url = "https://[fd00::10]:8443/"
    r = render(a)
    run = tomllib.loads(r.config_template)["runners"][0]
    assert run["tls-ca-file"] == "/home/gitlab-runner/.gitlab-runner/certs/gitlab-ca.crt"
    ca = next(d for d in r.manifests if d["kind"] == "Secret")
    assert list(ca["data"]) == ["gitlab-ca.crt"]


def test_helm_tpl_braces_are_escaped() -> None:
    a = _load("minimal")
    a.runner.environment = ["GREETING={{hello}}"]
    cfg = render(a).values["runners"]["config"]
    assert '{{ "{{" }}hello}}' in cfg


# --------------------------------------------------------------------------- CA


def test_ca_file_checks(tmp_path: Path) -> None:
    from tests.support.tlsfactory import make_ca, make_leaf

    root = make_ca("Test Root")
    leaf = make_leaf(root, cn="gitlab.test", dns=["gitlab.test"])
    good = tmp_path / "ca.pem"
    good.write_bytes(root.pem)
    assert parse_pem_bundle(ca_from_file(good))[0].subject.rfc4514_string() == \
        parse_pem_bundle(root.pem.decode())[0].subject.rfc4514_string()
    # a server certificate pinned as the CA file is kept: the runner (Go) trusts it
    only_leaf = tmp_path / "leaf.pem"
    only_leaf.write_bytes(leaf.pem)
    assert [fingerprint(c) for c in parse_pem_bundle(ca_from_file(only_leaf))] == [leaf.fingerprint_sha256]
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    with pytest.raises(BadInput):
        ca_from_file(junk)
    with pytest.raises(BadInput) as exc:
        ca_from_file(good, expected_fingerprint="SHA256:" + ":".join(["00"] * 32))
    assert exc.value.errors[0].path == "gitlab.ca.fingerprint"
    fp = fingerprint(parse_pem_bundle(root.pem.decode())[0])
    assert ca_from_file(good, expected_fingerprint=fp)


def test_trusted_from_chain() -> None:
    from tests.support.tlsfactory import make_ca, make_intermediate, make_leaf

    root = make_ca("Root")
    inter = make_intermediate(root, "Issuing")
    leaf = make_leaf(inter, cn="gitlab.test", dns=["gitlab.test"])
    chain = [parse_pem_bundle(c.pem.decode())[0] for c in (leaf, inter, root)]
    got = trusted_from_chain(chain, fingerprint(chain[2]))
    assert got == chain[1:]
    with pytest.raises(ValueError, match="server certificate"):
        trusted_from_chain(chain, fingerprint(chain[0]))
    with pytest.raises(ValueError, match="no certificate"):
        trusted_from_chain(chain[:2], fingerprint(chain[2]))


def test_fetch_presented_chain_from_a_loopback_server(tmp_path: Path) -> None:
    from tests.support.tlsfactory import TLSServer, make_ca, make_intermediate, make_leaf, refused_port
    from wizard.answers import parse

    root = make_ca("Root")
    inter = make_intermediate(root, "Issuing")
    leaf = make_leaf(inter, cn="localhost", dns=["localhost"], ips=["127.0.0.1"])
    with TLSServer([leaf, inter, root], leaf.key) as srv:
        chain = fetch_chain("127.0.0.1", srv.port)
        assert chain[0] == leaf.cert
        raw = {"version": 1, "gitlab": {"url": f"https://127.0.0.1:{srv.port}/", "token": "env:RUNNER_TOKEN",
                                        "ca": {"fetch": True, "fingerprint": root.fingerprint_sha256}}}
        pem = load_ca_pem(parse(raw, base_dir=tmp_path))
        assert pem is not None
        assert [fingerprint(c) for c in parse_pem_bundle(pem)] == \
            [fingerprint(parse_pem_bundle(c.pem.decode())[0]) for c in (inter, root)]
        raw["gitlab"]["ca"]["fingerprint"] = "SHA256:" + ":".join(["AB"] * 32)
        with pytest.raises(BadInput) as exc:
            load_ca_pem(parse(raw, base_dir=tmp_path))
        assert exc.value.errors[0].path == "gitlab.ca.fingerprint"
        assert "set gitlab.ca.file" in exc.value.errors[0].message
    with refused_port() as port:
        raw["gitlab"]["url"] = f"https://127.0.0.1:{port}/"
        with pytest.raises(BadInput) as exc:
            load_ca_pem(parse(raw, base_dir=tmp_path), timeout=2)
    assert exc.value.errors[0].path == "gitlab.ca.fetch"
    assert "set gitlab.ca.file" in exc.value.errors[0].message


def test_render_without_fetched_ca_still_works() -> None:
    from wizard.answers import parse

    a = parse({"version": 1, "gitlab": {"url": "https://gitlab.company.com/", "token": "env:T",
                                        "ca": {"fetch": True, "fingerprint": "AB" * 32}}})
    r = render(a)
    ca = [d for d in r.manifests if d["kind"] == "Secret"]
    assert ca and all("data" not in d for d in ca)
    assert r.values["certsSecretName"] == names.ca_secret(a)
    assert "has no data" in r.files["NEXT-STEPS.md"]
