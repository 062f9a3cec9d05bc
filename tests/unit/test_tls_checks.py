"""wizard.tls and the tls.gitlab.* checks against real TLS servers on loopback with generated certificates."""

from __future__ import annotations

import socket

import pytest

from tests.support.tlsfactory import (
    LoopbackHTTPServer,
    TLSServer,
    blackhole_server,
    make_ca,
    make_expired_leaf,
    make_intermediate,
    make_leaf,
    make_leaf_valid_for,
    make_self_signed,
    refused_port,
)
from wizard import tls as tlsinfo
from wizard.answers import parse
from wizard.checks import run_checks
from wizard.results import Status


@pytest.fixture(scope="module")
def ca():
    return make_ca("Wizard Test Root")


def _verdict(chain_certs, key, host="localhost", roots=(), use_system=True):
    with TLSServer(chain_certs, key) as srv:
        chain = tlsinfo.fetch_chain(host, srv.port, timeout=3)
        return tlsinfo.verify(chain, host, extra_roots=[r.cert for r in roots], use_system=use_system,
                              port=srv.port)


def _codes(v):
    return {f.code for f in v.faults}


def _tls_results(tmp_path, url, ca_pem=None, aliases=()):
    doc = {"version": 1, "gitlab": {"url": url, "token": "env:RW_UNUSED_TOKEN"},
           "host_aliases": list(aliases)}
    if ca_pem is not None:
        (tmp_path / "ca.pem").write_bytes(ca_pem)
        doc["gitlab"]["ca"] = {"file": "ca.pem"}
    a = parse(doc, base_dir=tmp_path)
    return {r.id: r for r in run_checks(a, ids=["tls.*"])}


def test_good_chain_is_trusted_and_described(ca):
    leaf = make_leaf(ca, cn="localhost", dns=["localhost"], ips=["127.0.0.1"])
    v = _verdict([leaf], leaf.key, roots=[ca])
    assert v.ok and v.trusted and v.trusted_by == "extra" and v.name_ok
    info = v.chain[0]
    assert info.fingerprint == leaf.fingerprint_sha256
    assert info.dns_names == ("localhost",) and info.ip_addresses == ("127.0.0.1",)
    assert "CN=localhost" in info.subject and "Wizard Test Root" in info.issuer


def test_wrong_san(ca):
    leaf = make_leaf(ca, cn="other", dns=["other.test"])
    v = _verdict([leaf], leaf.key, roots=[ca])
    assert "name_mismatch" in _codes(v)
    assert v.trusted  # trust is judged separately from the name
    assert "other.test" in v.by_code("name_mismatch")[0].message


def test_ip_only_cert_reached_by_name(ca):
    leaf = make_leaf(ca, cn="ip", ips=["127.0.0.1"])
    v = _verdict([leaf], leaf.key, host="localhost", roots=[ca])
    assert "name_mismatch" in _codes(v)


def test_name_only_cert_reached_by_ip_suggests_name_and_alias(ca, tmp_path):
    leaf = make_leaf(ca, cn="gitlab.company.test", dns=["gitlab.company.test"])
    v = _verdict([leaf], leaf.key, host="127.0.0.1", roots=[ca])
    assert "ip_needs_ip_san" in _codes(v)
    assert v.suggestion["url_host"] == "gitlab.company.test"
    assert v.suggestion["alias_ip"] == "127.0.0.1"
    with TLSServer([leaf], leaf.key) as srv:
        port = srv.port
        res = _tls_results(tmp_path, f"https://127.0.0.1:{port}/", ca.pem)
    name = res["tls.gitlab.name"]
    assert name.status is Status.FAIL and "E04" in name.catalog
    assert "IP SAN" in name.detail
    assert f"https://gitlab.company.test:{port}/" in name.fix and "host alias" in name.fix
    assert "tls_server_name does not exist" in name.fix
    assert name.data["suggestion"]["alias_hostname"] == "gitlab.company.test"
    assert res["tls.gitlab.trust"].status is Status.PASS


def test_expired(ca, tmp_path):
    leaf = make_expired_leaf(ca, cn="localhost", dns=["localhost"], ips=["127.0.0.1"])
    v = _verdict([leaf], leaf.key, roots=[ca])
    assert "expired" in _codes(v)
    with TLSServer([leaf], leaf.key) as srv:
        res = _tls_results(tmp_path, f"https://localhost:{srv.port}/", ca.pem)
    assert res["tls.gitlab.expiry"].status is Status.FAIL
    assert "expired" in res["tls.gitlab.expiry"].detail


