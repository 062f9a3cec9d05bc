"""A corpus of certificate shapes for the TLS differential tests.

Each :class:`Shape` builds a :class:`Case`: what a loopback server sends, the
runner's CA file (the chart's ``<host>.crt``), the URL's host and what the
"system pool" holds. The tests serve each case on 127.0.0.1 and compare
runner-wizard's verdicts with Go's ``crypto/x509`` (the manager) and with
OpenSSL (git in the default helper image). Nothing here states what the verdict
*should* be: the oracles decide.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID as EKU

from .tlsfactory import Cert, chain_pem, make_cert

HOST = "gitlab.corp.test"


@dataclass
class Case:
    served: list[Cert]
    ca_file: bytes | None
    host: str = HOST
    system: list[Cert] = field(default_factory=list)

    @property
    def key(self):
        return self.served[0].key


@dataclass(frozen=True)
class Shape:
    id: str
    what: str
    build: Callable[[], Case]


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _root(cn: str = "Corp Root CA", **kw) -> Cert:
    kw.setdefault("ca", True)
    return make_cert(cn, days=3650, **kw)


def _inter(root: Cert, cn: str = "Corp Issuing CA", **kw) -> Cert:
    kw.setdefault("path_length", 0)
    return make_cert(cn, issuer=root, ca=True, days=1825, **kw)


def _leaf(issuer: Cert | None, cn: str = HOST, dns=(HOST,), **kw) -> Cert:
    return make_cert(cn, issuer=issuer, dns=dns, **kw)


def pem(*certs: Cert) -> bytes:
    return chain_pem(certs)


# --------------------------------------------------------------------------- builders


def _basic(**leaf_kw) -> Case:
    root = _root()
    leaf = _leaf(root, **leaf_kw)
    return Case([leaf], pem(root))


def _root_kw(root_kw: dict, leaf_kw: dict | None = None) -> Callable[[], Case]:
    def build() -> Case:
        root = _root(**root_kw)
        leaf = _leaf(root, **(leaf_kw or {}))
        return Case([leaf], pem(root))
    return build


def _two_level(sent: str, in_file: str, *, inter_kw: dict | None = None, root_kw: dict | None = None,
               leaf_kw: dict | None = None) -> Callable[[], Case]:
    """root -> intermediate -> leaf; ``sent``/``in_file`` name what is where (l, i, r)."""
    def build() -> Case:
        root = _root(**(root_kw or {}))
        inter = _inter(root, **(inter_kw or {}))
        leaf = _leaf(inter, **(leaf_kw or {}))
        by = {"l": leaf, "i": inter, "r": root}
        return Case([by[c] for c in sent], pem(*(by[c] for c in in_file)) if in_file else None)
    return build


def self_signed_leaf_as_ca() -> Case:
    leaf = _leaf(None)
    return Case([leaf], pem(leaf))


def self_signed_no_ca_file() -> Case:
    leaf = _leaf(None)
    return Case([leaf], None)


def leaf_pinned() -> Case:
    root = _root()
    leaf = _leaf(root)
    return Case([leaf], pem(leaf))


def leaf_pinned_broken_issuer_sent() -> Case:
    root = _root(ca=False)  # its issuer, sent by the server, may not sign (found by the fuzz test)
    leaf = _leaf(root)
    return Case([leaf, root], pem(leaf))


def leaf_and_root_in_file() -> Case:
    root = _root()
    leaf = _leaf(root)
    return Case([leaf], pem(leaf, root))


def no_key_ids() -> Case:
    root = _root(key_ids=False)
    leaf = _leaf(root, key_ids=False)
    return Case([leaf], pem(root))


def no_key_usage() -> Case:
    root = _root(key_usage=None)
    leaf = _leaf(root, key_usage=None)
    return Case([leaf], pem(root))


def ip_case(ips=("127.0.0.1",), dns=(HOST,), host="127.0.0.1") -> Callable[[], Case]:
    def build() -> Case:
        root = _root()
        leaf = make_cert(HOST, issuer=root, dns=dns, ips=ips)
        return Case([leaf], pem(root), host=host)
    return build


def dated(**leaf_dates) -> Callable[[], Case]:
    def build() -> Case:
        now = _now()
        nb, na = leaf_dates["nb"](now), leaf_dates["na"](now)
        root = _root()
        leaf = _leaf(root, not_before=nb, not_after=na)
        return Case([leaf], pem(root))
    return build


def expired_root() -> Case:
    now = _now()
    root = _root(not_before=now - _dt.timedelta(days=400), not_after=now - _dt.timedelta(days=1))
    leaf = _leaf(root)
    return Case([leaf], pem(root))


def path_len_violated() -> Case:
    root = _root(path_length=0)
    inter = _inter(root, path_length=None)
    leaf = _leaf(inter)
    return Case([leaf, inter], pem(root))


def path_len_two_intermediates() -> Case:
    root = _root()
    i1 = _inter(root, "Corp Policy CA", path_length=0)
    i2 = _inter(i1, "Corp Issuing CA", path_length=None)
    leaf = _leaf(i2)
    return Case([leaf, i2, i1], pem(root))


def name_constraints(permitted=(), excluded=(), on="inter") -> Callable[[], Case]:
    def build() -> Case:
        nc = {"permitted": [x509.DNSName(d) for d in permitted], "excluded": [x509.DNSName(d) for d in excluded]}
        root = _root(**(nc if on == "root" else {}))
        inter = _inter(root, **(nc if on == "inter" else {}))
        leaf = _leaf(inter)
        return Case([leaf, inter], pem(root))
    return build


def ip_constraints() -> Case:
    root = _root(permitted=[x509.IPAddress(ipaddress.ip_network("10.0.0.0/8"))])
    leaf = make_cert(HOST, issuer=root, dns=(HOST,), ips=("127.0.0.1",))
    return Case([leaf], pem(root), host="127.0.0.1")


def critical_ext_inter() -> Case:
    root = _root()
    inter = _inter(root, critical_unknown=True)
    leaf = _leaf(inter)
    return Case([leaf, inter], pem(root))


def critical_ext_root() -> Case:
    root = _root(critical_unknown=True)
    leaf = _leaf(root)
    return Case([leaf], pem(root))


def sha1_leaf() -> Case:
    root = _root(key_type="rsa")
    leaf = _leaf(root, sha1=True)
    return Case([leaf], pem(root))


def sha1_root() -> Case:
    root = _root(key_type="rsa", sha1=True)
    leaf = _leaf(root)
    return Case([leaf], pem(root))


def sha1_intermediate() -> Case:
    root = _root(key_type="rsa")
    inter = _inter(root, key_type="rsa", sha1=True)
    leaf = _leaf(inter)
    return Case([leaf, inter], pem(root))


def keys(root_type: str, leaf_type: str) -> Callable[[], Case]:
    def build() -> Case:
        root = _root(key_type=root_type)
        leaf = _leaf(root, key_type=leaf_type)
        return Case([leaf], pem(root))
    return build


def extra_certs_in_file() -> Case:
    root = _root()
    others = [_root(f"Unrelated CA {i}") for i in range(3)]
    stray = _leaf(others[0], "other.test", dns=("other.test",))
    leaf = _leaf(root)
    return Case([leaf], pem(others[0], stray, others[1], root, others[2]))


def regenerated_ca(key_ids: bool) -> Callable[[], Case]:
    def build() -> Case:
        old = _root(key_ids=key_ids)
        new = _root(key_ids=key_ids)  # same name, new key
        leaf = _leaf(new, key_ids=key_ids)
        return Case([leaf], pem(old))
    return build


def both_generations_in_file() -> Case:
    old = _root()
    new = _root()
    leaf = _leaf(new)
    return Case([leaf], pem(old, new))


def ca_file_bytes(data: bytes) -> Callable[[], Case]:
    def build() -> Case:
        root = _root()
        return Case([_leaf(root)], data)
    return build


def ca_file_key_only() -> Case:
    root = _root()
    leaf = _leaf(root)
    return Case([leaf], leaf.key_pem)


def system_pool(in_file: bool) -> Callable[[], Case]:
    def build() -> Case:
        public = _root("Public Root CA")
        inter = _inter(public, "Public Issuing CA")
        leaf = _leaf(inter)
        private = _root("Somebody Else's CA")
        return Case([leaf, inter], pem(private) if in_file else None, system=[public])
    return build


def system_and_private_ca() -> Case:
    public = _root("Public Root CA")
    root = _root()
    leaf = _leaf(root)
    return Case([leaf], pem(root), system=[public])


def inter_not_ca() -> Case:
    root = _root()
    inter = make_cert("Corp Issuing CA", issuer=root, ca=False, key_usage="default", eku=None)
    leaf = _leaf(inter)
    return Case([leaf, inter], pem(root))


def inter_no_bc() -> Case:
    root = _root()
    inter = make_cert("Corp Issuing CA", issuer=root, ca=None, eku=None)
    leaf = _leaf(inter)
    return Case([leaf, inter], pem(root))


def root_eku(ekus) -> Callable[[], Case]:
    def build() -> Case:
        root = _root(eku=list(ekus))
        leaf = _leaf(root)
        return Case([leaf], pem(root))
    return build


def cross_order_with_root_sent() -> Case:
    root = _root()
    inter = _inter(root)
    leaf = _leaf(inter)
    return Case([leaf, root, inter], pem(root))


def duplicate_leaf_sent() -> Case:
    root = _root()
    leaf = _leaf(root)
    return Case([leaf, leaf, root], pem(root))


GARBAGE = b"this is not a certificate\n-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n"

SHAPES: list[Shape] = [
    Shape("baseline", "private root in the CA file, leaf signed by it", lambda: _basic()),
    Shape("self_signed_leaf_as_ca_file", "self-signed server certificate given as the CA file (seed 000)",
          self_signed_leaf_as_ca),
    Shape("self_signed_no_ca_file", "self-signed server certificate, no CA file", self_signed_no_ca_file),
    Shape("leaf_pinned_as_ca_file", "CA-signed server certificate pinned as the CA file", leaf_pinned),
    Shape("leaf_pinned_broken_issuer_sent", "leaf pinned; the server also sends its CA:FALSE issuer",
          leaf_pinned_broken_issuer_sent),
    Shape("leaf_and_root_in_file", "CA file holds the server certificate and its root", leaf_and_root_in_file),
    Shape("no_key_identifiers", "root and leaf without SKI/AKI", no_key_ids),
    Shape("no_key_usage", "root and leaf without keyUsage", no_key_usage),
    Shape("root_without_basic_constraints", "v3 root without basicConstraints (keyUsage keyCertSign)",
          _root_kw({"ca": None})),
    Shape("root_without_bc_or_ku", "v3 root without basicConstraints or keyUsage",
          _root_kw({"ca": None, "key_usage": None})),
    Shape("root_ca_false", "root with basicConstraints CA:FALSE signing the leaf", _root_kw({"ca": False})),
    Shape("root_ku_without_certsign", "root whose keyUsage lacks keyCertSign",
          _root_kw({"key_usage": "no_certsign"})),
    Shape("leaf_ca_true", "leaf with basicConstraints CA:TRUE", lambda: _basic(ca=True)),
    Shape("eku_server_auth", "leaf EKU serverAuth only", lambda: _basic(eku=[EKU.SERVER_AUTH])),
    Shape("eku_client_auth_only", "leaf EKU clientAuth only", lambda: _basic(eku=[EKU.CLIENT_AUTH])),
    Shape("eku_any", "leaf EKU anyExtendedKeyUsage only", lambda: _basic(eku=[EKU.ANY_EXTENDED_KEY_USAGE])),
    Shape("eku_none", "leaf without EKU", lambda: _basic(eku=None)),
    Shape("root_eku_client_only", "root restricted to clientAuth (EKU nesting)", root_eku([EKU.CLIENT_AUTH])),
    Shape("cn_only", "leaf with only a Common Name, no SANs", lambda: _basic(dns=())),
    Shape("ip_url_ip_san", "URL by IP, leaf has that IP SAN", ip_case()),
    Shape("ip_url_dns_only", "URL by IP, leaf has DNS SANs only", ip_case(ips=())),
    Shape("name_url_ip_only", "URL by name, leaf has an IP SAN only", ip_case(dns=(), host=HOST)),
    Shape("wrong_hostname", "leaf for another name", lambda: _basic(cn="other.corp.test", dns=("other.corp.test",))),
    Shape("wildcard", "leaf *.corp.test for gitlab.corp.test", lambda: _basic(cn="*.corp.test", dns=("*.corp.test",))),
    Shape("wildcard_too_deep", "leaf *.test for gitlab.corp.test", lambda: _basic(cn="*.test", dns=("*.test",))),
    Shape("expired_leaf", "leaf expired yesterday",
          dated(nb=lambda n: n - _dt.timedelta(days=30), na=lambda n: n - _dt.timedelta(days=1))),
    Shape("not_yet_valid_leaf", "leaf valid from tomorrow",
          dated(nb=lambda n: n + _dt.timedelta(days=1), na=lambda n: n + _dt.timedelta(days=30))),
    Shape("expired_root", "root expired yesterday", expired_root),
    Shape("inter_sent_root_in_file", "leaf+intermediate sent, root in file", _two_level("li", "r")),
    Shape("inter_not_sent_root_in_file", "leaf only sent, root in file (incomplete chain)", _two_level("l", "r")),
    Shape("inter_not_sent_both_in_file", "leaf only sent, intermediate+root in file", _two_level("l", "ir")),
    Shape("inter_not_sent_only_inter_in_file", "leaf only sent, intermediate alone in file", _two_level("l", "i")),
    Shape("inter_sent_only_inter_in_file", "leaf+intermediate sent, intermediate alone in file",
          _two_level("li", "i")),
    Shape("full_chain_sent_root_in_file", "leaf+intermediate+root sent, root in file", _two_level("lir", "r")),
    Shape("full_chain_sent_no_ca_file", "leaf+intermediate+root sent, no CA file", _two_level("lir", "")),
    Shape("chain_wrong_order", "leaf, root, intermediate sent (wrong order)", cross_order_with_root_sent),
    Shape("duplicate_leaf_sent", "leaf sent twice", duplicate_leaf_sent),
    Shape("path_length_violated", "root pathlen 0 above an intermediate", path_len_violated),
    Shape("path_length_two_intermediates", "intermediate pathlen 0 above another intermediate",
          path_len_two_intermediates),
    Shape("intermediate_ca_false", "intermediate with CA:FALSE", inter_not_ca),
    Shape("intermediate_without_bc", "intermediate without basicConstraints", inter_no_bc),
    Shape("name_constraints_permitted", "intermediate permits .corp.test",
          name_constraints(permitted=("corp.test",))),
    Shape("name_constraints_not_permitted", "intermediate permits only example.org",
          name_constraints(permitted=("example.org",))),
    Shape("name_constraints_excluded", "root excludes corp.test", name_constraints(excluded=("corp.test",), on="root")),
    Shape("ip_name_constraints", "root permits 10.0.0.0/8, URL by IP 127.0.0.1", ip_constraints),
    Shape("critical_unknown_ext_leaf", "leaf with an unknown critical extension",
          lambda: _basic(critical_unknown=True)),
    Shape("critical_unknown_ext_intermediate", "intermediate with an unknown critical extension",
          critical_ext_inter),
    Shape("critical_unknown_ext_root", "root with an unknown critical extension", critical_ext_root),
    Shape("sha1_leaf", "leaf signed with SHA1-RSA", sha1_leaf),
    Shape("sha1_intermediate", "intermediate signed with SHA1-RSA", sha1_intermediate),
    Shape("sha1_root_self_signature", "root self-signed with SHA1-RSA", sha1_root),
    Shape("rsa1024_leaf", "RSA-1024 leaf key", keys("rsa", "rsa1024")),
    Shape("rsa1024_root", "RSA-1024 root key", keys("rsa1024", "ec")),
    Shape("rsa2048_chain", "RSA-2048 root and leaf", keys("rsa", "rsa")),
    Shape("ed25519", "Ed25519 root and leaf", keys("ed25519", "ed25519")),
    Shape("ecdsa_p384", "ECDSA P-384 root and leaf", keys("ec384", "ec384")),
    Shape("extra_unrelated_certs_in_file", "CA file with unrelated CAs and a stray leaf", extra_certs_in_file),
    Shape("regenerated_ca_same_name", "CA re-generated with the same name; file holds the old one",
          regenerated_ca(True)),
    Shape("regenerated_ca_no_key_ids", "same, without key identifiers", regenerated_ca(False)),
    Shape("both_ca_generations_in_file", "old and new CA with the same name in the file",
          both_generations_in_file),
    Shape("ca_file_empty", "CA file empty", ca_file_bytes(b"")),
    Shape("ca_file_garbage", "CA file not PEM", ca_file_bytes(GARBAGE)),
    Shape("ca_file_private_key", "CA file holds a private key", ca_file_key_only),
    Shape("no_ca_file_private_ca", "private CA, no CA file", _two_level("li", "")),
    Shape("system_pool_trusts", "public CA in the system pool, no CA file", system_pool(False)),
    Shape("system_pool_trusts_with_other_file", "public CA in the system pool, unrelated CA file",
          system_pool(True)),
    Shape("system_pool_and_private_ca", "system pool plus the private CA file", system_and_private_ca),
]
