"""Formatting of text a user copies (no UI library: the line prompts use it too)."""

from __future__ import annotations


def fingerprint_lines(fp: str, per_line: int = 8) -> list[str]:
    """A fingerprint cut at byte boundaries (``per_line`` bytes a line), never inside a byte."""
    prefix, sep, hexes = fp.partition(":") if fp.upper().startswith("SHA") else ("", "", fp)
    parts = hexes.split(":")
    lines = [":".join(parts[i:i + per_line]) for i in range(0, len(parts), per_line)]
    lines = [line + (":" if i < len(lines) - 1 else "") for i, line in enumerate(lines)]
    if prefix and lines:
        lines[0] = f"{prefix}{sep}{lines[0]}"
    return lines or [fp]
