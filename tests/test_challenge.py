"""The form of an authentication challenge (auditor/probes/challenge.py) and what it decides."""

from __future__ import annotations

import pytest

from auditor.identify import identify
from auditor.knowledge import load_knowledge
from auditor.models import Host, Observation
from auditor.probes.challenge import challenge_form, value_form
from auditor.probes.rtsp import url_path

KB = load_knowledge()


@pytest.mark.parametrize(("value", "form"), [
    ("534407f373af1bdff561b7b4da295354", "hex32"),
    ("4e5468694e7a42694e7a4d364f4449354d7a6b354d54513d", "b64hex"),  # hex of 'NThiNzBiNzM6ODI5Mzk5MTQ='
    ("0000eb57Y1462133062b37999f0cd530f02755fa37b8df1", "hexYhex"),
    ("b252aWYtZGlnZXN0OjQzMjYxNjc5MTQw", "b64"),
    ("1234567890", "dec10"),
    ("", "empty"),
    ("not a nonce!", "text12"),
])
def test_value_forms(value: str, form: str) -> None:
    assert value_form(value) == form


def test_the_form_keeps_everything_but_the_random_values() -> None:
    hik = 'Digest qop="auth", realm="IP Camera(C2183)", nonce="4e5468694e7a42694e7a4d364f4449354d7a6b354d54513d", ' \
          'stale="FALSE"'
    assert challenge_form([hik, 'Basic realm="IP Camera(C2183)"']) == (
        'Digest qop="auth", realm="IP Camera(C2183)", nonce="{b64hex}", stale="FALSE" | Basic realm="IP Camera(C2183)"')
    assert challenge_form([]) is None and challenge_form(["  "]) is None
    assert len(challenge_form(["Digest realm=\"" + "x" * 5000 + "\""]) or "") <= 256


def _rtsp(challenge: str, realm: str) -> Host:
    obs = Observation("198.18.0.9", "rtsp", {"port": 554, "status": 401, "realm": realm, "challenge": challenge})
    return Host(key="ip:198.18.0.9", ip="198.18.0.9", mac=None, ips=("198.18.0.9",), observations=(obs,))


def test_a_generic_realm_decides_only_inside_its_makers_challenge() -> None:
    hik = _rtsp('Digest realm="IP Camera(C2875)", nonce="{hex32}", stale="FALSE"', "IP Camera(C2875)")
    assert (identify(hik, KB).maker, identify(hik, KB).covered) == ("Hikvision", True)
    white_label = _rtsp('Digest realm="IP Camera(C2875)", qop="auth", nonce="{text20}"', "IP Camera(C2875)")
    assert identify(white_label, KB).maker is None, "the realm alone stays weak: a white-label server is not accused"
    dahua = _rtsp('Digest realm="Login to 4K01FD2PAJ6E3FF", nonce="{hex32}"', "Login to 4K01FD2PAJ6E3FF")
    assert (identify(dahua, KB).maker, identify(dahua, KB).covered) == ("Dahua", True)
    web_app = _rtsp('Digest realm="Login to Router", nonce="{hex32}"', "Login to Router")
    assert identify(web_app, KB).maker is None


def test_content_base_keeps_only_the_path() -> None:
    assert url_path("rtsp://admin:secret@10.0.0.5:554/axis-media/media.amp/?video=1") == "/axis-media/media.amp/"
    assert url_path("http://10.0.0.5/x") is None and url_path(None) is None
