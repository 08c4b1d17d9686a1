"""Characters a configuration string may not hold (no YAML here: models import it at cold start)."""

from __future__ import annotations

MAX_CONFIG_BYTES = 256 * 1024
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def bad_character(text: str, *, multiline: bool = False) -> str | None:
    """A description of the first character a configuration string may not hold, or None."""
    for char in text:
        code = ord(char)
        if char in BIDI_CONTROLS:
            return f"the bidirectional control U+{code:04X}"
        if char == "\x00":
            return "NUL (U+0000)"
        if multiline and char in "\n\t":
            continue
        if code < 0x20 or 0x7F <= code < 0xA0 or char in "\u2028\u2029\ufeff":
            return f"the control character U+{code:04X}"
    return None