def test_expiring_in_20_days_warns(ca, tmp_path):
    leaf = make_leaf_valid_for(ca, 20, cn="localhost", dns=["localhost"])
    v = _verdict([leaf], leaf.key, roots=[ca])
    f = v.by_code("expiring")
    assert f and f[0].severity == "warn" and v.ok
    with TLSServer([leaf], leaf.key) as srv:
        res = _tls_results(tmp_path, f"https://localhost:{srv.port}/", ca.pem)
    assert res["tls.gitlab.expiry"].status is Status.WARN
    assert res["tls.gitlab.trust"].status is Status.PASS


def test_self_signed(tmp_path):
    leaf = make_self_signed("localhost", dns=["localhost"])
    v = _verdict([leaf], leaf.key)
    assert "self_signed" in _codes(v) and not v.trusted
    with TLSServer([leaf], leaf.key) as srv:
        res = _tls_results(tmp_path, f"https://localhost:{srv.port}/")
    trust = res["tls.gitlab.trust"]
    assert trust.status is Status.FAIL and "self-signed" in trust.detail and "E02" in trust.catalog


def test_unknown_ca(ca):
    other = make_ca("Somebody Else")
    leaf = make_leaf(other, cn="localhost", dns=["localhost"])
    v = _verdict([leaf], leaf.key, roots=[ca])
    assert not v.trusted
    assert _codes(v) & {"unknown_ca", "incomplete_chain"}


def test_incomplete_chain_when_ca_given_is_root(ca, tmp_path):
    inter = make_intermediate(ca, "Wizard Issuing CA")
    leaf = make_leaf(inter, cn="localhost", dns=["localhost"])
    v = _verdict([leaf], leaf.key, roots=[ca])
    assert "incomplete_chain" in _codes(v) and not v.trusted
    assert "Wizard Issuing CA" in v.by_code("incomplete_chain")[0].message
    # the complete chain is fine
    v2 = _verdict([leaf, inter], leaf.key, roots=[ca])
    assert v2.trusted and v2.ok
    with TLSServer([leaf], leaf.key) as srv:
        res = _tls_results(tmp_path, f"https://localhost:{srv.port}/", ca.pem)
    assert res["tls.gitlab.chain"].status is Status.FAIL
    assert "incomplete chain" in res["tls.gitlab.chain"].detail
    assert res["tls.gitlab.trust"].status is Status.FAIL


def test_cn_only(ca, tmp_path):
    leaf = make_leaf(ca, cn="localhost")
    v = _verdict([leaf], leaf.key, roots=[ca])
    assert "cn_only" in _codes(v)
    with TLSServer([leaf], leaf.key) as srv:
        res = _tls_results(tmp_path, f"https://localhost:{srv.port}/", ca.pem)
    assert res["tls.gitlab.name"].status is Status.FAIL
    assert "Common Name" in res["tls.gitlab.name"].detail


def test_leaf_given_as_ca(ca, tmp_path):
    """A CA-signed server certificate pinned as the CA file: Go trusts it (a pool certificate
    equal to the leaf), so this warns about renewals instead of failing; git in job pods
    (OpenSSL with partial chains) trusts it too."""
    leaf = make_leaf(ca, cn="localhost", dns=["localhost"])
    faults = tlsinfo.ca_bundle_faults([leaf.cert], leaf.cert)
    assert faults and faults[0].code == "leaf_as_ca" and faults[0].severity == "warn"
    assert "server's own certificate" in faults[0].message
    with TLSServer([leaf], leaf.key) as srv:
        res = _tls_results(tmp_path, f"https://localhost:{srv.port}/", leaf.pem)
    trust = res["tls.gitlab.trust"]
    assert trust.status is Status.WARN and trust.data["runner"]["trusted"], trust.detail
    assert "renewal" in trust.detail
    assert res["tls.gitlab.jobs"].status is Status.PASS


