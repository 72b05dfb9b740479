"""Property-based fuzzing of every probe parser: junk in, the documented answer out.

Every byte a camera sends is hostile. Each parser gets random bytes and, more to the point,
real replies from the corpus (tests/real/, published by others) cut, flipped, spliced and
grown; it must answer as documented -- fields, an empty result, or its one documented error
type (``ValueError`` and its subclasses ``ReplyError``/``UnsafeXML``; for ONVIF a reply the
probe classifies) -- never another exception, and within a bounded time.

Bounded for CI: ``max_examples`` per parser and no shrinking database on disk; the whole
module runs in a few seconds.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from real_corpus import load_manifest, message

from auditor.probes import dhip, httpauth, onvif, ping, ports, rtsp, sadp, vendorapi, wsdiscovery, x509
from auditor.probes import http as http_probe
from auditor.probes.arp import parse_arp_reply, parse_neighbours

EXAMPLES = 150
PER_CALL_S = 1.0
"""A parser that takes longer than this on one input is a denial of service (the scan's event loop)."""

FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _corpus(*kinds: str) -> list[bytes]:
    found = [message(item) for item in load_manifest() if item.kind in kinds]
    assert found, kinds
    return found


CORPUS: dict[str, list[bytes]] = {}


def corpus(*kinds: str) -> list[bytes]:
    key = ",".join(kinds)
    if key not in CORPUS:
        CORPUS[key] = _corpus(*kinds)
    return CORPUS[key]


def der_certificates() -> list[bytes]:
    """The corpus's certificates as the TLS handshake delivers them (DER), out of their PEM blocks."""
    if "der" not in CORPUS:
        blocks = (re.search(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", m, re.S)
                  for m in corpus("tls_certificate"))
        CORPUS["der"] = [base64.b64decode(b"".join(b.group(1).split())) for b in blocks if b]
        assert CORPUS["der"] and all(d[:1] == b"\x30" for d in CORPUS["der"])
    return CORPUS["der"]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A real reply, damaged the ways a network or an attacker damages one; or plain junk."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=2048))
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(("cut", "flip", "insert", "delete", "repeat", "splice")))
        at = draw(st.integers(0, len(data))) if data else 0
        if op == "cut":
            del data[at:]
        elif op == "flip" and data:
            i = min(at, len(data) - 1)
            data[i] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.sampled_from((b"<", b">", b"&", b'"', b"\x00", b"\xff\xfe", b"]]>", b"<!DOCTYPE x [",
                                                b"&x;", b"\r\n", b":", b"{", b"}", b"[", b"0", b"-1", b"9" * 40,
                                                b"\xc3", b"<a>" * 50)))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif op == "repeat":
            data[at:at] = bytes(data[at:at + draw(st.integers(1, 256))]) * draw(st.integers(2, 20))
        elif op == "splice":
            other = draw(st.sampled_from(seeds))
            data[at:at] = other[: draw(st.integers(0, len(other)))]
    return bytes(data)


def _bounded(call: Callable[[], Any]) -> Any:
    t0 = time.perf_counter()
    try:
        return call()
    finally:
        took = time.perf_counter() - t0
        assert took < PER_CALL_S, f"one input took {took:.2f}s"


def _documented(call: Callable[[], Any], errors: tuple[type[BaseException], ...] = (ValueError,)) -> Any:
    """The call's result, or None if it raised one of its documented ``errors``."""
    try:
        return _bounded(call)
    except errors:
        return None


# ---------------------------------------------------------------- discovery


@FUZZ
@given(data=st.data())
def test_sadp(data: st.DataObject) -> None:
    raw = data.draw(mutated(corpus("sadp")))
    fields = _documented(lambda: sadp.parse_sadp_reply(raw))
    assert fields is None or (isinstance(fields, dict) and ("mac" in fields or "serial" in fields))


@FUZZ
@given(data=st.data())
def test_dhip(data: st.DataObject) -> None:
    raw = data.draw(mutated(corpus("dhip")))
    fields = _documented(lambda: dhip.parse_dhip_reply(raw))
    assert fields is None or (isinstance(fields, dict) and ("mac" in fields or "serial" in fields))


