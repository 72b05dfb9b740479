"""HTTP Digest/Basic as cameras ask for it, and the lockout signals they send (auditor/probes/httpauth.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.probes import httpauth
from auditor.probes.http import parse_response

ASSETS = Path(__file__).parent / "assets" / "http"
REAL = Path(__file__).parent / "real" / "data"


def test_rfc2617_example_response() -> None:
    """RFC 2617 §3.5's worked example: the response digest must match to the letter."""
    challenge = httpauth.Challenge("Digest", {"realm": "testrealm@host.com", "qop": "auth,auth-int",
                                              "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                                              "opaque": "5ccc069c403ebaf9f0171e9517f40e41"})
    attempt = httpauth.Attempt(challenge, "Mufasa", "Circle Of Life")
    attempt._cnonce = "0a4f113b"
    header = attempt.header("GET", "/dir/index.html")
    assert 'response="6629fae49393a05397450978507c4ef1"' in header
    assert "nc=00000001" in header and 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in header
    assert "nc=00000002" in attempt.header("GET", "/dir/index.html")  # the next request on the same nonce


def test_real_hikvision_challenge_is_answered_with_digest() -> None:
    resp = parse_response((ASSETS / "hikvision-isapi-401.http").read_bytes())
    challenges = httpauth.parse_challenges(resp.all("WWW-Authenticate"))
    chosen = httpauth.choose(challenges, tls=False)
    assert chosen.scheme == "Digest" and chosen.realm == "IP Camera(C6342)"
    assert chosen.params["nonce"].startswith("4e546869") and chosen.params["qop"] == "auth"
    header = httpauth.Attempt(chosen, "admin", "S3cret-pw").header("GET", "/ISAPI/System/deviceInfo")
    assert header.startswith('Digest username="admin", realm="IP Camera(C6342)"')
    assert "S3cret" not in header and 'uri="/ISAPI/System/deviceInfo"' in header and "qop=auth" in header


def test_several_challenges_in_one_header_and_sha256_preferred() -> None:
    found = httpauth.parse_challenges(['Digest realm="a", nonce="1", algorithm=MD5, qop="auth", '
                                       'Digest realm="a", nonce="2", algorithm=SHA-256, qop="auth", Basic realm="a"'])
    assert [c.scheme for c in found] == ["Digest", "Digest", "Basic"]
    assert httpauth.choose(found, tls=False).params["algorithm"] == "SHA-256"


def test_basic_is_never_sent_over_plain_http() -> None:
    basic = httpauth.parse_challenges(['Basic realm="AXIS_00408C9A3144"'])
    with pytest.raises(httpauth.AuthRefused) as refused:
        httpauth.choose(basic, tls=False)
    assert refused.value.reason == "basic_refused"
    with pytest.raises(httpauth.AuthRefused):
        httpauth.Attempt(basic[0], "root", "pass", tls=False)
    assert httpauth.Attempt(basic[0], "root", "pass", tls=True).header("GET", "/").startswith("Basic ")


def test_unknown_schemes_and_algorithms_are_refused() -> None:
    for values in (['NTLM'], ['Digest realm="x", nonce="1", algorithm=SHA-512-256'], ['Digest realm="x"'], []):
        with pytest.raises(httpauth.AuthRefused):
            httpauth.choose(httpauth.parse_challenges(values), tls=True)


def test_hostile_challenge_text_is_bounded() -> None:
    values = ['Digest ' + 'a="b", ' * 50_000, "\x00" * 10_000, 'Digest realm="' + "x" * 100_000]
    found = httpauth.parse_challenges(values)  # returns, does not hang
    assert all(len(v) <= httpauth.MAX_CHALLENGE for c in found for v in c.params.values())


@pytest.mark.parametrize("param", ["realm", "nonce", "opaque"])
def test_a_challenge_that_would_split_our_request_is_refused(param: str) -> None:
    """Found by the fuzzer: the realm, nonce and opaque are echoed into our Authorization header,
    so a CR/LF in them (a hostile device) would inject headers into our own next request."""
    params = {"realm": "IP Camera(C6342)", "nonce": "4e5468", "opaque": "x", param: "a\r\nX-Injected: 1"}
    with pytest.raises(httpauth.AuthRefused) as refused:
        httpauth.Attempt(httpauth.Challenge("Digest", params), "admin", "pw")
    assert refused.value.reason == "unsupported"


@pytest.mark.parametrize(("status", "body", "sent", "locked"), [
    (423, b"", False, True),
    (429, b"", False, True),
    (401, b"<userCheck><statusValue>401</statusValue><lockStatus>lock</lockStatus><unlockTime>1800</unlockTime>"
          b"<retryLoginTime>0</retryLoginTime></userCheck>", True, True),
    (401, b"<userCheck><lockStatus>unlock</lockStatus><unlockTime>0</unlockTime><retryLoginTime>0</retryLoginTime>"
          b"</userCheck>", True, True),
    (401, b"<userCheck><lockStatus>unlock</lockStatus><unlockTime>0</unlockTime><retryLoginTime>4</retryLoginTime>"
          b"</userCheck>", True, False),
    (401, b"Error\r\nUser locked\r\n", True, True),
    (401, b"Error\r\nInvalid Authority!\r\n", True, False),
    (403, b"", True, True),
    (403, b"", False, False),
    (200, b"account locked", True, False),
])
def test_lockout_signals(status: int, body: bytes, sent: bool, locked: bool) -> None:
    assert (httpauth.lockout_signal(status, body, sent_credentials=sent) is not None) == locked


def test_retries_left_is_read_from_hikvision_refusals() -> None:
    assert httpauth.retries_left(b"<retryLoginTime>4</retryLoginTime>") == 4
    assert httpauth.retries_left(b"<html>no</html>") is None


def test_attempt_repr_shows_no_password() -> None:
    challenge = httpauth.Challenge("Digest", {"realm": "r", "nonce": "n"})
    assert "S3cret" not in repr(httpauth.Attempt(challenge, "admin", "S3cret"))
