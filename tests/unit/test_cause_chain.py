"""Walking an exception chain must survive ``reason`` attributes that are strings.

An ``ssl.SSLCertVerificationError`` (GitLab's certificate not trusted yet, the most
common first run) has ``reason == "CERTIFICATE_VERIFY_FAILED"``; following it as if
it were an exception raised ``AttributeError: 'str' object has no attribute
'__cause__'`` inside the GitLab and registry checks.
"""

from __future__ import annotations

import ssl

import urllib3

from wizard.checks.registry import _classify
from wizard.gitlab_api import _transport_error


def _untrusted() -> Exception:
    verify = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: "
                                             "unable to get local issuer certificate")
    verify.reason = "CERTIFICATE_VERIFY_FAILED"
    wrapped = urllib3.exceptions.SSLError(verify)
    wrapped.__cause__ = verify
    return urllib3.exceptions.MaxRetryError(None, "/api/v4/version", reason=wrapped)


def test_gitlab_transport_error_with_untrusted_certificate() -> None:
    err = _transport_error(_untrusted(), "gitlab.company.com", 443)
    assert err.kind == "tls"
    assert "gitlab.company.com:443" in str(err)


def test_registry_classify_with_untrusted_certificate() -> None:
    kind, message, _ = _classify(_untrusted(), "registry.company.com", 5000)
    assert kind in ("handshake", "network")
    assert "registry.company.com:5000" in message


def test_string_reason_alone() -> None:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.reason = "CERTIFICATE_VERIFY_FAILED"
    assert _transport_error(exc, "h", 1).kind == "tls"
    assert _classify(exc, "h", 1)[0] in ("handshake", "network")
