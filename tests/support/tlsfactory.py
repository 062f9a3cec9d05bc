"""Certificates made with ``cryptography`` and real TLS servers on loopback.

Everything here is for tests: keys are small-but-valid (P-256 or RSA-2048),
servers bind only to 127.0.0.1 (or ::1) and stop cleanly.

Typical use::

    ca = make_ca("Test Root CA")
    inter = make_intermediate(ca, "Test Issuing CA")
    leaf = make_leaf(inter, cn="gitlab.test", dns=["localhost"], ips=["127.0.0.1"])
    with TLSServer([leaf], leaf.key) as srv:          # incomplete chain (leaf only)
        ...  # connect to srv.url
    with TLSServer([leaf, inter], leaf.key) as srv:   # complete chain
        ...
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import http.server
import ipaddress
import os
import re
import socket
import socketserver
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "Cert",
    "LoopbackPKI",
    "make_ca",
    "make_intermediate",
    "make_leaf",
    "make_self_signed",
    "make_expired_leaf",
    "make_leaf_valid_for",
    "make_loopback_pki",
    "make_cert",
    "chain_pem",
    "format_fingerprint",
    "client_context",
    "fetch_peer_chain",
    "LoopbackHTTPServer",
    "TLSServer",
    "server_context",
    "OkHandler",
    "Blackhole",
    "blackhole_server",
    "refused_port",
    "free_port",
]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


# ---------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------


def format_fingerprint(der: bytes) -> str:
    """``SHA256:AB:CD:...`` (uppercase, colon separated) of DER bytes."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return "SHA256:" + ":".join(f"{b:02X}" for b in digest.finalize())


@dataclass
class Cert:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: Any  # PrivateKey
    issuer: "Cert | None" = field(default=None, repr=False)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def fingerprint_sha256(self) -> str:
        return format_fingerprint(self.der)

    @property
    def cn(self) -> str:
        attrs = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(attrs[0].value) if attrs else ""

    @property
    def not_before(self) -> _dt.datetime:
        return self.cert.not_valid_before_utc

    @property
    def not_after(self) -> _dt.datetime:
        return self.cert.not_valid_after_utc

    def write(self, directory: str | os.PathLike[str], name: str | None = None) -> tuple[Path, Path]:
        """Write ``<name>.crt`` and ``<name>.key`` (PEM) into *directory*.

        *name* defaults to a file-safe form of the CN. Returns (cert_path, key_path).
        """
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        base = name or re.sub(r"[^A-Za-z0-9._-]+", "_", self.cn) or "cert"
        cert_path = d / f"{base}.crt"
        key_path = d / f"{base}.key"
        cert_path.write_bytes(self.pem)
        key_path.write_bytes(self.key_pem)
        key_path.chmod(0o600)
        return cert_path, key_path


def chain_pem(certs: Iterable[Cert]) -> bytes:
    """Concatenated PEM of *certs*, in the order given."""
    return b"".join(c.pem for c in certs)


def _new_key(key_type: str) -> Any:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"key_type must be ec, ec384, rsa, rsa1024 or ed25519, not {key_type!r}")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]) if cn else x509.Name([])


def _serial() -> int:
    return x509.random_serial_number()


def _build(
    *,
    subject: x509.Name,
    key: Any,
    issuer: Cert | None,
    not_before: _dt.datetime | None,
    not_after: _dt.datetime | None,
    default_days: int,
    is_ca: bool,
    path_length: int | None = None,
    san: list[x509.GeneralName] | None = None,
    server_usage: bool = False,
) -> x509.Certificate:
    nb = not_before or (_now() - _dt.timedelta(hours=1))
    na = not_after or (nb + _dt.timedelta(days=default_days))
    signer_key = issuer.key if issuer else key
    issuer_name = issuer.cert.subject if issuer else subject
    pub = key.public_key()
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(pub)
        .serial_number(_serial())
        .not_valid_before(nb)
        .not_valid_after(na)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_length), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    )
    if issuer is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    else:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(pub), critical=False)
    if is_ca:
        b = b.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
    if server_usage:
        if not is_ca:  # a CA already got its KeyUsage above
            b = b.add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False,
                    key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
        b = b.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    if san:
        # RFC 5280: SAN must be critical when the subject is empty.
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=len(subject) == 0)
    return b.sign(signer_key, hashes.SHA256())


def make_ca(
    cn: str,
    *,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    key_type: str = "ec",
) -> Cert:
    """A self-signed root CA (10 years unless dates are given)."""
    key = _new_key(key_type)
    cert = _build(
        subject=_name(cn), key=key, issuer=None, not_before=not_before,
        not_after=not_after, default_days=3650, is_ca=True,
    )
    return Cert(cert, key)