@FUZZ
@given(data=st.data())
def test_wsdiscovery(data: st.DataObject) -> None:
    raw = data.draw(mutated(corpus("wsdiscovery")))
    matches = _documented(lambda: wsdiscovery.parse_probe_match(raw))
    assert matches is None or (isinstance(matches, list) and all(isinstance(m, dict) for m in matches))
    for m in matches or []:
        assert m.get("endpoint") or m.get("xaddrs")
        assert all(isinstance(v, str | list | bool | int) for v in m.values())


@FUZZ
@given(frame=st.one_of(st.binary(max_size=128), st.binary(min_size=42, max_size=64).map(
    lambda b: b[:12] + b"\x08\x06\x00\x01\x08\x00\x06\x04\x00\x02" + b[22:])))
def test_arp(frame: bytes) -> None:
    got = _bounded(lambda: parse_arp_reply(frame))
    assert got is None or (isinstance(got, tuple) and got[1]["mac"].count(":") == 5)


@FUZZ
@given(text=st.one_of(st.text(max_size=512), st.binary(max_size=512)))
def test_neighbour_tables(text: str | bytes) -> None:
    assert isinstance(_documented(lambda: parse_neighbours(text)) or [], list)


def _icmp_seeds() -> list[tuple[bytes, bool]]:
    """Echo replies and a destination-unreachable quoting our echo, with and without the IP header
    (raw socket vs the kernel's ping socket), built to RFC 792 from our own echo request."""
    echo = ping.build_echo(0x1234, 7)
    reply = bytes([ping.ECHO_REPLY, 0]) + echo[2:]
    ip = bytes([0x45, 0, 0, 28 + len(reply) - 8, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 0, 11, 198, 18, 0, 2])
    inner = bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 0, 2, 198, 18, 32, 99]) + echo[:8]
    unreachable = bytes([ping.DEST_UNREACHABLE, 1, 0, 0, 0, 0, 0, 0]) + inner
    return [(reply, False), (ip + reply, True), (unreachable, False), (ip + unreachable, True)]


def test_the_icmp_seeds_are_what_they_claim() -> None:
    kinds = [ping.parse_icmp(raw, "198.18.0.11", 0x1234, header) for raw, header in _icmp_seeds()]
    assert [(k.kind, k.address) if k else None for k in kinds] == [
        ("echo", "198.18.0.11"), ("echo", "198.18.0.11"), ("unreachable", "198.18.32.99"),
        ("unreachable", "198.18.32.99")]


@FUZZ
@given(data=st.data(), ident=st.sampled_from([None, 0x1234, 0]))
def test_icmp(data: st.DataObject, ident: int | None) -> None:
    seeds = _icmp_seeds()
    has_header = data.draw(st.booleans())
    raw = data.draw(mutated([s for s, h in seeds if h == has_header]))
    got = _bounded(lambda: ping.parse_icmp(raw, "198.18.0.11", ident, has_header))
    assert got is None or (got.kind in ("echo", "unreachable") and got.address.count(".") == 3)


# ---------------------------------------------------------------- host probes


@FUZZ
@given(data=st.data())
def test_http_reply_and_vendor_paths(data: st.DataObject) -> None:
    raw = data.draw(mutated(corpus("http", "isapi_device_info")))
    assert isinstance(_bounded(lambda: http_probe.reply_complete(raw)), bool)
    resp = _documented(lambda: http_probe.parse_response(raw))
    if resp is None:
        return
    fields = _bounded(lambda: http_probe.summarize_root(resp))
    assert isinstance(fields, dict) and isinstance(fields["status"], int)
    reply = _bounded(lambda: http_probe.summarize_path("/ISAPI/System/deviceInfo", resp))
    assert reply.device_info is None or all(isinstance(v, str) for v in reply.device_info.values())


@FUZZ
@given(data=st.data())
def test_isapi_device_info(data: st.DataObject) -> None:
    body = data.draw(mutated([m.partition(b"\r\n\r\n")[2] or m for m in corpus("isapi_device_info")]))
    fields = _documented(lambda: http_probe.parse_isapi_device_info(body))
    assert fields is None or all(isinstance(v, str) for v in fields.values())


