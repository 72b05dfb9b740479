"""MAC addresses: the one normaliser, and the two bits of the first octet that matter.

Devices, files and the kernel write MACs in many ways (``C0-56-E3-12-34-56``,
``c056.e312.3456``, ``c056e3123456``, ``c0:56:e3:12:34:56``); everything camaudit
stores, compares or looks up is the lower-case colon form this module returns.
"""

from __future__ import annotations

import re

_FORMS = re.compile(
    r"[0-9a-f]{12}"                                     # c056e3123456
    r"|[0-9a-f]{2}([:\-. ])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}"  # c0:56:e3:12:34:56, c0-56-…, c0 56 …
    r"|[0-9a-f]{4}([.:\-])[0-9a-f]{4}\2[0-9a-f]{4}",    # c056.e312.3456 (Cisco)
    re.IGNORECASE,
)
NOT_A_DEVICE = frozenset({"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff"})
"""All-zero (an unset address: ARP's target, an empty neighbour entry) and broadcast."""


def normalise_mac(value: object) -> str | None:
    """Any common spelling of a device's MAC → ``c0:56:e3:12:34:56``; None if it is not one.

    Not a device's MAC, and so None: anything but a string, other layouts or mixed
    separators, and the all-zero and broadcast addresses.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    if len(text) > 17 or not _FORMS.fullmatch(text):
        return None
    digits = re.sub(r"[^0-9a-fA-F]", "", text).lower()
    mac = ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    return None if mac in NOT_A_DEVICE else mac


def is_locally_administered(mac: str) -> bool:
    """True for locally administered (e.g. randomised) addresses: they carry no maker."""
    return bool(int(mac[0:2], 16) & 0x02)


def is_multicast(mac: str) -> bool:
    return bool(int(mac[0:2], 16) & 0x01)