def make_intermediate(
    ca: Cert,
    cn: str,
    *,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    key_type: str = "ec",
) -> Cert:
    """An intermediate CA signed by *ca* (path length 0)."""
    key = _new_key(key_type)
    cert = _build(
        subject=_name(cn), key=key, issuer=ca, not_before=not_before,
        not_after=not_after, default_days=1825, is_ca=True, path_length=0,
    )
    return Cert(cert, key, issuer=ca)


def _san(dns: Sequence[str], ips: Sequence[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    out += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    return out


def make_leaf(
    issuer: Cert,
    *,
    cn: str = "",
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    is_ca: bool = False,
    key_type: str = "ec",
) -> Cert:
    """A server certificate signed by *issuer* (1 year unless dates are given).

    With no *dns* and no *ips* the certificate has **no SAN extension at all**
    (a legacy CN-only certificate, which Go >= 1.15 rejects).
    """
    key = _new_key(key_type)
    cert = _build(
        subject=_name(cn), key=key, issuer=issuer, not_before=not_before,
        not_after=not_after, default_days=365, is_ca=is_ca,
        san=_san(dns, ips) or None, server_usage=True,
    )
    return Cert(cert, key, issuer=issuer)


def make_self_signed(
    cn: str,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    *,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    key_type: str = "ec",
) -> Cert:
    """A self-signed end-entity server certificate (not a CA)."""
    key = _new_key(key_type)
    cert = _build(
        subject=_name(cn), key=key, issuer=None, not_before=not_before,
        not_after=not_after, default_days=365, is_ca=False,
        san=_san(dns, ips) or None, server_usage=True,
    )
    return Cert(cert, key)


_UNSET: Any = object()
_SHA1_RSA_OID = bytes.fromhex("06092a864886f70d010105")
_SHA256_RSA_OID = bytes.fromhex("06092a864886f70d01010b")


def _der_header(data: bytes, i: int) -> tuple[int, int]:
    """(offset of the content, content length) of the DER element at ``i``."""
    n = data[i + 1]
    if n < 0x80:
        return i + 2, n
    k = n & 0x7F
    return i + 2 + k, int.from_bytes(data[i + 2:i + 2 + k], "big")


def _resign_sha1(cert: x509.Certificate, key: rsa.RSAPrivateKey) -> x509.Certificate:
    """The same certificate signed with SHA1-RSA (``cryptography`` refuses to make one)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    if der.count(_SHA256_RSA_OID) != 2:
        raise ValueError("expected a sha256WithRSAEncryption certificate")
    der = der.replace(_SHA256_RSA_OID, _SHA1_RSA_OID)
    body, _ = _der_header(der, 0)
    tbs_body, tbs_len = _der_header(der, body)
    tbs = der[body:tbs_body + tbs_len]
    sig = key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    alg_at = tbs_body + tbs_len
    alg_body, alg_len = _der_header(der, alg_at)
    bit_at = alg_body + alg_len
    bit_body, bit_len = _der_header(der, bit_at)
    assert bit_len == len(sig) + 1
    der = der[:bit_body + 1] + sig + der[bit_body + 1 + len(sig):]
    return x509.load_der_x509_certificate(der)


def make_cert(
    cn: str = "",
    *,
    issuer: Cert | None = None,
    key_type: str = "ec",
    key: Any = None,
    ca: bool | None = False,
    path_length: int | None = None,
    key_usage: str | None = "default",
    eku: Sequence[x509.ObjectIdentifier] | None = _UNSET,
    key_ids: bool = True,
    dns: Sequence[str] = (),
    ips: Sequence[str] = (),
    permitted: Sequence[x509.GeneralName] = (),
    excluded: Sequence[x509.GeneralName] = (),
    critical_unknown: bool = False,
    sha1: bool = False,
    not_before: _dt.datetime | None = None,
    not_after: _dt.datetime | None = None,
    days: int = 365,
) -> Cert:
    """One certificate with every knob the TLS corpus needs.

    ``issuer=None`` makes it self-signed. ``ca``: True/False for basicConstraints
    CA:TRUE/FALSE, None for no basicConstraints at all. ``key_usage``: "default"
    (keyCertSign+cRLSign for CAs, digitalSignature(+keyEncipherment) for leaves),
    None (no extension) or "no_certsign" (digitalSignature only, also on CAs).
    ``eku``: default serverAuth+clientAuth on leaves and none on CAs; None for no
    extension. ``key_ids``: SubjectKeyIdentifier and AuthorityKeyIdentifier.
    ``sha1``: sign with SHA1-RSA (the signing key must be RSA).
    """
    key = key or _new_key(key_type)
    pub = key.public_key()
    subject = _name(cn)
    signer = issuer.key if issuer else key
    nb = not_before or (_now() - _dt.timedelta(hours=1))
    na = not_after or (nb + _dt.timedelta(days=days))
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(issuer.cert.subject if issuer else subject)
         .public_key(pub).serial_number(_serial()).not_valid_before(nb).not_valid_after(na))
    if ca is not None:
        b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length if ca else None),
                            critical=True)
    if key_ids:
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer.key.public_key() if issuer else pub), critical=False)
    if key_usage is not None:
        is_ca = bool(ca) or (ca is None and issuer is None)
        certsign = is_ca and key_usage == "default"
        b = b.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False,
            key_encipherment=isinstance(key, rsa.RSAPrivateKey) and not is_ca,
            data_encipherment=False, key_agreement=False, key_cert_sign=certsign,
            crl_sign=certsign, encipher_only=False, decipher_only=False), critical=True)
    if eku is _UNSET:
        eku = None if (ca or ca is None) else [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    san = _san(dns, ips)
    if san:
        b = b.add_extension(x509.SubjectAlternativeName(san), critical=len(subject) == 0)
    if permitted or excluded:
        b = b.add_extension(x509.NameConstraints(permitted_subtrees=list(permitted) or None,
                                                 excluded_subtrees=list(excluded) or None), critical=True)
    if critical_unknown:
        b = b.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1.1"),
                                                       b"\x05\x00"), critical=True)
    algo = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    cert = b.sign(signer, algo)
    if sha1:
        cert = _resign_sha1(cert, signer)
    return Cert(cert, key, issuer=issuer)


def make_expired_leaf(issuer: Cert, *, days_ago: int = 1, **kw: Any) -> Cert:
    """A leaf that expired *days_ago* days ago (valid for the 30 days before)."""
    na = _now() - _dt.timedelta(days=days_ago)
    return make_leaf(issuer, not_before=na - _dt.timedelta(days=30), not_after=na, **kw)


def make_leaf_valid_for(issuer: Cert, days: float, **kw: Any) -> Cert:
    """A leaf valid since an hour ago and expiring *days* days from now."""
    return make_leaf(
        issuer,
        not_before=_now() - _dt.timedelta(hours=1),
        not_after=_now() + _dt.timedelta(days=days),
        **kw,
    )


@dataclass
class LoopbackPKI:
    """A private CA plus a leaf for ``localhost``/127.0.0.1/::1."""

    ca: Cert
    leaf: Cert
    directory: Path

    @property
    def chain(self) -> list[Cert]:
        return [self.leaf]

    @property
    def ca_pem_path(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def leaf_cert_path(self) -> Path:
        return self.directory / "leaf.crt"

    @property
    def leaf_key_path(self) -> Path:
        return self.directory / "leaf.key"

    def client_context(self) -> ssl.SSLContext:
        return client_context(self.ca)


def make_loopback_pki(directory: str | os.PathLike[str] | None = None, *, key_type: str = "ec") -> LoopbackPKI:
    """CA + leaf (CN=localhost, SAN localhost, 127.0.0.1, ::1), written as
    ``ca.crt``, ``leaf.crt`` and ``leaf.key`` into *directory* (a new temp dir if None)."""
    d = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="pki-"))
    ca = make_ca("runner-wizard test CA", key_type=key_type)
    leaf = make_leaf(ca, cn="localhost", dns=["localhost"], ips=["127.0.0.1", "::1"], key_type=key_type)
    ca.write(d, "ca")
    leaf.write(d, "leaf")
    return LoopbackPKI(ca, leaf, d)


def client_context(*cas: Cert) -> ssl.SSLContext:
    """A verifying client context that trusts only *cas* (no system store)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=chain_pem(cas).decode("ascii"))
    return ctx


def fetch_peer_chain(host: str, port: int, *, timeout: float = 5.0, server_hostname: str | None = None) -> list[x509.Certificate]:
    """Connect without verification and return the certificates the server sent,
    in the order sent (``get_unverified_chain`` where the ``ssl`` module has it,
    else a fallback that parses the TLS 1.2 Certificate handshake message)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as tls:
            getter = getattr(tls._sslobj, "get_unverified_chain", None)  # type: ignore[attr-defined]
            if getter is not None:
                out = []
                for c in getter() or []:
                    pem = c.public_bytes()  # default encoding is PEM (str)
                    out.append(x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem))
                return out
    # No get_unverified_chain: capture a TLS 1.2 handshake, where the
    # Certificate message is sent in clear text, and parse it.
    return _chain_from_tls12_handshake(host, port, timeout=timeout, server_hostname=server_hostname)


def _chain_from_tls12_handshake(host: str, port: int, *, timeout: float, server_hostname: str | None) -> list[x509.Certificate]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    incoming = ssl.MemoryBIO()
    outgoing = ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_side=False, server_hostname=server_hostname)
    received = bytearray()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        while True:
            try:
                obj.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                done = False
            data = outgoing.read()
            if data:
                sock.sendall(data)
            if done:
                break
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
            incoming.write(chunk)
    return _parse_certificate_message(bytes(received))


def _parse_certificate_message(stream: bytes) -> list[x509.Certificate]:
    # Reassemble handshake-type records (content type 22), then walk messages.
    hs = bytearray()
    i = 0
    while i + 5 <= len(stream):
        ctype = stream[i]
        length = int.from_bytes(stream[i + 3:i + 5], "big")
        if ctype == 22:
            hs += stream[i + 5:i + 5 + length]
        elif ctype == 20:  # ChangeCipherSpec: everything after is encrypted
            break
        i += 5 + length
    j = 0
    while j + 4 <= len(hs):
        mtype = hs[j]
        mlen = int.from_bytes(hs[j + 1:j + 4], "big")
        body = hs[j + 4:j + 4 + mlen]
        if mtype == 11:  # Certificate
            total = int.from_bytes(body[0:3], "big")
            k, certs = 3, []
            while k < 3 + total:
                clen = int.from_bytes(body[k:k + 3], "big")
                certs.append(x509.load_der_x509_certificate(bytes(body[k + 3:k + 3 + clen])))
                k += 3 + clen
            return certs
        j += 4 + mlen
    raise RuntimeError("no Certificate handshake message seen")


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on *host* (racy by nature; retry on bind error)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _check_loopback(host: str) -> None:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"test servers bind to loopback only, not {host!r}")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class OkHandler(http.server.BaseHTTPRequestHandler):
    """Answers every request with ``200 OK`` and a tiny body."""

    protocol_version = "HTTP/1.1"

    def _ok(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _ok

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class _ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = True
    allow_reuse_address = True
    # socketserver's default backlog is 5; a check run opens several connections at once,
    # and on a loaded 2-core machine the accept loop can fall behind that.
    request_queue_size = 128

    def __init__(self, addr: tuple[str, int], handler: type, owner: "LoopbackHTTPServer") -> None:
        self.address_family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.owner = owner
        self.app = owner.app
        super().__init__(addr, handler)

    def server_bind(self) -> None:  # skip HTTPServer's getfqdn() (slow DNS)
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def process_request(self, request: socket.socket, client_address: Any) -> None:
        # ThreadingMixIn does not keep daemon threads for server_close() to
        # join, so keep them here and let the owner join them in stop().
        t = threading.Thread(
            target=self.process_request_thread, args=(request, client_address),
            name=f"conn:{self.server_address[1]}", daemon=True,
        )
        with self.owner._lock:
            self.owner._threads = [x for x in self.owner._threads if x.is_alive()]
            self.owner._threads.append(t)
        t.start()

    def finish_request(self, request: socket.socket, client_address: Any) -> None:
        owner = self.owner
        owner._track(request, True)
        try:
            request.settimeout(owner.connection_timeout)
            with contextlib.suppress(OSError):  # no Nagle/delayed-ACK stalls
                request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if owner.ssl_context is not None:
                try:
                    raw = request
                    request = owner.ssl_context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
                    owner._track(request, True)
                    owner._track(raw, False)  # detached by wrap_socket
                    request.do_handshake()
                except (OSError, ssl.SSLError) as e:
                    with owner._lock:
                        owner.handshake_errors.append(repr(e))
                    return
                with owner._lock:
                    owner.handshakes += 1
            self.RequestHandlerClass(request, client_address, self)
        except (OSError, ssl.SSLError):
            pass
        finally:
            owner._track(request, False)

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet
        pass


class LoopbackHTTPServer:
    """A threaded HTTP server, or HTTPS with *ssl_context*, on loopback.

    The handler reaches shared state through ``self.server.app`` (the *app*
    argument). Usable as a context manager; ``stop()`` closes open client
    connections and joins every thread it started.
    """

    connection_timeout = 10.0

    def __init__(
        self,
        handler: type[http.server.BaseHTTPRequestHandler] | None = None,
        *,
        ssl_context: ssl.SSLContext | None = None,
        app: Any = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        _check_loopback(host)
        self.handler = handler or OkHandler
        self.ssl_context = ssl_context
        self.app = app
        self.host = host
        self._port = port
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.stopping = threading.Event()
        self.handshakes = 0
        self.handshake_errors: list[str] = []

    # connection tracking so stop() can unblock keep-alive readers
    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._conns.add(sock)
            else:
                self._conns.discard(sock)

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server.server_address[1]

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{_url_host(self.host)}:{self.port}/"

    def start(self) -> "LoopbackHTTPServer":
        if self._server is not None:
            return self
        self.stopping.clear()
        self._server = _ThreadingServer((self.host, self._port), self.handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        srv, th = self._server, self._thread
        if srv is None:
            return
        self.stopping.set()
        srv.shutdown()  # no new connections are accepted after this
        if th is not None:
            th.join(5)
        deadline = time.monotonic() + 5
        while True:
            with self._lock:
                conns = list(self._conns)
                threads = [t for t in self._threads if t.is_alive()]
            for c in conns:  # unblock handshakes, keep-alive reads, handlers
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
            for t in threads:
                t.join(0.05)
            if not any(t.is_alive() for t in threads) or time.monotonic() > deadline:
                break
        srv.server_close()
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
        self._server = self._thread = None

    def __enter__(self) -> "LoopbackHTTPServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def server_context(chain: Sequence[Cert], key: Any) -> ssl.SSLContext:
    """A server context that sends exactly *chain* (no auto-chain building:
    the context has no trust store to build from)."""
    if not chain:
        raise ValueError("chain must contain at least the leaf certificate")
    if isinstance(key, Cert):
        key = key.key
    key_pem = key if isinstance(key, (bytes, str)) else key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    if isinstance(key_pem, str):
        key_pem = key_pem.encode()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # serve SHA-1 and RSA-1024 shapes too: clients judge them
    with tempfile.TemporaryDirectory(prefix="tlssrv-") as d:
        cpath, kpath = Path(d, "chain.pem"), Path(d, "key.pem")
        cpath.write_bytes(chain_pem(chain))
        kpath.write_bytes(key_pem)
        ctx.load_cert_chain(str(cpath), str(kpath))
    return ctx


class TLSServer(LoopbackHTTPServer):
    """TLS on 127.0.0.1 (free port) sending exactly *chain* (leaf first).

    *key* is the leaf's private key (key object, PEM, or the leaf ``Cert``).
    With *handler* it serves HTTPS through it; without, it answers every
    request with a minimal ``HTTP 200``.

        with TLSServer([leaf], leaf.key) as srv:   # leaf only: incomplete chain
            urllib.request.urlopen(srv.url, context=client_context(ca))
    """

    def __init__(
        self,
        chain: Sequence[Cert],
        key: Any,
        *,
        handler: type[http.server.BaseHTTPRequestHandler] | None = None,
        app: Any = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.chain = list(chain)
        super().__init__(handler, ssl_context=server_context(self.chain, key), app=app, host=host)


# ---------------------------------------------------------------------------
# Misbehaving endpoints
# ---------------------------------------------------------------------------


@dataclass
class Blackhole:
    host: str
    port: int
    accepted: int = 0

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def url(self) -> str:
        return f"https://{_url_host(self.host)}:{self.port}/"

    @property
    def http_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.port}/"


@contextlib.contextmanager
def blackhole_server(host: str = "127.0.0.1") -> Iterator[Blackhole]:
    """Accepts TCP connections, never sends a byte, holds them until exit."""
    _check_loopback(host)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    lsock = socket.socket(fam, socket.SOCK_STREAM)
    lsock.bind((host, 0))
    lsock.listen(64)
    lsock.settimeout(0.05)
    bh = Blackhole(host, lsock.getsockname()[1])
    held: list[socket.socket] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                c, _ = lsock.accept()
            except (socket.timeout, BlockingIOError):
                continue
            except OSError:
                return
            held.append(c)
            bh.accepted += 1

    th = threading.Thread(target=loop, name=f"blackhole:{bh.port}", daemon=True)
    th.start()
    try:
        yield bh
    finally:
        stop.set()
        th.join(5)
        for c in held:
            with contextlib.suppress(OSError):
                c.close()
        lsock.close()


@contextlib.contextmanager
def refused_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A loopback port where connecting gets ECONNREFUSED.

    The port is held bound (without ``listen``) for the duration, so nothing
    else can take it meanwhile. Yields the port number.
    """
    _check_loopback(host)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        yield s.getsockname()[1]
    finally:
        s.close()
