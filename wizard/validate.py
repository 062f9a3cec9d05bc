"""Field validators shared by the answers model, the wizard steps and the prompts.

Each validator takes a value and returns ``None`` when it is fine, or a message
saying what is wrong and how to fix it. The message never repeats a secret.
"""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from .tls.names import is_ip

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z", re.ASCII)
_HOST_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?\Z", re.ASCII)
_SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?\Z", re.ASCII)
_QUANTITY = re.compile(r"^(?P<num>[+]?(\d+(\.\d*)?|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d{1,2})?\Z", re.ASCII)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z", re.ASCII)
_LABEL_KEY_NAME = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)\Z", re.ASCII)

_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def dns_label(value: str, what: str = "name") -> str | None:
    """RFC 1123 label: namespaces, release names."""
    if not isinstance(value, str) or not value:
        return f"a {what} is required (lowercase letters, digits and '-')"
    if len(value) > 63:
        return f'"{value}" is {len(value)} characters; a {what} has at most 63'
    if not _LABEL.fullmatch(value):
        return (f'"{value}" is not a valid {what}: use lowercase letters, digits and "-", '
                "starting and ending with a letter or digit (RFC 1123)")
    return None


def dns_subdomain(value: str, what: str = "name") -> str | None:
    """RFC 1123 subdomain: ServiceAccount and Secret names."""
    if not isinstance(value, str) or not value:
        return f"a {what} is required"
    if len(value) > 253:
        return f"a {what} has at most 253 characters"
    for part in value.split("."):
        if not part or not _LABEL.fullmatch(part) or len(part) > 63:
            return (f'"{value}" is not a valid {what}: use lowercase letters, digits, "-" and ".", '
                    "each part starting and ending with a letter or digit (RFC 1123)")
    return None


def ip_address(value: str) -> str | None:
    s = str(value)
    if "%" in s:
        return (f'"{value}" has an IPv6 zone id (%...); zone ids only work on one machine\'s link, '
                "use a global or unique-local address")
    try:
        ipaddress.ip_address(s)
    except ValueError:
        return f'"{value}" is not an IPv4 or IPv6 address'
    return None


def hostname(value: str) -> str | None:
    """A DNS host name (not an IP, no port)."""
    if not isinstance(value, str) or not value:
        return "a host name is required"
    if len(value) > 253:
        return f'"{value}" is longer than 253 characters'
    if is_ip(value):
        return f'"{value}" is an IP address; put it in "ip" and list names under "hostnames"'
    labels = value.rstrip(".").split(".")
    for label in labels:
        if not label or len(label) > 63 or not _HOST_LABEL.fullmatch(label):
            return f'"{value}" is not a valid host name (letters, digits, "-" and ".")'
    return None


def split_host_port(hostport: str) -> tuple[str, int | None]:
    """Split ``host:port``, ``[v6]:port`` or a bare host. Raises ValueError."""
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise ValueError("unclosed [")
        host, rest = hostport[1:end], hostport[end + 1:]
        if rest and not rest.startswith(":"):
            raise ValueError("junk after ]")
        port = rest[1:] if rest else None
    elif hostport.count(":") > 1:
        host, port = hostport, None  # bare IPv6
    elif ":" in hostport:
        host, port = hostport.rsplit(":", 1)
    else:
        host, port = hostport, None
    if port is not None:
        if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
            raise ValueError(f'port "{port}" is not a number from 1 to 65535')
        return host, int(port)
    return host, None


def host_or_ip(value: str) -> str | None:
    if is_ip(value):
        return None
    return hostname(value)


def registry_host(value: str) -> str | None:
    """``registry.example.com``, ``registry.example.com:5000``, ``10.0.0.5:5000``, ``[fd00::1]:5000``."""
    if not isinstance(value, str) or not value:
        return "a registry host is required, e.g. registry.company.com:5000"
    if "/" in value or "://" in value:
        return (f'"{value}" must be a host with an optional port, without a scheme or path '
                '(e.g. registry.company.com:5000); put the scheme in "scheme"')
    try:
        host, _ = split_host_port(value)
    except ValueError as exc:
        return f'"{value}" is not host[:port]: {exc}'
    if "%" in host:
        return f'"{value}" has an IPv6 zone id (%...); use an address without one'
    if is_ip(host):
        return None
    err = hostname(host)
    return f'"{value}": {err}' if err else None


def registry_key(value: str) -> str:
    """A registry host compared the way container runtimes do: host case-insensitive, port kept."""
    try:
        host, port = split_host_port(value)
    except ValueError:
        return value.lower()
    host = host.lower().rstrip(".")
    if is_ip(host):
        host = str(ipaddress.ip_address(host.strip("[]")))
    return f"{host}:{port}" if port else host


