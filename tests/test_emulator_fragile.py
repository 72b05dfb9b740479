"""Fragile emulated devices (spec ``fragile``): they lock up when one source holds or opens too many
TCP connections, and not before. Spoken to with real sockets on 127.0.0.1 (no root needed)."""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import replace

from emulator_specs import hik_camera

from auditor.lab.devices.loopback import LoopbackLab
from auditor.lab.spec import DeviceSpec, Fragile


def fragile(name: str, max_connections: int = 2, max_per_second: int = 5, max_burst: int = 6) -> DeviceSpec:
    return replace(hik_camera(name), fragile=Fragile(max_connections=max_connections, max_per_second=max_per_second,
                                                     max_burst=max_burst))


def connect(lab: LoopbackLab, name: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", lab.port(name, 80)), timeout=3)


def reset(sock: socket.socket) -> None:
    """Close with an RST, as the scanner's port probe does (abort, no FIN handshake)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def answers(lab: LoopbackLab, name: str) -> bool:
    """True when the device's web server still replies to a request."""
    try:
        with connect(lab, name) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: cam\r\nConnection: close\r\n\r\n")
            return s.recv(12).startswith(b"HTTP/1.1")
    except OSError:
        return False


def settle(lab: LoopbackLab, name: str, dead: bool, seconds: float = 2.0) -> None:
    end = time.monotonic() + seconds
    while (lab.devices[name].dead is not None) != dead and time.monotonic() < end:
        time.sleep(0.02)


def test_connections_within_the_limits_leave_it_alive() -> None:
    with LoopbackLab([fragile("old")]) as lab:
        for _ in range(3):  # two held at once, three times, spaced: inside both limits
            held = [connect(lab, "old"), connect(lab, "old")]
            time.sleep(0.1)
            for s in held:
                reset(s)
            time.sleep(0.4)
        assert lab.devices["old"].dead is None
        assert answers(lab, "old")


def test_holding_one_connection_too_many_kills_it_for_good() -> None:
    with LoopbackLab([fragile("old")]) as lab:
        held = [connect(lab, "old") for _ in range(3)]
        settle(lab, "old", dead=True)
        assert "held 3 connections at once (limit 2)" in (lab.devices["old"].dead or "")
        for s in held:
            s.close()
        time.sleep(1.2)  # a calm client later: still dead
        assert not answers(lab, "old")


def test_opening_too_many_per_second_kills_it_even_one_at_a_time() -> None:
    with LoopbackLab([fragile("old")]) as lab:
        for _ in range(6):
            reset(connect(lab, "old"))
            time.sleep(0.02)
        settle(lab, "old", dead=True)
        assert "opened 6 connections within one second (limit 5)" in (lab.devices["old"].dead or "")


def test_a_burst_kills_it_even_under_the_per_second_limit() -> None:
    with LoopbackLab([fragile("old", max_per_second=50, max_burst=6)]) as lab:
        for _ in range(7):
            reset(connect(lab, "old"))
        settle(lab, "old", dead=True)
        assert "opened 7 connections within a tenth of a second (limit 6)" in (lab.devices["old"].dead or "")


def test_connections_the_client_reset_are_not_held_even_if_the_device_sees_them_late() -> None:
    with LoopbackLab([fragile("old", max_connections=2, max_per_second=50, max_burst=50)]) as lab:
        for _ in range(10):  # a port probe: connect, reset, next
            reset(connect(lab, "old"))
        keep = [connect(lab, "old"), connect(lab, "old")]
        time.sleep(0.3)
        assert lab.devices["old"].dead is None
        for s in keep:
            reset(s)


def test_a_robust_device_takes_anything() -> None:
    with LoopbackLab([hik_camera("new")]) as lab:
        held = [connect(lab, "new") for _ in range(12)]
        assert answers(lab, "new")
        for s in held:
            reset(s)
        assert lab.devices["new"].dead is None
