"""The login probe against emulated recorders and cameras on 127.0.0.1 (the lab's devices, whose replies
follow the real ISAPI / Dahua CGI / VAPIX formats in tests/real): one login per account, the cameras
behind recorders, the factory-default check and its limits. Nothing leaves loopback."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hostprobe_support import LOOPBACK, make_ctx

from auditor.credentials import Credential, Credentials
from auditor.defaultcreds import load_default_credentials
from auditor.lab.devices.loopback import LoopbackLab
from auditor.lab.fleet import load_fleet
from auditor.lab.spec import DeviceSpec
from auditor.models import Observation
from auditor.probes.base import HostState
from auditor.probes.login import LoginProbe

FLEET = {d.name: d for d in load_fleet().devices}
NAMES = ("hik-nvr", "dahua-nvr", "lts-nvr", "hik-cam-factory", "dahua-cam-factory", "axis-cam-factory",
         "hik-cam-lockout", "dahua-cam-lockout")
MAKER = {"hik-nvr": "Hikvision", "dahua-nvr": "Dahua", "lts-nvr": "Hikvision", "hik-cam-factory": "Hikvision",
         "dahua-cam-factory": "Dahua", "axis-cam-factory": "Axis", "hik-cam-lockout": "Hikvision",
         "dahua-cam-lockout": "Dahua"}
DEFAULTS = load_default_credentials()


@pytest.fixture(scope="module")
def lab() -> Iterator[LoopbackLab]:
    with LoopbackLab([FLEET[n] for n in NAMES]) as running:
        yield running


def account(spec: DeviceSpec, password: str | None = None) -> Credentials:
    api = spec.services.vendor_api
    assert api is not None
    user, right = next(iter(api.accounts.items()))
    return Credentials(hosts={LOOPBACK: Credential(user, password if password is not None else right)})


def run(lab: LoopbackLab, name: str, *, credentials: Credentials | None = None, defaults: bool = False,
        makers: set[str] | None = None, ctx: Any = None) -> tuple[list[Observation], Any]:
    """One login probe run on device ``name``; the HostState says its web port answered and whose it is."""
    out: list[Observation] = []
    ctx = ctx or make_ctx(out, credentials=credentials, timeout=2.0)
    ctx = dataclasses.replace(ctx, emit=out.append, credentials=credentials,
                              default_credentials=DEFAULTS if defaults else None, probe="login")
    port = lab.port(name, 80)
    seen = [Observation(LOOPBACK, "http", {"port": port, "scheme": "http", "status": 200})]
    host = HostState(ip=LOOPBACK, seen=seen, hints=lambda _obs: {MAKER[name]} if makers is None else makers)
    asyncio.run(LoginProbe().probe_host(ctx, host))
    return out, ctx


def login_obs(out: list[Observation]) -> dict[str, Any]:
    (obs,) = [o for o in out if o.probe == "login"]
    return obs.fields


def test_hikvision_recorder_lists_the_cameras_behind_it(lab: LoopbackLab) -> None:
    spec = FLEET["hik-nvr"]
    out, ctx = run(lab, "hik-nvr", credentials=account(spec))
    fields = login_obs(out)
    assert fields["login"] == "accepted" and fields["auth_scheme"] == "Digest" and fields["channels_read"] is True
    assert fields["api"] == ["isapi-device-info", "isapi-channels", "isapi-channel-status"]
    info = fields["device_info"]
    assert (info["model"], info["firmware"], info["firmware_date"], info["device_type"]) == (
        "DS-7608NI-K2/8P", "V4.30.085", "build 210610", "NVR")
    channels = {o.fields["channel"]: o.fields for o in out if o.probe == "channel"}
    assert sorted(channels) == [1, 2, 3, 5]  # slot 4 is empty: no camera, no observation
    assert info["channels"] == 4
    assert channels[2]["model"] == "CMIP3C42W-28M" and channels[2]["protocol"] == "HIKVISION"
    assert channels[3]["protocol"] == "ONVIF" and channels[3]["address"] == "192.168.254.4"
    assert channels[5]["online"] is False and channels[1]["online"] is True
    rec = ctx.host(LOOPBACK).record
    assert rec.logins == {"admin": "accepted"} and rec.failed_logins == 0
    assert rec.sent["login"]["requests"] >= 4  # paced: every request counted against the device


def test_dahua_recorder_remote_devices_and_no_password_kept(lab: LoopbackLab) -> None:
    out, _ = run(lab, "dahua-nvr", credentials=account(FLEET["dahua-nvr"]))
    fields = login_obs(out)
    assert fields["login"] == "accepted" and fields["channels_read"] is True and fields["channels_empty"] == 1
    assert fields["device_info"]["model"] == "DHI-NVR4108HS-8P-4KS2"
    channels = {o.fields["channel"]: o.fields for o in out if o.probe == "channel"}
    assert sorted(channels) == [1, 2, 3, 5]
    assert channels[1]["mac"] == "3c:ef:8c:aa:01:65" and channels[1]["protocol"] == "Private"
    assert "mac" not in channels[3]  # ff:ff:ff:ff:ff:ff is the recorder not knowing it
    text = json.dumps([o.fields for o in out]) + "".join(o.raw for o in out)
    assert "Lab-Channel-Secret1" not in text and "Lab-NVR-Dahua-1" not in text


def test_a_refused_account_is_never_offered_again(lab: LoopbackLab) -> None:
    spec = FLEET["hik-cam-lockout"]
    before = lab.devices["hik-cam-lockout"].failed_logins.get("admin", 0)
    out, ctx = run(lab, "hik-cam-lockout", credentials=account(spec, "not-the-password"), defaults=True)
    fields = login_obs(out)
    assert fields["login"] == "refused" and "not offered again" in fields["note"]
    assert fields["default_note"].startswith("not checked: a login already failed")
    assert "default_tried" not in fields
    again, _ = run(lab, "hik-cam-lockout", credentials=account(spec, "not-the-password"), defaults=True, ctx=ctx)
    assert login_obs(again)["login"] == "not_tried"
    device = lab.devices["hik-cam-lockout"]
    assert device.failed_logins["admin"] == before + 1 and "admin" not in device.locked


def test_factory_defaults_are_found_with_one_attempt(lab: LoopbackLab) -> None:
    for name, user in (("hik-cam-factory", "admin"), ("dahua-cam-factory", "admin"), ("axis-cam-factory", "root")):
        out, ctx = run(lab, name, defaults=True)
        fields = login_obs(out)
        assert fields["default_tried"] == [user] and fields["default_accepted"] == [user], name
        assert ctx.host(LOOPBACK).record.failed_logins == 0
        # User names only: nothing else is recorded (Dahua's default password is its user name, so the
        # check is on what is there, not on a string search).
        assert set(fields) == {"port", "scheme", "default_tried", "default_accepted"}
        assert "12345" not in json.dumps(fields) and "pass" not in json.dumps(fields)


def test_the_default_check_stays_under_the_lockout_threshold(lab: LoopbackLab) -> None:
    device = lab.devices["dahua-cam-lockout"]  # locks after 2 failures; not on its default
    out, ctx = run(lab, "dahua-cam-lockout", defaults=True)
    fields = login_obs(out)
    assert fields["default_tried"] == ["admin"] and fields["default_accepted"] == []
    assert ctx.host(LOOPBACK).record.failed_logins == 1 and device.failed_logins["admin"] == 1
    assert device.locked == set()


def test_the_sites_password_being_the_default_is_found_without_sending_it(lab: LoopbackLab) -> None:
    out, ctx = run(lab, "hik-cam-factory", credentials=account(FLEET["hik-cam-factory"]), defaults=True)
    fields = login_obs(out)
    assert fields["login"] == "accepted" and fields["default_accepted"] == ["admin"]
    assert fields["default_tried"] == []  # compared in memory: no second login was sent


def test_a_lockout_signal_stops_every_login(lab: LoopbackLab) -> None:
    spec = FLEET["dahua-cam-lockout"]
    device = lab.devices["dahua-cam-lockout"]
    device.failed_logins.clear()
    device.locked.add("admin")  # someone else locked it before the scan
    try:
        out, ctx = run(lab, "dahua-cam-lockout", credentials=account(spec, "not-the-password"), defaults=True)
    finally:
        device.locked.clear()
    fields = login_obs(out)
    assert fields["login"] == "locked" and "locked" in fields["lockout"]
    assert "default_tried" not in fields and ctx.host(LOOPBACK).record.lockout is not None


def test_nothing_is_sent_without_credentials_or_a_known_maker(lab: LoopbackLab) -> None:
    out, ctx = run(lab, "hik-nvr")  # no credentials, no default check
    assert out == [] and "login" not in ctx.host(LOOPBACK).record.sent
    out, ctx = run(lab, "hik-nvr", credentials=account(FLEET["hik-nvr"]), makers={"Hikvision", "Dahua"})
    assert out == [] and "login" not in ctx.host(LOOPBACK).record.sent  # evidence for two makers: nothing
    out, ctx = run(lab, "hik-nvr", credentials=account(FLEET["hik-nvr"]), makers={"Bosch"})
    assert out == [] and "login" not in ctx.host(LOOPBACK).record.sent
