"""Certificates: loading PEM, fingerprints, names and IPs, and a plain description.

One definition of each: the PEM reader follows Go's ``AppendCertsFromPEM`` (the
runner's reader), ``is_ca`` is "may sign certificates" as Go's
``CheckSignatureFrom`` decides it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import re
import warnings
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtensionOID, NameOID

from .names import dns_name_matches, fingerprint_error, host_ip, normalize_fingerprint  # noqa: F401

# Some system roots carry serial number 0; Go parses them, and so do we, quietly.
warnings.filterwarnings("ignore", message="Parsed a serial number which wasn't positive")

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.S)


# --------------------------------------------------------------------------- PEM


@dataclass(frozen=True)
class PemBlock:
    kind: str
    headers: bool
    der: bytes | None  # None when the base64 does not decode


def split_pem(data: bytes | str) -> list[PemBlock]:
    """Every PEM block, in order (text between blocks is ignored, as Go and OpenSSL do)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    out = []
    for m in _PEM_BLOCK.finditer(data):
        body = m.group(2)
        headers = b":" in body.split(b"\n\n", 1)[0] if b"\n\n" in body else False
        if headers:
            body = body.split(b"\n\n", 1)[1]
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            der = None
        out.append(PemBlock(m.group(1).decode("ascii"), headers, der))
    return out


def _load_der(der: bytes) -> x509.Certificate | None:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        return None


def load_pem_certificates(data: bytes | str) -> list[x509.Certificate]:
    """The certificates Go's ``CertPool.AppendCertsFromPEM`` takes from ``data``.

    Only ``CERTIFICATE`` blocks without headers; blocks that do not parse are
    skipped, like the runner does. Use :func:`parse_ca_bundle` to be told why.
    """
    blocks = split_pem(data)
    out: list[x509.Certificate] = []
    if blocks and all(b.kind == "CERTIFICATE" and not b.headers for b in blocks):
        try:
            out = x509.load_pem_x509_certificates(data if isinstance(data, bytes) else data.encode())
        except ValueError:
            out = []  # one bad block: go block by block and skip it, as Go does
    if not out:
        for b in blocks:
            if b.kind == "CERTIFICATE" and not b.headers and b.der is not None:
                cert = _load_der(b.der)
                if cert is not None:
                    out.append(cert)
    # Go (>= 1.23) refuses to parse a certificate with a negative serial number
    return [c for c in out if c.serial_number >= 0]


def _der_length(der: bytes) -> int:
    """Length of the first DER element (header included)."""
    if len(der) < 2:
        return len(der)
    n = der[1]
    if n < 0x80:
        return 2 + n
    k = n & 0x7F
    return 2 + k + int.from_bytes(der[2:2 + k], "big")


def parse_ca_bundle(data: bytes | str) -> list[x509.Certificate]:
    """Every certificate of a CA bundle the user gave. Raises ValueError with a readable reason.

    OpenSSL ``TRUSTED CERTIFICATE`` blocks are taken too (the runner ignores them, so the
    bundle written for it must be re-encoded as CERTIFICATE blocks: :func:`to_pem`).
    """
    blocks = split_pem(data)
    certs = []
    for b in blocks:
        if b.kind not in ("CERTIFICATE", "TRUSTED CERTIFICATE"):
            continue
        der = b.der
        if b.kind == "TRUSTED CERTIFICATE" and der:
            der = der[:_der_length(der)]  # the certificate, without OpenSSL's trust settings after it
        cert = _load_der(der) if der is not None else None
        if cert is None:
            raise ValueError("a CERTIFICATE block does not parse (damaged base64 or DER)")
        certs.append(cert)
    if not certs:
        if any("PRIVATE KEY" in b.kind for b in blocks):
            raise ValueError("it holds a private key, not certificates; give the CA certificate (never a key)")
        raise ValueError("it holds no PEM certificate (-----BEGIN CERTIFICATE-----); DER files can be "
                         "converted with: openssl x509 -inform der -in FILE -out FILE.pem")
    return certs


