"""A scan with no probe is an operator error; a scan whose discovery went silent is degraded.

Degraded: it ran to its end, but a discovery probe heard nothing although devices that
answered it in the previous complete scan of the same scope are still there. It is stored
with the reason, exits 2, is shown in ``scans``, the report and the JSON, and is never a
diff baseline. In the lab the silence is real: a traffic-control filter on the scanner's
interface drops the WS-Discovery, SADP and DHIP replies.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from store_factory import device, record_scan

from auditor.cli import cli
from auditor.completeness import Answers, answers, degraded_reason
from auditor.lab import topology
from auditor.lab.runner import LabState
from auditor.models import Observation
from auditor.report import render_html
from auditor.store import Store

ALL = ("arp", "wsdiscovery", "sadp", "dhip", "ports", "http")


def _answers(**by_probe: set[str]) -> Answers:
    present = set().union(*by_probe.values()) if by_probe else set()
    return Answers({p: frozenset(ips) for p, ips in by_probe.items()}, frozenset(present))


def test_a_silent_discovery_probe_whose_devices_are_still_here_degrades_the_scan() -> None:
    before = _answers(arp={"10.0.0.1", "10.0.0.2", "10.0.0.3"}, sadp={"10.0.0.2", "10.0.0.3"},
                      wsdiscovery={"10.0.0.1"})
    now = _answers(arp={"10.0.0.1", "10.0.0.2", "10.0.0.3"}, wsdiscovery={"10.0.0.1"})
    reason = degraded_reason(now, ALL, before, 7, ALL)
    assert reason == ("sadp heard nothing, though 2 device(s) that answered it in scan 7 are still here "
                      "(e.g. 10.0.0.2)")


def test_silence_explained_by_removal_is_a_real_change_not_a_degraded_scan() -> None:
    """The last Hikvision camera was taken away: SADP is silent because nothing speaks it."""
    before = _answers(arp={"10.0.0.1", "10.0.0.2"}, sadp={"10.0.0.2"})
    now = _answers(arp={"10.0.0.1"})
    assert degraded_reason(now, ALL, before, 7, ALL) is None


def test_only_probes_run_both_times_are_compared_and_total_silence_is_degraded() -> None:
    before = _answers(arp={"10.0.0.1"}, sadp={"10.0.0.1"})
    now = _answers(arp={"10.0.0.1"})
    assert degraded_reason(now, ("arp", "ports"), before, 3, ALL) is None  # sadp not run now
    assert degraded_reason(now, ALL, before, 3, ("arp", "ports")) is None  # nor then
    reason = degraded_reason(_answers(), ALL, before, 3, ALL)
    assert reason is not None and reason.startswith("no device answered any probe, though 1 answered in scan 3")
    assert degraded_reason(_answers(), ALL, _answers(), 3, ALL) is None  # an empty network stays empty


def test_answers_count_discovery_replies_and_present_hosts() -> None:
    got = answers([Observation("10.0.0.1", "arp", {"mac": "00:11:22:33:44:55"}),
                   Observation("10.0.0.2", "sadp", {}, warning="garbage reply"),
                   Observation("10.0.0.3", "http", {}, warning="probe error: timeout")])
    assert got.by_probe == {"arp": frozenset({"10.0.0.1"}), "sadp": frozenset({"10.0.0.2"})}
    assert got.present == {"10.0.0.1"}  # a reply with content; an error is no sign of life


@pytest.mark.usefixtures("no_scan")
@pytest.mark.parametrize("value", [",", "", " , ,"])
def test_a_scan_without_probes_is_an_operator_error(value: str, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    result = CliRunner().invoke(cli, ["scan", "198.18.0.0/24", "-i", "lo", "--probes", value, "--db", str(db)])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.startswith("Error: --probes names no probe")
    assert not db.exists()


def test_a_degraded_scan_is_never_a_baseline_nor_the_default(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with Store(path) as store:
        first = record_scan(store, [device("198.18.0.11", "c0:56:e3:00:00:01")])
        degraded = record_scan(store, [device("198.18.0.11", "c0:56:e3:00:00:01")], status="degraded")
        third = record_scan(store, [device("198.18.0.11", "c0:56:e3:00:00:01")])
        assert store.previous_complete_scan(third) == first
        assert store.last_complete_scans(2) == [first, third]
        assert store.scan_document(third)["changes"]["previous_scan_id"] == first
        assert store.list_scans()[1]["status"] == "degraded"
        assert store.previous_answers(third)[0] == first  # type: ignore[index]
    result = CliRunner().invoke(cli, ["diff", "--json", "--db", str(path)])
    assert json.loads(result.output)["from_scan"] == first
    assert degraded == 2


@pytest.mark.netns
def test_silenced_discovery_in_the_lab_is_recorded_degraded(demo_lab: LabState, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Three real lab scans in this process (inside the scanner namespace); in the second the
    multicast/unicast discovery probes hear nothing, as a socket never read would. (This kernel
    has no netfilter or tc classifiers to drop the replies on the wire.)"""
    from auditor.netns import enter_netns
    from auditor.probes.udp import UdpProbe

    db = tmp_path / "c.db"
    scan = ["scan", *topology.DEMO_TARGETS, "-i", topology.SCANNER_IFACE, "--db", str(db), "--rate", "800",
            "--timeout", "1.5", "--deadline", "60", "--quiet", "--rules", "builtin:ndaa-889"]

    def run(n: int) -> tuple[int, str]:
        with enter_netns(demo_lab.scanner_ns):
            result = CliRunner().invoke(cli, [*scan, "--json", str(tmp_path / f"{n}.json")])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result.exit_code, result.output

    code, output = run(1)
    assert code in (0, 1), output

    async def silent(self: UdpProbe, ctx: object, *args: object, **kwargs: object) -> bool:
        return False

    with monkeypatch.context() as patch:
        for entry in ("run", "probe_host", "ask"):  # multicast, unicast to routed hosts, the re-check
            patch.setattr(UdpProbe, entry, silent)
        code, output = run(2)
    assert code == 2, output
    assert "scan 2 degraded: wsdiscovery heard nothing" in output
    assert "sadp heard nothing" in output and "dhip heard nothing" in output
    doc = json.loads((tmp_path / "2.json").read_text())
    assert doc["scan"]["status"] == "degraded" and "scan 1" in doc["scan"]["stats"]["degraded"]
    html = render_html(doc)
    assert "The scan is degraded" in html and "wsdiscovery heard nothing" in html

    code, output = run(3)
    assert code in (0, 1), output
    doc = json.loads((tmp_path / "3.json").read_text())
    assert doc["scan"]["status"] == "complete"
    assert doc["changes"]["previous_scan_id"] == 1  # the degraded scan is no baseline
    assert doc["changes"]["gone_devices"] == [] and doc["changes"]["new_devices"] == []

    listed = CliRunner().invoke(cli, ["scans", "--db", str(db)]).output
    assert "degraded" in listed and "scan 2 degraded: wsdiscovery heard nothing" in listed


