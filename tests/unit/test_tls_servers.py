"""The network doubles behave as advertised (chains sent, auth challenges,
timeouts), so checks tested against them are tested against the real thing."""

from __future__ import annotations

import datetime as dt
import errno
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.support.tlsfactory import (
    TLSServer,
    _chain_from_tls12_handshake,
    client_context,
    fetch_peer_chain,
    make_ca,
    make_expired_leaf,
    make_intermediate,
    make_leaf,
    make_leaf_valid_for,
    make_self_signed,
)


@pytest.fixture(scope="module")
def pki():
    ca = make_ca("Wizard Test Root")
    inter = make_intermediate(ca, "Wizard Test Issuing")
    leaf = make_leaf(inter, cn="gitlab.test", dns=["localhost"], ips=["127.0.0.1"])
    return ca, inter, leaf


def test_leaf_only_server_sends_exactly_one_cert(pki):
    ca, inter, leaf = pki
    with TLSServer([leaf], leaf.key) as srv:
        sent = fetch_peer_chain("127.0.0.1", srv.port)
        assert [c.subject.rfc4514_string() for c in sent] == ["CN=gitlab.test"]
        # and so a client that trusts only the root cannot build the chain
        with pytest.raises(urllib.error.URLError) as ei:
            urllib.request.urlopen(srv.url, context=client_context(ca), timeout=3)
        assert isinstance(ei.value.reason, ssl.SSLCertVerificationError)
        assert "unable to get local issuer" in str(ei.value.reason)


def test_full_chain_server_sends_leaf_and_intermediate(pki):
    ca, inter, leaf = pki
    with TLSServer([leaf, inter], leaf.key) as srv:
        sent = fetch_peer_chain("127.0.0.1", srv.port)
        assert [c.fingerprint(hashes.SHA256()) for c in sent] == [
            leaf.cert.fingerprint(hashes.SHA256()),
            inter.cert.fingerprint(hashes.SHA256()),
        ]
        # TLS 1.2 wire parse agrees with the ssl module's view
        assert len(_chain_from_tls12_handshake("127.0.0.1", srv.port, timeout=3, server_hostname=None)) == 2
        with urllib.request.urlopen(srv.url, context=client_context(ca), timeout=3) as r:
            assert r.status == 200


def test_cert_shapes(pki):
    ca, inter, leaf = pki
    cn_only = make_leaf(ca, cn="legacy.test")
    with pytest.raises(x509.ExtensionNotFound):
        cn_only.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    san = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert ca.fingerprint_sha256.startswith("SHA256:") and len(ca.fingerprint_sha256) == 7 + 32 * 3 - 1
    assert ca.fingerprint_sha256 == ca.fingerprint_sha256.upper()
    now = dt.datetime.now(dt.timezone.utc)
    assert make_expired_leaf(ca, cn="old").not_after < now
    soon = make_leaf_valid_for(ca, 20, cn="soon")
    assert dt.timedelta(days=19) < soon.not_after - now <= dt.timedelta(days=20)
    ss = make_self_signed("self.test", dns=["self.test"])
    assert ss.cert.issuer == ss.cert.subject
    rsa_ca = make_ca("RSA root", key_type="rsa")
    assert rsa_ca.cert.public_key().key_size == 2048


def test_write(tmp_path, pki):
    ca, _, _ = pki
    cert_path, key_path = ca.write(tmp_path)
    assert x509.load_pem_x509_certificate(cert_path.read_bytes()) == ca.cert
    assert b"PRIVATE KEY" in key_path.read_bytes()


def test_custom_handler_and_clean_stop(pki):
    import http.server

    class Teapot(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(418)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    ca, inter, leaf = pki
    before = set(threading.enumerate())
    srv = TLSServer([leaf, inter], leaf.key, handler=Teapot).start()
    idle = socket.create_connection(("127.0.0.1", srv.port))  # a client that never handshakes
    try:
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(srv.url, context=client_context(ca), timeout=3)
        assert ei.value.code == 418
        t0 = time.monotonic()
        srv.stop()
        assert time.monotonic() - t0 < 3
    finally:
        idle.close()
    assert [t for t in threading.enumerate() if t not in before and t.is_alive()] == []


def test_blackhole_never_answers(blackhole):
    with socket.create_connection(blackhole.address, timeout=0.3) as s:
        t0 = time.monotonic()
        with pytest.raises(socket.timeout):
            s.recv(1)
        assert 0.25 < time.monotonic() - t0 < 1.5
    # a TLS client hangs in the handshake, bounded by its timeout
    with socket.create_connection(blackhole.address, timeout=0.3) as s:
        with pytest.raises((socket.timeout, ssl.SSLError)):
            ssl.create_default_context().wrap_socket(s, server_hostname="localhost")


def test_refused_port(refused_port):
    with pytest.raises(ConnectionRefusedError) as ei:
        socket.create_connection(("127.0.0.1", refused_port), timeout=1)
    assert ei.value.errno == errno.ECONNREFUSED


def test_registry_tls_basic_auth(registry_tls_auth):
    reg = registry_tls_auth
    assert reg.host.startswith("127.0.0.1:") and reg.url == f"https://{reg.host}"
    status, headers, _ = reg.get("/v2/")
    assert status == 401
    challenge = {k.lower(): v for k, v in headers.items()}["www-authenticate"]
    assert challenge.startswith("Basic ")
    status, headers, body = reg.get("/v2/", auth=True)
    assert status == 200 and body.strip() == b"{}"
    # the served certificate is the leaf signed by our CA, and it verifies
    sent = fetch_peer_chain("127.0.0.1", reg.port)
    assert sent[0].subject.rfc4514_string() == "CN=localhost"
    ctx = ssl.create_default_context(cafile=str(reg.ca_pem_path))
    with socket.create_connection(("127.0.0.1", reg.port), timeout=3) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_registry_http(registry_http):
    assert registry_http.url.startswith("http://127.0.0.1:")
    status, headers, _ = registry_http.get("/v2/")
    assert status == 200
    assert {k.lower(): v for k, v in headers.items()}["docker-distribution-api-version"] == "registry/2.0"
