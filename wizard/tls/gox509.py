"""The runner manager's verdict: Go's ``crypto/x509`` path building, in Python.

The manager is a Go program. With the chart it trusts the system pool plus the
one CA file (``<host>.crt``), dials with the URL's host as server name, and Go's
``Certificate.Verify`` decides. This module re-does that decision step by step
(``isValid``, ``buildChains`` with its candidate order and error bookkeeping,
``CheckSignatureFrom``, ``VerifyHostname``, EKU nesting, name constraints), so
the verdict *and its error text* are Go's. A differential test against a real Go
program keeps it honest.

``cryptography.x509.verification`` is deliberately not used: it follows the Web
PKI profile, which rejects what Go accepts (certificates without key
identifiers or keyUsage, a leaf with CA:TRUE, anyExtendedKeyUsage, a server
certificate pinned as the CA file).
"""

from __future__ import annotations

import datetime as _dt
import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from .certs import load_pem_certificates, sans
from .names import _lower, _match_pattern, _valid_hostname, host_ip, split_host

LEAF, INTERMEDIATE, ROOT = 0, 1, 2
MAX_SIGNATURE_CHECKS = 100

_EKU_NAMES = {
    "2.5.29.37.0": "any", "1.3.6.1.5.5.7.3.1": "serverAuth", "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning", "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.5": "ipsecEndSystem", "1.3.6.1.5.5.7.3.6": "ipsecTunnel", "1.3.6.1.5.5.7.3.7": "ipsecUser",
    "1.3.6.1.5.5.7.3.8": "timeStamping", "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    "1.3.6.1.4.1.311.10.3.3": "msSGC", "2.16.840.1.113730.4.1": "nsSGC",
    "1.3.6.1.4.1.311.2.1.22": "msCommercialCodeSigning", "1.3.6.1.4.1.311.61.1.1": "msKernelCodeSigning",
}
# extensions Go's parser handles (anything else marked critical is "unhandled")
_HANDLED = {f"2.5.29.{n}" for n in (14, 15, 17, 19, 30, 31, 32, 33, 35, 36, 37, 54)} | {"1.3.6.1.5.5.7.1.1"}
# signature algorithm OID -> (Go's name, hash, public key algorithm)
_SIG_ALGS = {
    "1.2.840.113549.1.1.4": ("MD5-RSA", "md5", "RSA"),
    "1.2.840.113549.1.1.5": ("SHA1-RSA", "sha1", "RSA"),
    "1.2.840.113549.1.1.11": ("SHA256-RSA", "sha256", "RSA"),
    "1.2.840.113549.1.1.12": ("SHA384-RSA", "sha384", "RSA"),
    "1.2.840.113549.1.1.13": ("SHA512-RSA", "sha512", "RSA"),
    "1.2.840.10045.4.1": ("ECDSA-SHA1", "sha1", "ECDSA"),
    "1.2.840.10045.4.3.2": ("ECDSA-SHA256", "sha256", "ECDSA"),
    "1.2.840.10045.4.3.3": ("ECDSA-SHA384", "sha384", "ECDSA"),
    "1.2.840.10045.4.3.4": ("ECDSA-SHA512", "sha512", "ECDSA"),
    "1.3.101.112": ("Ed25519", "", "Ed25519"),
}
_HASHES = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
_GO_KEY_TYPE = {"RSA": "*rsa.PublicKey", "ECDSA": "*ecdsa.PublicKey", "Ed25519": "ed25519.PublicKey"}
_GO_CURVES = (ec.SECP224R1, ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)


# --------------------------------------------------------------------------- errors


@dataclass
class GoError:
    """One of Go's verification errors: ``kind`` names its type, ``text`` is Go's ``Error()``."""

    kind: str
    """unhandled_critical | expired | not_yet_valid | not_authorized_to_sign | too_many_intermediates |
    hostname | unknown_authority | incompatible_usage | name_constraints | no_valid_chains |
    constraint_violation | insecure_algorithm | unsupported_algorithm | bad_signature | key_type_mismatch |
    signature_limit | name_mismatch"""
    text: str
    cert: GoCert | None = None
    hint: GoError | None = None
    hint_cert: GoCert | None = None