@FUZZ
@given(body=st.binary(max_size=4096))
def test_http_body_helpers(body: bytes) -> None:
    assert isinstance(_bounded(lambda: http_probe.dechunk(body)), bytes)
    title = _bounded(lambda: http_probe.extract_title(body))
    assert title is None or (isinstance(title, str) and "\n" not in title)


@FUZZ
@given(values=st.lists(st.text(max_size=200), max_size=4))
def test_www_authenticate(values: list[str]) -> None:
    scheme, realm = _bounded(lambda: http_probe.parse_www_authenticate(values))
    assert scheme is None or isinstance(scheme, str)
    assert realm is None or isinstance(realm, str)


@FUZZ
@given(data=st.data())
def test_rtsp(data: st.DataObject) -> None:
    seeds = corpus("rtsp")
    first, second = data.draw(mutated(seeds)), data.draw(mutated(seeds))
    options = _documented(lambda: http_probe.parse_response(first))
    describe = _documented(lambda: http_probe.parse_response(second))
    fields = _bounded(lambda: rtsp.summarize(options, describe))
    assert isinstance(fields, dict)
    assert all(isinstance(m, str) for m in fields.get("methods", []))


@FUZZ
@given(data=st.data())
def test_x509(data: st.DataObject) -> None:
    raw = data.draw(mutated(der_certificates()))
    info = _documented(lambda: x509.parse_certificate(raw))
    assert info is None or (isinstance(info.subject, str) and isinstance(info.issuer, str))


@FUZZ
@given(data=st.data())
def test_banners(data: st.DataObject) -> None:
    raw = data.draw(mutated(corpus("banner") + [b"\xff\xfb\x01\xff\xfb\x03\xff\xfd\x18login: "]))
    text = _bounded(lambda: ports.clean_banner(raw))
    assert isinstance(text, str) and "\xff" not in text and "\n" not in text
    assert isinstance(_bounded(lambda: ports.strip_telnet(raw)), bytes)


ONVIF_OPS = ("GetSystemDateAndTime", "GetDeviceInformation", "GetNetworkInterfaces", "GetScopes", "GetHostname")


@settings(max_examples=60, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), op=st.sampled_from(ONVIF_OPS))
def test_onvif_replies(data: st.DataObject, op: str) -> None:
    """Through the hardened check and zeep exactly as a live call; whatever is raised, the probe
    classifies it (never 'unexpected'), and what decodes interprets to fields."""
    body = data.draw(mutated(corpus("onvif")))
    try:
        value = _bounded(lambda: onvif.parse_reply(op, body))
    except Exception as exc:  # noqa: BLE001 - the contract is classify_error's, checked here
        kind, note = onvif.classify_error(exc)
        assert kind in ("auth_needed", "fault", "hostile", "not_soap", "unreachable"), (kind, exc)
        assert not (note or "").startswith("unexpected"), f"{type(exc).__name__}: {exc}"
        return
    fields = _bounded(lambda: onvif.interpret(op, value))
    assert isinstance(fields, dict)
    if op == "GetSystemDateAndTime":
        _bounded(lambda: onvif.device_time(value))


# ---------------------------------------------------------------- the login probe (makers' APIs)

VENDOR_APIS = {
    "isapi_device_info": vendorapi.ISAPI_DEVICE_INFO, "isapi_channels": vendorapi.ISAPI_CHANNELS,
    "axis_basicdeviceinfo": vendorapi.AXIS_BASICDEVICEINFO, "axis_param": vendorapi.AXIS_PARAM,
    "dahua_magicbox": vendorapi.DAHUA_MAGICBOX, "dahua_remote_device": vendorapi.DAHUA_REMOTE_DEVICE,
}


@FUZZ
@given(data=st.data(), kind=st.sampled_from(sorted(VENDOR_APIS)))
def test_vendor_identity_apis(data: st.DataObject, kind: str) -> None:
    """Every identity API the login probe reads, fed (damaged) real replies of that API and of the others."""
    seeds = corpus(kind) if data.draw(st.booleans()) else corpus(*VENDOR_APIS)
    body = data.draw(mutated(seeds))
    identity = _documented(lambda: vendorapi.parse_identity(VENDOR_APIS[kind], body))
    assert identity is None or isinstance(identity, vendorapi.VendorIdentity)


