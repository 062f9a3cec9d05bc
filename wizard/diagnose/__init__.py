"""Guided recovery (``runner-wizard diagnose``).

Modules:

* :mod:`wizard.diagnose.logs` -- offline analysis of manager logs, job logs and
  event dumps against the failure catalog (E01..E38). Entry points:
  :func:`~wizard.diagnose.logs.analyze_text`, :func:`~wizard.diagnose.logs.analyze_lines`,
  :func:`~wizard.diagnose.logs.analyze_file` and :func:`~wizard.diagnose.logs.redact`.

The cluster collector and the fixers live in sibling modules.
"""

from __future__ import annotations

from wizard.diagnose.logs import (
    BENIGN,
    RULES,
    Finding,
    LogAnalysis,
    LogRule,
    Notice,
    analyze_file,
    analyze_lines,
    analyze_text,
    redact,
)

__all__ = [
    "BENIGN",
    "RULES",
    "Finding",
    "LogAnalysis",
    "LogRule",
    "Notice",
    "analyze_file",
    "analyze_lines",
    "analyze_text",
    "redact",
]


def command(args, opts) -> int:  # noqa: ANN001 - argparse namespace and GlobalOptions
    """``runner-wizard diagnose`` (collector, analyzers and fixes live in sibling modules)."""
    from wizard.diagnose.engine import command as _command

    return _command(args, opts)


__all__ += ["command"]
