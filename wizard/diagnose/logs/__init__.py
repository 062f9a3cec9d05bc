"""Log analysis for guided recovery: map log lines to failure-catalog entries.

Input is any text a user has at hand: the manager pod log (``M``), manager pod /
ReplicaSet events (``ME``), a job log (``J``) or job pod events (``JE``), in plain
text, with ANSI colours, GitLab section markers, timestamp prefixes, or as JSON
(``--log-format json`` runner logs, ``kubectl get events -o json``).

Design
------
* :data:`RULES` is a table of :class:`LogRule` rows (data, not code branches). A
  row names its catalog id, the signal sources it shows up in, a regex with named
  groups, a one-sentence fix template filled from those groups, and the ids of the
  live checks that can confirm it (``confirm`` holds check-id *prefixes*).
* :data:`BENIGN` is the separate table of catalog section 1b lines. They are never
  findings. They are returned as :class:`Notice` objects (counted, one example
  line); :meth:`LogAnalysis.to_results` emits them only when asked, with status
  ``skip``.
* Disambiguation: every rule that matches a line is a candidate; the one with the
  highest ``specificity`` wins (ties: table order). ``when``/``unless`` refine a
  row declaratively. A row with ``secondary_to`` is a consequence line (for
  example ``PANIC: Failed to verify the runner``) and is dropped when a finding for
  one of those catalog ids exists in the same analysis.
* Deduplication: one :class:`Finding` per (rule, values of the rule's ``key``
  groups), with a count and up to three redacted evidence lines.
* Speed: lines are normalised with cheap fast paths; then every rule's
  ``needles`` (plain substrings, at least one of which occurs in any line the
  regex can match) are tested once against the whole text to drop impossible
  rules, and again per line before any regex runs.

Nothing here imports a UI library.

Modules: :mod:`.rules` (the rule table: data), :mod:`.base` (the rule and result types),
:mod:`.analyze` (normalising lines and running the table). Every name stays importable from here.
"""

from __future__ import annotations

from wizard.logsafe import redact  # one redaction table for the whole project

from .analyze import analyze_file, analyze_lines, analyze_text, detect_source, normalize_line
from .base import (MAX_EVIDENCE, MAX_EVIDENCE_CHARS, SOURCES, BenignRule, Finding, LogAnalysis, LogRule, MatchContext,
                   Notice, Predicate, slug)
from .rules import BENIGN, RULES

__all__ = [
    "BENIGN",
    "MAX_EVIDENCE",
    "MAX_EVIDENCE_CHARS",
    "RULES",
    "SOURCES",
    "BenignRule",
    "Finding",
    "LogAnalysis",
    "LogRule",
    "MatchContext",
    "Notice",
    "Predicate",
    "analyze_file",
    "analyze_lines",
    "analyze_text",
    "detect_source",
    "normalize_line",
    "redact",
    "slug",
]
