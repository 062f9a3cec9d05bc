"""Random chains beyond the hand-made corpus: Hypothesis combines the knobs (basicConstraints,
keyUsage, EKU, key identifiers, path length, what the server sends, what the CA file holds, name
or IP URL, dates) and the verdicts must still equal Go's and OpenSSL's."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID as EKU
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.tlscorpus import HOST, pem
from tests.support.tlsfactory import TLSServer, make_cert
from tests.unit.test_tls_differential import _norm, _openssl_oracle, go_oracle  # noqa: F401
from wizard import tls

NOW = dt.datetime.now(dt.timezone.utc)
EKUS = st.sampled_from([None, [EKU.SERVER_AUTH], [EKU.CLIENT_AUTH], [EKU.ANY_EXTENDED_KEY_USAGE],
                        [EKU.SERVER_AUTH, EKU.CLIENT_AUTH], [EKU.CODE_SIGNING]])


def ca_knobs():
    return st.fixed_dictionaries({
        "ca": st.sampled_from([True, True, True, False, None]),
        "key_usage": st.sampled_from(["default", "default", None, "no_certsign"]),
        "key_ids": st.booleans(),
        "path_length": st.sampled_from([None, None, 0, 1]),
        "eku": st.sampled_from([None, None, [EKU.SERVER_AUTH], [EKU.CLIENT_AUTH]]),
        "expired": st.sampled_from([False, False, False, True]),
    })


def _dates(expired: bool) -> dict:
    if expired:
        return {"not_before": NOW - dt.timedelta(days=60), "not_after": NOW - dt.timedelta(days=1)}
    return {}


@st.composite
def chains(draw):
    depth = draw(st.sampled_from([0, 1, 1, 2]))
    by_ip = draw(st.booleans())
    cas = []
    issuer = None
    for level in range(depth):
        k = draw(ca_knobs())
        c = make_cert(f"CA {level}", issuer=issuer, ca=k["ca"], key_usage=k["key_usage"], key_ids=k["key_ids"],
                      path_length=k["path_length"], eku=k["eku"], days=3000, **_dates(k["expired"]))
        cas.append(c)
        issuer = c
    leaf = make_cert(
        draw(st.sampled_from([HOST, "127.0.0.1", "other.test"])), issuer=issuer,
        ca=draw(st.sampled_from([False, False, True, None])),
        key_usage=draw(st.sampled_from(["default", None, "no_certsign"])),
        eku=draw(EKUS), key_ids=draw(st.booleans()),
        dns=draw(st.sampled_from([(HOST,), (), ("*.corp.test",), ("other.test",)])),
        ips=draw(st.sampled_from([(), ("127.0.0.1",)])), **_dates(draw(st.sampled_from([False, False, True]))))
    above = list(reversed(cas))  # issuer first
    sent = [leaf] + draw(st.lists(st.sampled_from(above), unique_by=id, max_size=len(above))) if above else [leaf]
    pool = [leaf, *cas]
    in_file = draw(st.lists(st.sampled_from(pool), unique_by=id, max_size=len(pool)))
    return sent, (pem(*in_file) if in_file else None), ("127.0.0.1" if by_ip else HOST)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(chains())
def test_random_chains_match_go_and_openssl(go_oracle, case) -> None:  # noqa: F811
    sent, ca_file, host = case
    with TLSServer(sent, sent[0].key) as srv:
        go = go_oracle.verdict(srv.port, host, ca_file)
        roots, used = tls.runner_roots(ca_file)
        trusted, code = _openssl_oracle(srv.port, host, ca_file if used and ca_file else b"")
        chain = tls.fetch_chain(host, srv.port, connect_to="127.0.0.1", timeout=5)
    mine = tls.go_verify(chain, host, roots)
    assert (mine.trusted, _norm(mine.text)) == (go["trusted"], _norm(go["x509_error"]))
    jobs = tls.openssl_verify(chain, host, roots)
    assert (jobs.trusted, jobs.code) == (trusted, code)


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
