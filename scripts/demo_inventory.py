"""Write ``examples/vms-export.csv``: the demo fleet's cameras and recorders as a VMS exports them.

A video management system lists the cameras and recorders it records, with what their
drivers read from each device (ONVIF GetDeviceInformation, or the maker's own protocol
where ONVIF is off): the brand the device shows as the manufacturer, its model code,
firmware, serial, MAC and address. Printers, servers and devices that never answered are
not in it. The header uses a VMS's own names ("IP Address", "Make", "Model Number",
"Serial No."), which ``camaudit classify`` matches leniently.

    python scripts/demo_inventory.py          # rewrite the file from seeds/demo-fleet.yaml
    python scripts/demo_inventory.py --check  # exit 1 if it is stale (tests/test_classify.py)
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auditor.lab.fleet import load_fleet  # noqa: E402
from auditor.lab.spec import DeviceSpec  # noqa: E402

OUT = ROOT / "examples" / "vms-export.csv"
HEADER = ("Device Name", "IP Address", "MAC", "Make", "Model Number", "Firmware Version", "Serial No.", "Device Type")


def row(device: DeviceSpec) -> list[str] | None:
    """The VMS row of one fleet device, or None when a VMS would not list it."""
    s = device.services
    if device.truth.device_class not in ("camera", "recorder"):
        return None
    if s.onvif is not None:
        make, model, firmware, serial = s.onvif.manufacturer, s.onvif.model, s.onvif.firmware, s.onvif.serial
    elif s.sadp is not None:
        oem = s.sadp.oem_info if s.sadp.oem_info not in ("", "N/A") else None
        make, model, firmware, serial = (oem or device.truth.brand or "Hikvision", s.sadp.description, s.sadp.firmware,
                                         s.sadp.serial)
    elif s.dhip is not None:
        make, model, firmware, serial = s.dhip.vendor, s.dhip.device_type, s.dhip.firmware, s.dhip.serial
    else:
        return None
    kind = "NVR" if device.truth.device_class == "recorder" else "Camera"
    return [device.name, device.ip, device.mac.upper().replace(":", "-"), make, model, firmware, serial, kind]


def render() -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(HEADER)
    for device in load_fleet().devices:
        if (cells := row(device)) is not None:
            writer.writerow(cells)
    return buf.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = OUT.read_bytes().decode("utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run python scripts/demo_inventory.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_bytes(text.encode("utf-8"))
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
