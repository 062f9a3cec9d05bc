"""TLS as the runner sees it: one module for certificates, chains and verdicts.

- :mod:`.certs`: loading PEM (as Go does), fingerprints, names and IPs, descriptions.
- :mod:`.fetch`: the chain a server presents (TLS >= 1.2, SNI = the URL's host).
- :mod:`.gox509`: the manager's verdict, Go's ``crypto/x509`` re-done step by step.
- :mod:`.openssl`: the job pods' verdict (git + libcurl + OpenSSL in the helper image).
- :mod:`.verdict`: both verdicts in plain words, with fixes, for the checks and the TUI.
- :mod:`.cafile`: the CA bundle the answers configure (file, or fetched and pinned).

No UI imports; every function is safe to call from worker threads.
"""

from __future__ import annotations

from .cafile import FETCH_FIX, ca_from_file, ca_from_server, load_ca_pem, trusted_from_chain
from .certs import (
    CertInfo,
    common_name,
    describe,
    dns_name_matches,
    fingerprint,
    fingerprint_error,
    host_ip,
    is_ca,
    is_ip,
    is_self_signed,
    issued_by,
    load_pem_certificates,
    name_covered,
    normalize_fingerprint,
    parse_ca_bundle,
    split_pem,
    to_pem,
)
from .fetch import FetchError, classify_socket_error, fetch_chain
from .gox509 import GoVerdict, go_error_class, go_verify, kind_class, runner_roots
from .openssl import JobsVerdict, openssl_verify
from .verdict import (
    EXPIRY_WARN_DAYS,
    TRUST_CODES,
    Fault,
    Verdict,
    check_dates,
    jobs_fault,
    system_pool,
    system_roots,
    verify,
)

__all__ = [
    "EXPIRY_WARN_DAYS", "FETCH_FIX", "TRUST_CODES", "CertInfo", "Fault", "FetchError", "GoVerdict",
    "JobsVerdict", "Verdict", "ca_bundle_faults", "ca_from_file", "ca_from_server", "check_dates",
    "classify_socket_error", "common_name", "describe", "dns_name_matches", "fetch_chain", "fingerprint",
    "fingerprint_error", "go_error_class", "go_verify", "host_ip", "is_ca", "is_ip", "is_self_signed",
    "issued_by", "jobs_fault", "kind_class", "load_ca_pem", "load_pem_certificates", "name_covered",
    "normalize_fingerprint", "openssl_verify", "parse_ca_bundle", "runner_roots", "split_pem", "system_pool",
    "system_roots", "to_pem", "trusted_from_chain", "verify",
]


def ca_bundle_faults(bundle: list, leaf=None, source: str = "the CA file") -> list[Fault]:
    """What is wrong with a CA file for the runner: only emptiness is (Go ignores such a file).

    A server certificate in the file is fine for Go when it is the server's own
    (pinned) and harmless otherwise; the job pods' verdict says whether git agrees.
    """
    if not bundle:
        return [Fault("empty_ca_file", f"{source} holds no PEM certificate the runner can read (DER is not "
                                       "supported); the runner ignores it and uses the system store alone")]
    if leaf is not None and any(c == leaf for c in bundle) and not is_ca(leaf):
        return [Fault("leaf_as_ca", f"{source} pins the server's own certificate ({common_name(leaf.subject)}); "
                                    "the runner trusts it, but it must be replaced at every renewal: prefer "
                                    "the CA that signed it", severity="warn")]
    return []
