"""Payloads of the hostile devices: what a scanner must survive (never trusts, never hangs on).

Each generator returns the bytes to send; the protocol modules decide when:

- ``xxe_wsd``: the ProbeMatch declares an external entity (``file:///etc/passwd``) and uses it in Scopes.
- ``xxe_soap``: every ONVIF reply declares it; Manufacturer and TZ reference it.
- ``billion_laughs``: the SADP reply is a nested-entity bomb.
- ``garbage_udp``: WS-Discovery, SADP and DHIP answer probes with random bytes (DHIP: a lying header).
- ``oversize``: UDP replies padded to ~65 000 bytes; the web root page and ONVIF replies to 4 MiB.
- ``tarpit``: *every* TCP port of the device accepts and never sends (capped per device).
- ``malformed_soap``: ONVIF replies are cut in half, with HTTP 200.
- ``script_names``: nothing here; the markup comes from the fleet data and is served verbatim.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import struct

from .runtime import TARPIT_CAP, DeviceRuntime

XXE_DOCTYPE = '<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
"""External entity a naive parser would resolve by reading a local file."""
XXE_REF = "&xxe;"

UDP_OVERSIZE = 65000
"""Largest UDP reply we send (the IPv4 datagram limit is 65507)."""
TCP_OVERSIZE = 4 * 1024 * 1024
"""Several megabytes for HTTP/SOAP bodies."""
TARPIT_MAX_S = 600.0
"""A tarpit connection is dropped after this long even if the client never closes it."""


def with_xxe(xml_decl_and_body: str) -> str:
    """Insert the XXE DOCTYPE after the XML declaration (or at the start)."""
    if xml_decl_and_body.startswith("<?xml"):
        end = xml_decl_and_body.index("?>") + 2
        return xml_decl_and_body[:end] + "\n" + XXE_DOCTYPE + xml_decl_and_body[end:]
    return XXE_DOCTYPE + xml_decl_and_body


def billion_laughs(root: str = "ProbeMatch", inner: str = "Uuid") -> bytes:
    """Classic nested entity expansion (10^9 'lol's if expanded), wrapped as a ``root`` document."""
    ents = ['<!ENTITY lol "lol">']
    ents.append('<!ENTITY lol1 "' + "&lol;" * 10 + '">')
    ents.extend(f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(2, 10))
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<!DOCTYPE {root} [\n" + "\n".join(ents) + "\n]>\n"
        f"<{root}><{inner}>&lol9;</{inner}></{root}>\n"
    )
    return doc.encode()


def garbage(rng: random.Random | None = None, size: int | None = None) -> bytes:
    """Random bytes (not valid UTF-8 XML or JSON)."""
    r = rng or random.Random(os.urandom(8))
    n = size if size is not None else r.randint(64, 1400)
    return r.randbytes(n)


def garbage_dhip() -> bytes:
    """A DHIP header that lies: its body lengths claim 4 GiB; random bytes follow."""
    header = struct.pack("<I4sIIIIII", 0x20, b"DHIP", 0, 0, 0xFFFFFFFF, 0, 0xFFFFFFFF, 0)
    return header + garbage(size=200)


def pad_udp(xml_text: str, room: int = UDP_OVERSIZE) -> bytes:
    """Grow an XML document to ~``room`` bytes with a comment before the root's end."""
    data = xml_text.encode()
    fill = max(0, room - len(data) - 16)
    cut = data.rfind(b"</")
    return data[:cut] + b"<!--" + b"A" * fill + b"-->" + data[cut:]


async def tarpit(dev: DeviceRuntime, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, never send; hold until the client closes, capped in number and lifetime."""
    if dev.tarpits >= TARPIT_CAP:
        writer.close()
        return
    dev.tarpits += 1
    try:
        async with asyncio.timeout(TARPIT_MAX_S):
            while await reader.read(4096):
                pass
    except (TimeoutError, OSError):
        pass
    finally:
        dev.tarpits -= 1
        with contextlib.suppress(Exception):
            writer.close()
