"""Running the rule table over text: line normalisation (CI sections, ANSI, trace timestamps,
JSON log lines), source detection, matching with needles before regexes, deduplication.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from wizard.logsafe import redact
from .base import MAX_EVIDENCE, MAX_EVIDENCE_CHARS, SOURCES, Finding, LogAnalysis, LogRule, MatchContext, Notice
from .rules import BENIGN, RULES


# --------------------------------------------------------------------------------------
# Line normalisation
# --------------------------------------------------------------------------------------

_SECTION = re.compile(r"section_(?:start|end):\d+:[^\r\n\x1b]*?(?:\r?\x1b\[0K|\r|$)")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Z0-9]")
_TRACE_TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z \d\d[OE]\+?\s?")
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\s+")
_JSON_FIELD = re.compile(r'^\s*"(?:message|msg|note)"\s*:\s*("(?:[^"\\]|\\.)*")\s*,?\s*$')
_JSON_SKIP = frozenset({"level", "time", "msg", "message", "ts", "timestamp", "@timestamp"})


def _from_json(seg: str) -> str | None:
    start = seg.find("{")
    if start < 0 or not seg.endswith("}"):
        return None
    try:
        obj = json.loads(seg[start:])
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    msg = obj.get("msg", obj.get("message"))
    if not isinstance(msg, str):
        return None
    parts = []
    level = obj.get("level")
    if isinstance(level, str) and level:
        parts.append(level.upper() + ":")
    parts.append(msg)
    keys = [k for k in ("error", "err") if k in obj] + [
        k for k in obj if k not in _JSON_SKIP and k not in ("error", "err")
    ]
    for k in keys:
        v = obj[k]
        if isinstance(v, (str, int, float, bool)):
            parts.append(f"{k}={v}")
    return " ".join(parts)


def normalize_line(raw: str) -> list[str]:
    """Turn one raw log line into the text segments the rules look at.

    Removes GitLab section markers, ANSI escape codes and timestamp prefixes,
    splits on ``\\r`` (progress rewrites), and flattens JSON log records into the
    runner's text form (``LEVEL: msg error=… key=value…``).
    """
    s = raw
    if "section_" in s:
        s = _SECTION.sub("", s)
    if "\x1b" in s:
        s = _ANSI.sub("", s)
    out: list[str] = []
    for seg in s.split("\r") if "\r" in s else (s,):
        seg = seg.strip()
        if not seg:
            continue
        if seg[0].isdigit():
            seg = _TRACE_TS.sub("", seg, count=1)
            seg = _RFC3339.sub("", seg, count=1)
        if "{" in seg and seg.endswith("}"):
            flat = _from_json(seg)
            if flat is not None:
                seg = flat
        elif seg.startswith('"') and ":" in seg:
            m = _JSON_FIELD.match(seg)
            if m:
                try:
                    seg = json.loads(m.group(1))
                except ValueError:
                    pass
        if seg:
            out.append(seg)
    return out


# --------------------------------------------------------------------------------------
# Analysis
# --------------------------------------------------------------------------------------


def _host_of(url: str) -> str:
    try:
        parts = urlsplit(url if "://" in url else "//" + url)
        return parts.hostname or ""
    except ValueError:
        return ""


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def _registry_of(img: str) -> str:
    first = img.split("/", 1)[0]
    if "/" in img and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def _groups(m: re.Match[str], ctx: MatchContext) -> dict[str, str]:
    g: dict[str, str] = {}
    for name, value in m.groupdict().items():
        if value is None:
            continue
        base = name.rstrip("0123456789") or name
        if base not in g:
            g[base] = value.strip().rstrip(".,;")
    if "url" in g and "host" not in g:
        h = _host_of(g["url"])
        if h:
            g["host"] = h
    if "host" in g:
        g["hostname"] = _strip_port(g["host"])
    if "img" in g:
        g["registry"] = _registry_of(g["img"])
    if ctx.gitlab_url:
        g.setdefault("gitlab_url", ctx.gitlab_url)
    if ctx.gitlab_host:
        g.setdefault("gitlab_host", ctx.gitlab_host)
    return g


def _candidates(text: str, rules: Iterable[LogRule]) -> list[LogRule]:
    return [r for r in rules if any(n in text for n in r.needles)]


def _detect(sample: Iterable[str]) -> str | None:
    votes = {"J": 0, "M": 0, "E": 0}
    for s in sample:
        if ("Running with gitlab-runner" in s or "Preparing the \"kubernetes\" executor" in s
                or "Getting source from Git" in s or "Job failed" in s or "Executing \"step_script\"" in s):
            votes["J"] += 1
        if ("Checking for jobs" in s or "Registration attempt" in s or "Starting multi-runner" in s
                or "Configuration loaded" in s or "Registering runner" in s or "Verifying runner" in s):
            votes["M"] += 1
        if ("LAST SEEN" in s or "FailedMount" in s or "FailedScheduling" in s or "FailedCreate" in s
                or "ErrImagePull" in s or "BackOff" in s):
            votes["E"] += 1
    best = max(votes, key=lambda k: votes[k])
    if votes[best] == 0:
        return None
    if best == "E":
        joined = "\n".join(sample)
        return "JE" if "runner-" in joined and "project-" in joined else "ME"
    return best


def detect_source(lines: Iterable[str]) -> str | None:
    """Guess which signal (``M``, ``ME``, ``J``, ``JE``) a log is; ``None`` if unsure."""
    sample: list[str] = []
    for i, raw in enumerate(lines):
        if i >= 400:
            break
        sample.extend(normalize_line(raw))
    return _detect(sample)


def analyze_lines(
    lines: Iterable[str],
    *,
    source_hint: str | None = None,
    gitlab_url: str | None = None,
    prefilter: bool = True,
) -> LogAnalysis:
    """Analyze raw log lines (any of M, ME, J, JE; text or JSON).

    ``source_hint`` (``"M"``, ``"ME"``, ``"J"``, ``"JE"``) restricts the rules to those
    whose signal can show up in that source. ``gitlab_url`` enables E36 (clone host
    differs from gitlabUrl). ``prefilter=False`` disables the substring gates (only
    useful to test that they never change the outcome).
    """
    if source_hint is not None and source_hint not in SOURCES:
        raise ValueError(f"source_hint must be one of {sorted(SOURCES)}")
    gitlab_host = _host_of(gitlab_url) if gitlab_url else None

    segs: list[tuple[int, str]] = []
    total = 0
    for n, raw in enumerate(lines, start=1):
        total = n
        for seg in normalize_line(raw.rstrip("\n")):
            segs.append((n, seg))

    rules = [r for r in RULES if source_hint is None or source_hint in r.sources]
    if prefilter:
        blob = "\n".join(s for _, s in segs)
        rules = _candidates(blob, rules)
        benign = _candidates(blob, BENIGN)
    else:
        benign = list(BENIGN)

    found: dict[tuple[str, tuple[str, ...]], Finding] = {}
    notices: dict[str, Notice] = {}
    raw_seen: dict[tuple[str, tuple[str, ...]], set[str]] = {}
    for n, seg in segs:
        hit_benign = False
        for b in benign:
            if (not prefilter or any(x in seg for x in b.needles)) and b.pattern.search(seg):
                note = notices.get(b.key)
                if note is None:
                    note = notices[b.key] = Notice(b.key, b.meaning, b.hint, 0, redact(seg[:MAX_EVIDENCE_CHARS]))
                note.count += 1
                hit_benign = True
                break
        if hit_benign or not rules:
            continue
        best: tuple[LogRule, dict[str, str]] | None = None
        ctx: MatchContext | None = None
        for rule in rules:
            if best is not None and rule.specificity <= best[0].specificity:
                continue
            if prefilter and not any(x in seg for x in rule.needles):
                continue
            if rule.unless and any(x in seg for x in rule.unless):
                continue
            m = rule.pattern.search(seg)
            if m is None:
                continue
            if ctx is None:
                ctx = MatchContext(seg, gitlab_url, gitlab_host)
            groups = _groups(m, ctx)
            if rule.when is not None and not rule.when(groups, ctx):
                continue
            best = (rule, groups)
        if best is None:
            continue
        rule, groups = best
        k = (rule.id, tuple(groups.get(x, "") for x in rule.key))
        f = found.get(k)
        if f is None:
            safe = {name: redact(value) for name, value in groups.items()}
            f = found[k] = Finding(rule.catalog, rule, safe, [], 0, rule.confirm, n)
        f.count += 1
        if len(f.evidence) < MAX_EVIDENCE:
            seen = raw_seen.setdefault(k, set())
            if seg not in seen:
                seen.add(seg)
                ev = redact(seg[:MAX_EVIDENCE_CHARS])
                if ev not in f.evidence:
                    f.evidence.append(ev)

    # Drop consequence lines: walk from the most specific rule down; a secondary finding is
    # kept unless an already-kept finding of one of its ``secondary_to`` ids supersedes it.
    kept: list[Finding] = []
    for f in sorted(found.values(), key=lambda x: -x.rule.specificity):
        m = f.rule.secondary_match
        if f.rule.secondary_to and any(
            p.catalog in f.rule.secondary_to and p.rule.id != f.rule.id
            and (not m or p.groups.get(m) == f.groups.get(m))
            for p in kept
        ):
            continue
        kept.append(f)
    findings = kept
    findings.sort(key=lambda f: (-f.status.rank, f.first_line, f.rule.id))
    source = source_hint or _detect([s for _, s in segs[:400]])
    return LogAnalysis(findings, sorted(notices.values(), key=lambda x: x.key), total, source)


def analyze_text(
    text: str,
    *,
    source_hint: str | None = None,
    gitlab_url: str | None = None,
) -> LogAnalysis:
    """Analyze a whole log given as one string. See :func:`analyze_lines`."""
    return analyze_lines(text.split("\n"), source_hint=source_hint, gitlab_url=gitlab_url)


def analyze_file(
    path: str | Path,
    *,
    source_hint: str | None = None,
    gitlab_url: str | None = None,
) -> LogAnalysis:
    """Analyze a log file (read as UTF-8, undecodable bytes replaced)."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    return analyze_text(text, source_hint=source_hint, gitlab_url=gitlab_url)