def test_self_signed_leaf_as_ca_file_is_trusted_and_renders(tmp_path):
    """Seed 000: the server's own self-signed certificate in the CA Secret. Go trusts it;
    check passes and render takes the file (no dead end before apply)."""
    from wizard.answers import parse as parse_answers

    leaf = make_self_signed("localhost", dns=["localhost"], ips=["127.0.0.1"])
    with TLSServer([leaf], leaf.key) as srv:
        res = _tls_results(tmp_path, f"https://localhost:{srv.port}/", leaf.pem)
    assert res["tls.gitlab.trust"].status is Status.PASS, res["tls.gitlab.trust"].detail
    assert res["tls.gitlab.jobs"].status is Status.PASS
    a = parse_answers({"version": 1, "gitlab": {"url": "https://localhost/", "token": "env:X",
                                                "ca": {"file": "ca.pem"}}}, base_dir=tmp_path)
    assert tlsinfo.load_ca_pem(a, fetch=False) == leaf.pem.decode()


def test_job_pods_disagree_on_any_eku(ca, tmp_path):
    """anyExtendedKeyUsage: Go (manager) accepts, OpenSSL (git in job pods) does not."""
    from cryptography.x509.oid import ExtendedKeyUsageOID

    from tests.support.tlsfactory import make_cert

    leaf = make_cert("localhost", issuer=ca, dns=["localhost"], eku=[ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE])
    with TLSServer([leaf], leaf.key) as srv:
        res = _tls_results(tmp_path, f"https://localhost:{srv.port}/", ca.pem)
    assert res["tls.gitlab.trust"].status is Status.PASS
    jobs = res["tls.gitlab.jobs"]
    assert jobs.status is Status.WARN and "serverAuth" in jobs.fix
    assert "unsupported certificate purpose" in jobs.detail


def test_manager_first_when_both_reject(tmp_path):
    leaf = make_self_signed("localhost", dns=["localhost"])
    with TLSServer([leaf], leaf.key) as srv:
        res = _tls_results(tmp_path, f"https://localhost:{srv.port}/")
    assert res["tls.gitlab.jobs"].status is Status.SKIP
    assert "tls.gitlab.trust" in res["tls.gitlab.jobs"].detail


def test_regenerated_ca_is_named(ca, tmp_path):
    """Same name, new key: the reason is a wrong CA, with Go's text, not an incomplete chain."""
    new = make_ca("Wizard Test Root")
    leaf = make_leaf(new, cn="localhost", dns=["localhost"])
    with TLSServer([leaf], leaf.key) as srv:
        res = _tls_results(tmp_path, f"https://localhost:{srv.port}/", ca.pem)
    trust = res["tls.gitlab.trust"]
    assert trust.status is Status.FAIL
    assert "re-generated" in trust.detail and "x509: certificate signed by unknown authority" in trust.detail
    assert "replace the old" in trust.fix
    assert res["tls.gitlab.chain"].status is Status.PASS


def test_fetched_ca_with_fingerprint(ca, tmp_path):
    leaf = make_leaf(ca, cn="localhost", dns=["localhost"])
    with TLSServer([leaf, ca], leaf.key) as srv:
        for fp, want in ((ca.fingerprint_sha256, Status.PASS), ("SHA256:" + ":".join(["AB"] * 32), Status.FAIL)):
            a = parse({"version": 1, "gitlab": {"url": f"https://localhost:{srv.port}/", "token": "env:X",
                                                "ca": {"fetch": True, "fingerprint": fp}}}, base_dir=tmp_path)
            res = {r.id: r for r in run_checks(a, ids=["tls.gitlab.trust"])}
            assert res["tls.gitlab.trust"].status is want, res["tls.gitlab.trust"].detail


def test_fetch_errors_are_told_apart(monkeypatch):
    with refused_port() as port:
        with pytest.raises(tlsinfo.FetchError) as e:
            tlsinfo.fetch_chain("127.0.0.1", port, timeout=2)
        assert e.value.kind == "refused"
    with blackhole_server() as bh:
        with pytest.raises(tlsinfo.FetchError) as e:
            tlsinfo.fetch_chain("127.0.0.1", bh.port, timeout=0.5)
        assert e.value.kind == "timeout"
    with LoopbackHTTPServer() as plain:
        with pytest.raises(tlsinfo.FetchError) as e:
            tlsinfo.fetch_chain("127.0.0.1", plain.port, timeout=2)
        assert e.value.kind == "handshake" and "plain HTTP" in e.value.message

    def no_dns(*a, **k):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(tlsinfo.FetchError) as e:
        tlsinfo.fetch_chain("gitlab.nowhere.test", 443, timeout=1)
    assert e.value.kind == "dns"


def test_check_reports_unreachable_gitlab(tmp_path):
    with refused_port() as port:
        res = _tls_results(tmp_path, f"https://127.0.0.1:{port}/")
    assert res["tls.gitlab.chain"].status is Status.FAIL
    assert res["tls.gitlab.chain"].data["kind"] == "refused"
    assert res["tls.gitlab.trust"].status is Status.SKIP


