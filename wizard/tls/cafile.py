"""The GitLab CA bundle: read it from a file, or take it from the chain GitLab presents.

``load_ca_pem`` returns a normalized PEM bundle (the CERTIFICATE blocks, re-encoded,
in the order given) or ``None`` when the answers configure no private CA. Every
problem is a :class:`BadInput` naming the field and the fix. A server certificate in
the file is kept: Go (the runner) trusts a pool certificate equal to the server's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from ..errors import BadInput, FieldError
from .certs import fingerprint, is_ca, is_self_signed, issued_by, label, parse_ca_bundle, to_pem
from .fetch import FetchError, fetch_chain

if TYPE_CHECKING:
    from ..answers import Answers

FETCH_FIX = "save the CA to a file and set gitlab.ca.file"


def ca_from_file(path: Path, field: str = "gitlab.ca.file", expected_fingerprint: str | None = None,
                 fingerprint_field: str = "gitlab.ca.fingerprint") -> str:
    """Read and check a CA bundle file; return it normalized."""
    from ..safeio import CA_LIMIT, read_regular

    data = read_regular(path, limit=CA_LIMIT, field=field, what="PEM file")
    try:
        certs = parse_ca_bundle(data)
    except ValueError as exc:
        raise BadInput([FieldError(field, f"{path}: {exc}")]) from exc
    if expected_fingerprint and not any(fingerprint(c) == expected_fingerprint for c in certs):
        raise BadInput([FieldError(
            fingerprint_field, f"no certificate in {path} has fingerprint {expected_fingerprint}; "
                               "check the file, or correct the fingerprint")])
    return to_pem(certs)


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
        presented = ", ".join(f"{label(c)} ({fingerprint(c)})" for c in chain if is_ca(c)) or "none"
        raise ValueError(f"no certificate the server presented has fingerprint {expected_fingerprint} "
                         f"(CA certificates presented: {presented}; servers often leave out the root)")
    anchor = chain[idx]
    if idx == 0 and is_self_signed(anchor):
        return [anchor]  # a self-signed server certificate is its own CA; Go trusts it pinned
    if idx == 0:
        raise ValueError(f"the certificate with fingerprint {expected_fingerprint} ({label(anchor)}) is "
                         "the server certificate, not a CA")
    for child, parent in zip(chain[:idx], chain[1:idx + 1]):
        if not issued_by(child, parent):
            raise ValueError(f"the presented chain does not link: {label(child)} is not signed by "
                             f"{label(parent)}")
    return chain[1:idx + 1]


def ca_from_server(host: str, port: int, expected_fingerprint: str | None, timeout: float = 5.0) -> str:
    if not expected_fingerprint:
        raise BadInput([FieldError(
            "gitlab.ca.fingerprint",
            "is required with gitlab.ca.fetch (headless runs cannot ask whether to trust what the server "
            f"presents); set the root CA's SHA-256 fingerprint, or {FETCH_FIX}")])
    try:
        chain = fetch_chain(host, port, timeout=timeout)
    except FetchError as exc:
        raise BadInput([FieldError(
            "gitlab.ca.fetch",
            f"cannot fetch the certificate chain from {host}:{port}: {exc.message}; {FETCH_FIX}")]) from exc
    try:
        trusted = trusted_from_chain(chain, expected_fingerprint)
    except ValueError as exc:
        raise BadInput([FieldError("gitlab.ca.fingerprint", f"{host}:{port}: {exc}; {FETCH_FIX}")]) from exc
    return to_pem(trusted)


def load_ca_pem(answers: Answers, *, fetch: bool = True, timeout: float = 5.0) -> str | None:
    """The GitLab CA bundle (normalized PEM) the answers configure, or ``None``.

    ``gitlab.ca.file`` is read and checked (PEM, matches the fingerprint when set).
    ``gitlab.ca.fetch`` without a file contacts GitLab, unless ``fetch`` is false, in
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
