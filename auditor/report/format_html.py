"""HTML: one self-contained file (inline CSS, JS and SVG; nothing loaded from anywhere)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import TemplateError

from .. import __version__
from ..errors import OperatorError
from .interface import ReportFormat
from .templates import inline_asset, make_environment
from .view import build_view

REPORT_TEMPLATE = "report.html"


def render_html(doc: dict[str, Any], *, site: str | None = None, template_dirs: Sequence[Path] = ()) -> str:
    """The compliance report for one scan document.

    A Content-Security-Policy allows only our own inline style and script (by hash): even a
    value that escaped escaping could neither run script nor load anything.
    """
    env = make_environment(template_dirs)
    try:
        css, css_hash = inline_asset(env, "_style.css")
        js, js_hash = inline_asset(env, "_script.js")
        csp = (f"default-src 'none'; style-src {css_hash}; script-src {js_hash}; img-src data:; "
               "base-uri 'none'; form-action 'none'")
        view = build_view(doc, site=site)
        return env.get_template(REPORT_TEMPLATE).render(**view, css=css, js=js, csp=csp, tool_version=__version__)
    except (TemplateError, RecursionError) as exc:
        if not template_dirs:
            raise  # our own templates: a bug, not the operator's mistake
        # A site template that does not parse or render is the operator's to fix: file and line.
        filename = getattr(exc, "filename", None)
        line = getattr(exc, "lineno", None)
        what = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        raise OperatorError(f"template error ({type(exc).__name__}): {what}", filename, line) from None


class HtmlFormat(ReportFormat):
    name = "html"
    suffix = ".html"
    media_type = "text/html"

    def render(self, doc: dict[str, Any], *, site: str | None = None,
               template_dirs: Sequence[Path] = ()) -> str:
        return render_html(doc, site=site, template_dirs=template_dirs)
