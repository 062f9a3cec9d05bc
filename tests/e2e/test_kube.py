"""The shared Kubernetes client: kubeconfig loading like kubectl, raw JSON, clear errors."""

import base64
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from wizard.kube import Kube, KubeError, KubeUnreachable, list_contexts, load_kubeconfig

pytestmark = pytest.mark.envtest


def test_plain_kubeconfig_loads_without_the_kubernetes_package(envtest):
    code = textwrap.dedent(f"""
        import sys
        from wizard.kube import Kube
        k = Kube.connect({str(envtest.kubeconfig)!r})
        print(k.version()["gitVersion"], "kubernetes" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == [envtest.version, "False"]


def test_service_account_token_kubeconfig_is_subject_to_rbac(envtest, k8s_ns):
    ns = k8s_ns("kube")
    admin = Kube.connect(str(envtest.kubeconfig))
    admin.create(f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "probe"}})
    sa = Kube.connect(str(envtest.sa_kubeconfig(ns, "probe")))
    with pytest.raises(KubeError) as exc:
        sa.get(f"/api/v1/namespaces/{ns}/secrets")
    assert exc.value.forbidden and "probe" in exc.value.message


def test_exec_plugin_kubeconfig_falls_back_to_the_kubernetes_package(envtest, k8s_ns, tmp_path):
    ns = k8s_ns("kube-exec")
    admin = Kube.connect(str(envtest.kubeconfig))
    admin.create(f"/api/v1/namespaces/{ns}/serviceaccounts", {"metadata": {"name": "execsa"}})
    sa_doc = yaml.safe_load(envtest.sa_kubeconfig(ns, "execsa").read_text())
    token = sa_doc["users"][0]["user"]["token"]
    plugin = tmp_path / "cred.sh"
    plugin.write_text("#!/bin/sh\nprintf '%s' '" + '{"apiVersion":"client.authentication.k8s.io/v1",'
                      '"kind":"ExecCredential","status":{"token":"' + token + '"}}' + "'\n")
    plugin.chmod(0o755)
    sa_doc["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                           "command": str(plugin), "interactiveMode": "Never"}}
    kc = tmp_path / "exec.kubeconfig"
    kc.write_text(yaml.safe_dump(sa_doc))
    k = Kube.connect(str(kc))
    allowed, _ = k.access_review(verb="list", resource="secrets", namespace=ns)
    assert allowed is False  # authenticated as the ServiceAccount through the plugin, which has no rights


def test_unreachable_server_fails_fast_with_a_clear_error(envtest, tmp_path):
    doc = yaml.safe_load(envtest.kubeconfig.read_text())
    doc["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    kc = tmp_path / "dead.kubeconfig"
    kc.write_text(yaml.safe_dump(doc))
    k = Kube.connect(str(kc), timeout=2)
    t = time.monotonic()
    with pytest.raises(KubeUnreachable) as exc:
        k.version()
    assert time.monotonic() - t < 10  # a refused port must never turn into a hang
    assert "127.0.0.1:1" in str(exc.value)


def test_missing_kubeconfig_names_the_fix(tmp_path):
    with pytest.raises(KubeError) as exc:
        Kube.connect(str(tmp_path / "nope"))
    assert "--kubeconfig" in str(exc.value)


def test_contexts_are_listed_with_the_current_one(envtest):
    ctxs = list_contexts(str(envtest.kubeconfig))
    assert [c.current for c in ctxs].count(True) == 1
    assert ctxs[0].server == envtest.server


# --------------------------------------------------------------------------- one loader, every kind of kubeconfig

WHO = "/apis/authentication.k8s.io/v1/selfsubjectreviews"


def _whoami_in_child(kubeconfig: str | None, context: str | None = None, env: dict | None = None) -> tuple[str, bool]:
    """(the user the API server sees, whether the kubernetes package was imported) from a fresh process."""
    code = textwrap.dedent(f"""
        import json, sys
        from wizard.kube import Kube
        k = Kube.connect({kubeconfig!r}, {context!r})
        doc = k.create({WHO!r}, {{"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}})
        print(json.dumps([doc["status"]["userInfo"]["username"], "kubernetes" in sys.modules]))
    """)
    full_env = {**{k: v for k, v in os.environ.items() if k != "KUBECONFIG"}, **(env or {})}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    user, imported = json.loads(p.stdout.strip().splitlines()[-1])
    return user, imported


@pytest.fixture(scope="module")
def kinds(envtest, tmp_path_factory):
    """One kubeconfig per kind of credential, all for the same apiserver: the admin's client
    certificate (data and files), a ServiceAccount token (inline and tokenFile) and an exec plugin."""
    from kubernetes import client as k

    d = tmp_path_factory.mktemp("kinds")
    admin = yaml.safe_load(envtest.kubeconfig.read_text())
    api = envtest.api_client()
    ns = "kube-kinds"
    try:
        k.CoreV1Api(api).create_namespace(k.V1Namespace(metadata=k.V1ObjectMeta(name=ns)))
    except Exception:  # noqa: BLE001 - already there from an attached harness
        pass
    k.CoreV1Api(api).create_namespaced_service_account(ns, k.V1ServiceAccount(metadata=k.V1ObjectMeta(name="kinds")))
    api.close()
    token = yaml.safe_load(envtest.sa_kubeconfig(ns, "kinds").read_text())["users"][0]["user"]["token"]
    cluster = admin["clusters"][0]["cluster"]
    au = admin["users"][0]["user"]

    def doc(user: dict, cl: dict | None = None, name: str = "c") -> dict:
        return {"apiVersion": "v1", "kind": "Config", "current-context": name,
                "clusters": [{"name": name, "cluster": cl or cluster}],
                "users": [{"name": name, "user": user}],
                "contexts": [{"name": name, "context": {"cluster": name, "user": name}}]}

    def write(name: str, body: dict) -> str:
        p = d / name
        p.write_text(yaml.safe_dump(body))
        return str(p)

    files = d / "pki"
    files.mkdir()
    (files / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    (files / "admin.crt").write_bytes(base64.b64decode(au["client-certificate-data"]))
    (files / "admin.key").write_bytes(base64.b64decode(au["client-key-data"]))
    (d / "sa.token").write_text(token + "\n")
    plugin = d / "cred.sh"
    plugin.write_text("#!/bin/sh\nprintf '%s' '" + json.dumps(
        {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", "status": {"token": token}})
        + "'\n")
    plugin.chmod(0o755)
    file_cluster = {"server": cluster["server"], "certificate-authority": "pki/ca.crt"}  # relative to the file
    sa = f"system:serviceaccount:{ns}:kinds"
    return {
        "client-cert-data": (write("certdata.yaml", doc(au)), "admin", False),
        "client-cert-files": (write("certfiles.yaml", doc({"client-certificate": "pki/admin.crt",
                                                             "client-key": "pki/admin.key"}, file_cluster)),
                              "admin", False),
        "token": (write("token.yaml", doc({"token": token})), sa, False),
        "tokenFile": (write("tokenfile.yaml", doc({"tokenFile": "sa.token"}, file_cluster)), sa, False),
        "exec": (write("exec.yaml", doc({"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                   "command": str(plugin), "interactiveMode": "Never"}})),
                 sa, True),
        "_parts": (d, doc, write, au, token, plugin, sa),
    }


@pytest.mark.parametrize("kind", ["client-cert-data", "client-cert-files", "token", "tokenFile", "exec"])
def test_each_kind_of_kubeconfig_authenticates(kinds, kind):
    """Plain kubeconfigs take the fast path (no kubernetes import); an exec plugin takes the package."""
    path, user, needs_package = kinds[kind]
    seen, imported = _whoami_in_child(path)
    assert seen.startswith(user), (kind, seen)
    assert imported is needs_package, kind


def test_merged_kubeconfig_list_like_kubectl(kinds, tmp_path, monkeypatch):
    """KUBECONFIG=a:b: the first file that names a stanza wins it, current-context comes from the
    first file that sets one, relative paths resolve against their own file, missing files are skipped."""
    d, doc, write, au, token, plugin, sa = kinds["_parts"]
    cert_only = yaml.safe_load(open(kinds["client-cert-files"][0]).read())
    tok = yaml.safe_load(open(kinds["tokenFile"][0]).read())
    first = {"apiVersion": "v1", "kind": "Config", "contexts": [
        {"name": "admin", "context": {"cluster": "files", "user": "cert"}},
        {"name": "sa", "context": {"cluster": "files", "user": "tok"}}], "current-context": ""}
    second = {"apiVersion": "v1", "kind": "Config", "current-context": "sa",
              "clusters": [{"name": "files", "cluster": cert_only["clusters"][0]["cluster"]}],
              "users": [{"name": "cert", "user": cert_only["users"][0]["user"]},
                        {"name": "tok", "user": tok["users"][0]["user"]}],
              "contexts": [{"name": "sa", "context": {"cluster": "nowhere", "user": "nobody"}}]}
    third = {"apiVersion": "v1", "kind": "Config", "current-context": "admin"}
    a = tmp_path / "a.yaml"
    a.write_text(yaml.safe_dump(first))
    b = write("merged-b.yaml", second)  # next to pki/ and sa.token: its relative paths resolve there
    c = tmp_path / "c.yaml"
    c.write_text(yaml.safe_dump(third))
    kc_list = os.pathsep.join([str(a), str(tmp_path / "missing.yaml"), b, str(c)])
    env = {"KUBECONFIG": kc_list}
    monkeypatch.setenv("KUBECONFIG", kc_list)
    kc = load_kubeconfig()
    assert kc.current == "sa"  # b is the first file that sets a non-empty one; c's is ignored
    assert kc.contexts["sa"].body == {"cluster": "files", "user": "tok"}  # a's stanza wins over b's
    assert [(c.name, c.current) for c in list_contexts()] == [("admin", False), ("sa", True)]
    seen, imported = _whoami_in_child(None, env=env)
    assert seen == sa and imported is False
    seen, _ = _whoami_in_child(None, "admin", env=env)
    assert seen.startswith("admin")
    # an exec user in a merged list: the kubernetes package gets the same list and the chosen context
    second["users"].append({"name": "plug", "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin), "interactiveMode": "Never"}}})
    second["contexts"].append({"name": "viaexec", "context": {"cluster": "files", "user": "plug"}})
    write("merged-b.yaml", second)
    seen, imported = _whoami_in_child(None, "viaexec", env=env)
    assert seen == sa and imported is True