def to_pem(certs: list[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


# --------------------------------------------------------------------------- fingerprints


def fingerprint(cert: x509.Certificate | bytes) -> str:
    """``SHA256:AB:CD:...`` of a certificate (or of DER bytes)."""
    h = hashes.Hash(hashes.SHA256())
    h.update(cert if isinstance(cert, bytes) else der(cert))
    return "SHA256:" + ":".join(f"{b:02X}" for b in h.finalize())


# --------------------------------------------------------------------------- names


def name_str(name: x509.Name) -> str:
    try:
        return name.rfc4514_string() or "(empty)"
    except Exception:  # noqa: BLE001 - exotic attribute types
        return str(name)


def common_name(name: x509.Name) -> str:
    try:
        attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    except Exception:  # noqa: BLE001
        return ""
    return str(attrs[0].value) if attrs else ""


def sans(cert: x509.Certificate) -> tuple[list[str], list[str], bool]:
    """(DNS names, IP addresses, has a SAN extension)."""
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return [], [], False
    except ValueError:
        return [], [], False
    return ([str(d) for d in ext.get_values_for_type(x509.DNSName)],
            [str(i) for i in ext.get_values_for_type(x509.IPAddress)], True)


def name_covered(cert: CertInfo | x509.Certificate, host: str) -> bool:
    """Go's ``VerifyHostname``: IPs against IP SANs, names against DNS SANs, never the CN."""
    if isinstance(cert, x509.Certificate):
        dns, ips, _ = sans(cert)
    else:
        dns, ips = list(cert.dns_names), list(cert.ip_addresses)
    ip = host_ip(host)
    if ip is not None:
        return any(host_ip(x) == ip for x in ips)
    return any(dns_name_matches(d, host) for d in dns)


# --------------------------------------------------------------------------- CA-ness


def _ext(cert: x509.Certificate, cls: type) -> Any:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def is_ca(cert: x509.Certificate) -> bool:
    """May this certificate sign others (Go's rule)? CA:TRUE, or a v1 certificate.

    keyUsage without keyCertSign also says no. A server certificate given as
    the CA file is still trusted by Go when it *is* the server's certificate;
    that is the verdict's business, not this one's.
    """
    bc = _ext(cert, x509.BasicConstraints)
    if bc is None:
        if cert.version != x509.Version.v1:
            return False
    elif not bc.ca:
        return False
    ku = _ext(cert, x509.KeyUsage)
    return ku is None or bool(ku.key_cert_sign)


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``issuer``'s name and key signed ``cert`` (no other rule)."""
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # noqa: BLE001 - any failure means "no"
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    return issued_by(cert, cert)


# --------------------------------------------------------------------------- description


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    common_name: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    has_san: bool
    not_before: _dt.datetime
    not_after: _dt.datetime
    fingerprint: str
    is_ca: bool
    self_signed: bool

    @property
    def sans(self) -> list[str]:
        return [*self.dns_names, *self.ip_addresses]

    def days_left(self, now: _dt.datetime | None = None) -> float:
        now = now or _dt.datetime.now(_dt.timezone.utc)
        return (self.not_after - now).total_seconds() / 86400

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject, "issuer": self.issuer, "common_name": self.common_name,
            "dns_names": list(self.dns_names), "ip_addresses": list(self.ip_addresses),
            "has_san": self.has_san,
            "not_before": self.not_before.isoformat(), "not_after": self.not_after.isoformat(),
            "fingerprint": self.fingerprint, "is_ca": self.is_ca, "self_signed": self.self_signed,
        }

    def one_line(self) -> str:
        names = ", ".join(self.sans) if self.has_san else "none (CN only)"
        return (f"subject {self.subject}; issuer {self.issuer}; SANs {names}; valid "
                f"{self.not_before:%Y-%m-%d} to {self.not_after:%Y-%m-%d}; {self.fingerprint}")


def describe(cert: x509.Certificate) -> CertInfo:
    dns, ips, has = sans(cert)
    return CertInfo(
        subject=name_str(cert.subject), issuer=name_str(cert.issuer),
        common_name=common_name(cert.subject), dns_names=tuple(dns), ip_addresses=tuple(ips),
        has_san=has, not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        fingerprint=fingerprint(cert), is_ca=is_ca(cert), self_signed=is_self_signed(cert),
    )


def label(cert: x509.Certificate) -> str:
    """A short name for messages: the CN, else the whole subject."""
    return common_name(cert.subject) or name_str(cert.subject)