def _q(s: str) -> str:
    """Go's %q for the plain strings seen here."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _go_time(t: _dt.datetime) -> str:
    return t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unknown_authority(cert: GoCert, hint: GoError | None, hint_cert: GoCert | None) -> GoError:
    text = "x509: certificate signed by unknown authority"
    if hint is not None and hint_cert is not None:
        text += (f" (possibly because of {_q(hint.text)} while trying to verify candidate authority "
                 f"certificate {_q(hint_cert.display_name)})")
    return GoError("unknown_authority", text, cert, hint, hint_cert)


# --------------------------------------------------------------------------- Go's view of a certificate


@dataclass
class GoCert:
    """The fields of Go's ``x509.Certificate`` that verification reads."""

    cert: x509.Certificate
    raw: bytes
    raw_subject: bytes
    raw_issuer: bytes
    spki: bytes
    version: int
    bc_valid: bool = False
    is_ca: bool = False
    max_path_len: int = -1
    key_usage_present: bool = False
    key_cert_sign: bool = False
    eku: list[str] = field(default_factory=list)
    unknown_eku: list[str] = field(default_factory=list)
    ski: bytes = b""
    aki: bytes = b""
    has_san: bool = False
    san_value: bytes | None = None
    dns: list[str] = field(default_factory=list)
    ips: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = field(default_factory=list)
    unhandled_critical: bool = False
    has_nc: bool = False
    nc_dns: tuple[list[str], list[str]] = ([], [])
    nc_ip: tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], list] = ([], [])
    pub_alg: str | None = None

    @property
    def display_name(self) -> str:
        """What Go's UnknownAuthorityError calls a certificate."""
        cn = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if cn:
            return str(cn[0].value)
        org = self.cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        if org:
            return str(org[0].value)
        return f"serial:{self.cert.serial_number}"

    @property
    def common_name(self) -> str:
        cn = self.cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(cn[-1].value) if cn else ""


@functools.lru_cache(maxsize=4096)
def go_cert(cert: x509.Certificate) -> GoCert:
    return _go_cert(cert)


def _go_cert(cert: x509.Certificate) -> GoCert:
    pub = cert.public_key()
    spki = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    g = GoCert(cert=cert, raw=cert.public_bytes(serialization.Encoding.DER),
               raw_subject=cert.subject.public_bytes(), raw_issuer=cert.issuer.public_bytes(), spki=spki,
               version=3 if cert.version == x509.Version.v3 else 1)
    if isinstance(pub, rsa.RSAPublicKey):
        g.pub_alg = "RSA"
    elif isinstance(pub, ec.EllipticCurvePublicKey) and isinstance(pub.curve, _GO_CURVES):
        g.pub_alg = "ECDSA"
    elif isinstance(pub, ed25519.Ed25519PublicKey):
        g.pub_alg = "Ed25519"
    try:
        exts = list(cert.extensions)
    except ValueError:
        exts = []
    for e in exts:
        oid = e.oid.dotted_string
        v = e.value
        unhandled = oid not in _HANDLED
        if oid == ExtensionOID.BASIC_CONSTRAINTS.dotted_string:
            g.bc_valid, g.is_ca = True, bool(v.ca)
            g.max_path_len = v.path_length if v.path_length is not None else -1
        elif oid == ExtensionOID.KEY_USAGE.dotted_string:
            bits = [v.digital_signature, v.content_commitment, v.key_encipherment, v.data_encipherment,
                    v.key_agreement, v.key_cert_sign, v.crl_sign]
            if v.key_agreement:
                bits += [v.encipher_only, v.decipher_only]
            g.key_usage_present, g.key_cert_sign = any(bits), bool(v.key_cert_sign)
        elif oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string:
            g.has_san = True
            g.san_value = v.public_bytes()
            g.dns, _, _ = sans(cert)
            g.ips = list(v.get_values_for_type(x509.IPAddress))
            if not (g.dns or g.ips or v.get_values_for_type(x509.RFC822Name)
                    or v.get_values_for_type(x509.UniformResourceIdentifier)):
                unhandled = True
        elif oid == ExtensionOID.EXTENDED_KEY_USAGE.dotted_string:
            for u in v:
                name = _EKU_NAMES.get(u.dotted_string)
                (g.eku if name else g.unknown_eku).append(name or u.dotted_string)
        elif oid == ExtensionOID.SUBJECT_KEY_IDENTIFIER.dotted_string:
            g.ski = v.digest
        elif oid == ExtensionOID.AUTHORITY_KEY_IDENTIFIER.dotted_string:
            g.aki = v.key_identifier or b""
        elif oid == ExtensionOID.NAME_CONSTRAINTS.dotted_string:
            g.has_nc = True
            kinds = (x509.DNSName, x509.IPAddress, x509.RFC822Name, x509.UniformResourceIdentifier)
            subtrees = (v.permitted_subtrees or [], v.excluded_subtrees or [])
            if any(not isinstance(n, kinds) for t in subtrees for n in t):
                unhandled = True
            g.nc_dns = tuple([n.value for n in t if isinstance(n, x509.DNSName)] for t in subtrees)  # type: ignore
            g.nc_ip = tuple([n.value for n in t if isinstance(n, x509.IPAddress)] for t in subtrees)  # type: ignore
        if e.critical and unhandled:
            g.unhandled_critical = True
    return g


