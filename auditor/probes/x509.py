"""Just enough DER to read an X.509 certificate's subject, issuer and validity.

The HTTP probe keeps the peer certificate in binary form (``getpeercert(binary_form=True)``
returns nothing else when verification is off); this reader avoids a dependency on
``cryptography`` for three fields. Hostile input raises ``ValueError``, never more.
"""

from __future__ import annotations

from dataclasses import dataclass

_OID_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.5": "serialNumber",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "street",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.12": "title",
    "1.2.840.113549.1.9.1": "emailAddress",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}
_MAX_DEPTH_ITEMS = 256


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    not_before: str | None
    not_after: str | None

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer


def _tlv(data: bytes, i: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the element at ``i``."""
    if i + 2 > len(data):
        raise ValueError("truncated DER")
    tag = data[i]
    if tag & 0x1F == 0x1F:
        raise ValueError("high tag numbers not supported")
    length = data[i + 1]
    j = i + 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or j + n > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[j : j + n], "big")
        j += n
    if j + length > len(data):
        raise ValueError("DER element overruns its container")
    return tag, j, j + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    i = start
    while i < end:
        tag, s, e = _tlv(data, i)
        if e > end:
            raise ValueError("DER element overruns its container")
        out.append((tag, s, e))
        i = e
        if len(out) > _MAX_DEPTH_ITEMS:
            raise ValueError("too many DER elements")
    return out


def _oid(raw: bytes) -> str:
    if not raw:
        raise ValueError("empty OID")
    if len(raw) > 64:  # real OIDs are a few bytes; a long one made the shift loop quadratic
        raise ValueError("OID too long")
    parts = [str(min(raw[0] // 40, 2)), str(raw[0] - 40 * min(raw[0] // 40, 2))]
    value = 0
    for b in raw[1:]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(str(value))
            value = 0
    return ".".join(parts)


def _string(tag: int, raw: bytes) -> str:
    if tag == 0x1E:  # BMPString
        return raw.decode("utf-16-be", "replace")
    if tag == 0x1C:  # UniversalString
        return raw.decode("utf-32-be", "replace")
    if tag == 0x0C:  # UTF8String
        return raw.decode("utf-8", "replace")
    return raw.decode("latin-1")


def _name(data: bytes, start: int, end: int) -> str:
    parts = []
    for set_tag, s, e in _children(data, start, end):
        if set_tag != 0x31:
            raise ValueError("Name holds a non-SET")
        for seq_tag, s2, e2 in _children(data, s, e):
            if seq_tag != 0x30:
                raise ValueError("RDN holds a non-SEQUENCE")
            items = _children(data, s2, e2)
            if len(items) < 2 or items[0][0] != 0x06:
                raise ValueError("bad AttributeTypeAndValue")
            oid = _oid(data[items[0][1] : items[0][2]])
            vtag, vs, ve = items[1]
            value = _string(vtag, data[vs:ve])
            parts.append(f"{_OID_NAMES.get(oid, oid)}={value}")
    return ", ".join(parts)


def _time(tag: int, raw: bytes) -> str | None:
    text = raw.decode("ascii", "replace").rstrip("Z")
    if tag == 0x17 and len(text) >= 12:  # UTCTime YYMMDDHHMMSS
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18 or len(text) < 14:
        return None
    if not text[:14].isdigit():
        return None
    return f"{text[0:4]}-{text[4:6]}-{text[6:8]}T{text[8:10]}:{text[10:12]}:{text[12:14]}Z"


def parse_certificate(der: bytes) -> CertInfo:
    """Subject, issuer and validity of a DER certificate; ``ValueError`` if it is not one."""
    tag, s, e = _tlv(der, 0)
    if tag != 0x30:
        raise ValueError("not a DER certificate")
    cert = _children(der, s, e)
    if not cert or cert[0][0] != 0x30:
        raise ValueError("certificate lacks tbsCertificate")
    tbs = _children(der, cert[0][1], cert[0][2])
    if tbs and tbs[0][0] == 0xA0:  # [0] EXPLICIT version
        tbs = tbs[1:]
    if len(tbs) < 5:
        raise ValueError("tbsCertificate too short")
    _serial, _sig, issuer, validity, subject = tbs[:5]
    if issuer[0] != 0x30 or subject[0] != 0x30 or validity[0] != 0x30:
        raise ValueError("unexpected tbsCertificate layout")
    times = _children(der, validity[1], validity[2])
    nb = _time(times[0][0], der[times[0][1] : times[0][2]]) if len(times) > 0 else None
    na = _time(times[1][0], der[times[1][1] : times[1][2]]) if len(times) > 1 else None
    return CertInfo(
        subject=_name(der, subject[1], subject[2]),
        issuer=_name(der, issuer[1], issuer[2]),
        not_before=nb,
        not_after=na,
    )
