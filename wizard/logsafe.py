"""Keep secrets out of logs, output and screenshots."""

from __future__ import annotations

import logging
import re

REDACTED = "[REDACTED]"

_PATTERNS = [
    # GitLab token families: runner auth (glrt-, glrtr-, instance-prefixed), PATs, registration tokens.
    re.compile(r"\b(?:[A-Za-z0-9]+-)?glrtr?-[A-Za-z0-9_.\-]{6,}"),
    re.compile(r"\bgl(?:pat|dt|ptt|oas|cbt|ft|imt|agent|soat|ffct|rt)-[A-Za-z0-9_.\-]{6,}"),
    re.compile(r"\bGR1348941[A-Za-z0-9_\-]{6,}"),
    # header and flag forms
    re.compile(r"(?i)(private-token[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic)\s+)[^\s\"',}]+"),
    re.compile(r"(?i)((?:^|[\s?&,{])[\"']?(?:token|password|passwd|api_token|registration[-_]token|"
               r"runner[-_]token)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"),
    re.compile(r"(?i)(--(?:token|registration-token|password)[ =])\S+"),
]


def redact(text: str, extra: list[str] | tuple[str, ...] = ()) -> str:
    """Replace anything that looks like a token or password, plus the given known values."""
    for value in extra:
        if value and len(value) >= 4:
            text = text.replace(value, REDACTED)
    for pat in _PATTERNS:
        if pat.groups:
            text = pat.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pat.sub(REDACTED, text)
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
