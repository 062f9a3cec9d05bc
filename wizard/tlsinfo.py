"""Certificate analysis shared by the checks and the TUI.

Fetch the chain a server presents, describe each certificate (subject, issuer,
SANs, validity, SHA-256 fingerprint), verify it against the system store plus
extra roots with ``cryptography.x509.verification``, and name every fault in
plain words (unknown CA, self-signed, incomplete chain, name or IP not covered,
CN-only, expired or expiring, a server certificate given where a CA is needed).

No UI imports; every function is safe to call from worker threads.
"""

from __future__ import annotations

import datetime as _dt
import errno
import functools
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtensionOID, NameOID

EXPIRY_WARN_DAYS = 30


# --------------------------------------------------------------------------- describing


def fingerprint(cert: x509.Certificate | bytes) -> str:
    """``SHA256:AB:CD:...`` of a certificate (or of DER bytes)."""
    der = cert if isinstance(cert, bytes) else cert.public_bytes(serialization.Encoding.DER)
    h = hashes.Hash(hashes.SHA256())
    h.update(der)
    return "SHA256:" + ":".join(f"{b:02X}" for b in h.finalize())


def normalize_fingerprint(fp: str) -> str:
    s = fp.strip()
    if s.upper().startswith("SHA256:"):
        s = s[7:]
    hexd = s.replace(":", "").replace(" ", "").upper()
    return "SHA256:" + ":".join(hexd[i:i + 2] for i in range(0, len(hexd), 2))


def _name_str(name: x509.Name) -> str:
    try:
        return name.rfc4514_string() or "(empty)"
    except Exception:  # pragma: no cover - exotic attribute types
        return str(name)


