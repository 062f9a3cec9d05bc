"""The GitLab CA bundle: read it from a file, or take it from the chain GitLab presents.

``load_ca_pem`` returns a normalized PEM bundle (only CERTIFICATE blocks, re-encoded,
in the order given) or ``None`` when the answers configure no private CA. Every
problem is a :class:`BadInput` naming the field and the fix.
"""

from __future__ import annotations

import re
import socket
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from .errors import BadInput, FieldError

if TYPE_CHECKING:
    from .answers import Answers

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)

FETCH_FIX = "save the CA to a file and set gitlab.ca.file"


# --------------------------------------------------------------------------- helpers


def fingerprint(cert: x509.Certificate) -> str:
    """``SHA256:AB:CD:...``, the spelling answers.normalize_fingerprint produces."""
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return "SHA256:" + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def is_ca(cert: x509.Certificate) -> bool:
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        # A v1 self-signed certificate can only be a trust anchor.
        return is_self_signed(cert)
    return bool(bc.ca)


def is_self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:  # noqa: BLE001 - any failure means "not self-signed"
        return False
    return True


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # noqa: BLE001
        return False
    return True


def to_pem(certs: list[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certs)


def parse_pem_bundle(text: str) -> list[x509.Certificate]:
    """Every CERTIFICATE block of a PEM text. Raises ValueError with a readable reason."""
    blocks = [m.group(0) for m in _PEM_BLOCK.finditer(text)]
    certs = []
    kinds = set()
    for block in blocks:
        kind = block.split("-----")[1].removeprefix("BEGIN ").strip()
        kinds.add(kind)
        if kind not in ("CERTIFICATE", "TRUSTED CERTIFICATE"):
            continue
        if kind == "TRUSTED CERTIFICATE":
            block = block.replace("TRUSTED CERTIFICATE", "CERTIFICATE")
        try:
            certs.append(x509.load_pem_x509_certificate(block.encode("ascii")))
        except ValueError as exc:
            raise ValueError(f"a CERTIFICATE block does not parse: {exc}") from exc
    if not certs:
        if any("PRIVATE KEY" in k for k in kinds):
            raise ValueError("it holds a private key, not certificates; give the CA certificate "
                             "(never a key)")
        raise ValueError("it holds no PEM certificate (-----BEGIN CERTIFICATE-----); DER files "
                         "can be converted with: openssl x509 -inform der -in FILE -out FILE.pem")
    return certs


# --------------------------------------------------------------------------- file


def ca_from_file(path: Path, field: str = "gitlab.ca.file", expected_fingerprint: str | None = None,
                 fingerprint_field: str = "gitlab.ca.fingerprint") -> str:
    """Read and check a CA bundle file; return it normalized."""
    from .safeio import CA_LIMIT, read_regular

    data = read_regular(path, limit=CA_LIMIT, field=field, what="PEM file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    try:
        certs = parse_pem_bundle(text)
    except ValueError as exc:
        raise BadInput([FieldError(field, f"{path}: {exc}")]) from exc
    cas = [c for c in certs if is_ca(c)]
    if not cas:
        raise BadInput([FieldError(
            field, f"{path} holds only a server certificate ({_subject(certs[0])}), not a CA; give the "
                   "CA that signed it, not the server certificate")])
    if expected_fingerprint:
        if not any(fingerprint(c) == expected_fingerprint for c in certs):
            raise BadInput([FieldError(
                fingerprint_field, f"no certificate in {path} has fingerprint {expected_fingerprint}; "
                                   "check the file, or correct the fingerprint")])
    # Keep the CA certificates only: a leaf in the bundle is never a trust anchor.
    return to_pem(cas)


def _subject(cert: x509.Certificate) -> str:
    try:
        return cert.subject.rfc4514_string() or "empty subject"
    except Exception:  # noqa: BLE001
        return "unreadable subject"


# --------------------------------------------------------------------------- fetch


def fetch_presented_chain(host: str, port: int, timeout: float = 5.0) -> list[bytes]:
    """The certificates the server sends in its TLS handshake, DER, in the order sent.

    No verification is done here: the caller decides what to trust (by fingerprint).
    Raises OSError / ssl.SSLError when the server cannot be reached.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sni = None if _is_ip(host) else host
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            getter = getattr(tls, "get_unverified_chain", None)  # public from Python 3.13
            if getter is None:
                getter = tls._sslobj.get_unverified_chain  # type: ignore[union-attr]
            chain = getter() or []
            out: list[bytes] = []
            for c in chain:
                if isinstance(c, bytes):
                    out.append(c)
                else:
                    out.append(c.public_bytes(ssl._ssl.ENCODING_DER))  # type: ignore[attr-defined]
            if not out:
                der = tls.getpeercert(binary_form=True)
                if der:
                    out.append(der)
            return out


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def trusted_from_chain(chain: list[x509.Certificate], expected_fingerprint: str) -> list[x509.Certificate]:
    """The CA part of a presented chain, up to the certificate with the expected fingerprint.

    The chain must link (each certificate signed by the next) from the leaf to that
    certificate, which must be a CA. Returns the CA certificates to trust, root last.
    Raises ValueError with the reason.
    """
    if not chain:
        raise ValueError("the server presented no certificate")
    idx = next((i for i, c in enumerate(chain) if fingerprint(c) == expected_fingerprint), None)
    if idx is None:
        presented = ", ".join(f"{_subject(c)} ({fingerprint(c)})" for c in chain if is_ca(c)) or "none"
        raise ValueError(f"no certificate the server presented has fingerprint {expected_fingerprint} "
                         f"(CA certificates presented: {presented}; servers often leave out the root)")
    anchor = chain[idx]
    if not is_ca(anchor):
        raise ValueError(f"the certificate with fingerprint {expected_fingerprint} ({_subject(anchor)}) is "
                         "the server certificate, not a CA")
    for child, parent in zip(chain[:idx], chain[1:idx + 1]):
        if not _issued_by(child, parent):
            raise ValueError(f"the presented chain does not link: {_subject(child)} is not signed by "
                             f"{_subject(parent)}")
    return [c for c in chain[1:idx + 1] if is_ca(c)] or [anchor]


def ca_from_server(host: str, port: int, expected_fingerprint: str | None, timeout: float = 5.0) -> str:
    if not expected_fingerprint:
        raise BadInput([FieldError(
            "gitlab.ca.fingerprint",
            "is required with gitlab.ca.fetch (headless runs cannot ask whether to trust what the server "
            f"presents); set the root CA's SHA-256 fingerprint, or {FETCH_FIX}")])
    try:
        ders = fetch_presented_chain(host, port, timeout=timeout)
    except (OSError, ssl.SSLError) as exc:
        raise BadInput([FieldError(
            "gitlab.ca.fetch",
            f"cannot fetch the certificate chain from {host}:{port}: {exc}; {FETCH_FIX}")]) from exc
    chain = []
    for der in ders:
        try:
            chain.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    try:
        trusted = trusted_from_chain(chain, expected_fingerprint)
    except ValueError as exc:
        raise BadInput([FieldError("gitlab.ca.fingerprint", f"{host}:{port}: {exc}; {FETCH_FIX}")]) from exc
    return to_pem(trusted)


# --------------------------------------------------------------------------- public


def load_ca_pem(answers: Answers, *, fetch: bool = True, timeout: float = 5.0) -> str | None:
    """The GitLab CA bundle (normalized PEM) the answers configure, or ``None``.

    ``gitlab.ca.file`` is read and checked (PEM, holds a CA, matches the fingerprint when
    set). ``gitlab.ca.fetch`` without a file contacts GitLab, unless ``fetch`` is false, in
    which case ``None`` is returned.
    """
    ca = answers.gitlab.ca
    if ca is None:
        return None
    if ca.file:
        return ca_from_file(answers.resolve_path(ca.file), expected_fingerprint=ca.fingerprint)
    if ca.fetch:
        if not fetch:
            return None
        return ca_from_server(answers.gitlab.host, answers.gitlab.port, ca.fingerprint, timeout=timeout)
    return None