# --------------------------------------------------------------------------- the pieces of Verify


def _check_signature(child: GoCert, parent: GoCert) -> GoError | None:
    """Go's ``CheckSignatureFrom``."""
    if (parent.version == 3 and not parent.bc_valid) or (parent.bc_valid and not parent.is_ca):
        return GoError("constraint_violation",
                       "x509: invalid signature: parent certificate cannot sign this kind of certificate")
    if parent.key_usage_present and not parent.key_cert_sign:
        return GoError("constraint_violation",
                       "x509: invalid signature: parent certificate cannot sign this kind of certificate")
    if parent.pub_alg is None:
        return GoError("unsupported_algorithm", "x509: cannot verify signature: algorithm unimplemented")
    oid = child.cert.signature_algorithm_oid.dotted_string
    alg = _SIG_ALGS.get(oid)
    if alg is None:
        return GoError("unsupported_algorithm", "x509: cannot verify signature: algorithm unimplemented")
    name, hname, key_alg = alg
    if hname in ("md5", "sha1"):
        return GoError("insecure_algorithm", f"x509: cannot verify signature: insecure algorithm {name}")
    if key_alg != parent.pub_alg:
        return GoError("key_type_mismatch", f"x509: signature algorithm specifies an {key_alg} public key, but "
                                            f"have public key of type {_GO_KEY_TYPE[parent.pub_alg]}")
    pub = parent.cert.public_key()
    tbs, sig = child.cert.tbs_certificate_bytes, child.cert.signature
    try:
        if isinstance(pub, rsa.RSAPublicKey):
            if pub.key_size < 1024:
                return GoError("bad_signature", f"crypto/rsa: {pub.key_size}-bit keys are insecure (see "
                                                "https://go.dev/pkg/crypto/rsa#hdr-Minimum_key_size)")
            pub.verify(sig, tbs, padding.PKCS1v15(), _HASHES[hname]())
        elif isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(sig, tbs, ec.ECDSA(_HASHES[hname]()))
        else:
            pub.verify(sig, tbs)  # type: ignore[call-arg]
    except InvalidSignature:
        text = {"RSA": "crypto/rsa: verification error", "ECDSA": "x509: ECDSA verification failure",
                "Ed25519": "x509: Ed25519 verification failure"}[key_alg]
        return GoError("bad_signature", text)
    return None


def _is_valid(c: GoCert, cert_type: int, chain: list[GoCert], now: _dt.datetime) -> GoError | None:
    """Go's ``Certificate.isValid``."""
    if c.unhandled_critical:
        return GoError("unhandled_critical", "x509: unhandled critical extension", c)
    if chain and chain[-1].raw_issuer != c.raw_subject:
        return GoError("name_mismatch", "x509: issuer name does not match subject from issuing certificate", c)
    nb, na = c.cert.not_valid_before_utc, c.cert.not_valid_after_utc
    if now < nb:
        return GoError("not_yet_valid", "x509: certificate has expired or is not yet valid: current time "
                                        f"{_go_time(now)} is before {_go_time(nb)}", c)
    if now > na:
        return GoError("expired", "x509: certificate has expired or is not yet valid: current time "
                                  f"{_go_time(now)} is after {_go_time(na)}", c)
    if cert_type == INTERMEDIATE and not (c.bc_valid and c.is_ca):
        return GoError("not_authorized_to_sign", "x509: certificate is not authorized to sign other certificates", c)
    if c.bc_valid and c.max_path_len >= 0 and len(chain) - 1 > c.max_path_len:
        return GoError("too_many_intermediates", "x509: too many intermediates for path length constraint", c)
    return None


