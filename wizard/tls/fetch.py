"""Fetch the chain a TLS server presents, the way the runner connects.

TLS 1.2 or newer, SNI = the URL's host (none for an IP literal, as Go does),
no verification here: the verdict decides what to trust.
"""

from __future__ import annotations

import errno
import socket
import ssl

from cryptography import x509

from .names import is_ip


class FetchError(Exception):
    """Could not get a certificate chain. ``kind``: dns | refused | timeout | handshake | network."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def classify_socket_error(exc: BaseException, host: str, port: int) -> FetchError:
    where = f"{host}:{port}"
    if isinstance(exc, FetchError):
        return exc
    if isinstance(exc, socket.gaierror):
        return FetchError("dns", f"the name {host} does not resolve from here ({exc.strerror or exc})")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return FetchError("timeout", f"no answer from {where} within the timeout (filtered port, "
                                     "firewall, or a server that accepts but never speaks)")
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return FetchError("refused", f"TCP connection to {where} refused: nothing listens on that port")
    if isinstance(exc, ssl.SSLError):
        reason = getattr(exc, "reason", None) or str(exc)
        if "WRONG_VERSION_NUMBER" in str(reason).upper() or "record layer failure" in str(exc):
            return FetchError("handshake", f"TLS handshake with {where} failed: the server does not speak "
                                           f"TLS on this port (plain HTTP?) [{reason}]")
        if "UNSUPPORTED_PROTOCOL" in str(reason).upper() or "VERSION" in str(reason).upper():
            return FetchError("handshake", f"TLS handshake with {where} failed: the server offers nothing "
                                           f"newer than TLS 1.1, and the runner needs TLS 1.2 [{reason}]")
        return FetchError("handshake", f"TLS handshake with {where} failed: {reason}")
    if isinstance(exc, (ConnectionResetError, EOFError)) or "EOF" in str(exc):
        return FetchError("handshake", f"TLS handshake with {where} failed: the server closed the "
                                       "connection (not TLS, or it rejected our hello)")
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return FetchError("network", f"{where} is unreachable from here ({exc.strerror})")
    return FetchError("network", f"cannot connect to {where}: {exc}")


def _unverified_chain(tls: ssl.SSLSocket) -> list[x509.Certificate]:
    getter = getattr(tls, "get_unverified_chain", None)  # public from Python 3.13
    if getter is None:
        getter = getattr(tls._sslobj, "get_unverified_chain", None)  # type: ignore[attr-defined]
    chain = []
    for c in (getter() if getter is not None else None) or []:
        if isinstance(c, bytes):
            chain.append(x509.load_der_x509_certificate(c))
        else:
            pem = c.public_bytes()
            chain.append(x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem))
    if not chain:
        der = tls.getpeercert(binary_form=True)
        if der:
            chain.append(x509.load_der_x509_certificate(der))
    return chain


def fetch_chain(host: str, port: int, *, timeout: float = 5.0, server_name: str | None = None,
                connect_to: str | None = None) -> list[x509.Certificate]:
    """The certificates the server presents, in the order sent, unverified.

    ``connect_to``: dial this address instead of resolving ``host`` (a host alias).
    SNI is ``server_name`` or ``host``, and none for an IP literal.
    """
    sni = server_name or host
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # see weak certificates too: the verdict judges them
    target = connect_to or host
    try:
        with socket.create_connection((target, port), timeout=timeout) as raw:
            raw.settimeout(timeout)
            with ctx.wrap_socket(raw, server_hostname=None if is_ip(sni) else sni) as tls:
                chain = _unverified_chain(tls)
                if not chain:
                    raise FetchError("handshake", f"{target}:{port} presented no certificate")
                return chain
    except FetchError:
        raise
    except (OSError, ssl.SSLError, EOFError) as exc:
        raise classify_socket_error(exc, target, port) from exc
