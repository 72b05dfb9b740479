"""Start Datasette on a camaudit database, read-only, with the shipped metadata.

Datasette (the ``web`` extra) opens the file with SQLite's ``mode=ro``; camaudit ships no
writing query and no plugin. The metadata (``datasette.yaml``) is written for the database's
name into a temporary file that lives as long as the server.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from .. import opfile
from ..errors import OperatorError

METADATA = Path(__file__).resolve().parent / "datasette.yaml"
DEFAULT_PORT = 8001
SETTINGS = {
    "sql_time_limit_ms": "3000",   # the views over a year of 50 sites need more than the 1 s default
    "facet_time_limit_ms": "1000",
    "allow_download": "off",        # the inventory stays on the server; queries and CSV exports remain
    "max_returned_rows": "5000",
}


def database_name(db: Path) -> str:
    """The name Datasette gives a database file: its stem."""
    return db.stem


def metadata(db: Path) -> dict[str, Any]:
    """The shipped metadata with its database section named after ``db``."""
    data = json.loads(json.dumps(opfile.load(METADATA, "Datasette metadata").root.data))  # plain dicts
    data["databases"] = {database_name(db): data["databases"].pop("DATABASE")}
    return data


def datasette_argv(db: Path, metadata_path: Path, host: str, port: int) -> list[str]:
    argv = ["serve", str(db), "--metadata", str(metadata_path), "--host", host, "--port", str(port)]
    for name, value in SETTINGS.items():
        argv += ["--setting", name, value]
    return argv


def serve(db: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
    """Run Datasette in this process until it is stopped (Ctrl-C, SIGTERM)."""
    try:
        from datasette.cli import cli as datasette_cli
    except ImportError:
        raise OperatorError("Datasette is not installed: pip install 'camaudit[web]'") from None
    with tempfile.TemporaryDirectory(prefix="camaudit-serve-") as tmp:
        path = Path(tmp) / "metadata.json"
        path.write_text(json.dumps(metadata(db)), encoding="utf-8")
        datasette_cli.main(args=datasette_argv(db, path, host, port), prog_name="camaudit serve",
                           standalone_mode=True)
