"""Keep secrets out of logs, output and screenshots: one redaction table for the project."""

from __future__ import annotations

import logging
import re

REDACTED = "[REDACTED]"

_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # user:password@ in URLs (git clone URLs with gitlab-ci-token:...)
    (re.compile(r"(://[^/\s:@'\"]+:)(?!\[MASKED\])[^@\s/'\"]+@"), r"\1" + REDACTED + "@"),
    # Authorization: Bearer xxx / Basic xxx
    (re.compile(r"(?i)(authorization\s*[:=]\s*\"?(?:bearer|basic|token)\s+)[^\s\"',;]+"), r"\1" + REDACTED),
    # PRIVATE-TOKEN / JOB-TOKEN / DEPLOY-TOKEN header values
    (re.compile(r"(?i)((?:private|job|deploy)[-_]token\s*:\s*\"?)[^\s\"',;]+"), r"\1" + REDACTED),
    # --token xxx, --token=xxx, --registration-token xxx, -r xxx
    (re.compile(r"(--(?:registration-)?token(?:\s+|=)[\"']?)[^\s\"']+"), r"\1" + REDACTED),
    # token=xxx, TOKEN: xxx, "token":"xxx", bearer_token = "xxx", CI_SERVER_TOKEN=xxx
    (
        re.compile(
            r"(?i)(\b[\w-]*token\"?\s*[=:]\s*\"?)"
            r"(?!(?:true|false|null|none|\[REDACTED\]|\[MASKED\]|\.\.\.)(?![^\s\"',;&}@]))[^\s\"',;&}@]{4,}"
        ),
        r"\1" + REDACTED,
    ),
    # GitLab token prefixes (also with an instance prefix such as acme-glrt-...).
    (
        re.compile(
            r"\b(?:glrtr|glrt|glpat|gldt|glcbt|glptt|glft|glimt|glagent|glsoat|glffct|glwt|gloas)"
            r"-[A-Za-z0-9_\-.]{6,}"
        ),
        REDACTED,
    ),
    # Legacy registration tokens: GR1348941 prefix.
    (re.compile(r"\bGR1348941[A-Za-z0-9_\-]+"), REDACTED),
)

_PASSWORD = re.compile(r"(?i)((?:^|[\s?&,{])[\"']?(?:password|passwd|pass)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+")
_NEEDLES = ("token", "gl", "gr1348941", "authorization", "@", "pass")


def redact(s: str, extra: list[str] | tuple[str, ...] = ()) -> str:
    """Replace anything that looks like a credential, plus the given known values, with ``[REDACTED]``.

    Covers ``glrt-``/``glrtr-``/``glpat-`` (and other ``gl*-``) tokens, also behind an
    instance prefix, ``GR1348941…`` registration tokens, values after ``token=`` /
    ``token:`` / ``--token`` / ``--registration-token`` / ``password=``, ``PRIVATE-TOKEN``
    / ``JOB-TOKEN`` header values, ``Authorization: Bearer|Basic`` values and passwords in URLs.
    """
    if not s:
        return s
    for value in extra:
        if value and len(value) >= 4:
            s = s.replace(value, REDACTED)
    low = s.lower()
    if not any(n in low for n in _NEEDLES):
        return s
    for pat, repl in _REDACTIONS:
        s = pat.sub(repl, s)
    return _PASSWORD.sub(lambda m: m.group(1) + REDACTED, s)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
