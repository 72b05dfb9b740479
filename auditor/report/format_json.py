"""JSON: the one JSON renderer of camaudit -- the scan document (``report --format json``,
``export``, ``scan --json`` to a file or to ``-``) and every other JSON output (``scans``,
``devices``, ``diff``, ``oui`` with ``--json``) are written by ``render_json``.

UTF-8 (no ``\\u`` escapes), two-space indent, a final newline. Keys keep the document's own
order (the store builds it in schema order, deterministically), so the three document
outputs write the same bytes for one scan (``generated_at`` apart).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .interface import ReportFormat


def render_json(data: Any) -> str:
    """``data`` as indented UTF-8 JSON with a final newline; two renders of one value are identical."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


class JsonFormat(ReportFormat):
    name = "json"
    suffix = ".json"
    media_type = "application/json"

    def render(self, doc: dict[str, Any], *, site: str | None = None,
               template_dirs: Sequence[Path] = ()) -> str:
        # The document is rendered as stored: a site override would make it disagree with the store.
        return render_json(doc)
