"""registry.* checks against a real docker-registry (Distribution) on loopback."""

from __future__ import annotations

import json

from wizard.answers import parse
from wizard.checks import run_checks
from wizard.results import Status, report_json

PASSWORD = "registry-pass"


def _run(tmp_path, reg_entry):
    a = parse({"version": 1, "gitlab": {"url": "https://127.0.0.1:1/", "token": "env:RW_UNUSED"},
               "registries": [reg_entry]}, base_dir=tmp_path)
    results = run_checks(a, ids=["registry.*"])
    return {r.id: r for r in results}, results


def _no_password_anywhere(results):
    assert PASSWORD not in report_json(results)
    for r in results:
        assert PASSWORD not in json.dumps(r.data, default=str)
        assert PASSWORD not in r.title + r.detail + r.fix


def test_tls_trusted_with_ca_file_and_good_credentials(registry_tls_auth, tmp_path, monkeypatch):
    monkeypatch.setenv("RW_REG_PASS", PASSWORD)
    res, results = _run(tmp_path, {"host": registry_tls_auth.host, "ca_file": str(registry_tls_auth.ca_pem_path),
                                   "username": "wizard", "password": "env:RW_REG_PASS"})
    assert res["registry.0.reach"].status is Status.PASS and "401" in res["registry.0.reach"].detail
    assert res["registry.0.tls"].status is Status.PASS
    assert "every node must trust" in res["registry.0.tls"].detail
    assert res["registry.0.auth"].status is Status.PASS and "wizard" in res["registry.0.auth"].detail
    _no_password_anywhere(results)


def test_untrusted_without_ca_file(registry_tls_auth, tmp_path, monkeypatch):
    monkeypatch.setenv("RW_REG_PASS", PASSWORD)
    res, results = _run(tmp_path, {"host": registry_tls_auth.host, "username": "wizard",
                                   "password": "env:RW_REG_PASS"})
    tls = res["registry.0.tls"]
    assert tls.status is Status.FAIL and "E22" in tls.catalog and "not trusted" in tls.detail
    # credentials are never sent over an unverified connection
    assert res["registry.0.auth"].status is Status.SKIP
    _no_password_anywhere(results)


def test_bad_credentials(registry_tls_auth, tmp_path, monkeypatch):
    monkeypatch.setenv("RW_REG_PASS", "wrong-" + PASSWORD)
    res, results = _run(tmp_path, {"host": registry_tls_auth.host, "ca_file": str(registry_tls_auth.ca_pem_path),
                                   "username": "wizard", "password": "env:RW_REG_PASS"})
    auth = res["registry.0.auth"]
    assert auth.status is Status.FAIL and "E21" in auth.catalog and "rejects" in auth.detail
    assert "wrong-" + PASSWORD not in report_json(results)
    _no_password_anywhere(results)


def test_credentials_missing_but_required(registry_tls_auth, tmp_path):
    res, _ = _run(tmp_path, {"host": registry_tls_auth.host, "ca_file": str(registry_tls_auth.ca_pem_path)})
    assert res["registry.0.auth"].status is Status.WARN and "E21" in res["registry.0.auth"].catalog


def test_plain_http_registry_flagged(registry_http, tmp_path):
    res, _ = _run(tmp_path, {"host": registry_http.host, "scheme": "http"})
    assert res["registry.0.reach"].status is Status.PASS
    tls = res["registry.0.tls"]
    assert tls.status is Status.WARN and "E23" in tls.catalog and "node" in tls.fix
    assert res["registry.0.auth"].status is Status.PASS


def test_https_scheme_against_http_registry(registry_http, tmp_path):
    res, _ = _run(tmp_path, {"host": registry_http.host, "scheme": "https"})
    reach = res["registry.0.reach"]
    assert reach.status is Status.FAIL and "E23" in reach.catalog and "scheme: http" in reach.fix


def test_unreachable_registry(tmp_path, refused_port):
    res, _ = _run(tmp_path, {"host": f"127.0.0.1:{refused_port}", "scheme": "http"})
    assert res["registry.0.reach"].status is Status.FAIL and "refused" in res["registry.0.reach"].detail
    assert res["registry.0.auth"].status is Status.SKIP


def test_the_system_store_is_loaded_only_when_a_ca_file_root_cannot_close_the_chain():
    """A credentials request trusts ca_file's self-signed roots alone (no ~20 ms store load); an
    intermediate in ca_file, a chain the system trusts, or no verdict keeps the system store."""
    from tests.support.tlsfactory import make_ca, make_intermediate
    from wizard import tls
    from wizard.checks.registry import Probe, _ctx_verified, _needs_system_store

    root = make_ca("rw-test root")
    inter = make_intermediate(root, "rw-test intermediate")

    def probe(by, roots):
        p = Probe("registry.test", 443, "https", roots=roots)
        p.verdict = tls.Verdict(host="registry.test", chain=[], trusted=True, trusted_by=by) if by is not None else None
        return p

    assert _needs_system_store(probe("extra", [root.cert])) is False
    assert _needs_system_store(probe("extra", [inter.cert])) is True
    assert _needs_system_store(probe("extra", [root.cert, inter.cert])) is True
    assert _needs_system_store(probe("system", [root.cert])) is True
    assert _needs_system_store(probe(None, [root.cert])) is True
    assert _needs_system_store(probe("extra", [])) is True
    alone = _ctx_verified([root.cert], system=False)
    both = _ctx_verified([root.cert])
    assert alone.cert_store_stats()["x509_ca"] == 1
    assert both.cert_store_stats()["x509_ca"] >= 1
