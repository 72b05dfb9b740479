"""The one MAC normaliser (auditor/mac.py): every spelling in, one form out, non-devices refused.

The cases are those the five former copies were tested with (assemble, the UDP
discovery helpers, the ONVIF probe, the registry and the inventory), now on the one
function all of them use.
"""

from __future__ import annotations

import pytest

from auditor.mac import is_locally_administered, is_multicast, normalise_mac


@pytest.mark.parametrize(("raw", "mac"), [
    ("C0-56-E3-AA-BB-CC", "c0:56:e3:aa:bb:cc"),
    ("c056.e3aa.bbcc", "c0:56:e3:aa:bb:cc"),
    ("C056.E312.3456", "c0:56:e3:12:34:56"),
    ("c056e3123456", "c0:56:e3:12:34:56"),
    ("C4:2F:90:A1:B2:C3", "c4:2f:90:a1:b2:c3"),
    ("c4-2f-90-a1-b2-c3", "c4:2f:90:a1:b2:c3"),
    (" c4:2f:90:a1:b2:c3 ", "c4:2f:90:a1:b2:c3"),
    ("c4 2f 90 a1 b2 c3", "c4:2f:90:a1:b2:c3"),
    ("AA-BB-CC-DD-EE-FF", "aa:bb:cc:dd:ee:ff"),
])
def test_every_common_spelling_gives_the_colon_form(raw: str, mac: str) -> None:
    assert normalise_mac(raw) == mac


@pytest.mark.parametrize("raw", [
    "00:00:00:00:00:00", "000000000000", "FF-FF-FF-FF-FF-FF", "ffff.ffff.ffff",  # unset and broadcast: no device
    "c0:56:e3:12:34", "c4:2f:90:a1:b2", "c4:2f:90:a1:b2:c3:d4",                  # too short, too long
    "zz:2f:90:a1:b2:c3", "zz:zz", "<script>", "", "not a mac",                  # not hex
    "c4-2f:90:a1:b2:c3", "c4:2f:90.a1:b2:c3",                                    # mixed separators
    "c" * 10_000,
    None, 42, b"c056e3123456", ["c0:56:e3:12:34:56"],                             # not text
])
def test_what_is_not_a_device_mac_is_none(raw: object) -> None:
    assert normalise_mac(raw) is None


def test_first_octet_bits() -> None:
    assert is_locally_administered("02:11:22:33:44:55") and not is_locally_administered("c0:56:e3:12:34:56")
    assert is_multicast("01:00:5e:00:00:01") and not is_multicast("c0:56:e3:12:34:56")