@functools.lru_cache(maxsize=4096)
def _raw_subject(cert: x509.Certificate) -> bytes:
    return cert.subject.public_bytes()


class _Pool:
    """Go's ``CertPool``: dedup by content, parents looked up by name, key ids first.

    Members are indexed by subject and turned into :class:`GoCert` only when looked up as a
    parent: a pool of the system's ~150 roots converts only the one or two a chain names."""

    def __init__(self, certs: Sequence[GoCert] = ()) -> None:
        self._seen: set[x509.Certificate] = set()
        self._by_subject: dict[bytes, list[x509.Certificate | GoCert]] = {}
        for c in certs:
            self.add(c)

    @classmethod
    def of(cls, certs: Sequence[x509.Certificate]) -> _Pool:
        pool = cls()
        for cert in certs:
            pool._add(cert, _raw_subject(cert), cert)
        return pool

    def add(self, c: GoCert) -> None:
        self._add(c.cert, c.raw_subject, c)

    def _add(self, cert: x509.Certificate, subject: bytes, member: x509.Certificate | GoCert) -> None:
        if cert not in self._seen:  # equal certificates: equal DER
            self._seen.add(cert)
            self._by_subject.setdefault(subject, []).append(member)

    def contains(self, c: GoCert) -> bool:
        return c.cert in self._seen

    def parents(self, c: GoCert) -> list[GoCert]:
        match, one, mismatch = [], [], []
        for m in self._by_subject.get(c.raw_issuer, ()):
            p = m if isinstance(m, GoCert) else go_cert(m)
            if p.ski == c.aki:
                match.append(p)
            elif bool(p.ski) != bool(c.aki):
                one.append(p)
            else:
                mismatch.append(p)
        return match + one + mismatch


def _already_in_chain(cand: GoCert, chain: list[GoCert]) -> bool:
    for c in chain:
        if c.raw_subject != cand.raw_subject or c.spki != cand.spki:
            continue
        if cand.san_value is None and c.san_value is None:
            return True
        if cand.san_value is None or c.san_value is None:
            return False
        if cand.san_value == c.san_value:
            return True
    return False


class _SignatureLimit(Exception):
    pass


def _build_chains(c: GoCert, chain: list[GoCert], checks: list[int], roots: _Pool, inters: _Pool,
                  now: _dt.datetime) -> tuple[list[list[GoCert]], GoError | None]:
    """Go's ``buildChains``, including how its named ``err`` is overwritten by each candidate."""
    hint: GoError | None = None
    hint_cert: GoCert | None = None
    chains: list[list[GoCert]] = []
    err: GoError | None = None
    for cert_type, pool in ((ROOT, roots), (INTERMEDIATE, inters)):
        for cand in pool.parents(c):
            checks[0] += 1
            if checks[0] > MAX_SIGNATURE_CHECKS:
                err = GoError("signature_limit", "x509: signature check attempts limit reached while "
                                                 "verifying certificate chain")
                break
            if cand.pub_alg is None or _already_in_chain(cand, chain):
                continue
            sig_err = _check_signature(c, cand)
            if sig_err is not None:
                if hint is None:
                    hint, hint_cert = sig_err, cand
                continue
            err = _is_valid(cand, cert_type, chain, now)
            if err is not None:
                if hint is None:
                    hint, hint_cert = err, cand
                continue
            if cert_type == ROOT:
                chains.append([*chain, cand])
            else:
                sub, err = _build_chains(cand, [*chain, cand], checks, roots, inters, now)
                chains += sub
            if err is not None and err.kind == "signature_limit":
                break
        else:
            continue
        break
    if chains:
        err = None
    if not chains and err is None:
        err = _unknown_authority(c, hint, hint_cert)
    return chains, err


