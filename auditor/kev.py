"""CISA's Known Exploited Vulnerabilities catalogue, as the operator downloaded it.

``camaudit kev update FILE`` reads the catalogue's published JSON (``known_exploited_vulnerabilities.json``
on cisa.gov: ``catalogVersion``, ``dateReleased``, ``vulnerabilities[]`` with ``cveID``,
``vendorProject``, ``product``, ``vulnerabilityName``, ``dateAdded``, ``shortDescription``,
``requiredAction``, ``dueDate``, ``knownRansomwareCampaignUse``, ``notes``), checks it, and the
store keeps it in the database (``kev_catalog``, ``kev_entries``: schema v10), next to the scans
it judges: every later audit of that database reads which CVEs are listed and their dates from
it (``KnowledgeBase.with_catalog``). Version ranges are not in the catalogue and stay reviewed
data in ``seeds/vendors/firmware-kev.yaml``; :func:`gaps` lists the catalogue's entries about
covered makers' products (under any of their brands) that the seed has no range for yet.

The file is the operator's and hostile until checked: size-capped, strict JSON (no NaN, no
duplicate keys), every entry's fields typed and bounded. A bad file is one ``OperatorError``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import opfile
from .errors import OperatorError
from .knowledge import KevCatalog, KevCatalogEntry, KnowledgeBase
from .text import clean_text

MAX_CATALOG = 32 * 1024 * 1024
"""The published catalogue is about 1.5 MB (1,400 entries in 2025); 32 MB leaves decades of growth."""
MAX_ENTRIES = 100_000
_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REQUIRED = ("cveID", "vendorProject", "product", "vulnerabilityName", "dateAdded", "dueDate")


def _no_constants(value: str) -> Any:
    raise ValueError(f"{value} is not a JSON number")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object")
        out[key] = value
    return out


def parse_catalog(data: bytes, where: str) -> KevCatalog:
    """The catalogue in ``data``; ``OperatorError`` naming ``where`` (and the line, for bad JSON)."""
    try:
        doc = json.loads(data.decode("utf-8-sig"), parse_constant=_no_constants, object_pairs_hook=_unique)
    except UnicodeDecodeError:
        raise OperatorError("not a CISA KEV catalogue: not UTF-8 text", where) from None
    except json.JSONDecodeError as exc:
        raise OperatorError(f"not a CISA KEV catalogue: invalid JSON ({exc.msg})", where, exc.lineno) from None
    except (ValueError, RecursionError) as exc:
        raise OperatorError(f"not a CISA KEV catalogue: {clean_text(str(exc), 120)}", where) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), list):
        raise OperatorError("not a CISA KEV catalogue: expected an object with 'catalogVersion' and a "
                            "'vulnerabilities' list (known_exploited_vulnerabilities.json from cisa.gov)", where)
    version = doc.get("catalogVersion")
    if not isinstance(version, str) or not version.strip():
        raise OperatorError("not a CISA KEV catalogue: 'catalogVersion' missing", where)
    released = doc.get("dateReleased")
    items = doc["vulnerabilities"]
    if len(items) > MAX_ENTRIES:
        raise OperatorError(f"{len(items)} entries: more than a KEV catalogue holds ({MAX_ENTRIES})", where)
    entries: dict[str, KevCatalogEntry] = {}
    for n, item in enumerate(items, start=1):
        entry = _entry(item, n, where)
        entries[entry.cve] = entry
    return KevCatalog(version=clean_text(version, 32), released=clean_text(released, 40) if isinstance(
        released, str) else "", entries=entries)


def _entry(item: Any, n: int, where: str) -> KevCatalogEntry:
    if not isinstance(item, dict):
        raise OperatorError(f"vulnerabilities[{n}] is not an object", where)
    missing = [k for k in _REQUIRED if not isinstance(item.get(k), str) or not item[k].strip()]
    if missing:
        raise OperatorError(f"vulnerabilities[{n}] lacks {', '.join(missing)}", where)
    cve = item["cveID"].strip()
    if not _CVE.match(cve):
        raise OperatorError(f"vulnerabilities[{n}]: {clean_text(cve, 40)!r} is not a CVE id", where)
    for key in ("dateAdded", "dueDate"):
        if not _DATE.match(item[key].strip()):
            raise OperatorError(f"vulnerabilities[{n}] ({cve}): {key} is not YYYY-MM-DD", where)

    def text(key: str, limit: int = 256) -> str:
        value = item.get(key)
        return clean_text(value, limit) if isinstance(value, str) else ""

    return KevCatalogEntry(cve=cve, vendor=text("vendorProject"), product=text("product"),
                           name=text("vulnerabilityName"), date_added=item["dateAdded"].strip(),
                           due_date=item["dueDate"].strip(), ransomware=text("knownRansomwareCampaignUse", 16),
                           description=text("shortDescription", 1024), required_action=text("requiredAction", 1024),
                           notes=text("notes", 1024))


def read_catalog(path: str | Path) -> tuple[KevCatalog, str]:
    """(the catalogue, the file's SHA-256); ``OperatorError`` for anything unreadable or malformed."""
    raw = opfile.read_bytes(Path(path), "KEV catalogue", MAX_CATALOG)
    return parse_catalog(raw, str(path)), hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Concern:
    """A catalogue entry about a covered maker's product (under any of its brands)."""

    entry: KevCatalogEntry
    maker: str
    """The covered maker the vendor or product names (canonical)."""
    in_knowledge_base: bool
    """The seed has a version range for this CVE (findings can place a firmware against it)."""


def concerns(catalog: KevCatalog, kb: KnowledgeBase) -> list[Concern]:
    """The catalogue's entries whose vendor or product names a covered maker or one of its brands
    (Amcrest → Dahua, LTS → Hikvision...), by CVE."""
    known = {k.cve for k in kb.kev}
    out = []
    for entry in sorted(catalog.entries.values(), key=lambda e: e.cve):
        maker = None
        for text in (entry.vendor, entry.product, f"{entry.vendor} {entry.product}"):
            match = kb.match_name(text)
            if match is not None and match.maker is not None and kb.coverage(match.maker).covered:
                maker = match.maker
                break
        if maker is not None:
            out.append(Concern(entry, maker, entry.cve in known))
    return out


def gaps(catalog: KevCatalog, kb: KnowledgeBase) -> list[Concern]:
    """Entries about covered makers' products that the knowledge base has no version range for yet."""
    return [c for c in concerns(catalog, kb) if not c.in_knowledge_base]
