"""The verdict on a presented chain: the runner manager's (Go) and the job pods' (OpenSSL).

:func:`verify` returns a :class:`Verdict` that the checks and the TUI show:
whether the manager trusts the chain (and why not, in plain words with Go's own
error text and a fix), whether the name and dates are right, and whether git in
job pods would agree.
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
import ssl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from .certs import CertInfo, describe, is_self_signed, issued_by, label, load_pem_certificates
from .names import host_ip
from .gox509 import GoError, GoVerdict, _verify_hostname, go_cert, go_verify
from .openssl import JobsVerdict, openssl_verify

EXPIRY_WARN_DAYS = 30

_SYSTEM_OVERRIDE: list[tuple[x509.Certificate, ...]] = []


@functools.lru_cache(maxsize=1)
def _read_system_roots() -> tuple[x509.Certificate, ...]:
    paths = ssl.get_default_verify_paths()
    for p in (os.environ.get("SSL_CERT_FILE"), paths.cafile, paths.openssl_cafile,
              "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"):
        if not p:
            continue
        try:
            with open(p, "rb") as fh:
                certs = load_pem_certificates(fh.read())
        except OSError:
            continue
        if certs:
            return tuple(certs)
    return ()


def system_roots() -> tuple[x509.Certificate, ...]:
    """The system trust store (what Go's SystemCertPool loads on Linux), unless overridden."""
    if _SYSTEM_OVERRIDE:
        return _SYSTEM_OVERRIDE[-1]
    return _read_system_roots()


@contextmanager
def system_pool(certs: Sequence[x509.Certificate]) -> Iterator[None]:
    """Use ``certs`` as the system pool inside the block (tests; a pinned environment)."""
    _SYSTEM_OVERRIDE.append(tuple(certs))
    try:
        yield
    finally:
        _SYSTEM_OVERRIDE.pop()


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Fault:
    code: str
    """self_signed | unknown_ca | incomplete_chain | wrong_ca | weak_signature | ca_cannot_sign |
    not_a_ca | path_length | bad_usage | name_constraints | critical_extension | name_mismatch |
    ip_needs_ip_san | cn_only | expired | not_yet_valid | expiring | ca_expired | leaf_as_ca |
    empty_ca_file | rejected"""
    message: str
    severity: str = "fail"  # fail | warn
    fix: str = ""


TRUST_CODES = ("self_signed", "unknown_ca", "incomplete_chain", "wrong_ca", "weak_signature", "ca_cannot_sign",
               "not_a_ca", "path_length", "bad_usage", "name_constraints", "critical_extension", "ca_expired",
               "rejected")


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
    runner: GoVerdict | None = None
    """The manager's verdict, exactly as Go decides (name and dates included)."""
    jobs: JobsVerdict | None = None
    """git in job pods (OpenSSL, default helper image)."""
    jobs_fault: Fault | None = None

    def by_code(self, *codes: str) -> list[Fault]:
        return [f for f in self.faults if f.code in codes]

    @property
    def ok(self) -> bool:
        return not any(f.severity == "fail" for f in self.faults)


# --------------------------------------------------------------------------- plain words


def _go(e: GoError) -> str:
    return f"(Go: {e.text})"


def trust_fault(err: GoError, presented: Sequence[x509.Certificate], has_ca_file: bool) -> Fault:
    """Go's trust error in plain words, with the fix."""
    who = label(err.cert.cert) if err.cert is not None else "a certificate"
    kind = err.kind
    if kind == "unknown_authority" and err.hint is not None and err.hint_cert is not None:
        cand = label(err.hint_cert.cert)
        hk = err.hint.kind
        if hk == "bad_signature":
            return Fault("wrong_ca", f"the CA \"{cand}\" the runner trusts has the right name but did not sign "
                                     f"{who}: the CA was re-generated with a new key, or it is another CA with "
                                     f"the same name {_go(err)}",
                         fix=f"put the CA that signed the certificate now into the CA file (replace the old "
                             f"\"{cand}\")")
        if hk == "insecure_algorithm":
            return Fault("weak_signature", f"{who} is signed with SHA-1, which Go refuses {_go(err)}",
                         fix=f"reissue {who} with a SHA-256 signature")
        if hk == "constraint_violation":
            return Fault("ca_cannot_sign", f"\"{cand}\" may not sign certificates: it lacks basicConstraints "
                                           f"CA:TRUE, or its keyUsage has no keyCertSign {_go(err)}",
                         fix=f"reissue \"{cand}\" as a CA (basicConstraints critical CA:TRUE, keyUsage "
                             "keyCertSign, cRLSign)")
        if hk in ("expired", "not_yet_valid"):
            return Fault("ca_expired", f"the CA \"{cand}\" is {'expired' if hk == 'expired' else 'not valid yet'} "
                                       f"{_go(err)}", fix=f"renew the CA \"{cand}\" and put the new one in the "
                                                          "CA file")
        if hk in ("key_type_mismatch", "unsupported_algorithm"):
            return Fault("wrong_ca", f"\"{cand}\" cannot have signed {who} {_go(err)}",
                         fix="put the CA that signed the certificate into the CA file")
        if hk in ("not_authorized_to_sign", "too_many_intermediates", "unhandled_critical", "name_mismatch"):
            # the candidate CA was refused for a reason of its own: say that reason, with Go's whole text
            return trust_fault(GoError(hk, err.text, err.hint_cert), presented, has_ca_file)
    if kind == "unknown_authority":
        return _unknown_fault(err, presented, has_ca_file)
    if kind in ("expired", "not_yet_valid"):
        return Fault("ca_expired", f"the CA certificate \"{who}\" is "
                                   f"{'expired' if kind == 'expired' else 'not valid yet'} {_go(err)}",
                     fix=f"renew \"{who}\" (or fix the clocks) and put it where it was")
    if kind == "not_authorized_to_sign":
        return Fault("not_a_ca", f"the intermediate \"{who}\" is not a CA (no basicConstraints CA:TRUE) "
                                 f"{_go(err)}", fix=f"reissue \"{who}\" with basicConstraints CA:TRUE")
    if kind == "too_many_intermediates":
        return Fault("path_length", f"\"{who}\" allows fewer intermediate CAs below it (pathLenConstraint) than "
                                    f"the chain has {_go(err)}",
                     fix="issue the server certificate from a CA the path length allows, or reissue the CA "
                         "with a larger pathLenConstraint")
    if kind == "incompatible_usage":
        return Fault("bad_usage", f"extendedKeyUsage in the chain does not allow TLS server authentication "
                                  f"{_go(err)}", fix="reissue the certificate with extendedKeyUsage serverAuth "
                                                     "(and no CA in the chain restricting it to other uses)")
    if kind == "name_constraints":
        return Fault("name_constraints", f"a CA's name constraints forbid a name of the server certificate "
                                         f"{_go(err)}", fix="issue the certificate from a CA allowed to sign "
                                                            "for that name, or drop the name from its SANs")
    if kind == "unhandled_critical":
        return Fault("critical_extension", f"\"{who}\" has a critical extension Go does not understand, so Go "
                                           f"rejects it {_go(err)}",
                     fix=f"reissue \"{who}\" without that critical extension")
    return Fault("rejected", f"Go rejects the chain {_go(err)}", fix="reissue the certificate chain")


def _unknown_fault(err: GoError, presented: Sequence[x509.Certificate], has_ca_file: bool) -> Fault:
    leaf = presented[0]
    top = leaf
    rest = list(presented[1:])
    while True:
        nxt = next((c for c in rest if c.subject == top.issuer and issued_by(top, c)), None)
        if nxt is None or nxt == top:
            break
        rest.remove(nxt)
        top = nxt
    go_text = _go(err)
    if is_self_signed(top) and top == leaf:
        return Fault("self_signed", f"the server certificate is self-signed ({label(leaf)}) and not in the "
                                    f"runner's CA file {go_text}",
                     fix="set gitlab.ca.file to this certificate (it is its own CA), or better, issue the "
                         "certificate from a CA and give that CA")
    if is_self_signed(top):
        return Fault("unknown_ca", f"the chain ends at the CA \"{label(top)}\", which the runner does not trust "
                                   f"{go_text}", fix="put that CA into gitlab.ca.file")
    missing = top.issuer.rfc4514_string() or "(empty name)"
    if has_ca_file:
        return Fault("incomplete_chain",
                     f"incomplete chain: the server does not send the CA \"{missing}\" that signed "
                     f"\"{label(top)}\", and the CA file does not contain it either {go_text}",
                     fix="configure the server to send its intermediate CA certificate(s) after the leaf, or "
                         "add the intermediate(s) to gitlab.ca.file")
    return Fault("unknown_ca", f"the certificate is signed by \"{missing}\", which the runner does not trust "
                               f"(a private CA, or an intermediate the server does not send) {go_text}",
                 fix="give that CA chain (root and intermediates) as gitlab.ca.file")


def name_faults(leaf: x509.Certificate, host: str, port: int | None) -> tuple[list[Fault], dict[str, Any]]:
    """Go's ``VerifyHostname`` in plain words, plus a suggestion when an IP URL could use a SAN name."""
    err = _verify_hostname(go_cert(leaf), host)
    if err is None:
        return [], {}
    info = describe(leaf)
    covered = ", ".join(info.sans)
    ip = host_ip(host)
    suggestion: dict[str, Any] = {}
    if not info.has_san:
        f = Fault("cn_only", f"the certificate has no Subject Alternative Names, only the legacy Common Name "
                             f"\"{info.common_name}\"; Go (the runner) rejects it ({err.text})",
                  fix=f"reissue the certificate with subjectAltName DNS:{host}" if ip is None else
                      f"reissue the certificate with subjectAltName IP:{host}")
        return [f], suggestion
    if ip is not None:
        if not info.ip_addresses:
            f = Fault("ip_needs_ip_san", f"the URL uses the IP {host} but the certificate has no IP SANs (it "
                                         f"covers {covered}); an IP URL needs an IP SAN ({err.text})")
        else:
            f = Fault("name_mismatch", f"the certificate is valid for {covered}, not {host} ({err.text})")
        names = [d for d in info.dns_names if not d.startswith("*.")]
        if names:
            name = names[0]
            hostport = f"{name}:{port}" if port and port != 443 else name
            suggestion = {"url_host": name, "url": f"https://{hostport}/", "alias_ip": str(ip),
                          "alias_hostname": name,
                          "text": f"use https://{hostport}/ as gitlab.url and add a host alias "
                                  f"{name} -> {ip} (host_aliases, targets manager and jobs); "
                                  "tls_server_name does not exist in GitLab Runner"}
        return [f], suggestion
    return [Fault("name_mismatch", f"the certificate is valid for {covered}, not {host} ({err.text})")], suggestion


def check_dates(info: CertInfo, now: _dt.datetime | None = None, what: str = "certificate") -> list[Fault]:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    go = "(Go: x509: certificate has expired or is not yet valid)"
    if info.not_after < now:
        return [Fault("expired", f"the {what} expired on {info.not_after:%Y-%m-%d %H:%M} UTC {go}")]
    if info.not_before > now:
        return [Fault("not_yet_valid", f"the {what} is not valid before {info.not_before:%Y-%m-%d %H:%M} UTC "
                                       f"(check the clocks) {go}")]
    days = info.days_left(now)
    if days < EXPIRY_WARN_DAYS:
        return [Fault("expiring", f"the {what} expires in {int(days)} days, on {info.not_after:%Y-%m-%d}",
                      severity="warn")]
    return []


JOBS_WORDS = {
    2: ("git in job pods cannot complete the chain: an intermediate CA is neither sent by GitLab nor in the CA "
        "file", "add the intermediate CA(s) to gitlab.ca.file, or make GitLab send them"),
    20: ("git in job pods (OpenSSL) finds no CA in the CA file that signed GitLab's certificate",
         "put the CA that signed GitLab's certificate (root and intermediates) into gitlab.ca.file"),
    18: ("git in job pods does not trust GitLab's self-signed certificate",
         "put GitLab's certificate itself into gitlab.ca.file"),
    19: ("git in job pods meets a self-signed CA that is not in the CA file",
         "put that root CA into gitlab.ca.file"),
    79: ("git in job pods (OpenSSL) does not accept a CA in the chain as a CA: an intermediate needs "
         "basicConstraints CA:TRUE, a root CA:TRUE or keyUsage keyCertSign",
         "reissue the CA with basicConstraints CA:TRUE and keyUsage keyCertSign"),
    25: ("git in job pods rejects the chain: a CA's path length limit is exceeded",
         "reissue the CA with a larger pathLenConstraint"),
    26: ("git in job pods (OpenSSL) rejects the certificate's purpose: extendedKeyUsage must name serverAuth "
         "(anyExtendedKeyUsage is not enough for OpenSSL), and keyUsage must allow digitalSignature or "
         "keyEncipherment", "reissue the certificate with extendedKeyUsage serverAuth"),
    7: ("git in job pods finds a CA with the right name in the CA file, but its key did not sign GitLab's "
        "certificate (a re-generated CA?)", "put the CA that signed GitLab's certificate now into gitlab.ca.file"),
    9: ("git in job pods sees a certificate that is not valid yet", "fix the dates or the clocks"),
    10: ("git in job pods sees an expired certificate in the chain", "renew the expired certificate"),
    34: ("git in job pods rejects a certificate with an unknown critical extension",
         "reissue it without that critical extension"),
    47: ("git in job pods rejects the chain: a name is outside a CA's permitted names",
         "issue the certificate from a CA allowed to sign that name"),
    48: ("git in job pods rejects the chain: a name is excluded by a CA's name constraints",
         "issue the certificate from a CA allowed to sign that name"),
    62: ("git in job pods finds no matching name in the certificate", "reissue it with the URL's host as a SAN"),
    64: ("git in job pods finds no matching IP SAN in the certificate", "reissue it with the IP as an IP SAN"),
    66: ("git in job pods (OpenSSL security level 1) rejects the server key as too weak",
         "use an RSA key of at least 2048 bits or an EC key"),
    67: ("git in job pods (OpenSSL) rejects a CA key as too weak", "reissue the CA with a stronger key"),
    68: ("git in job pods (OpenSSL) rejects a SHA-1 (or weaker) signature in the chain",
         "reissue the certificates with SHA-256 signatures"),
}


def jobs_fault(jobs: JobsVerdict) -> Fault | None:
    if jobs.trusted:
        return None
    text, fix = JOBS_WORDS.get(jobs.code, ("git in job pods rejects GitLab's certificate",
                                           "give the full CA chain in gitlab.ca.file"))
    return Fault("jobs_untrusted", f"{text} (OpenSSL: {jobs.text})", fix=fix)


# --------------------------------------------------------------------------- verify


def verify(chain: list[x509.Certificate], host: str, *, extra_roots: list[x509.Certificate] | None = None,
           use_system: bool = True, system: Sequence[x509.Certificate] | None = None, port: int | None = None,
           now: _dt.datetime | None = None) -> Verdict:
    """Judge a presented chain for ``host`` as the runner does.

    ``extra_roots``: the certificates of the runner's CA file (as Go parses it).
    ``system``: the system pool (default: :func:`system_roots`, nothing when ``use_system`` is false).
    """
    now = now or _dt.datetime.now(_dt.timezone.utc)
    infos = [describe(c) for c in chain]
    v = Verdict(host=host, chain=infos)
    if not chain:
        v.faults.append(Fault("rejected", "the server presented no certificate"))
        return v
    sysroots = list(system if system is not None else (system_roots() if use_system else ()))
    extra = list(extra_roots or [])
    roots = sysroots + extra
    leaf, linfo = chain[0], infos[0]
    v.runner = go_verify(chain, host, roots, now)
    # name and dates, each on its own (Go stops at the first; the checks show each)
    name, v.suggestion = name_faults(leaf, host, port)
    v.name_ok = not name
    v.faults += name
    v.faults += check_dates(linfo, now, "server certificate")
    # trust of the chain on its own: Go without the name and the leaf's own dates (checked above)
    trust = go_verify(chain, "", roots, now, leaf_dates=False)
    if trust.trusted:
        v.trusted = True
        alone = go_verify(chain, "", sysroots, now, leaf_dates=False) if sysroots and extra else trust
        v.trusted_by = "system" if (sysroots and alone.trusted) else "extra"
        v.path = [label(c) for c in trust.chain]
    elif trust.error is not None:
        v.faults.append(trust_fault(trust.error, chain, bool(extra)))
    # git in job pods: OpenSSL with the CA file the runner hands to the job
    v.jobs = openssl_verify(chain, host, roots, now)
    v.jobs_fault = jobs_fault(v.jobs)
    return v


def runner_trusts(v: Verdict) -> bool:
    return bool(v.runner and v.runner.trusted)
