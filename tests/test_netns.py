"""enter_netns moves only the current thread, restores it, and sockets stay behind."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
from collections.abc import Iterator

import pytest

from auditor.errors import ScanError
from auditor.netns import enter_netns, netns_fd


def _own_ns() -> str:
    return os.readlink("/proc/thread-self/ns/net")


@pytest.fixture()
def temp_ns() -> Iterator[str]:
    name = f"camlt{secrets.token_hex(3)}-ns"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.mark.netns
def test_enter_and_restore(temp_ns: str) -> None:
    before = _own_ns()
    fd = netns_fd(temp_ns)
    try:
        target = f"net:[{os.fstat(fd).st_ino}]"
    finally:
        os.close(fd)
    with enter_netns(temp_ns):
        assert _own_ns() == target != before
        # A fresh namespace has nothing but its loopback.
        assert [n for _, n in socket.if_nameindex()] == ["lo"]
        inside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    assert _own_ns() == before
    try:
        # The socket stays in the lab namespace: its (down) loopback cannot reach anything.
        with pytest.raises(OSError):
            inside.sendto(b"x", ("127.0.0.1", 9))
    finally:
        inside.close()


@pytest.mark.netns
def test_restores_after_exception(temp_ns: str) -> None:
    before = _own_ns()
    with pytest.raises(RuntimeError), enter_netns(temp_ns):
        raise RuntimeError("boom")
    assert _own_ns() == before


def test_missing_namespace_is_a_scan_error() -> None:
    with pytest.raises(ScanError, match="not found"), enter_netns("caml-does-not-exist-xyz"):
        pass


@pytest.mark.parametrize("bad", ["", "../etc", "a/b"])
def test_invalid_name_rejected(bad: str) -> None:
    with pytest.raises(ScanError, match="invalid"):
        netns_fd(bad)
