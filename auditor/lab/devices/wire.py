"""Reading HTTP/RTSP-style request heads from an untrusted stream, with size and time bounds."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

MAX_HEAD = 16 * 1024
READ_TIMEOUT_S = 10.0


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str] = field(default_factory=dict)
    """Lower-cased names; a repeated header keeps its last value."""
    body: bytes = b""


async def read_request(
    reader: asyncio.StreamReader, max_body: int = 64 * 1024, timeout: float = READ_TIMEOUT_S
) -> Request | None:
    """The next request on ``reader``; None on EOF, timeout, oversize or garbage."""
    try:
        async with asyncio.timeout(timeout):
            head = await reader.readuntil(b"\r\n\r\n")
            req = parse_head(head)
            if req is None:
                return None
            length = req.headers.get("content-length", "0")
            if not length.isdigit() or int(length) > max_body:
                return None
            if int(length):
                req.body = await reader.readexactly(int(length))
            return req
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        return None


def parse_head(head: bytes) -> Request | None:
    if len(head) > MAX_HEAD:
        return None
    try:
        text = head.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes anything
        return None
    lines = text.split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[0].isalpha() or not parts[2].startswith(("HTTP/", "RTSP/")):
        return None
    req = Request(parts[0].upper(), parts[1], parts[2])
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            return None
        req.headers[name.strip().lower()] = value.strip()
    return req


def render(status_line: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    head = status_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1", "replace") + body
