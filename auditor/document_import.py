"""``camaudit import``: site audits' JSON documents into one central database.

Each file is read with a size cap, parsed as strict JSON, checked against the published
JSON Schema (``auditor.docschema``) and for what a schema cannot say (device ids unique,
every finding names a device of the document, the scan has finished), then stored as a scan
of its site (``Store.import_document``, one transaction). A file that fails any check is one
``OperatorError`` line naming it, and nothing is stored from it; the other files of the same
run are still imported. Importing the same scan again changes nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import opfile
from .docschema import validate_document
from .document import SCHEMA_VERSION
from .errors import OperatorError
from .store import Store

MAX_DOCUMENT_BYTES = 256 * 1024 * 1024
"""A 1,000-device document is about 5 MB; this leaves room for the largest scope a scan accepts."""


@dataclass(frozen=True)
class Imported:
    path: Path
    scan_id: int
    site: str
    devices: int
    status: str
    new: bool
    """False: the same scan was already in the database; nothing changed."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def read_document(path: Path, data: bytes | None = None) -> dict[str, Any]:
    """The document in ``path`` (or its ``data``), parsed and checked; ``OperatorError``
    (naming the file) otherwise."""
    if data is None:
        data = opfile.read_bytes(path, "scan document", MAX_DOCUMENT_BYTES)
    text = opfile.decode(data, str(path))
    if not text.strip():
        raise OperatorError("empty file, not a camaudit scan document", str(path))
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        hint = " (truncated?)" if not text.rstrip().endswith("}") else ""
        raise OperatorError(f"not valid JSON{hint}: {exc.msg}: column {exc.colno}", str(path), exc.lineno) from None
    except (ValueError, RecursionError) as exc:
        message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise OperatorError(f"not valid JSON: {message}", str(path)) from None
    check_document(document, path)
    return document


def check_document(document: Any, path: Path) -> None:
    """The checks of ``read_document`` on a parsed document."""
    if not isinstance(document, dict) or "scan" not in document or "schema_version" not in document:
        raise OperatorError("not a camaudit scan document (no schema_version and scan)", str(path))
    version = document["schema_version"]
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise OperatorError(f"schema_version {version} is newer than this camaudit reads ({SCHEMA_VERSION}); "
                            "upgrade camaudit where you import", str(path))
    errors = validate_document(document)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise OperatorError(f"does not match the document schema: {errors[0]}{more}", str(path))
    ids = Counter(d["id"] for d in document["devices"])
    if dup := next((i for i, n in ids.items() if n > 1), None):
        raise OperatorError(f"device id {dup!r} appears twice", str(path))
    known = set(ids)
    for i, f in enumerate(document["findings"]):
        if f["device_id"] not in known:
            raise OperatorError(f"findings[{i}] names device {f['device_id']!r}, which the document does not list",
                                str(path))
    if document["scan"]["status"] == "running":
        raise OperatorError(f"scan {document['scan']['id']} was still running when this was written; "
                            "import the document its finished run writes", str(path))


def import_files(store: Store, paths: list[Path], site: str | None = None) -> tuple[list[Imported],
                                                                                     list[OperatorError]]:
    """Import each file; returns what was imported and one error per file that was not."""
    done: list[Imported] = []
    errors: list[OperatorError] = []
    for path in paths:
        try:
            data = opfile.read_bytes(path, "scan document", MAX_DOCUMENT_BYTES)
            digest = hashlib.sha256(data).hexdigest()
            if (known := store.imported_digest(digest)) is not None:
                scan = store.scan(known)  # the very same file: nothing to parse
                done.append(Imported(path, known, scan["site"] or "", store.device_count(known), scan["status"],
                                     False))
                continue
            document = read_document(path, data)
            site_name = site if site is not None else document["scan"].get("site")
            if not site_name:
                raise OperatorError("the document names no site; give it one with --site NAME", str(path))
            scan_id, new = store.import_document(document, site=site_name, digest=digest)
        except OperatorError as exc:
            errors.append(exc)
            continue
        done.append(Imported(path, scan_id, site_name, len(document["devices"]), document["scan"]["status"], new))
    return done, errors
