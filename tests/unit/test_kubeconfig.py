"""The one kubeconfig loader without a cluster: OIDC/auth-provider goes to the kubernetes package,
a context that is not there is bad input (exit 2) naming --context or cluster.context."""

from __future__ import annotations

import base64
import json
import time

import pytest
import yaml

from wizard.cli import main
from wizard.kube import Kube, KubeError, load_kubeconfig, require_context
from wizard.errors import BadInput


def _kc(tmp_path, name="kc.yaml", **over):
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "x",
           "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1", "insecure-skip-tls-verify": True}}],
           "users": [{"name": "u", "user": {"token": "abc-123456"}}],
           "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}},
                        {"name": "y", "context": {"cluster": "c", "user": "u"}}]}
    doc.update(over)
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc))
    return p


def _answers(tmp_path, context=None):
    doc = {"version": 1, "gitlab": {"url": "https://127.0.0.1:1/", "token": "env:RW_TOKEN"}}
    if context:
        doc["cluster"] = {"context": context}
    p = tmp_path / "a.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def test_oidc_auth_provider_goes_through_the_kubernetes_package(tmp_path):
    """An OIDC auth-provider with a still-valid id-token: the package loads it and the token is sent."""
    def b64(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    jwt = ".".join([b64({"alg": "RS256"}), b64({"iss": "https://127.0.0.1:1", "exp": int(time.time()) + 3600}),
                    "c2ln"])
    user = {"auth-provider": {"name": "oidc", "config": {"client-id": "k", "id-token": jwt,
                                                          "idp-issuer-url": "https://127.0.0.1:1"}}}
    kc = _kc(tmp_path, users=[{"name": "u", "user": user}])
    k = Kube.connect(str(kc))
    try:
        assert {h.lower(): v for h, v in k._auth().items()}["authorization"] == f"Bearer {jwt}"
    finally:
        k.close()


def test_missing_context_is_a_kube_error_naming_the_fix(tmp_path):
    kc = _kc(tmp_path)
    with pytest.raises(KubeError) as e:
        Kube.connect(str(kc), "nope")
    assert "--context" in e.value.message and "x, y" in e.value.message
    with pytest.raises(BadInput) as b:
        require_context(str(kc), "nope", "cluster.context")
    assert b.value.errors[0].path == "cluster.context"
    require_context(str(tmp_path / "none.yaml"), "nope")  # no kubeconfig: the cluster checks say so


@pytest.mark.parametrize("command", ["check", "apply", "diagnose", "uninstall", "adopt"])
def test_unknown_context_exits_2_naming_the_option(tmp_path, capsys, monkeypatch, command):
    monkeypatch.setenv("RW_TOKEN", "glrt-abcdefabcdef12345")
    kc = _kc(tmp_path)
    extra = {"check": ["--answers", str(_answers(tmp_path))],
             "apply": ["--answers", str(_answers(tmp_path)), "--yes"],
             "diagnose": ["--namespace", "ci", "--release", "r"],
             "uninstall": ["--namespace", "ci", "--release", "r", "--dry-run"],
             "adopt": ["--namespace", "ci", "--dry-run"]}[command]
    rc = main(["--kubeconfig", str(kc), "--context", "nope", command, *extra])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "--context: context 'nope' is not in the kubeconfig" in err and "contexts: x, y" in err


def test_unknown_context_from_the_answers_names_cluster_context(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RW_TOKEN", "glrt-abcdefabcdef12345")
    rc = main(["--kubeconfig", str(_kc(tmp_path)), "check", "--answers", str(_answers(tmp_path, "gone"))])
    err = capsys.readouterr().err
    assert rc == 2 and "cluster.context: context 'gone' is not in the kubeconfig" in err, err


def test_dangling_current_context_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RW_TOKEN", "glrt-abcdefabcdef12345")
    kc = _kc(tmp_path, **{"current-context": "deleted"})
    rc = main(["--kubeconfig", str(kc), "check", "--answers", str(_answers(tmp_path))])
    err = capsys.readouterr().err
    assert rc == 2 and "--context: the kubeconfig's current-context 'deleted' names no context" in err, err


def test_merge_rules_without_a_cluster(tmp_path, monkeypatch):
    a = _kc(tmp_path, "a.yaml", **{"current-context": "", "contexts": [{"name": "y", "context": {"cluster": "c2"}}]})
    b = _kc(tmp_path, "b.yaml", **{"current-context": "y"})
    c = _kc(tmp_path, "c.yaml", **{"current-context": "x"})
    monkeypatch.setenv("KUBECONFIG", ":".join([str(a), str(tmp_path / "missing"), str(b), str(c)]))
    kc = load_kubeconfig()
    assert kc.paths == (a, b, c) and kc.current == "y"
    assert kc.contexts["y"].body == {"cluster": "c2"} and kc.contexts["y"].source == a
    assert list(kc.contexts) == ["y", "x"]
    assert load_kubeconfig(str(c)).current == "x"  # --kubeconfig replaces the list
