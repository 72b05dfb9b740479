"""The one interface every report format implements (after pip-audit's ``_format/interface.py``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar


class ReportFormat(ABC):
    """Renders a scan document (docs/json-schema.md) to one text file."""

    name: ClassVar[str]
    """Registry name, as given to ``--format``."""
    suffix: ClassVar[str]
    """File-name suffix including the dot, e.g. ``.html``."""
    media_type: ClassVar[str]

    @abstractmethod
    def render(self, doc: dict[str, Any], *, site: str | None = None,
               template_dirs: Sequence[Path] = ()) -> str:
        """The whole file as text. ``site`` overrides the document's site name where shown."""
