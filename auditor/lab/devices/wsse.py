"""WS-Security UsernameToken verification, as an ONVIF device does it.

PasswordDigest = Base64(SHA1(nonce_bytes + Created + password)); ``Created`` must lie
within ``MAX_SKEW_S`` of the *device* clock, so a client that does not correct for the
camera's clock offset is refused — exactly the failure seen on real cameras.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from ...xmlsafe import find_local, local

MAX_SKEW_S = 300.0
PASSWORD_DIGEST = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"
)


def password_digest(nonce: bytes, created: str, password: str) -> str:
    """The digest a client sends (used by tests and by the verifier)."""
    return base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()


def parse_created(value: str) -> float | None:
    """Epoch seconds of an xsd:dateTime (``Z`` or offset; no offset = UTC); None if unparsable."""
    try:
        dt = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def verify(envelope: ET.Element, username: str | None, password: str, device_clock: float) -> str | None:
    """None when the envelope carries a valid token for ``username``/``password``; else why not."""
    header = next((e for e in envelope if local(e.tag) == "Header"), None)
    token = find_local(header, "UsernameToken") if header is not None else None
    if token is None:
        return "no UsernameToken"
    fields = {local(e.tag): e for e in token}
    user_el, pw_el = fields.get("Username"), fields.get("Password")
    nonce_el, created_el = fields.get("Nonce"), fields.get("Created")
    if user_el is None or pw_el is None or nonce_el is None or created_el is None:
        return "incomplete UsernameToken"
    if (pw_el.get("Type") or PASSWORD_DIGEST) != PASSWORD_DIGEST:
        return "only PasswordDigest is accepted"
    if username is not None and (user_el.text or "").strip() != username:
        return "unknown user"
    created = (created_el.text or "").strip()
    when = parse_created(created)
    if when is None:
        return "bad Created"
    if abs(when - device_clock) > MAX_SKEW_S:
        return "Created outside the device's time window"
    try:
        nonce = base64.b64decode((nonce_el.text or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        return "bad Nonce"
    expected = password_digest(nonce, created, password)
    if not hmac.compare_digest(expected, (pw_el.text or "").strip()):
        return "wrong password"
    return None
