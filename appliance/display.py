"""Names from the air and the LAN, made safe to show: one function for the dashboard, CSV, PDF
and MQTT.

An SSID or host name is chosen by whoever runs the device. A bidi override (U+202E) makes
"abc\u202egnp.exe" read as "abcexe.png"; an ESC sequence recolours a terminal that shows a CSV;
zero-width characters make two names look the same. Every control, format (bidi, zero-width),
line/paragraph separator and lone surrogate is shown as a visible marker such as ⟨U+202E⟩, so
the name reads as what it is and the marker tells the reader that something was hidden there.
"""

from __future__ import annotations

import unicodedata
from typing import Any

_UNSAFE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn"}
MARK_OPEN, MARK_CLOSE = "⟨", "⟩"
SSID_MAX_BYTES = 32


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def unsafe_chars(text: str) -> list[str]:
    """The characters of `text` that `display_safe` would replace."""
    return [ch for ch in text if _unsafe(ch)]


def display_safe(text: object) -> str:
    """`text` with each invisible or control character replaced by ⟨U+XXXX⟩."""
    s = "" if text is None else str(text)
    if s.isprintable() and not any(_unsafe(ch) for ch in s):
        return s
    return "".join(f"{MARK_OPEN}U+{ord(ch):04X}{MARK_CLOSE}" if _unsafe(ch) else ch
                   for ch in s)


def ssid_problem(raw: bytes) -> str:
    """Why an SSID as sent on the air is malformed, or "" (0 to 32 bytes is valid)."""
    if len(raw) > SSID_MAX_BYTES:
        return f"malformed: {len(raw)} bytes (an SSID has at most {SSID_MAX_BYTES})"
    return ""


def deep_safe(v: Any) -> Any:
    """`display_safe` over every string of a JSON-like value (MQTT payloads)."""
    if isinstance(v, str):
        return display_safe(v)
    if isinstance(v, list | tuple):
        return [deep_safe(x) for x in v]
    if isinstance(v, dict):
        return {k: deep_safe(x) for k, x in v.items()}
    return v
