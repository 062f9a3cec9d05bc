"""Job pods' verdict: git in the default (Alpine) helper image, i.e. libcurl + OpenSSL 3.

For each job the runner hands git the CA file (``CI_SERVER_TLS_CA_FILE``, set as
``http.<url>.sslCAInfo``). curl loads it as the only CA file and, since 7.68,
sets ``X509_V_FLAG_PARTIAL_CHAIN``; OpenSSL builds the chain trusted-first. This
module re-does OpenSSL 3's ``X509_verify_cert`` with those flags (chain building,
``check_chain_extensions`` with the SSL-server purpose, security level, host
check, signatures and times top-down, name constraints), so the job pods' result
is OpenSSL's, with its error code. A differential test runs it against Python's
``ssl`` (OpenSSL) on the same corpus as the Go oracle.
"""

from __future__ import annotations

import datetime as _dt
import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtensionOID

from .certs import common_name, issued_by, sans
from .names import _lower, host_ip
from .gox509 import _SIG_ALGS, _raw_subject, go_cert

# OpenSSL's X509_V_ERR_* codes used here, with OpenSSL's own texts
ERRORS = {
    2: "unable to get issuer certificate",
    7: "certificate signature failure",
    9: "certificate is not yet valid",
    10: "certificate has expired",
    18: "self-signed certificate",
    19: "self-signed certificate in certificate chain",
    20: "unable to get local issuer certificate",
    79: "invalid CA certificate",
    25: "path length constraint exceeded",
    26: "unsupported certificate purpose",
    32: "key usage does not include certificate signing",
    34: "unhandled critical extension",
    47: "permitted subtree violation",
    48: "excluded subtree violation",
    62: "Hostname mismatch",
    64: "IP address mismatch",
    66: "EE certificate key too weak",
    67: "CA certificate key too weak",
    68: "CA signature digest algorithm too weak",
}
_MIN_BITS = {0: 0, 1: 80, 2: 112, 3: 128, 4: 192, 5: 256}
# extensions OpenSSL supports (X509_supported_extension); any other critical one fails
_SUPPORTED = {"2.16.840.1.113730.1.1", "2.5.29.15", "2.5.29.17", "2.5.29.19", "2.5.29.32", "2.5.29.37",
              "1.3.6.1.5.5.7.1.14", "2.5.29.36", "2.5.29.30", "2.5.29.33", "2.5.29.54",
              "1.3.6.1.5.5.7.1.7", "1.3.6.1.5.5.7.1.8"}


@dataclass
class _OCert:
    cert: x509.Certificate
    raw: bytes
    subject: bytes
    issuer: bytes
    v1: bool
    bcons: bool = False
    ca: bool = False
    pathlen: int = -1
    ku: x509.KeyUsage | None = None
    xku: set[str] | None = None
    skid: bytes | None = None
    akid: x509.AuthorityKeyIdentifier | None = None
    critical: bool = False
    nc: x509.NameConstraints | None = None
    key_kind: str = ""
    key_bits: int = 0
    self_issued: bool = False
    self_signed: bool = False


def _key_info(cert: x509.Certificate) -> tuple[str, int]:
    pub = cert.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        n = pub.key_size
        bits = 80 if n < 2048 else 112 if n < 3072 else 128 if n < 7680 else 192 if n < 15360 else 256
        return "RSA", bits if n >= 1024 else 0
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return "ECDSA", pub.curve.key_size // 2
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return "Ed25519", 128
    return "", 0


@functools.lru_cache(maxsize=4096)
def _ocert(cert: x509.Certificate) -> _OCert:
    return _ocert_uncached(cert)


def _ocert_uncached(cert: x509.Certificate) -> _OCert:
    g = go_cert(cert)
    o = _OCert(cert, g.raw, g.raw_subject, g.raw_issuer, cert.version == x509.Version.v1)
    o.key_kind, o.key_bits = _key_info(cert)
    try:
        exts = list(cert.extensions)
    except ValueError:
        exts = []
    for e in exts:
        oid, v = e.oid.dotted_string, e.value
        if e.critical and oid not in _SUPPORTED:
            o.critical = True
        if e.oid == ExtensionOID.BASIC_CONSTRAINTS:
            o.bcons, o.ca = True, bool(v.ca)
            o.pathlen = v.path_length if (v.ca and v.path_length is not None) else -1
        elif e.oid == ExtensionOID.KEY_USAGE:
            o.ku = v
        elif e.oid == ExtensionOID.EXTENDED_KEY_USAGE:
            o.xku = {u.dotted_string for u in v}
        elif e.oid == ExtensionOID.SUBJECT_KEY_IDENTIFIER:
            o.skid = v.digest
        elif e.oid == ExtensionOID.AUTHORITY_KEY_IDENTIFIER:
            o.akid = v
        elif e.oid == ExtensionOID.NAME_CONSTRAINTS:
            o.nc = v
    o.self_issued = o.subject == o.issuer
    o.self_signed = o.self_issued and _akid_ok(o, o) and _sig_alg_matches(o, o)
    return o


