"""Policy evaluation speed: N devices × the shipped rules padded to M rules.

    .venv/bin/python bench/policy_bench.py [--devices 1000] [--rules 50] [--repeat 5]

Prints load time, evaluation time (best of --repeat) and findings count. A script,
not a timed test: the issue's target is 1000 devices × 50 rules well under a second.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from policy_support import make_device  # noqa: E402

from auditor.knowledge import load_knowledge  # noqa: E402
from auditor.models import Device  # noqa: E402
from auditor.policy import evaluate, load_policy, shipped_rule_files  # noqa: E402

MAKERS = [("Hikvision", True), ("Dahua", True), ("Axis", False), ("Bosch", False), (None, False),
          ("Hanwha", False), ("Uniview", False)]
EXTRA_RULE = """\
  - id: bench.rule-{i}
    title: Bench rule {i}
    severity: {severity}
    match:
      device_class: {{in: [camera, recorder]}}
      any:
        - model: {{regex: '^DS-2CD{i:02d}'}}
        - open_ports: {{any_of: [{port}]}}
        - firmware: {{version_lt: "V5.{i}.0 build 200101"}}
      not: {{zones: {{contains: cameras}}}}
    message: "{{ip}} {{maker}} {{model}} rule {i}"
"""


def fleet(n: int, rng: random.Random) -> list[Device]:
    devices = []
    for i in range(n):
        maker, covered = rng.choice(MAKERS)
        ports = sorted(rng.sample([21, 22, 23, 80, 443, 554, 8000, 37777, 8080], rng.randint(1, 5)))
        obs = [{"probe": "ports", "fields": {"open": ports}},
               {"probe": "rtsp", "fields": {"auth_required": rng.random() < 0.8}},
               {"probe": "onvif", "fields": {"clock_offset_s": rng.uniform(-900, 900),
                                             "calls": {"GetDeviceInformation": rng.choice(["open", "auth"])}}}]
        if 80 in ports:
            obs.append({"probe": "http", "fields": {"port": 80, "scheme": "http"}})
        devices.append(make_device(
            ip=f"198.18.{i // 250}.{i % 250 + 1}", mac=f"02:00:00:00:{i // 256:02x}:{i % 256:02x}",
            identity={"maker": maker, "covered": covered,
                      "device_class": rng.choice(["camera", "recorder", "other"]),
                      "model": f"DS-2CD{rng.randint(0, 99):02d}43G2-I",
                      "firmware": f"V5.{rng.randint(0, 9)}.3 build 220112"},
            observations=obs))
    return devices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rules", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(1)
    files = shipped_rule_files()
    base = load_policy(files)
    with tempfile.TemporaryDirectory() as tmp:
        extra = Path(tmp) / "bench.yaml"
        count = max(0, args.rules - len(base.rules))
        extra.write_text("rules:\n" + "".join(
            EXTRA_RULE.format(i=i, port=8000 + i, severity=rng.choice(["high", "medium", "low"]))
            for i in range(count)))
        started = time.perf_counter()
        policy = load_policy([*files, extra])
        load_s = time.perf_counter() - started
    devices = fleet(args.devices, rng)
    today = dt.date(2026, 11, 28)
    kb = load_knowledge()
    timings = []
    findings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        findings = evaluate(policy, devices, kb=kb, today=today)
        timings.append(time.perf_counter() - started)
    print(f"rules: {len(policy.rules)} ({len(files)} shipped files + {count} generated), "
          f"loaded in {load_s * 1000:.1f} ms")
    print(f"devices: {len(devices)}; findings: {len(findings)}")
    print(f"evaluate: best {min(timings) * 1000:.1f} ms, median {sorted(timings)[len(timings) // 2] * 1000:.1f} ms "
          f"over {args.repeat} runs (knowledge-base KEV lookup included)")


if __name__ == "__main__":
    main()