def _hostname_error(c: GoCert, host: str) -> GoError:
    """Go's ``HostnameError.Error()``."""
    cn = c.common_name
    if not c.has_san and _match_pattern(cn, split_host(host)):
        return GoError("hostname", "x509: certificate relies on legacy Common Name field, use SANs instead", c)
    if host_ip(host) is not None:
        if not c.ips:
            return GoError("hostname", f"x509: cannot validate certificate for {host} because it doesn't "
                                       "contain any IP SANs", c)
        valid = ", ".join(str(i) for i in c.ips)
    else:
        valid = ", ".join(c.dns)
    if not valid:
        return GoError("hostname", f"x509: certificate is not valid for any names, but wanted to match {host}", c)
    return GoError("hostname", f"x509: certificate is valid for {valid}, not {host}", c)


def _verify_hostname(c: GoCert, h: str) -> GoError | None:
    """Go's ``Certificate.VerifyHostname``."""
    candidate_ip = h[1:-1] if len(h) >= 3 and h[0] == "[" and h[-1] == "]" else h
    ip = host_ip(candidate_ip)
    if ip is not None:
        if any(ip == x for x in c.ips):
            return None
        return _hostname_error(c, candidate_ip)
    name = _lower(h)
    valid_name = _valid_hostname(name, False)
    parts = split_host(name)
    for pattern in c.dns:
        if valid_name and _valid_hostname(pattern, True):
            if _match_pattern(pattern, parts):
                return None
        elif pattern not in ("", ".") and name not in ("", ".") and _lower(pattern) == name:
            return None
    return _hostname_error(c, h)


def _chain_key_usage_ok(chain: list[GoCert]) -> bool:
    """Go's ``checkChainForKeyUsage`` for serverAuth: EKUs nest down the chain; anyEKU passes."""
    for c in reversed(chain):
        if not c.eku and not c.unknown_eku:
            continue
        if "any" in c.eku:
            continue
        if "serverAuth" not in c.eku:
            return False
    return True


def _dns_has_suffix(constraint: str, name: str) -> bool:
    a, b = _lower(constraint), _lower(name)
    if not b.endswith(a):
        return False
    if a[:1] != "." and len(b) > len(a) and b[len(b) - len(a) - 1] != ".":
        return False
    return True


def _trim_first_label(name: str) -> str:
    return name.split(".", 1)[1] if "." in name else ""


def _dns_query(constraints: list[str], name: str, permitted: bool) -> str | None:
    if any(c == "" for c in constraints):
        return ""
    for c in constraints:
        if _dns_has_suffix(c, name):
            return c
    if not permitted and name.startswith("*"):
        parents = {_trim_first_label(_lower(c)): c for c in constraints if _trim_first_label(_lower(c))}
        return parents.get(_trim_first_label(_lower(name)))
    return None


def _check_constraints(nc: GoCert, c: GoCert) -> str | None:
    permitted_ip, excluded_ip = nc.nc_ip
    for ip in c.ips:
        if permitted_ip and not any(ip in n for n in permitted_ip if n.version == ip.version):
            return f"IP address {_q(str(ip))} is not permitted by any constraint"
        hit = next((n for n in excluded_ip if n.version == ip.version and ip in n), None)
        if hit is not None:
            return f"IP address {_q(str(ip))} is excluded by constraint {_q(str(hit))}"
    permitted_dns, excluded_dns = nc.nc_dns
    for d in c.dns:
        if permitted_dns and _dns_query(permitted_dns, d, True) is None:
            return f"DNS name {_q(d)} is not permitted by any constraint"
        if excluded_dns:
            hit_dns = _dns_query(excluded_dns, d, False)
            if hit_dns is not None:
                return f"DNS name {_q(d)} is excluded by constraint {_q(hit_dns)}"
    return None


def _chain_constraints(chain: list[GoCert]) -> str | None:
    """Go 1.26's ``checkChainConstraints``: a certificate's names obey every constraint above it."""
    for i, c in enumerate(chain):
        if not c.has_san:
            continue
        for nc in chain[i + 1:]:
            if nc.has_nc:
                err = _check_constraints(nc, c)
                if err:
                    return err
    return None


# --------------------------------------------------------------------------- Verify


@dataclass
class GoVerdict:
    """What the runner manager (Go) decides about a presented chain."""

    trusted: bool
    error: GoError | None = None
    chain: list[x509.Certificate] = field(default_factory=list)
    ca_file_used: bool = False

    @property
    def text(self) -> str:
        return self.error.text if self.error else ""

    @property
    def kind(self) -> str:
        return self.error.kind if self.error else ""


