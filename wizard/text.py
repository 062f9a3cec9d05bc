"""Text checks with no dependencies: characters that have no place in a value, and a
printable, bounded form of any text for messages (control and direction characters escaped)."""

from __future__ import annotations

import unicodedata

# Format characters that reorder or hide text (Trojan Source) and invisible separators.
_BIDI = frozenset("\u061c\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                  "\u2060\u2066\u2067\u2068\u2069\ufeff\u2028\u2029")


def bad_char(s: str, *, allow_newlines: bool = False) -> str | None:
    """A description of the first character that has no place in a value, or None."""
    for i, ch in enumerate(s):
        if allow_newlines and ch in "\n\t":
            continue
        if ch in _BIDI:
            return f"an invisible or text-direction character (U+{ord(ch):04X}) at position {i + 1}"
        cat = unicodedata.category(ch)
        if cat == "Cc":
            name = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab", "\x00": "a NUL byte"}.get(
                ch, f"a control character (U+{ord(ch):04X})")
            return f"{name} at position {i + 1}"
        if cat in ("Cs", "Co", "Cn"):
            return f"an invalid character (U+{ord(ch):04X}) at position {i + 1}"
    return None


def printable(s: str, limit: int = 200) -> str:
    """``s`` with control and direction characters escaped and its length bounded, for messages."""
    out = []
    for ch in s:
        if ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    text = "".join(out)
    if len(text) > limit:
        text = text[:limit] + f"…(+{len(text) - limit} characters)"
    return text