def common_name(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def _sans(cert: x509.Certificate) -> tuple[list[str], list[str], bool]:
    """(dns names, ip addresses, has SAN extension)."""
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return [], [], False
    dns = [str(d) for d in ext.get_values_for_type(x509.DNSName)]
    ips = [str(i) for i in ext.get_values_for_type(x509.IPAddress)]
    return dns, ips, True


def is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except Exception:
        return False


def is_self_signed(cert: x509.Certificate) -> bool:
    return _issued_by(cert, cert)


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
        sans = ", ".join(self.sans) if self.has_san else "none (CN only)"
        return (f"subject {self.subject}; issuer {self.issuer}; SANs {sans}; valid "
                f"{self.not_before:%Y-%m-%d} to {self.not_after:%Y-%m-%d}; {self.fingerprint}")


def describe(cert: x509.Certificate) -> CertInfo:
    dns, ips, has = _sans(cert)
    return CertInfo(
        subject=_name_str(cert.subject), issuer=_name_str(cert.issuer),
        common_name=common_name(cert.subject), dns_names=tuple(dns), ip_addresses=tuple(ips),
        has_san=has, not_before=cert.not_valid_before_utc, not_after=cert.not_valid_after_utc,
        fingerprint=fingerprint(cert), is_ca=is_ca(cert), self_signed=is_self_signed(cert),
    )


# --------------------------------------------------------------------------- loading


def load_pem_bundle(data: bytes | str) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, skipping blocks cryptography cannot parse."""
    if isinstance(data, str):
        data = data.encode()
    import warnings

    out = []
    marker = b"-----BEGIN CERTIFICATE-----"
    for part in data.split(marker)[1:]:
        block = marker + part.split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out.append(x509.load_pem_x509_certificate(block))
        except ValueError:
            continue
    return out


def to_pem(certs: list[x509.Certificate]) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


@functools.lru_cache(maxsize=1)
def system_roots() -> tuple[x509.Certificate, ...]:
    """The system trust store, as the ssl module finds it."""
    paths = ssl.get_default_verify_paths()
    candidates = [paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt",
                  "/etc/pki/tls/certs/ca-bundle.crt"]
    for p in candidates:
        if not p:
            continue
        try:
            with open(p, "rb") as fh:
                certs = load_pem_bundle(fh.read())
        except OSError:
            continue
        if certs:
            return tuple(certs)
    return ()


# --------------------------------------------------------------------------- fetching


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
        return FetchError("handshake", f"TLS handshake with {where} failed: {reason}")
    if isinstance(exc, (ConnectionResetError, EOFError)) or "EOF" in str(exc):
        return FetchError("handshake", f"TLS handshake with {where} failed: the server closed the "
                                       "connection (not TLS, or it rejected our hello)")
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return FetchError("network", f"{where} is unreachable from here ({exc.strerror})")
    return FetchError("network", f"cannot connect to {where}: {exc}")


def fetch_chain(host: str, port: int, *, timeout: float = 5.0, server_name: str | None = None,
                connect_to: str | None = None) -> list[x509.Certificate]:
    """The certificates the server presents, leaf first, unverified.

    ``connect_to``: dial this address instead of resolving ``host`` (a host alias);
    SNI is ``server_name`` or ``host`` (never an IP literal, as browsers and Go do).
    """
    sni = server_name or host
    try:
        ipaddress.ip_address(sni)
        sni_arg: str | None = None
    except ValueError:
        sni_arg = sni
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    target = connect_to or host
    try:
        with socket.create_connection((target, port), timeout=timeout) as raw:
            raw.settimeout(timeout)
            with ctx.wrap_socket(raw, server_hostname=sni_arg) as tls:
                getter = getattr(tls._sslobj, "get_unverified_chain", None)  # type: ignore[attr-defined]
                if getter is not None:
                    chain = []
                    for c in getter() or []:
                        pem = c.public_bytes()
                        chain.append(x509.load_pem_x509_certificate(
                            pem.encode() if isinstance(pem, str) else pem))
                    if chain:
                        return chain
                der = tls.getpeercert(binary_form=True)
                if not der:
                    raise FetchError("handshake", f"{target}:{port} presented no certificate")
                return [x509.load_der_x509_certificate(der)]
    except FetchError:
        raise
    except (OSError, ssl.SSLError, EOFError) as exc:
        raise classify_socket_error(exc, target, port) from exc


# --------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class Fault:
    code: str
    """self_signed | unknown_ca | incomplete_chain | name_mismatch | ip_needs_ip_san | cn_only |
    expired | not_yet_valid | expiring | leaf_as_ca | rejected"""
    message: str
    severity: str = "fail"  # fail | warn


@dataclass
class Verdict:
    """What verifying a presented chain for one host found."""

    host: str
    chain: list[CertInfo]
    trusted: bool = False
    trusted_by: str = ""  # "system" | "extra" | ""
    name_ok: bool = False
    faults: list[Fault] = field(default_factory=list)
    suggestion: dict[str, Any] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)

    def by_code(self, *codes: str) -> list[Fault]:
        return [f for f in self.faults if f.code in codes]

    @property
    def ok(self) -> bool:
        return not any(f.severity == "fail" for f in self.faults)


def _host_is_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def dns_name_matches(pattern: str, host: str) -> bool:
    """RFC 6125 matching: exact, or a single left-most ``*`` label."""
    p, h = pattern.lower().rstrip("."), host.lower().rstrip(".")
    if p == h:
        return True
    if p.startswith("*."):
        rest = p[2:]
        head, _, tail = h.partition(".")
        return bool(head) and tail == rest and "." in rest
    return False


def name_covered(info: CertInfo, host: str) -> bool:
    ip = _host_is_ip(host)
    if ip is not None:
        return any(_host_is_ip(x) == ip for x in info.ip_addresses)
    return any(dns_name_matches(d, host) for d in info.dns_names)


def check_name(info: CertInfo, host: str, port: int | None = None) -> tuple[list[Fault], dict[str, Any]]:
    """Name faults of the leaf for ``host``, plus a suggestion when an IP URL could use a SAN name."""
    faults: list[Fault] = []
    suggestion: dict[str, Any] = {}
    if not info.has_san:
        faults.append(Fault("cn_only", f"the certificate has no Subject Alternative Names, only the legacy "
                                       f"Common Name \"{info.common_name}\"; Go (the runner) rejects it "
                                       "(x509: certificate relies on legacy Common Name field): reissue it "
                                       "with SANs"))
        return faults, suggestion
    if name_covered(info, host):
        return faults, suggestion
    ip = _host_is_ip(host)
    covered = ", ".join(info.sans)
    if ip is not None:
        if not info.ip_addresses:
            msg = (f"the URL uses the IP {host} but the certificate has no IP SANs (it covers {covered}); "
                   f"an IP URL needs an IP SAN (x509: cannot validate certificate for {host} because it "
                   "doesn't contain any IP SANs)")
            faults.append(Fault("ip_needs_ip_san", msg))
        else:
            faults.append(Fault("name_mismatch", f"the certificate is valid for {covered}, not {host}"))
        names = [d for d in info.dns_names if not d.startswith("*.")]
        if names:
            name = names[0]
            hostport = f"{name}:{port}" if port and port != 443 else name
            suggestion = {"url_host": name, "url": f"https://{hostport}/", "alias_ip": str(ip),
                          "alias_hostname": name,
                          "text": f"use https://{hostport}/ as gitlab.url and add a host alias "
                                  f"{name} -> {ip} (host_aliases, targets manager and jobs); "
                                  "tls_server_name does not exist in GitLab Runner"}
    else:
        faults.append(Fault("name_mismatch", f"the certificate is valid for {covered}, not {host} "
                                             f"(x509: certificate is valid for {covered}, not {host})"))
    return faults, suggestion


def check_dates(info: CertInfo, now: _dt.datetime | None = None, what: str = "certificate") -> list[Fault]:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    if info.not_after <= now:
        return [Fault("expired", f"the {what} expired on {info.not_after:%Y-%m-%d %H:%M} UTC")]
    if info.not_before > now:
        return [Fault("not_yet_valid", f"the {what} is not valid before {info.not_before:%Y-%m-%d %H:%M} UTC "
                                       "(check the clocks)")]
    days = info.days_left(now)
    if days < EXPIRY_WARN_DAYS:
        return [Fault("expiring", f"the {what} expires in {int(days)} days, on {info.not_after:%Y-%m-%d}",
                      severity="warn")]
    return []


def ca_bundle_faults(bundle: list[x509.Certificate], leaf: x509.Certificate | None = None,
                     source: str = "the CA file") -> list[Fault]:
    """A leaf (server) certificate where a CA is needed, or an empty bundle."""
    if not bundle:
        return [Fault("leaf_as_ca", f"{source} holds no PEM certificate (DER is not supported)")]
    faults = []
    leaves = [c for c in bundle if not is_ca(c)]
    if leaves:
        same = leaf is not None and any(c == leaf for c in leaves)
        what = "the server's own certificate" if same else "a server (non-CA) certificate"
        faults.append(Fault("leaf_as_ca", f"{source} contains {what} ({common_name(leaves[0].subject) or '?'}) "
                                          "where the CA that signed it is needed; git in job pods rejects "
                                          "it and it breaks at the next renewal: put the root CA (and "
                                          "intermediates) in the file"))
    return faults


def _build_path(leaf: x509.Certificate, presented: list[x509.Certificate],
                roots: list[x509.Certificate]) -> tuple[list[x509.Certificate], x509.Certificate | None, bool]:
    """Walk issuers: (path, anchor or None, reached a self-signed cert not among roots)."""
    path = [leaf]
    cur = leaf
    for _ in range(10):
        for r in roots:
            if r == cur or _issued_by(cur, r):
                if r != cur:
                    path.append(r)
                return path, r, False
        if is_self_signed(cur):
            return path, None, True
        nxt = next((c for c in presented if c not in path and _issued_by(cur, c)), None)
        if nxt is None:
            return path, None, False
        path.append(nxt)
        cur = nxt
    return path, None, False


def _verifier_error(leaf: x509.Certificate, intermediates: list[x509.Certificate],
                    roots: list[x509.Certificate], host: str, when: _dt.datetime) -> str | None:
    """Run cryptography's webpki verifier; None when it accepts."""
    from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

    if not roots:
        return "no trust anchors"
    ip = _host_is_ip(host)
    subject = x509.IPAddress(ip) if ip is not None else x509.DNSName(host)
    try:
        verifier = PolicyBuilder().store(Store(roots)).time(when).build_server_verifier(subject)
        verifier.verify(leaf, intermediates)
        return None
    except VerificationError as exc:
        return str(exc)
    except Exception as exc:  # malformed certificates, unsupported algorithms
        return f"{type(exc).__name__}: {exc}"


def verify(chain: list[x509.Certificate], host: str, *, extra_roots: list[x509.Certificate] | None = None,
           use_system: bool = True, port: int | None = None,
           now: _dt.datetime | None = None) -> Verdict:
    """Analyze a presented chain for ``host``: trust (system store, then extra roots), name, dates."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    infos = [describe(c) for c in chain]
    v = Verdict(host=host, chain=infos)
    if not chain:
        v.faults.append(Fault("rejected", "the server presented no certificate"))
        return v
    leaf, presented = chain[0], chain[1:]
    linfo = infos[0]
    extra = list(extra_roots or [])
    # name and dates
    name_faults, v.suggestion = check_name(linfo, host, port)
    v.name_ok = not name_faults
    v.faults += name_faults
    v.faults += check_dates(linfo, now, "server certificate")
    for ci in infos[1:]:
        for f in check_dates(ci, now, f"CA certificate {ci.common_name or ci.subject}"):
            v.faults.append(f)
    # trust: first the system store alone, then with the extra roots
    sysroots = list(system_roots()) if use_system else []
    trust_sets = [("system", sysroots)] if sysroots else []
    if extra:
        trust_sets.append(("extra", sysroots + extra))
    # check a moment inside the leaf's validity, with a name it covers, so trust is judged on its own
    probe_time = now if linfo.not_before <= now < linfo.not_after else linfo.not_before + _dt.timedelta(seconds=1)
    probe_name = (linfo.dns_names[0].replace("*", "x") if linfo.dns_names
                  else (linfo.ip_addresses[0] if linfo.ip_addresses else host))
    last_path: list[x509.Certificate] = [leaf]
    reached_self_signed = False
    for label, roots in trust_sets:
        path, anchor, selfsigned = _build_path(leaf, presented, roots)
        last_path, reached_self_signed = path, selfsigned
        if anchor is None:
            continue
        v.trusted, v.trusted_by = True, label
        v.path = [describe(c).common_name or describe(c).subject for c in path]
        if linfo.has_san:
            err = _verifier_error(leaf, [c for c in path[1:] if c != anchor] + presented, roots,
                                  probe_name, probe_time)
            if err:
                v.trusted = False
                v.faults.append(Fault("rejected", f"the chain builds to {v.path[-1]} but verification "
                                                  f"rejects it: {err}"))
        break
    if not v.trusted and not v.by_code("rejected"):
        top = last_path[-1]
        tinfo = describe(top)
        if reached_self_signed and top == leaf:
            v.faults.append(Fault("self_signed", f"the server certificate is self-signed ({linfo.subject}) and "
                                                 "not trusted: give it as gitlab.ca.file, or better, issue "
                                                 "the certificate from a CA"))
        elif reached_self_signed:
            v.faults.append(Fault("unknown_ca", f"the certificate is signed by an unknown CA "
                                                f"({tinfo.subject}, {tinfo.fingerprint}); add that CA to "
                                                "gitlab.ca (x509: certificate signed by unknown authority)"))
        else:
            missing = tinfo.issuer
            have_roots = [describe(r).common_name or describe(r).subject for r in extra]
            if not presented and extra:
                msg = (f"incomplete chain: the server sends only its own certificate, not the intermediate "
                       f"CA \"{missing}\" that signed it, and the CA file ({', '.join(have_roots)}) does not "
                       "contain it either; add the intermediate to the server's certificate chain (or to "
                       "gitlab.ca.file)")
                v.faults.append(Fault("incomplete_chain", msg))
            elif not presented:
                v.faults.append(Fault("unknown_ca", f"the certificate is signed by \"{missing}\", which is not "
                                                    "in the system store (a private CA, or an intermediate the "
                                                    "server does not send): give that CA chain as gitlab.ca.file "
                                                    "(x509: certificate signed by unknown authority)"))
            else:
                v.faults.append(Fault("unknown_ca", f"the chain ends at \"{missing}\", which is not trusted: "
                                                    "add the root CA to gitlab.ca.file (x509: certificate "
                                                    "signed by unknown authority)"))
    return v
