"""The shape of an HTTP/RTSP authentication challenge: what a firmware's auth code looks like.

A realm alone is often generic (``IP Camera(21388)``, ``Login to <serial>``), but the
whole ``WWW-Authenticate`` header is written by one maker's code: which parameters it
sends, in which order, how it quotes them, and how it builds its nonce (32 hex digits,
hex-encoded base64 text, Axis's ``<8 hex>Y<hex>``). :func:`challenge_form` keeps the
header as sent with the random parts replaced by their form, so signatures can match the
combination (``seeds/vendors/signatures.yaml``, kind ``challenge``)::

    Digest realm="IP Camera(21388)", nonce="534407f3…", stale="FALSE"
    → Digest realm="IP Camera(21388)", nonce="{hex32}", stale="FALSE"

Pure functions over header values that are already cleaned text.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

from ..text import clean_text

MAX_FORM = 256
_RANDOM = re.compile(r'\b(nonce|opaque|cnonce)(\s*=\s*)("?)([^",\s]*)\3', re.IGNORECASE)
_B64 = re.compile(r"^[A-Za-z0-9+/]{8,}={0,2}$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_AXIS = re.compile(r"^[0-9a-fA-F]{8}Y[0-9a-fA-F]+$")


def value_form(value: str) -> str:
    """A random value's form: ``hex32``, ``b64hex`` (hex of base64 text), ``b64``, ``hexYhex`` (Axis),
    ``dec10``, ``empty`` or ``text<n>``."""
    if not value:
        return "empty"
    if _AXIS.match(value):
        return "hexYhex"
    if value.isdigit():
        return f"dec{len(value)}"
    if _HEX.match(value):
        if len(value) % 2 == 0 and len(value) >= 16:
            try:
                decoded = binascii.unhexlify(value).decode("ascii")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            if _B64.match(decoded):
                return "b64hex"
        return f"hex{len(value)}"
    if _B64.match(value) and len(value) % 4 == 0:
        try:
            base64.b64decode(value, validate=True)
            return "b64"
        except (binascii.Error, ValueError):
            pass
    return f"text{len(value)}"


def challenge_form(values: Iterable[str]) -> str | None:
    """The ``WWW-Authenticate`` values (up to three, in order, joined by `` | ``) with each nonce,
    opaque and cnonce replaced by ``{form}``; None when there is no challenge."""
    forms = []
    for value in list(values)[:3]:
        text = " ".join(clean_text(value, 1024).split())
        if not text:
            continue
        forms.append(_RANDOM.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{{{value_form(m.group(4))}}}"
                                 f"{m.group(3)}", text))
    return clean_text(" | ".join(forms), MAX_FORM) or None