def test_fingerprint_format(ca):
    assert tlsinfo.fingerprint(ca.cert) == ca.fingerprint_sha256
    assert tlsinfo.normalize_fingerprint(ca.fingerprint_sha256.lower()[7:]) == ca.fingerprint_sha256


def test_gitlab_api_trusts_what_the_runner_trusts(ca):
    """The API client (token checks, create_runner) judges TLS as the runner does: a pinned
    CA-signed server certificate works (OpenSSL without partial chains would refuse it), and an
    untrusted chain is refused with Go's reason before any request, token included, is sent."""
    from tests.support.fake_gitlab import FakeGitLab
    from wizard.gitlab_api import GitLabAPI, GitLabError

    leaf = make_leaf(ca, cn="localhost", dns=["localhost"], ips=["127.0.0.1"])
    with FakeGitLab(tls=([leaf], leaf.key)) as gl:
        api = GitLabAPI(gl.url, ca_pem=leaf.pem.decode(), timeout=5)
        try:
            with pytest.raises(GitLabError) as e:
                api.version("glpat-nope")
            assert e.value.status == 401  # the request went through: TLS was accepted
        finally:
            api.close()
        gl.clear_requests()
        other = make_ca("Somebody Else")
        api = GitLabAPI(gl.url, ca_pem=other.pem.decode(), timeout=5)
        try:
            with pytest.raises(GitLabError) as e:
                api.version("glpat-secret")
            assert e.value.kind == "tls" and "x509: certificate signed by unknown authority" in e.value.message
        finally:
            api.close()
        assert gl.requests == []


def test_pem_loading_follows_go(ca):
    """load_pem_certificates takes what Go's AppendCertsFromPEM takes: CERTIFICATE blocks without
    headers, skipping blocks that do not parse; parse_ca_bundle says why a user's file is unusable."""
    import base64
    import textwrap

    other = make_ca("Other")
    bad = b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    mixed = b"text before\n" + ca.pem + bad + key + other.pem
    assert tlsinfo.load_pem_certificates(mixed) == [ca.cert, other.cert]
    assert tlsinfo.load_pem_certificates(b"") == [] and tlsinfo.load_pem_certificates(key) == []
    with pytest.raises(ValueError, match="does not parse"):
        tlsinfo.parse_ca_bundle(mixed)
    with pytest.raises(ValueError, match="private key"):
        tlsinfo.parse_ca_bundle(key)
    with pytest.raises(ValueError, match="no PEM certificate"):
        tlsinfo.parse_ca_bundle(b"hello")
    trusted = ca.der + bytes.fromhex("300a0c0874727573746564")  # OpenSSL's trust settings after the cert
    body = "\n".join(textwrap.wrap(base64.b64encode(trusted).decode(), 64))
    text = f"-----BEGIN TRUSTED CERTIFICATE-----\n{body}\n-----END TRUSTED CERTIFICATE-----\n"
    assert tlsinfo.load_pem_certificates(text) == []  # Go ignores it ...
    assert tlsinfo.parse_ca_bundle(text) == [ca.cert]  # ... so the bundle written for the runner converts it


@pytest.mark.parametrize("pattern,host,want", [
    ("gitlab.corp.test", "GITLAB.corp.test", True),
    ("*.corp.test", "gitlab.corp.test", True),
    ("*.corp.test", "a.b.corp.test", False),
    ("*.corp.test", "corp.test", False),
    ("*.test", "gitlab.corp.test", False),
    ("git*.corp.test", "gitlab.corp.test", False),
    ("gitlab.corp.test.", "gitlab.corp.test", False),
    ("gitlab.corp.test", "gitlab.corp.test.", True),
])
def test_dns_names_match_as_go_does(pattern, host, want):
    assert tlsinfo.dns_name_matches(pattern, host) is want


def test_ip_and_fingerprint_helpers():
    assert tlsinfo.is_ip("10.0.0.5") and tlsinfo.is_ip("[::1]") and not tlsinfo.is_ip("gitlab.test")
    fp = "SHA256:" + ":".join(["AB"] * 32)
    assert tlsinfo.normalize_fingerprint(fp.lower().replace(":", "")[6:]) == fp
    assert tlsinfo.fingerprint_error(fp) is None and "not a SHA-256" in tlsinfo.fingerprint_error("AB:CD")