@FUZZ
@given(data=st.data())
def test_recorder_channel_lists(data: st.DataObject) -> None:
    body = data.draw(mutated(corpus("isapi_channels", "dahua_remote_device")))
    for parse in (vendorapi.parse_isapi_channels, vendorapi.parse_dahua_remote_devices):
        channels = _documented(lambda parse=parse: parse(body))
        assert channels is None or (len(channels) <= vendorapi.MAX_CHANNELS
                                    and all(isinstance(c.channel, int) for c in channels))
    status = _documented(lambda: vendorapi.parse_isapi_channel_status(body))
    assert status is None or all(isinstance(k, int) for k in status)


def _challenges() -> list[bytes]:
    """The WWW-Authenticate values real devices sent (the corpus's HTTP and RTSP replies)."""
    if "challenges" not in CORPUS:
        found = []
        for raw in corpus("http", "rtsp"):
            resp = _documented(lambda raw=raw: http_probe.parse_response(raw))
            found += [v.encode() for v in resp.all("WWW-Authenticate")] if resp is not None else []
        CORPUS["challenges"] = found
        assert len(found) >= 5 and any(v.lower().startswith(b"digest") for v in found)
    return CORPUS["challenges"]


@FUZZ
@given(data=st.data(), tls=st.booleans())
def test_www_authenticate_challenges(data: st.DataObject, tls: bool) -> None:
    """A challenge is answered (Digest, or Basic over TLS only) or refused with AuthRefused, never anything else."""
    values = [data.draw(mutated(_challenges())).decode("latin-1") for _ in range(data.draw(st.integers(1, 3)))]
    challenges = _bounded(lambda: httpauth.parse_challenges(values))
    chosen = _documented(lambda: httpauth.choose(challenges, tls), (httpauth.AuthRefused,))
    if chosen is None:
        return
    assert chosen.scheme == "Digest" or (chosen.scheme == "Basic" and tls)
    attempt = _documented(lambda: httpauth.Attempt(chosen, "auditor", "not-a-real-password", tls=tls),
                          (httpauth.AuthRefused,))
    if attempt is not None:
        header = _bounded(lambda: attempt.header("GET", "/ISAPI/System/deviceInfo"))
        assert "\n" not in header and "\r" not in header and "not-a-real-password" not in header


@FUZZ
@given(data=st.data(), status=st.sampled_from([200, 401, 403, 423, 429, 500]), sent=st.booleans())
def test_lockout_signals(data: st.DataObject, status: int, sent: bool) -> None:
    body = data.draw(mutated(corpus("isapi_device_info", "dahua_magicbox", "http")))
    signal = _bounded(lambda: httpauth.lockout_signal(status, body, sent_credentials=sent))
    assert signal is None or isinstance(signal, str)
    left = _bounded(lambda: httpauth.retries_left(body))
    assert left is None or left >= 0


def test_every_probe_parser_is_fuzzed() -> None:
    """A new probe module with a parser joins this file: the list of modules is closed."""
    from auditor.probes.registry import ALL_PROBES

    fuzzed = {"arp", "ping", "sadp", "dhip", "wsdiscovery", "ports", "http", "rtsp", "onvif", "login"}
    assert set(ALL_PROBES) <= fuzzed, set(ALL_PROBES) - fuzzed


@pytest.mark.parametrize("kind", ["sadp", "dhip", "wsdiscovery", "http", "isapi_device_info", "rtsp",
                                  "tls_certificate", "banner", "onvif", *VENDOR_APIS])
def test_the_fuzz_seeds_are_real_replies(kind: str) -> None:
    assert corpus(kind)


@pytest.mark.parametrize("op", ["GetNetworkInterfaces", "GetScopes"])
def test_onvif_answer_to_another_operation_interprets_to_nothing(op: str) -> None:
    """Found by the fuzzer: a device that answers GetNetworkInterfaces with its
    GetDeviceInformation document decoded to an object, and interpreting it raised TypeError
    (the host's whole ONVIF observation was lost)."""
    info = next(m for m in corpus("onvif") if b"GetDeviceInformationResponse" in m)
    value = onvif.parse_reply(op, info)
    assert onvif.interpret(op, value) == {}
