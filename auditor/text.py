"""The one cleaner for text a device sent (names, models, banners, headers, XML text).

Everything from the network is hostile: it may hold terminal escape sequences or
NUL bytes, or run to megabytes. What camaudit stores is decoded, without control
characters, trimmed and capped, here and nowhere else.
"""

from __future__ import annotations

import re

MAX_TEXT = 256
"""Default cap on one value's length, in characters."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # keeps tab and newline


def clean_text(value: object, limit: int = MAX_TEXT) -> str:
    """Network text made safe to store: decoded (bytes as UTF-8), control characters
    dropped, trimmed, capped at ``limit``. None, mappings and lists (no text) give ''."""
    if value is None or isinstance(value, dict | list | tuple):
        return ""
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", "replace")
    else:
        text = str(value)
    return _CONTROL.sub("", text).strip()[:limit]


def clean_or_none(value: object, limit: int = MAX_TEXT) -> str | None:
    """:func:`clean_text`, with None for a value that leaves no text."""
    return clean_text(value, limit) or None
