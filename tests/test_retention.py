"""Report retention deletes only the files this audit config wrote (recorded in the database).

Before, it deleted by name pattern: in a shared report_dir, site HQ's ``camaudit-HQ-*`` took
site HQ-annex's reports, and a report_name without the site took an unrelated index.html.
"""

from __future__ import annotations

import os
from pathlib import Path

from store_factory import record_scan

from auditor.retention import prune_reports
from auditor.store import Store


def _write(path: Path, text: str = "report") -> Path:
    path.write_text(text)
    return path


def test_only_recorded_files_of_this_config_go_newest_kept_per_format(tmp_path: Path) -> None:
    out = tmp_path / "reports"
    out.mkdir()
    bystanders = [_write(out / "camaudit-HQ-annex-20260101.html", "annex"), _write(out / "index.html", "site index")]
    with Store(tmp_path / "c.db") as store:
        mine = []
        for day in ("20260101", "20260102", "20260103"):
            scan = record_scan(store, [])
            files = [(fmt, _write(out / f"camaudit-HQ-{day}.{fmt}")) for fmt in ("html", "json")]
            store.record_report_files(scan, "/etc/camaudit/hq.yaml", files)
            mine += [f for _, f in files]
        other = record_scan(store, [])
        annex = _write(out / "camaudit-HQ-annex-20260104.html", "annex new")
        store.record_report_files(other, "/etc/camaudit/annex.yaml", [("html", annex)])
        removed = prune_reports(store, "/etc/camaudit/hq.yaml", keep=2)
        assert sorted(p.name for p in removed) == ["camaudit-HQ-20260101.html", "camaudit-HQ-20260101.json"]
        assert all(p.exists() for p in bystanders) and annex.exists()
        assert sum(p.exists() for p in mine) == 4
        assert prune_reports(store, "/etc/camaudit/hq.yaml", keep=2) == []  # forgotten once deleted


def test_a_recorded_file_changed_since_is_left_alone(tmp_path: Path) -> None:
    with Store(tmp_path / "c.db") as store:
        old = _write(tmp_path / "r-1.html")
        store.record_report_files(record_scan(store, []), "cfg", [("html", old)])
        store.record_report_files(record_scan(store, []), "cfg", [("html", _write(tmp_path / "r-2.html"))])
        _write(old, "someone's own notes, saved over the old report")
        os.utime(old, ns=(1, 1))
        assert prune_reports(store, "cfg", keep=1) == []
        assert old.read_text().startswith("someone's")
