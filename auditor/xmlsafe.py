"""The one way untrusted XML is parsed: size cap, no DTD, no entities, no external references."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException

from .text import clean_or_none

DEFAULT_MAX_BYTES = 256 * 1024


class UnsafeXML(ValueError):
    """The payload was refused or could not be parsed; the message says why, in a few words."""


def parse_xml(data: bytes | str, max_bytes: int = DEFAULT_MAX_BYTES) -> ET.Element:
    """Parse ``data`` and return the root element, or raise ``UnsafeXML``.

    Refuses: payloads over ``max_bytes``, any DOCTYPE (so no entity expansion and no
    external entities), malformed XML.
    """
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise UnsafeXML(f"XML of {len(raw)} bytes exceeds the {max_bytes}-byte cap")
    try:
        return DET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeXML(f"XML with DOCTYPE/entities refused ({type(exc).__name__})") from exc
    except ET.ParseError as exc:
        raise UnsafeXML(f"malformed XML: {exc}") from exc
    except (LookupError, ValueError) as exc:  # expat on a declared encoding it cannot decode
        raise UnsafeXML(f"XML in an unsupported encoding: {str(exc)[:80]}") from exc


def local(tag: str) -> str:
    """Local name of a ``{namespace}name`` tag."""
    return tag.rsplit("}", 1)[-1]


def find_local(elem: ET.Element, name: str) -> ET.Element | None:
    """First descendant (or self) whose local name is ``name``, ignoring namespaces."""
    for e in elem.iter():
        if local(e.tag) == name:
            return e
    return None


def text_of(elem: ET.Element, name: str, limit: int = 256) -> str | None:
    """Cleaned (:func:`~auditor.text.clean_text`) text of the first descendant named ``name``;
    None if absent or empty."""
    e = find_local(elem, name)
    return None if e is None else clean_or_none(e.text, limit)
