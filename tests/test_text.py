"""The one cleaner for text a device sent (auditor/text.py)."""

from __future__ import annotations

from auditor.text import MAX_TEXT, clean_or_none, clean_text


def test_trimmed_capped_and_empty_is_none() -> None:
    assert clean_or_none("  a  ") == "a" and clean_or_none("") is None and clean_or_none({"x": 1}) is None
    assert len(clean_or_none("x" * 999) or "") == MAX_TEXT == 256
    assert clean_or_none("   ") is None and clean_or_none(None) is None and clean_or_none(["a"]) is None


def test_control_characters_dropped_bytes_decoded() -> None:
    assert clean_text("220 \x1b[31mDVR\x00 ready\r") == "220 [31mDVR ready"
    assert clean_text(b"caf\xc3\xa9 \xff") == "café \ufffd"
    assert clean_text("line one\nline\ttwo") == "line one\nline\ttwo"  # tab and newline are text
    assert clean_text(8000) == "8000" and clean_text("x" * 50, 10) == "x" * 10
    assert clean_text("<script>alert(1)</script>") == "<script>alert(1)</script>"  # kept, escaped on output
