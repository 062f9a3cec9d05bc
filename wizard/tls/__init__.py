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

import importlib
from typing import TYPE_CHECKING, Any

# name -> submodule; loaded on first use, so ``import wizard.tls`` costs nothing until a
# function is called (the CLI's start-up, validate.py's use of the name helpers).
_WHERE = {
    "cafile": ("FETCH_FIX", "ca_from_file", "ca_from_server", "load_ca_pem", "trusted_from_chain"),
    "certs": ("CertInfo", "common_name", "describe", "fingerprint", "is_ca", "is_self_signed",
              "issued_by", "label", "load_pem_certificates", "name_covered",
              "parse_ca_bundle", "split_pem", "to_pem"),
    "names": ("dns_name_matches", "fingerprint_error", "host_ip", "is_ip", "normalize_fingerprint"),
    "fetch": ("FetchError", "classify_socket_error", "fetch_chain"),
    "gox509": ("GoVerdict", "go_error_class", "go_verify", "kind_class", "runner_roots"),
    "openssl": ("JobsVerdict", "openssl_verify"),
    "verdict": ("EXPIRY_WARN_DAYS", "TRUST_CODES", "Fault", "Verdict", "check_dates", "jobs_fault", "system_pool",
                "system_roots", "verify"),
}
_MODULE_OF = {name: mod for mod, names in _WHERE.items() for name in names}

__all__ = [*_MODULE_OF, "ca_bundle_faults"]

if TYPE_CHECKING:
    from .cafile import FETCH_FIX, ca_from_file, ca_from_server, load_ca_pem, trusted_from_chain  # noqa: F401
    from .certs import (  # noqa: F401
        CertInfo, common_name, describe, fingerprint, fingerprint_error, is_ca, is_self_signed, issued_by, label,
        load_pem_certificates, name_covered, normalize_fingerprint, parse_ca_bundle, split_pem, to_pem)
    from .fetch import FetchError, classify_socket_error, fetch_chain  # noqa: F401
    from .gox509 import GoVerdict, go_error_class, go_verify, kind_class, runner_roots  # noqa: F401
    from .names import dns_name_matches, host_ip, is_ip  # noqa: F401
    from .openssl import JobsVerdict, openssl_verify  # noqa: F401
    from .verdict import (  # noqa: F401
        EXPIRY_WARN_DAYS, TRUST_CODES, Fault, Verdict, check_dates, jobs_fault, system_pool, system_roots, verify)


def __getattr__(name: str) -> Any:
    mod = _MODULE_OF.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{mod}"), name)
    globals()[name] = value
    return value


def ca_bundle_faults(bundle: list, leaf: Any = None, source: str = "the CA file") -> list[Fault]:
    """What is wrong with a CA file for the runner: only emptiness is (Go ignores such a file).

    A server certificate in the file is fine for Go when it is the server's own
    (pinned) and harmless otherwise; the job pods' verdict says whether git agrees.
    """
    from .certs import common_name, is_ca, is_self_signed
    from .verdict import Fault

    if not bundle:
        return [Fault("empty_ca_file", f"{source} holds no PEM certificate the runner can read (DER is not "
                                       "supported); the runner ignores it and uses the system store alone")]
    if leaf is not None and any(c == leaf for c in bundle) and not is_ca(leaf) and not is_self_signed(leaf):
        return [Fault("leaf_as_ca", f"{source} pins the server's own certificate ({common_name(leaf.subject)}); "
                                    "the runner trusts it, but it must be replaced at every renewal: prefer "
                                    "the CA that signed it", severity="warn")]
    return []
