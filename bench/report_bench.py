#!/usr/bin/env python3
"""Benchmark: render time and size of the report for large fleets (target: 1000 devices in
under 2 s and under 5 MB of HTML).

The documents come from the report tests' generator (tests/fixtures/report/make_doc.py):
the hand-written lab devices plus deterministic synthetic ones, about 3 evidence items each,
a critical finding on every covered device. Each size is rendered ``--repeat`` times; the
best and median wall times are reported (the first render also pays for template compiling).

    python bench/report_bench.py [--sizes 100,1000,5000] [--repeat 5] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from auditor.report import render

ROOT = Path(__file__).resolve().parent.parent
TIME_BUDGET_S = 2.0
MIB = 1024 * 1024
SIZE_BUDGET_BYTES = 5 * MIB


def _make_doc() -> Any:
    spec = importlib.util.spec_from_file_location("make_doc", ROOT / "tests/fixtures/report/make_doc.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_doc


def measure(n: int, repeat: int) -> dict[str, Any]:
    doc = _make_doc()(n)
    out: dict[str, Any] = {"devices": len(doc["devices"]), "findings": len(doc["findings"]),
                           "evidence": sum(len(d["evidence"]) for d in doc["devices"])}
    for fmt in ("html", "json", "csv"):
        times, text = [], ""
        for _ in range(repeat):
            start = time.perf_counter()
            text = render(doc, fmt)
            times.append(time.perf_counter() - start)
        out[fmt] = {"first_s": round(times[0], 3), "best_s": round(min(times), 3),
                    "median_s": round(statistics.median(times), 3), "bytes": len(text.encode("utf-8"))}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000", help="comma-separated device counts")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    results = [measure(int(n), max(1, args.repeat)) for n in args.sizes.split(",")]
    if args.json:
        sys.stdout.write(json.dumps(results, indent=2) + "\n")
    else:
        print(f"{'devices':>8} {'findings':>8} {'html first':>10} {'html best':>9} {'html median':>11} "
              f"{'html MiB':>8} {'json MiB':>8} {'csv KiB':>7}")
        for r in results:
            h = r["html"]
            print(f"{r['devices']:>8} {r['findings']:>8} {h['first_s']:>9.3f}s {h['best_s']:>8.3f}s "
                  f"{h['median_s']:>10.3f}s {h['bytes'] / MIB:>8.2f} {r['json']['bytes'] / MIB:>8.2f} "
                  f"{r['csv']['bytes'] / 1024:>7.0f}")
    ok = True
    for r in results:
        if r["devices"] == 1000:
            h = r["html"]
            ok = h["first_s"] < TIME_BUDGET_S and h["bytes"] < SIZE_BUDGET_BYTES
            print(f"1000 devices: first render {h['first_s']:.3f} s (budget {TIME_BUDGET_S} s), "
                  f"{h['bytes'] / MIB:.2f} MiB (budget {SIZE_BUDGET_BYTES / MIB:.0f} MiB): "
                  f"{'within budget' if ok else 'OVER BUDGET'}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
