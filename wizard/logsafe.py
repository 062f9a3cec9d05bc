"""Keep secrets out of logs, output and screenshots: one redaction table for the project."""

from __future__ import annotations

import base64
import logging
import re
import threading

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


_TOKEN_SHAPE = re.compile(
    r"(?:^|[^A-Za-z0-9])(?:glrtr|glrt|glpat|gldt|glcbt|glptt|glft|glimt|glagent|glsoat|glffct|glwt|gloas)-"
    r"|^GR1348941")


def looks_like_secret(text: str) -> bool:
    """True when ``text`` (written where a reference belongs) looks like the secret itself.

    A GitLab token prefix, or a long mixed-case word with digits and no path punctuation
    (environment variable names are conventionally upper case; file paths have / or .).
    """
    if not text:
        return False
    if _TOKEN_SHAPE.search(text):
        return True
    if len(text) >= 20 and "/" not in text and "." not in text:
        has = (any(c.islower() for c in text), any(c.isupper() for c in text), any(c.isdigit() for c in text))
        if all(has):
            return True
    return len(text) >= 64 and "/" not in text and " " not in text


# ---- every secret value in play, for the one redaction step every output goes through

_known: set[str] = set()
_known_sorted: tuple[str, ...] = ()
_known_lock = threading.Lock()
MIN_SECRET_LEN = 4


def _b64_forms(value: bytes) -> set[str]:
    """Base64 of ``value`` as it appears at any of the three alignments inside a larger blob."""
    out = set()
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + value).decode("ascii").rstrip("=")
        # drop characters that also encode the padding before, and the partial group at the end
        start = (pad * 4 + 2) // 3
        core = enc[start:]
        tail = (len(b"\0" * pad + value)) % 3
        if tail:
            core = core[:-1]
        if len(core) >= 8:
            out.add(core)
    full = base64.b64encode(value).decode("ascii")
    out.add(full)
    return out


def register_secret(value: str | None, *, user: str | None = None) -> None:
    """Remember a secret value (and its base64 forms; with ``user``, also ``user:value`` in
    basic-auth base64) so that :func:`redact` removes it from every output."""
    if not value or len(value) < MIN_SECRET_LEN:
        return
    forms = {value} | _b64_forms(value.encode("utf-8"))
    if user is not None:
        pair = f"{user}:{value}".encode("utf-8")
        forms |= _b64_forms(pair)
        forms.add(base64.b64encode(pair).decode("ascii"))
    global _known_sorted
    with _known_lock:
        if forms <= _known:
            return
        _known.update(f for f in forms if len(f) >= MIN_SECRET_LEN)
        _known_sorted = tuple(sorted(_known, key=len, reverse=True))


def known_secrets() -> tuple[str, ...]:
    return _known_sorted


def forget_secrets() -> None:
    """Forget every registered value (tests; a new session)."""
    global _known_sorted
    with _known_lock:
        _known.clear()
        _known_sorted = ()


def redact_known(s: str) -> str:
    """Replace only the registered secret values (no pattern guessing): safe for any text."""
    if not s:
        return s
    for value in _known_sorted:
        if value in s:
            s = s.replace(value, REDACTED)
    return s


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
    s = redact_known(s)
    low = s.lower()
    if not any(n in low for n in _NEEDLES):
        return s
    for pat, repl in _REDACTIONS:
        s = pat.sub(repl, s)
    return _PASSWORD.sub(lambda m: m.group(1) + REDACTED, s)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class LogFileHandler(logging.StreamHandler):
    """The ``--log-file`` handler. It closes its file under its own lock, and drops a record that
    arrives afterwards: a check that overran its deadline still runs on its daemon thread and may
    log once the command has ended, which must not print a logging error."""

    def emit(self, record: logging.LogRecord) -> None:
        if self.stream is None:  # closed (emit runs under self.lock, as close does)
            return
        super().emit(record)

    def close(self) -> None:
        self.acquire()
        try:
            stream, self.stream = self.stream, None
            if stream is not None:
                try:
                    stream.flush()
                    stream.close()
                except (OSError, ValueError):
                    pass
        finally:
            self.release()
        super().close()


class RedactingStream:
    """A text stream wrapper that removes every registered secret value from what is written.

    ``runner-wizard`` wraps ``sys.stdout`` and ``sys.stderr`` in it for the whole command, so
    human output, JSON and error messages all pass the same step. Only exact known values
    are replaced (pattern guessing would mangle legitimate messages such as field paths).
    """

    def __init__(self, inner):  # noqa: ANN001 - any text stream
        self._inner = inner

    def write(self, s: str) -> int:
        self._inner.write(redact_known(s))
        return len(s)

    def writelines(self, lines) -> None:  # noqa: ANN001
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):  # noqa: ANN204 - flush, isatty, fileno, encoding...
        return getattr(self._inner, name)