def go_verify(presented: Sequence[x509.Certificate], server_name: str, roots: Sequence[x509.Certificate],
              now: _dt.datetime | None = None, *, leaf_dates: bool = True) -> GoVerdict:
    """Go's ``tls.Conn.verifyServerCertificate`` + ``Certificate.Verify`` with ``roots`` as RootCAs.

    ``server_name=""`` skips the name check and ``leaf_dates=False`` the leaf's own validity
    period (Go checks both first, before any chain): what is left is the chain's trust.
    """
    now = now or _dt.datetime.now(_dt.timezone.utc)
    if not presented:
        return GoVerdict(False, GoError("handshake", "tls: server sent no certificate"))
    certs = [go_cert(c) for c in presented]
    leaf = certs[0]
    inters = _Pool(certs[1:])
    pool = _Pool.of(roots)
    err = _is_valid(leaf, LEAF, [], now)
    if err is not None and not leaf_dates and err.kind in ("expired", "not_yet_valid"):
        err = None  # the rest of isValid(leaf) has nothing left to say about a leaf
    if err is None and server_name:
        err = _verify_hostname(leaf, server_name)
    if err is not None:
        return GoVerdict(False, err)
    if pool.contains(leaf):
        candidates = [[leaf]]
    else:
        candidates, err = _build_chains(leaf, [leaf], [0], pool, inters, now)
        if err is not None:
            return GoVerdict(False, err)
    usage_bad = 0
    constraint_err: GoError | None = None
    good = []
    for chain in candidates:
        if not _chain_key_usage_ok(chain):
            usage_bad += 1
            continue
        nc_err = _chain_constraints(chain)
        if nc_err is not None:
            if constraint_err is None:
                constraint_err = GoError("name_constraints", "x509: a root or intermediate certificate is not "
                                                             f"authorized to sign for this name: {nc_err}", leaf)
            continue
        good.append(chain)
    if not good:
        if constraint_err is not None:
            return GoVerdict(False, constraint_err)
        if usage_bad:
            return GoVerdict(False, GoError("incompatible_usage",
                                            "x509: certificate specifies an incompatible key usage", leaf))
        return GoVerdict(False, GoError("no_valid_chains", "x509: no valid chains built", leaf))
    return GoVerdict(True, chain=[c.cert for c in good[0]])


def runner_roots(ca_file: bytes | str | None, system: Sequence[x509.Certificate] = ()) -> tuple[list[x509.Certificate], bool]:
    """The manager's RootCAs: (system pool + the CA file's certificates, whether the file was used).

    Like the runner: a file with no certificate Go can parse is ignored (the
    system pool alone is used, and the runner logs "Failed to parse PEM").
    """
    extra = load_pem_certificates(ca_file) if ca_file else []
    return [*system, *extra], bool(extra)


GO_ERROR_CLASSES = (
    ("x509: certificate relies on legacy Common Name field", "hostname"),
    ("x509: cannot validate certificate for", "hostname"),
    ("x509: certificate is valid for", "hostname"),
    ("x509: certificate is not valid for any names", "hostname"),
    ("x509: certificate signed by unknown authority", "unknown_authority"),
    ("x509: certificate has expired or is not yet valid: current time", "expired_or_not_yet_valid"),
    ("x509: certificate is not authorized to sign other certificates", "not_authorized_to_sign"),
    ("x509: too many intermediates for path length constraint", "too_many_intermediates"),
    ("x509: certificate specifies an incompatible key usage", "incompatible_usage"),
    ("x509: a root or intermediate certificate is not authorized to sign for this name", "name_constraints"),
    ("x509: unhandled critical extension", "unhandled_critical"),
    ("x509: no valid chains built", "no_valid_chains"),
)


def go_error_class(text: str) -> str:
    """The class of one of Go's verification error texts (for comparing with a real Go run)."""
    text = text.removeprefix("tls: failed to verify certificate: ")
    for prefix, kind in GO_ERROR_CLASSES:
        if text.startswith(prefix):
            return kind
    return "other" if text else ""


def kind_class(kind: str) -> str:
    """:attr:`GoError.kind` folded to :func:`go_error_class`'s classes."""
    return "expired_or_not_yet_valid" if kind in ("expired", "not_yet_valid") else kind
