"""The cameras a recorder reports in its channel list: one ``channel`` observation each.

PoE recorders (Hikvision DS-76xxNI-…/P, Dahua NVR…-P and their OEM lines) power their cameras
on an internal network only the recorder sees: no scan of the LAN reaches them. With the site's
credentials the ``login`` probe reads the recorder's channel list (ISAPI
``InputProxy/channels`` and ``channels/status``, Dahua ``RemoteDevice``; ``vendorapi.py``
parses them) and emits one observation per configured camera, at the recorder's address
(the scan's scope guard keeps it), probe name ``channel``. Assembly
(``auditor/assemble.py``) makes each a device of its own, *behind* the recorder.

A camera's identity key (:func:`camera_key`) is stable across scans and never an address:

* ``mac:<mac>`` when the recorder reports the camera's MAC (Dahua's ``ff:ff:…`` placeholder and
  other non-device addresses are not MACs);
* else ``serial:<serial>`` when it reports a serial (a placeholder — no run of four letters or
  digits — is not one);
* else ``ch:<recorder key>/<channel>``: the recorder's slot.

The first two are the keys the same camera has when the scan reaches it on the LAN: a camera
moved from behind the recorder onto the LAN (same MAC or serial) stays one device in the store
and the diff shows it moved (``behind`` changed). A slot key can never equal a LAN device's key,
so a camera without MAC or serial never merges with anything by accident.
"""

from __future__ import annotations

import re
from typing import Any

from ..mac import is_multicast, normalise_mac
from ..text import clean_or_none
from .contract import Field, ProbeFields
from .vendorapi import RecorderChannel

FIELDS = ProbeFields("channel", (
    Field("channel", "int", "the recorder's channel number, as its web interface shows it (1 = the first)", 3),
    Field("api", "str", "which list named the camera: `isapi-channels` or `dahua-remote-device`", "isapi-channels",
          kept="for a person: where the recorder said it"),
    Field("name", "str", "the channel's name on the recorder", "Loading dock", kept="for a person"),
    Field("address", "str", "the camera's address on the recorder's own network (often 192.168.254.x or "
          "10.1.1.x behind a PoE recorder)", "192.168.254.3"),
    Field("port", "int", "the port the recorder reaches the camera on", 8000, kept="for a person"),
    Field("protocol", "str", "how the recorder talks to the camera: `HIKVISION` (Hikvision's own SDK protocol), "
          "`Private`/`Dahua2` (Dahua's), `ONVIF`…", "HIKVISION"),
    Field("vendor", "str", "the maker the recorder names for the camera (Dahua `Vendor`)", "Dahua"),
    Field("model", "str", "the camera's model as the recorder reports it", "DS-2CD2386G2-IU"),
    Field("serial", "str", "the camera's serial number as the recorder reports it",
          "DS-2CD2386G2-IU20230101AAWRK00000001"),
    Field("firmware", "str", "the camera's firmware as the recorder reports it", "V5.7.15 build 240201"),
    Field("mac", "str", "the camera's MAC as the recorder reports it, normalised", "44:19:b6:01:02:03"),
    Field("online", "bool", "the recorder reaches the camera now (false: configured, offline)", True),
    Field("state", "str", "the recorder's word for the channel's state (ISAPI `chanDetectResult`)", "connect",
          kept="for a person"),
), note="Not a network probe: one observation per camera a recorder lists, emitted by the `login` probe at the "
        "recorder's address. Empty slots are not emitted. Each becomes a device behind the recorder "
        "(`auditor/probes/channels.py` says how its key is chosen).")

_SERIALISH = re.compile(r"[0-9A-Za-z]{4}")


def channel_fields(channel: RecorderChannel, api: str) -> dict[str, Any]:
    """The ``channel`` observation's fields for one configured channel (absent values left out)."""
    fields: dict[str, Any] = {"channel": channel.channel, "api": api}
    for key in ("name", "address", "protocol", "vendor", "model", "serial", "firmware", "state"):
        if value := clean_or_none(getattr(channel, key)):
            fields[key] = value
    if channel.port is not None:
        fields["port"] = channel.port
    if mac := camera_mac(channel.mac):
        fields["mac"] = mac
    if channel.online is not None:
        fields["online"] = channel.online
    return fields


def camera_mac(value: Any) -> str | None:
    """A MAC the recorder reports for a camera, when it is one (not a placeholder or a group address)."""
    mac = normalise_mac(value)
    return mac if mac is not None and not is_multicast(mac) else None


def camera_serial(value: Any) -> str | None:
    """A serial the recorder reports for a camera, when it is one: not a placeholder such as ``...``, ``0``
    or ``00000000000000000000`` (no run of four letters or digits, or one character repeated)."""
    text = clean_or_none(value)
    if text is None or not _SERIALISH.search(text):
        return None
    return text if len({c for c in text.casefold() if c.isalnum()}) > 1 else None


def camera_key(fields: dict[str, Any], recorder_key: str) -> str:
    """The camera's stable identity (see the module docstring): MAC, else serial, else the recorder's slot."""
    if mac := camera_mac(fields.get("mac")):
        return f"mac:{mac}"
    if serial := camera_serial(fields.get("serial")):
        return f"serial:{serial}"
    return f"ch:{recorder_key}/{fields.get('channel')}"
