"""Guided recovery (``runner-wizard diagnose``).

Modules:

* :mod:`wizard.diagnose.logs` -- offline analysis of manager logs, job logs and
  event dumps against the failure catalog (E01..E38). Entry points:
  :func:`~wizard.diagnose.logs.analyze_text`, :func:`~wizard.diagnose.logs.analyze_lines`,
  :func:`~wizard.diagnose.logs.analyze_file` and :func:`~wizard.diagnose.logs.redact`.

Sibling modules: :mod:`~wizard.diagnose.model` (the shared types: ``ClusterState``,
``Finding``, ``Diagnosis``), :mod:`~wizard.diagnose.collect` (reads the cluster),
:mod:`~wizard.diagnose.analyzers` (the analyzer table), :mod:`~wizard.diagnose.engine`
(``diagnose()``, the whole pipeline), :mod:`~wizard.diagnose.fixes` (plan and apply
fixes) and :mod:`~wizard.diagnose.cli` (the ``diagnose`` command's terminal output).
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

