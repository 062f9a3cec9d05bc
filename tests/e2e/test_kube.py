"""The shared Kubernetes client: kubeconfig loading like kubectl, raw JSON, clear errors."""

import subprocess
import sys
import textwrap
import time

import pytest
import yaml

from wizard.kube import Kube, KubeError, KubeUnreachable, list_contexts

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
