"""Options shared by every command that touches the database."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import OperatorError

if TYPE_CHECKING:
    from ..store import Store

DEFAULT_DB = "camaudit.db"
F = TypeVar("F", bound=Callable[..., object])


class FiniteRange(click.FloatRange):
    """A FloatRange that also refuses ``nan`` and ``inf`` (``nan`` passes every comparison)."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


class Utf8Text(click.ParamType):
    """Free text that is stored or shown (a site name): bytes that are not UTF-8 are refused
    here, not by the database or the report writer after a whole scan."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        text = str(value)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("is not valid UTF-8 text", param, ctx)
        return text


TEXT = Utf8Text()

SCAN_ID = click.IntRange(1, 2**63 - 1)
"""A scan id as SQLite stores it (a larger number is no scan, not an overflow)."""


def db_option(func: F) -> F:
    """``--db PATH`` (default ``camaudit.db`` in the working directory, or ``$CAMAUDIT_DB``);
    the command receives it as ``db: Path``."""
    return click.option(
        "--db", "db", type=click.Path(path_type=Path), default=DEFAULT_DB,
        envvar="CAMAUDIT_DB", show_default=True, show_envvar=True,
        help="SQLite database of scans.")(func)


def open_store(db: Path, must_exist: bool = True, lock_timeout: float = 10.0, *, read_only: bool = False) -> Store:
    """Open the database; for reading commands, refuse to create an empty one by mistake.

    ``read_only``: the history and report commands, which never write (they work on a
    read-only file system and leave a damaged file as it is).
    """
    from ..store import Store
    from ..store.opening import empty_file

    if must_exist and not db.exists():
        raise OperatorError("no camaudit database here (run 'camaudit scan' first, or pass --db / set CAMAUDIT_DB)",
                            path=str(db))
    if must_exist and db.is_file() and db.stat().st_size == 0:
        raise empty_file(str(db))  # a command that needs scans must not initialise an empty file
    return Store(db, lock_timeout=lock_timeout, read_only=read_only)


def site_option(func: F) -> F:
    """``--site NAME``: the command works on that site's scans (``site: str | None``)."""
    return click.option(
        "--site", "site", metavar="NAME",
        help="This site's scans only (needed when the database holds several sites; see 'camaudit scans').",
    )(func)


def _site_label(site: str) -> str:
    return repr(site) if site else "(no site named)"


def resolve_scan(store: Store, scan_id: int | None, site: str | None) -> int:
    """The scan a reading command works on: ``scan_id`` (which must be of ``site`` when both are
    given), else the site's latest complete scan (else its latest). With neither, a database of
    one site behaves as before; one of several sites asks for ``--site``."""
    if scan_id is not None:
        store.scan(scan_id)  # raises OperatorError when unknown
        if site is not None and store.site_of(scan_id) != site:
            raise OperatorError(f"scan {scan_id} is of site {_site_label(store.site_of(scan_id))}, not {site!r}",
                                path=store.label)
        return scan_id
    if site is None:
        require_one_site(store)
    elif site not in store.sites():
        raise OperatorError(f"no scans of site {site!r} here ({sites_text(store)})", path=store.label)
    found = store.latest_scan(complete_only=True, site=site) or store.latest_scan(site=site)
    if found is None:
        raise OperatorError("no scans recorded yet (run 'camaudit scan' first)", path=store.label)
    return found


def sites_text(store: Store) -> str:
    names = store.sites()
    if not names:
        return "no scans at all"
    shown = ", ".join(_site_label(n) for n in names[:8]) + (", …" if len(names) > 8 else "")
    return f"sites: {shown}"


def require_one_site(store: Store) -> None:
    """Refuse to pick a scan for the operator in a database of several sites."""
    names = store.sites()
    if len(names) > 1:
        raise OperatorError(f"this database holds {len(names)} sites ({sites_text(store)}); "
                            "name one with --site NAME, or a scan with --scan N", path=store.label)
