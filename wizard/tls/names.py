"""Host names and IP addresses as Go (the runner) reads them, and fingerprint spellings.

Pure Python with no crypto imports, so input validation can use it cheaply."""

from __future__ import annotations

import ipaddress

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def host_ip(host: str) -> IP | None:
    """The IP address ``host`` spells (``[::1]`` too), or None for a name (or a zone-scoped IPv6)."""
    if "%" in host:
        return None
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_ip(host: str) -> bool:
    return host_ip(host) is not None


def _lower(s: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in s)


def _valid_hostname(host: str, pattern: bool) -> bool:
    if not pattern:
        host = host.removesuffix(".")
    if not host or host == "*":
        return False
    for i, part in enumerate(host.split(".")):
        if not part:
            return False
        if pattern and i == 0 and part == "*":
            continue
        for j, c in enumerate(part):
            if not (c.isascii() and (c.isalnum() or c == "_" or (c == "-" and j != 0))):
                return False
    return True


def _match_pattern(pattern: str, host_parts: list[str]) -> bool:
    pattern = _lower(pattern)
    if not pattern or not host_parts:
        return False
    parts = pattern.split(".")
    if len(parts) != len(host_parts):
        return False
    return all((i == 0 and p == "*") or p == host_parts[i] for i, p in enumerate(parts))


def split_host(host: str) -> list[str]:
    return _lower(host.removesuffix(".")).split(".")


def dns_name_matches(pattern: str, host: str) -> bool:
    """Go's matching: exact, or a ``*`` standing for one whole left-most label."""
    name = _lower(host)
    if _valid_hostname(name, False) and _valid_hostname(pattern, True):
        return _match_pattern(pattern, split_host(name))
    return pattern not in ("", ".") and name not in ("", ".") and _lower(pattern) == name


def normalize_fingerprint(fp: str) -> str:
    """``SHA256:AB:CD:...`` (uppercase, colon-separated) from any common spelling."""
    s = fp.strip()
    if s.upper().startswith("SHA256:"):
        s = s[7:]
    hexdigits = s.replace(":", "").replace(" ", "").upper()
    return "SHA256:" + ":".join(hexdigits[i:i + 2] for i in range(0, len(hexdigits), 2))


def fingerprint_error(fp: str) -> str | None:
    hexdigits = normalize_fingerprint(fp)[7:].replace(":", "")
    if len(hexdigits) != 64 or any(ch not in "0123456789ABCDEF" for ch in hexdigits):
        return (f'"{fp}" is not a SHA-256 fingerprint (64 hex digits, e.g. "SHA256:AB:CD:..."); '
                "copy it from the wizard or from: openssl x509 -noout -fingerprint -sha256")
    return None
