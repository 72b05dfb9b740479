"""The emulator process inside real namespaces: a device namespace and a scanner namespace joined
by a veth (both created and deleted here), discovery by multicast, broadcast and unicast."""

from __future__ import annotations

import json
import secrets
import signal
import socket
import struct
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from emulator_specs import LineReader, dahua_camera, hik_camera

from auditor.lab.emulator import state_data
from auditor.netns import enter_netns

DEVICE_IP = "198.18.0.11"
SCANNER_IP = "198.18.0.2"


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture()
def pair() -> Iterator[tuple[str, str, str]]:
    tag = f"t{secrets.token_hex(3)}"
    dev_ns, scan_ns = f"caml{tag}-d0", f"caml{tag}-scan"
    try:
        ip("netns", "add", dev_ns)
        ip("netns", "add", scan_ns)
        # The veth is born inside the device namespace: nothing ever touches the root namespace.
        ip("-n", dev_ns, "link", "add", "eth0", "type", "veth", "peer", "name", "lan0", "netns", scan_ns)
        ip("-n", dev_ns, "addr", "add", f"{DEVICE_IP}/20", "dev", "eth0")
        ip("-n", scan_ns, "addr", "add", f"{SCANNER_IP}/20", "dev", "lan0")
        for ns, dev in ((dev_ns, "eth0"), (scan_ns, "lan0")):
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "link", "set", dev, "up")
        yield tag, dev_ns, scan_ns
    finally:
        for ns in (dev_ns, scan_ns):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


def udp_exchange(scan_ns: str, dest: tuple[str, int], payload: bytes, bcast: bool = False) -> bytes | None:
    with enter_netns(scan_ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with s:
        s.settimeout(3)
        s.bind((SCANNER_IP, 0))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(SCANNER_IP))
        if bcast:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.sendto(payload, dest)
        try:
            data, addr = s.recvfrom(70000)
        except TimeoutError:
            return None
        assert addr[0] == DEVICE_IP  # unicast reply from the device's own address
        return data


@pytest.mark.netns
def test_emulator_in_namespaces(pair: tuple[str, str, str], tmp_path: Path) -> None:
    tag, dev_ns, scan_ns = pair
    # One device answering all three discovery protocols.
    spec = hik_camera()
    spec = replace(spec, services=replace(spec.services, dhip=dahua_camera().services.dhip))
    state = tmp_path / "state.json"
    state.write_text(json.dumps(state_data(tag, [(dev_ns, spec)])))
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor.lab.emulator", "--tag", tag, "--state", str(state)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        reader = LineReader(proc)
        line = reader.next()
        assert line.startswith("READY 1 "), (line, proc.stderr.read() if proc.poll() is not None else "")

        probe_id = f"urn:uuid:{uuid.uuid4()}"
        wsd = (
            '<?xml version="1.0" encoding="UTF-8"?><e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"'
            ' xmlns:w="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
            ' xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"'
            ' xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><e:Header>'
            f"<w:MessageID>{probe_id}</w:MessageID><w:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</w:To>"
            "<w:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</w:Action></e:Header>"
            "<e:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></e:Body></e:Envelope>"
        ).encode()
        for dest in (("239.255.255.250", 3702), (DEVICE_IP, 3702)):
            reply = udp_exchange(scan_ns, dest, wsd)
            assert reply is not None and probe_id.encode() in reply
            assert f"http://{DEVICE_IP}/onvif/device_service".encode() in reply

        sadp = b'<?xml version="1.0" encoding="utf-8"?><Probe><Uuid>AB-1</Uuid><Types>inquiry</Types></Probe>'
        reply = udp_exchange(scan_ns, ("239.255.255.250", 37020), sadp)
        assert reply is not None and b"<IPv4Address>198.18.0.11</IPv4Address>" in reply

        body = b'{ "method" : "DHDiscover.search", "params" : { "mac" : "", "uni" : 1 } }\n'
        dh = struct.pack("<I4sIIIIII", 32, b"DHIP", 0, 0, len(body), 0, len(body), 0) + body
        for dest, bcast in ((("239.255.255.251", 37810), False), (("198.18.15.255", 37810), True)):
            reply = udp_exchange(scan_ns, dest, dh, bcast=bcast)
            assert reply is not None and json.loads(reply[32:])["params"]["deviceInfo"]["SerialNo"]

        with enter_netns(scan_ns):
            conn = socket.create_connection((DEVICE_IP, 80), timeout=3)
        with conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: cam\r\n\r\n")
            assert conn.recv(4096).startswith(b"HTTP/1.1 200 OK\r\n")

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
