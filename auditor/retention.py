"""Report retention: delete only the report files this audit config wrote.

Each audit records the files it wrote in the database (``report_files``: path, size,
modification time). Retention keeps the newest N per format and deletes the older
ones — never by a name pattern, which matched other sites' reports in a shared
``report_dir`` (``camaudit-HQ-*`` also matches ``camaudit-HQ-annex-…``) and, with a
``report_name`` without the site, files of other programs. A recorded file that was
changed or replaced since camaudit wrote it is left alone (and forgotten).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from .store import Store

log = logging.getLogger("camaudit.retention")


def prune_reports(store: Store, config: str, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest recorded reports of ``config`` per format; return what went."""
    removed: list[Path] = []
    forget: list[int] = []
    seen: dict[str, int] = {}
    for row in store.report_files(config):
        seen[row["format"]] = seen.get(row["format"], 0) + 1
        if seen[row["format"]] <= keep:
            continue
        path = Path(row["path"])
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            forget.append(row["id"])
            continue
        except OSError as exc:  # kept on record: the next run tries again
            log.warning("retention: left %s: %s", path, exc.strerror)
            continue
        if (st.st_size, st.st_mtime_ns) != (row["size"], row["mtime_ns"]) or not stat.S_ISREG(st.st_mode):
            log.warning("retention: left %s: changed since camaudit wrote it", path)
            forget.append(row["id"])
            continue
        try:
            path.unlink()
        except OSError as exc:
            log.warning("retention: could not remove %s: %s", path, exc.strerror)
            continue
        forget.append(row["id"])
        removed.append(path)
    store.forget_report_files(forget)
    return removed
