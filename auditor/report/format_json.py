"""JSON: the scan document itself, pretty-printed.

Keys keep the document's own order (the store builds it in schema order, deterministically),
so ``report --format json``, ``export --format json`` and ``scan --json`` write the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .interface import ReportFormat


def render_json(doc: dict[str, Any]) -> str:
    """``doc`` as indented UTF-8 JSON with a final newline; two renders of one scan are identical."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


class JsonFormat(ReportFormat):
    name = "json"
    suffix = ".json"
    media_type = "application/json"

    def render(self, doc: dict[str, Any], *, site: str | None = None,
               template_dirs: Sequence[Path] = ()) -> str:
        # The document is rendered as stored: a site override would make it disagree with the store.
        return render_json(doc)
