"""The IEEE MAC registry as scapy ships it, with a longest-prefix match.

scapy's ``conf.manufdb`` holds Wireshark's ``manuf`` data: MA-L (/24), MA-M (/28) and
MA-S (/36) blocks, but its own lookup reads only the first three octets, so a /28 or
/36 block is never returned. This module indexes every entry by prefix length and
matches the longest one. No second copy of the registry is kept.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class RegistryEntry:
    prefix: str
    """Upper-case hex digits of the block with colons every two, e.g. ``40:2C:76:1``."""
    prefix_len: int
    """Bits: 24 (MA-L), 28 (MA-M) or 36 (MA-S)."""
    org: str
    """Registered organisation name as the registry spells it."""


def _format_prefix(nibbles: str) -> str:
    return ":".join(nibbles[i : i + 2] for i in range(0, len(nibbles), 2))


class Registry:
    """Longest-prefix index over scapy's manuf data (built on first use, thread-safe)."""

    def __init__(self, entries: dict[str, tuple[str, str]] | None = None) -> None:
        self._source = entries
        self._index: dict[int, dict[str, str]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[int, dict[str, str]]:
        with self._lock:
            if self._index is not None:
                return self._index
            source = self._source
            if source is None:
                from scapy.config import conf  # lazy: scapy import is slow and has side effects

                manufdb = conf.manufdb
                source = dict(getattr(manufdb, "d", {}) or {})
            index: dict[int, dict[str, str]] = {}
            for key, value in source.items():
                prefix, _, bits = str(key).partition("/")
                nibbles = prefix.replace(":", "").replace("-", "").upper()
                length = int(bits) if bits.isdigit() else len(nibbles) * 4
                if length % 4 or length > len(nibbles) * 4 or not length:
                    continue
                org = value[1] if isinstance(value, tuple) else str(value)
                index.setdefault(length, {})[nibbles[: length // 4]] = org
            self._index = index
            return index

    def lookup(self, mac: str) -> RegistryEntry | None:
        """The longest registered block containing ``mac`` (normalised form), or None."""
        digits = mac.replace(":", "").upper()
        index = self._load()
        for length in sorted(index, reverse=True):
            nibbles = digits[: length // 4]
            org = index[length].get(nibbles)
            if org is not None:
                return RegistryEntry(prefix=_format_prefix(nibbles), prefix_len=length, org=org)
        return None

    def entries(self) -> Iterator[RegistryEntry]:
        for length, blocks in self._load().items():
            for nibbles, org in blocks.items():
                yield RegistryEntry(prefix=_format_prefix(nibbles), prefix_len=length, org=org)

    def organisations(self) -> set[str]:
        return {org for blocks in self._load().values() for org in blocks.values()}


_DEFAULT = Registry()


def default_registry() -> Registry:
    return _DEFAULT
