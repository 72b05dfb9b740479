"""Cameras behind recorders: the real channel lists become devices of their own, keyed stably, linked to
their recorder through assembly, identification, policy, the store, the document, CSV and diff."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from real_corpus import load_manifest, message

from auditor import pipeline
from auditor.assemble import assemble
from auditor.document import validate_document
from auditor.identify import identify
from auditor.knowledge import load_knowledge
from auditor.models import Observation
from auditor.policy import default_rule_files, load_policy
from auditor.probes import vendorapi
from auditor.probes.channels import camera_key, channel_fields
from auditor.report.format_csv import render_csv
from auditor.store import Store

KB = load_knowledge()
POLICY = load_policy(default_rule_files())
REC_IP = "198.51.100.7"
REC_MAC = "bc:ad:28:90:44:17"


def _channel_items() -> list[Any]:
    return [i for i in load_manifest() if i.kind in ("isapi_channels", "dahua_remote_device")]


def recorder_observations(channels: list[vendorapi.RecorderChannel], api: str, model: str,
                          ip: str = REC_IP, mac: str = REC_MAC) -> list[Observation]:
    """What a scan with the recorder's credentials records: ARP, the login probe, one channel observation per
    configured camera."""
    configured = [c for c in channels if not c.empty]
    info = {"api": "isapi-device-info" if api == vendorapi.ISAPI_CHANNELS else "dahua-magicbox", "model": model,
            "channels": len(configured)}
    obs = [Observation(ip, "arp", {"mac": mac, "source": "sweep"}),
           Observation(ip, "login", {"port": 80, "scheme": "http", "login": "accepted", "channels_read": True,
                                     "device_info": info})]
    return obs + [Observation(ip, "channel", channel_fields(c, api)) for c in configured]


@pytest.mark.parametrize("item", _channel_items(), ids=lambda i: i.id)
def test_real_channel_lists_become_devices_behind_their_recorder(item: Any) -> None:
    data = message(item)
    if item.kind == "isapi_channels":
        channels, api = vendorapi.parse_isapi_channels(data), vendorapi.ISAPI_CHANNELS
    else:
        channels, api = vendorapi.parse_dahua_remote_devices(data), vendorapi.DAHUA_REMOTE_DEVICE
    hosts = assemble(recorder_observations(channels, api, item.device.get("model") or "NVR"), KB.mac_from_serial)
    (recorder,) = [h for h in hosts if h.behind is None]
    assert recorder.key == f"mac:{REC_MAC}"
    assert identify(recorder, KB).device_class == "recorder"
    cameras = [h for h in hosts if h.behind is not None]
    configured = [c for c in channels if not c.empty]
    # Every configured channel is on exactly one device behind the recorder (a camera on several
    # channels, a multi-sensor one, is one device), and none has the recorder's MAC or key.
    assert sorted(n for h in cameras for n in h.channels) == sorted(c.channel for c in configured)
    assert all(h.behind == recorder.key and h.recorder_ip == REC_IP and h.mac != REC_MAC for h in cameras)
    assert len({h.key for h in hosts}) == len(hosts)
    for host in cameras:
        ident = identify(host, KB)
        (first,) = [c for c in configured if c.channel == host.channels[0]]
        if first.protocol == "HIKVISION":  # Hikvision's own SDK protocol: Hikvision firmware, whatever the model
            assert ident.maker == "Hikvision" and ident.covered, (host.key, ident)
        if first.model and first.model.startswith("DS-2CD"):
            assert ident.model == first.model and ident.firmware == first.firmware
        if first.protocol in ("ONVIF", "Onvif") and not (first.model or "").startswith("DS-"):
            assert not ident.covered, (host.key, ident.maker)  # a third party on a covered recorder stays itself


def test_a_camera_key_is_its_mac_else_serial_else_the_recorders_slot() -> None:
    rec = "mac:bc:ad:28:90:44:17"
    assert camera_key({"channel": 1, "mac": "3C-EF-8C-AA-01-65", "serial": "7K0A8B9PAZ1C2D3"}, rec) == \
        "mac:3c:ef:8c:aa:01:65"
    assert camera_key({"channel": 1, "mac": "ff:ff:ff:ff:ff:ff", "serial": "7K0A8B9PAZ1C2D3"}, rec) == \
        "serial:7K0A8B9PAZ1C2D3"
    for placeholder in ("...", "0", "00000000000000000000", "N/A"):
        assert camera_key({"channel": 3, "serial": placeholder}, rec) == f"ch:{rec}/3"
    assert camera_key({"channel": 3, "mac": "01:00:5e:00:00:01"}, rec) == f"ch:{rec}/3"  # a group address


def _obs(ip: str, probe: str, **fields: Any) -> Observation:
    return Observation(ip, probe, fields, seen_at=1.0)


def test_a_recorded_camera_the_scan_reached_on_the_lan_is_that_device() -> None:
    lan_cam = [_obs("198.18.0.11", "arp", mac="c0:56:e3:1a:2b:3c", source="sweep"),
               _obs("198.18.0.11", "sadp", mac="c0:56:e3:1a:2b:3c", serial="DS-2CD2143G2-I20210315AAWRG12345678")]
    channel = _obs(REC_IP, "channel", channel=1, address="198.18.0.11", protocol="HIKVISION",
                   model="DS-2CD2143G2-I", serial="DS-2CD2143G2-I20210315AAWRG12345678")
    stranger = _obs(REC_IP, "channel", channel=2, address="192.168.254.9", protocol="ONVIF", model="M3106-L Mk II")
    hosts = assemble([_obs(REC_IP, "arp", mac=REC_MAC, source="sweep"), *lan_cam, channel, stranger])
    by_key = {h.key: h for h in hosts}
    assert set(by_key) == {f"mac:{REC_MAC}", "mac:c0:56:e3:1a:2b:3c", f"ch:mac:{REC_MAC}/2"}
    assert by_key["mac:c0:56:e3:1a:2b:3c"].behind is None and channel in by_key["mac:c0:56:e3:1a:2b:3c"].observations
    assert by_key[f"ch:mac:{REC_MAC}/2"].behind == f"mac:{REC_MAC}"
    assert by_key[f"ch:mac:{REC_MAC}/2"].ip == "192.168.254.9"


def _scan(store: Store, observations: list[Observation], started: float) -> int:
    scan_id = store.begin_scan({"targets": ["198.51.100.0/24"], "site": "s", "started_at": started})
    store.add_observations(scan_id, observations)
    pipeline._record(store, scan_id, observations, POLICY, KB, None)
    store.finish_scan(scan_id, "complete", {})
    return scan_id


def _hik_channels(*cams: tuple[int, str, str]) -> list[vendorapi.RecorderChannel]:
    return [vendorapi.RecorderChannel(channel=n, address=f"192.168.254.{n + 1}", protocol="HIKVISION", model=model,
                                      serial=serial, firmware="V5.7.15 build 240201", online=True)
            for n, model, serial in cams]


def test_store_document_csv_and_diff_of_cameras_behind_a_recorder(tmp_path: Path) -> None:
    first = _hik_channels((1, "DS-2CD2386G2-IU", "DS-2CD2386G2-IU20230712AAWRK12345001"),
                          (2, "DS-2CD2386G2-IU", "DS-2CD2386G2-IU20230712AAWRK12345002"))
    # Night two: channel 2's camera was swapped for another; channel 1's was moved onto the LAN.
    second = _hik_channels((2, "DS-2CD2143G2-I", "DS-2CD2143G2-I20220110AAWRJ55500017"))
    moved = [_obs("198.51.100.20", "arp", mac="c0:56:e3:00:00:20", source="sweep"),
             _obs("198.51.100.20", "sadp", mac="c0:56:e3:00:00:20", model="DS-2CD2386G2-IU",
                  serial="DS-2CD2386G2-IU20230712AAWRK12345001", firmware="V5.7.15build 240201")]
    with Store(tmp_path / "b.db") as store:
        a = _scan(store, recorder_observations(first, vendorapi.ISAPI_CHANNELS, "DS-7608NI-K2/8P"), 1000.0)
        b = _scan(store, recorder_observations(second, vendorapi.ISAPI_CHANNELS, "DS-7608NI-K2/8P") + moved, 2000.0)
        doc_a, doc_b = store.scan_document(a), store.scan_document(b)
        changes = store.diff(a, b)
        reidentified = pipeline.reidentify(store, b, kb=KB)
        again = store.scan_document(b)
    assert validate_document(doc_a) == [] and validate_document(doc_b) == []
    recorder = f"mac:{REC_MAC}"
    behind_a = {d["id"]: d for d in doc_a["devices"] if d["behind"]}
    assert set(behind_a) == {"serial:DS-2CD2386G2-IU20230712AAWRK12345001",
                             "serial:DS-2CD2386G2-IU20230712AAWRK12345002"}
    assert all(d["behind"] == recorder and d["covered"] and d["device_class"] == "camera" for d in behind_a.values())
    assert {d["channel"] for d in behind_a.values()} == {1, 2}
    assert all(d["facts"]["recorder_ip"] == REC_IP for d in behind_a.values())
    rows = list(csv.DictReader(io.StringIO(render_csv(doc_a))))
    assert {r["id"]: r["behind"] for r in rows if r["behind"]} == dict.fromkeys(behind_a, recorder)
    # The swapped camera: one gone, one new, both behind the recorder; the moved one keeps its id.
    assert {d["id"] for d in changes["gone_devices"]} == {"serial:DS-2CD2386G2-IU20230712AAWRK12345002"}
    assert [d["behind"] for d in changes["new_devices"]] == [recorder]
    (moved_change,) = [c for c in changes["changed_devices"]
                       if c["id"] == "serial:DS-2CD2386G2-IU20230712AAWRK12345001"]
    assert moved_change["changes"]["behind"] == [recorder, None]
    assert moved_change["changes"]["ip"] == ["192.168.254.2", "198.51.100.20"]
    # Re-identification rebuilds the cameras from the stored channel observations, under the same keys.
    assert reidentified.changes == () and [d["id"] for d in again["devices"]] == [d["id"] for d in doc_b["devices"]]


def test_a_recorder_without_its_channel_list_says_so() -> None:
    obs = [_obs(REC_IP, "arp", mac=REC_MAC, source="sweep"),
           _obs(REC_IP, "sadp", mac=REC_MAC, device_type="30004", model="DS-7608NI-K2/8P",
                serial="DS-7608NI-K2/8P0820200618CCRRE12345678WCVU")]
    (host,) = assemble(obs)
    from auditor.models import Device
    from auditor.policy import device_facts, evaluate

    device = Device(host, identify(host, KB))
    facts = device_facts(device, KB, POLICY)
    assert facts["channels_enumerated"] is False and "no login" in facts["channels_note"]
    assert "ndaa-889.cameras-not-enumerated" in {f.rule_id for f in evaluate(POLICY, [device], kb=KB)}