def _akid_ok(issuer: _OCert, subject: _OCert) -> bool:
    a = subject.akid
    if a is None:
        return True
    if a.key_identifier and issuer.skid is not None and a.key_identifier != issuer.skid:
        return False
    if a.authority_cert_serial_number is not None and a.authority_cert_serial_number != issuer.cert.serial_number:
        return False
    return True


def _sig_alg_matches(issuer: _OCert, subject: _OCert) -> bool:
    alg = _SIG_ALGS.get(subject.cert.signature_algorithm_oid.dotted_string)
    return alg is None or alg[2] == issuer.key_kind


def _likely_issued(issuer: _OCert, subject: _OCert) -> bool:
    return issuer.subject == subject.issuer and _akid_ok(issuer, subject) and _sig_alg_matches(issuer, subject)


def _time_error(o: _OCert, now: _dt.datetime) -> int:
    if now < o.cert.not_valid_before_utc:
        return 9
    if now > o.cert.not_valid_after_utc:
        return 10
    return 0


def _ku_reject(o: _OCert, *bits: str) -> bool:
    return o.ku is not None and not any(getattr(o.ku, b) for b in bits)


def _check_ca(o: _OCert) -> int:
    if _ku_reject(o, "key_cert_sign"):
        return 0
    if o.bcons:
        return 1 if o.ca else 0
    if o.v1 and o.self_signed:
        return 3
    if o.ku is not None:
        return 4
    return 0


def _purpose_ok(o: _OCert, require_ca: bool) -> bool:
    """check_purpose_ssl_server."""
    server = {"1.3.6.1.5.5.7.3.1", "1.3.6.1.4.1.311.10.3.3", "2.16.840.1.113730.4.1"}
    if o.xku is not None and not (o.xku & server):
        return False
    if require_ca:
        return _check_ca(o) != 0
    return not _ku_reject(o, "digital_signature", "key_encipherment", "key_agreement")


def _sig_bits(o: _OCert) -> int:
    alg = _SIG_ALGS.get(o.cert.signature_algorithm_oid.dotted_string)
    if alg is None:
        return 128
    return {"md5": 39, "sha1": 63}.get(alg[1], 128)


def _pick(cands: list[_OCert], now: _dt.datetime) -> _OCert | None:
    best = None
    for c in cands:
        if not _time_error(c, now):
            return c
        if best is None or c.cert.not_valid_after_utc > best.cert.not_valid_after_utc:
            best = c
    return best


def _nc_dns(name: str, base: str) -> bool:
    name, base = _lower(name), _lower(base)
    if not base:
        return True
    if base.startswith("."):
        return name.endswith(base)
    return name == base or name.endswith("." + base)


def _nc_check(o: _OCert, nc: x509.NameConstraints, leaf: bool) -> int:
    dns, ips, _ = sans(o.cert)
    names: list[tuple[type, object]] = [(x509.DNSName, d) for d in dns]
    names += [(x509.IPAddress, ipaddress.ip_address(i)) for i in ips]
    if leaf and not dns and common_name(o.cert.subject) and "." in common_name(o.cert.subject):
        names.append((x509.DNSName, common_name(o.cert.subject)))

    def match(kind: type, value: object, base: x509.GeneralName) -> bool:
        if kind is x509.DNSName:
            return _nc_dns(str(value), base.value)
        net = base.value
        return getattr(net, "version", None) == getattr(value, "version", 0) and value in net

    for kind, value in names:
        permitted = [s for s in (nc.permitted_subtrees or []) if isinstance(s, kind)]
        if permitted and not any(match(kind, value, s) for s in permitted):
            return 47
        if any(match(kind, value, s) for s in (nc.excluded_subtrees or []) if isinstance(s, kind)):
            return 48
    return 0


@dataclass
class JobsVerdict:
    """What git in a job pod (OpenSSL) decides."""

    trusted: bool
    code: int = 0
    depth: int = 0
    chain: list[x509.Certificate] = field(default_factory=list)
    cafile_error: str = ""

    @property
    def text(self) -> str:
        if self.cafile_error:
            return self.cafile_error
        return ERRORS.get(self.code, f"verify error {self.code}") if self.code else ""