def gitlab_url(value: str) -> str | None:
    """https URL with a host name or IP and an optional port."""
    if not isinstance(value, str) or not value.strip():
        return "the GitLab URL is required, e.g. https://gitlab.company.com/"
    if any(c.isspace() for c in value) or not value.isprintable():
        return "the GitLab URL contains spaces, line breaks or control characters; write https://host[:port]/"
    try:
        parts = urlsplit(value)
    except ValueError:  # an unbalanced [ or ] in the host part
        return f'"{value}" is not a URL (a "[" or "]" without its pair); write it as https://host[:port]/'
    if "%" in parts.netloc:
        return "the GitLab URL host has a % (an IPv6 zone id or an escape); use a plain host name or address"
    if parts.scheme != "https":
        if parts.scheme == "http":
            return (f'"{value}" uses http; the runner sends its token to this URL, so use '
                    "https:// (a private CA is fine: set gitlab.ca)")
        return f'"{value}" is not a URL; write it as https://host[:port]/'
    if not parts.hostname:
        return f'"{value}" has no host; write it as https://host[:port]/'
    if parts.username or parts.password:
        return f'"{value}" contains credentials; remove the user:password@ part'
    if parts.query or parts.fragment:
        return f'"{value}" has a query or fragment; use only https://host[:port]/[path]'
    try:
        port = parts.port
    except ValueError:
        return f'"{value}" has an invalid port'
    if port is not None and not 0 < port < 65536:
        return f'"{value}" has port {port}; use a port from 1 to 65535 (or none for 443)'
    if parts.netloc.endswith(":"):
        return f'"{value}" has an empty port; remove the ":" or add the port'
    host = parts.hostname
    if not is_ip(host):
        err = hostname(host)
        if err:
            return err
    return None


def http_url(value: str) -> str | None:
    if any(c.isspace() for c in value or "") or not (value or "").isprintable():
        return "the URL contains spaces, line breaks or control characters"
    try:
        parts = urlsplit(value or "")
    except ValueError:  # an unbalanced [ or ] in the host part
        return f'"{value}" is not a URL (a "[" or "]" without its pair)'
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f'"{value}" is not an http(s) URL'
    try:
        port = parts.port
    except ValueError:
        return f'"{value}" has an invalid port'
    if port is not None and not 0 < port < 65536:
        return f'"{value}" has port {port}; use a port from 1 to 65535'
    return None


def quantity(value: object) -> str | None:
    """A Kubernetes resource quantity (250m, 1, 1.5, 256Mi, 1Gi)."""
    if isinstance(value, bool):
        return f'"{value}" is not a resource quantity'
    s = str(value)
    if not _QUANTITY.fullmatch(s):
        return f'"{s}" is not a Kubernetes quantity (examples: 250m, 1, 512Mi, 2Gi)'
    return None


def parse_quantity(value: object) -> Decimal:
    m = _QUANTITY.fullmatch(str(value))
    if not m:
        raise ValueError(f"not a quantity: {value}")
    suffix = m.group("suffix") or ""
    try:
        num = Decimal(m.group("num"))
    except InvalidOperation as exc:  # pragma: no cover - regex guards this
        raise ValueError(str(value)) from exc
    if suffix and suffix[0] in "eE":
        return num * (Decimal(10) ** int(suffix[1:]))
    return num * _SUFFIX[suffix]


def semver(value: object) -> str | None:
    if not isinstance(value, str) or not _SEMVER.fullmatch(value):
        return f'"{value}" is not a chart version like "0.86.0" (quote it in YAML)'
    return None


def env_name(value: str) -> str | None:
    if not _ENV_NAME.fullmatch(value or ""):
        return f'"{value}" is not an environment variable name'
    return None


def env_assignment(value: object) -> str | None:
    if not isinstance(value, str) or "=" not in value:
        return f'"{value}" must look like KEY=value'
    key = value.split("=", 1)[0]
    if not _ENV_NAME.fullmatch(key):
        return f'"{key}" is not a valid variable name in "{value}"'
    return None


def label_key(value: str) -> str | None:
    """Kubernetes label key: optional DNS prefix + '/' + name."""
    if not isinstance(value, str) or not value:
        return "a label key is required"
    prefix, _, name = value.rpartition("/")
    if prefix and dns_subdomain(prefix, "label prefix"):
        return f'"{value}": the prefix "{prefix}" is not a DNS subdomain'
    if not name or len(name) > 63 or not _LABEL_KEY_NAME.fullmatch(name):
        return f'"{value}" is not a valid label key'
    return None


def label_value(value: object) -> str | None:
    s = "" if value is None else str(value)
    if len(s) > 63 or (s and not _LABEL_KEY_NAME.fullmatch(s)):
        return f'"{s}" is not a valid label value'
    return None


def image_ref(value: object, what: str = "image") -> str | None:
    if not isinstance(value, str) or not value.strip():
        return f"an {what} reference is required, e.g. docker.io/library/alpine:3.22"
    if any(c.isspace() for c in value) or not value.isprintable():
        return f'"{value}" contains spaces or control characters'
    return None


def image_tag(ref: str) -> str | None:
    """The tag of an image reference, or None when it has none (digest-only counts as none)."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        return last.split(":", 1)[1]
    return None


def helper_image(value: object) -> str | None:
    err = image_ref(value, "helper image")
    if err:
        return err
    assert isinstance(value, str)
    if "@" in value:
        return None
    tag = image_tag(value)
    if tag is None or tag == "latest" or tag.endswith("-latest"):
        return (f'"{value}" has no pinned tag; the helper must match the runner version: '
                "use a tag like x86_64-v${CI_RUNNER_VERSION} (or x86_64-v18.9.0) and mirror that exact tag")
    return None
