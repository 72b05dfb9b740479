"""The jinja2 environment: autoescaped, strict, and overridable by a site's own templates.

A site's template directories come first in a ``ChoiceLoader``, so a site can replace any
template (``_summary.html``, ``_style.css``…) by putting a file of the same name in its own
directory; ours (``data_dir("templates")``) fill in the rest.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, TemplateNotFound
from jinja2.loaders import split_template_path
from markupsafe import Markup

from .. import opfile
from ..errors import OperatorError
from ..resources import data_dir
from .view import days_until, ip_sort_text

_CLOSING = re.compile(r"</\s*(style|script)", re.IGNORECASE)
MAX_TEMPLATE_BYTES = 1024 * 1024


class SiteTemplateLoader(BaseLoader):
    """A site's template directory, read like every operator file (``opfile``): a regular
    file of at most 1 MiB, UTF-8; a FIFO or device named like a template is refused, not read."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def get_source(self, environment: Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        path = self.directory.joinpath(*split_template_path(template))
        if not path.exists() and not path.is_symlink():
            raise TemplateNotFound(template)
        source = opfile.read_text(path, "template", MAX_TEMPLATE_BYTES)
        mtime = path.stat().st_mtime
        return source, str(path), lambda: path.stat().st_mtime == mtime


def make_environment(template_dirs: Sequence[Path] = ()) -> Environment:
    loaders: list[BaseLoader] = [SiteTemplateLoader(Path(p)) for p in template_dirs]
    loaders.append(FileSystemLoader(str(data_dir("templates"))))
    env = Environment(loader=ChoiceLoader(loaders), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(dash=dash, when=when, duration=duration, short_hash=short_hash, plural=plural,
                       ipkey=ip_sort_text, anchor=anchor, days_left=days_until, days=days)
    return env


def inline_asset(env: Environment, name: str) -> tuple[Markup, str]:
    """The raw text of ``_style.css``/``_script.js`` (not a template) and its CSP hash source.

    Refuses an asset that could close its own element: it is inserted unescaped.
    """
    assert env.loader is not None
    source, filename, _ = env.loader.get_source(env, name)
    if _CLOSING.search(source):
        raise OperatorError(f"{name} must not contain a closing </style> or </script> tag", path=filename)
    digest = base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii")
    return Markup(source), f"'sha256-{digest}'"  # our own shipped or site asset, checked above


def anchor(device_id: Any) -> str:
    """A fragment-safe element id for a device key (keys can hold anything a device reports)."""
    return hashlib.sha1(str(device_id).encode("utf-8"), usedforsecurity=False).hexdigest()[:12]


def dash(value: Any) -> Any:
    """Empty values as an em dash, so a blank cell never looks like a rendering bug."""
    return "—" if value is None or value == "" or value == [] else value


def when(value: Any) -> str:
    """ISO 8601 UTC timestamp as ``2026-11-28 10:40:51 UTC``."""
    if not value:
        return "—"
    try:
        ts = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    suffix = " UTC" if ts.utcoffset() is not None and ts.utcoffset().total_seconds() == 0 else ""  # type: ignore[union-attr]
    return ts.strftime("%Y-%m-%d %H:%M:%S") + suffix


def duration(seconds: Any) -> str:
    if seconds is None:
        return "—"
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    minutes, sec = divmod(int(round(s)), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def short_hash(value: Any, length: int = 12) -> str:
    return str(value or "")[:length] or "—"


def days(value: Any) -> str:
    """A number of days for people: ``3 days``, ``1.5 days``, ``1 day``."""
    n = float(value)
    text = f"{n:g}"
    return f"{text} day" if n == 1 else f"{text} days"


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"