def openssl_verify(presented: Sequence[x509.Certificate], host: str, store: Sequence[x509.Certificate],
                   now: _dt.datetime | None = None, *, seclevel: int = 1) -> JobsVerdict:
    """OpenSSL 3 ``X509_verify_cert`` with trusted-first + partial-chain, SSL-server purpose, ``host`` checked."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    if not presented:
        return JobsVerdict(False, 20)
    leaf = _ocert(presented[0])
    untrusted = [_ocert(c) for c in presented[1:]]
    # the store by subject: only a certificate that names the issuer is ever converted (a
    # candidate must match by name first), not the whole system store on each verification
    by_subject: dict[bytes, list[x509.Certificate]] = {}
    for c in store:
        by_subject.setdefault(_raw_subject(c), []).append(c)
    minbits = _MIN_BITS.get(seclevel, 80)

    def fail(code: int, depth: int, chain: list[_OCert]) -> JobsVerdict:
        return JobsVerdict(False, code, depth, [c.cert for c in chain])

    if leaf.key_bits < minbits:
        return fail(66, 0, [leaf])
    # ---- build_chain (trusted first, partial chain)
    chain, n_untrusted, trusted = [leaf], 1, False
    while True:
        x = chain[-1]
        cands = [s for s in map(_ocert, by_subject.get(x.issuer, ())) if _likely_issued(s, x)]
        issuer = _pick(cands, now)
        if issuer is not None:
            if not x.self_signed:
                chain.append(issuer)
                trusted = True
                break
            if len(chain) == n_untrusted and issuer.raw == x.raw:
                chain[-1] = issuer
                n_untrusted -= 1
                trusted = True
                break
        if x.self_signed:
            break
        ucands = [u for u in untrusted if _likely_issued(u, x)
                  and (not any(u.raw == c.raw for c in chain) or (x.self_issued and len(chain) == 1))]
        nxt = _pick(ucands, now)
        if nxt is None:
            break
        untrusted.remove(nxt)
        chain.append(nxt)
        n_untrusted += 1
    if not trusted and n_untrusted == len(chain):
        # last resort: the leaf itself is in the store; OpenSSL swaps it in but keeps the
        # untrusted certificates above it, which are still checked below
        match = next((_ocert(c) for c in store if c == leaf.cert), None)
        if match is not None:
            chain[0], n_untrusted, trusted = match, 0, True
    if not trusted:
        top = chain[-1]
        if top.self_signed:
            return fail(18 if len(chain) == 1 else 19, len(chain) - 1, chain)
        return fail(2 if n_untrusted < len(chain) else 20, len(chain) - 1, chain)
    num = len(chain)
    # ---- check_chain_extensions
    plen = 0
    for i, o in enumerate(chain):
        if o.critical:
            return fail(34, i, chain)
        ret = _check_ca(o)
        if i > 0 and (ret == 0 or (i + 1 < num and ret != 1)):
            return fail(79, i, chain)
        if not _purpose_ok(o, require_ca=i > 0):
            return fail(26, i, chain)
        if i > 1 and o.pathlen != -1 and plen > o.pathlen:
            return fail(25, i, chain)
        if i > 0 and not o.self_issued:
            plen += 1
    # ---- check_auth_level
    for i, o in enumerate(chain):
        if i > 0 and o.key_bits < minbits:
            return fail(67, i, chain)
        if i < num - 1 and _sig_bits(o) < minbits:
            return fail(68, i, chain)
    # ---- check_id (curl/OpenSSL host check; the CN only when there is no DNS SAN)
    dns, ips, _ = sans(leaf.cert)
    ip = host_ip(host)
    if ip is not None:
        if not any(host_ip(i) == ip for i in ips):
            return fail(64, 0, chain)
    else:
        names = dns or ([common_name(leaf.cert.subject)] if common_name(leaf.cert.subject) else [])
        if not any(_host_matches(p, host) for p in names):
            return fail(62, 0, chain)
    # ---- internal_verify: top down, signature then time
    top = chain[-1]
    n = num - 1
    xi = xs = top  # the anchor's own signature is not checked (self-signed or partial chain)
    while n >= 0:
        if xs is not xi:
            if _ku_reject(xi, "key_cert_sign"):
                return fail(32, n + 1, chain)
            if not issued_by(xs.cert, xi.cert):
                return fail(7, n, chain)
        err = _time_error(xs, now)
        if err:
            return fail(err, n, chain)
        n -= 1
        if n >= 0:
            xi, xs = xs, chain[n]
    # ---- name constraints
    for i in range(num - 1, -1, -1):
        o = chain[i]
        if i != 0 and o.self_issued:
            continue
        for j in range(num - 1, i, -1):
            nc = chain[j].nc
            if nc is not None:
                err = _nc_check(o, nc, leaf=i == 0)
                if err:
                    return fail(err, i, chain)
    return JobsVerdict(True, chain=[c.cert for c in chain])


def _host_matches(pattern: str, host: str) -> bool:
    """OpenSSL's X509_check_host with NO_PARTIAL_WILDCARDS: ``*`` is a whole label, two labels after it."""
    p, h = _lower(pattern).rstrip("."), _lower(host).rstrip(".")
    if p == h:
        return True
    if p.startswith("*.") and p.count(".") >= 2:
        head, _, tail = h.partition(".")
        return bool(head) and tail == p[2:]
    return False