def test_a_scan_during_which_the_kernel_arp_table_overflowed_is_degraded(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: the engine is a stand-in that reports two hosts; the kernel's table is read twice."""
    from auditor.neighbours import NeighbourTable
    from auditor.probes.engine import ScanOutcome

    async def fake_scan(options: object, emit: object, progress: object = None, stop: object = None) -> ScanOutcome:
        for ip in ("198.18.0.11", "198.18.0.12"):
            emit(Observation(ip, "arp", {"mac": f"c0:56:e3:00:00:{ip[-2:]}", "source": "sweep"}))  # type: ignore[operator]
        return ScanOutcome("complete", {"probe_errors": []})

    tables = iter([NeighbourTable(1024, 1000, 5), NeighbourTable(1024, 1024, 95)])
    monkeypatch.setattr("auditor.pipeline.run_scan", fake_scan)
    monkeypatch.setattr("auditor.pipeline.neighbours.read_table", lambda: next(tables))
    db = tmp_path / "c.db"
    result = CliRunner().invoke(cli, ["scan", "198.18.0.0/24", "-i", "lo", "--db", str(db), "--json", "-"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["scan"]["status"] == "degraded"
    assert doc["scan"]["stats"]["degraded"].startswith("the kernel's ARP table was full 90 times during the scan")
    assert doc["scan"]["stats"]["neighbour_table"] == {"limit": 1024, "entries": 1024, "overflows": 90}
