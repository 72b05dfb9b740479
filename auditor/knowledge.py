"""The vendor knowledge base: loads ``seeds/vendors/*.yaml`` and answers "who made this?".

Knowledge is data (makers, brands and their relations, IEEE-registry name patterns,
signatures, KEV facts); this module only validates and indexes it. A schema error is
an :class:`~auditor.errors.OperatorError` naming the file and line. The shipped
knowledge base is loaded once per process (:func:`load_knowledge` caches by directory).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from . import opfile
from .errors import OperatorError, shown
from .firmware import compare_firmware, parse_firmware_version
from .mac import is_locally_administered, is_multicast, normalise_mac
from .opfile import Value, line_at
from .oui import Registry, default_registry
from .resources import data_dir

STRENGTHS: tuple[str, ...] = ("strong", "medium", "weak")
RELATIONS: tuple[str, ...] = ("own brand", "subsidiary", "OEM relabel")
STATUSES: tuple[str, ...] = ("confirmed", "review")
CONFIDENCE_LEVELS: tuple[str, ...] = ("high", "medium-high", "medium", "medium-low", "low-medium", "low")
KINDS: tuple[str, ...] = ("video", "telecom", "radio", "printer", "computer", "network")
SIGNATURE_KINDS: tuple[str, ...] = (
    "protocol", "model", "firmware", "http_server", "http_title", "http_realm", "http_path",
    "http_p3p", "http_headers_upper", "rtsp_server", "rtsp_realm", "port", "wsd_type", "ssh_banner", "banner",
    "vendor_api", "class_text", "challenge", "rtsp_path", "cert_fingerprint", "channel_protocol",
)
CLASSES: tuple[str, ...] = ("camera", "recorder", "other")
_MAX_TEXT = 256


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class SerialMac:
    """A maker whose serial numbers are the unit's MAC address (Axis): how to read one."""

    pattern: re.Pattern[str]
    """What such a serial looks like (the whole serial)."""
    shown_in: tuple[re.Pattern[str], ...]
    """Where firmware shows the serial in other text (realms, certificate names, host names):
    each pattern's ``serial`` group is the serial."""
    source: str
    note: str = ""


@dataclass(frozen=True)
class Maker:
    name: str
    legal_name: str
    country: str
    kind: str
    group: str
    """Makers sharing a group (a parent and its unit) never conflict with each other."""
    covered: bool
    covered_basis: str | None = None
    ndaa_889: str | None = None
    fcc_covered_list: bool = False
    review: str | None = None
    note: str | None = None
    sources: tuple[str, ...] = ()
    serial_is_mac: SerialMac | None = None
    """Set when the maker's serial numbers are the unit's MAC (see :meth:`KnowledgeBase.mac_from_serial`)."""
    video_lines: str | None = None
    """For a maker whose core line is not video: the cameras/recorders it sells anyway (None: none)."""


@dataclass(frozen=True)
class BrandMaker:
    """One maker whose equipment a brand has sold, with the reported relation."""

    maker: str
    relation: str
    """own brand | subsidiary | OEM relabel"""
    status: str
    """confirmed | review (review: the device is not automatically covered)"""
    confidence: str
    source: str
    lines: str | None = None
    """Which product lines (free text, e.g. 'NVR-7xxx recorders')."""
    period: str | None = None
    review: str | None = None
    note: str | None = None

    def describe(self) -> str:
        """One line for people: maker, relation, lines, period, confidence, source."""
        parts = [f"{self.maker} ({self.relation}"]
        if self.lines:
            parts.append(f"; {self.lines}")
        if self.period:
            parts.append(f"; {self.period}")
        parts.append(f"; confidence {self.confidence}; {self.source})")
        return "".join(parts)


@dataclass(frozen=True)
class Brand:
    """A name products are sold under, and every maker it is documented to have sold.

    Most brands have one maker (HiLook: Hikvision). Some have several over time or by
    product line (Swann): then ``maker`` is None and identification needs other evidence
    to settle which one made a given device.
    """

    name: str
    makers: tuple[BrandMaker, ...]
    review: str | None = None
    """Why the maker is not settled by the brand (required when several makers are listed)."""
    note: str | None = None

    @property
    def settled(self) -> BrandMaker | None:
        return self.makers[0] if len(self.makers) == 1 else None

    @property
    def maker(self) -> str | None:
        """The brand's maker when it has exactly one, else None."""
        return self.settled.maker if self.settled else None

    @property
    def relation(self) -> str:
        return self.settled.relation if self.settled else "OEM relabel"

    @property
    def status(self) -> str:
        return self.settled.status if self.settled else "review"

    @property
    def confidence(self) -> str:
        if self.settled:
            return self.settled.confidence
        return max((m.confidence for m in self.makers), key=CONFIDENCE_LEVELS.index)  # the weakest

    @property
    def source(self) -> str:
        return self.settled.source if self.settled else self.makers[0].source

    @property
    def period(self) -> str | None:
        return self.settled.period if self.settled else None

    @property
    def candidates(self) -> tuple[str, ...]:
        return tuple(m.maker for m in self.makers)


@dataclass(frozen=True)
class NameMatch:
    """Free text a device showed (ONVIF Manufacturer, DHIP Vendor…) resolved to the knowledge base."""

    text: str
    maker: str | None
    """The maker; None for a brand whose maker is not settled (see ``candidates``)."""
    brand: str
    """Canonical brand name, or the maker's name when the text names the maker itself."""
    relation: str
    """maker | own brand | subsidiary | OEM relabel"""
    status: str = "confirmed"
    confidence: str = "high"
    candidates: tuple[str, ...] = ()
    """Every maker the brand is documented to have sold (empty when the text names a maker)."""


@dataclass(frozen=True)
class Coverage:
    covered: bool
    basis: str | None = None
    review: str | None = None


@dataclass(frozen=True)
class OuiRule:
    target: str
    """Maker or brand name this registry entry belongs to."""
    is_brand: bool
    patterns: tuple[re.Pattern[str], ...]
    expected_orgs: tuple[str, ...]
    traps: tuple[str, ...] = ()
    note: str | None = None
    source: str = ""
    line: int = 0

    def matches(self, org: str) -> bool:
        text = " ".join(org.split())
        return any(p.fullmatch(text) for p in self.patterns)


@dataclass(frozen=True)
class OuiMatch:
    mac: str
    prefix: str
    """Registered block, e.g. ``C0:56:E3`` or ``40:2C:76:1``."""
    prefix_len: int
    """24 (MA-L), 28 (MA-M) or 36 (MA-S)."""
    org: str
    """Organisation name as registered."""
    maker: str | None
    """Canonical maker the organisation maps to (None: not a maker the knowledge base knows)."""
    brand: str | None = None
    relation: str | None = None
    covered: bool = False
    covered_basis: str | None = None
    review: str | None = None


@dataclass(frozen=True)
class Signature:
    id: str
    kind: str
    pattern: re.Pattern[str]
    strength: str
    note: str
    source: str
    maker: str | None = None
    brand: str | None = None
    device_class: str | None = None


@dataclass(frozen=True)
class KevLine:
    firmware: re.Pattern[str]
    platforms: tuple[str, ...] = ()
    introduced: str | None = None
    last_affected: str | None = None
    fixed: str | None = None
    affected_all: bool = False
    built_before: date | None = None
    fixed_built_from: date | None = None
    note: str = ""


@dataclass(frozen=True)
class KevEntry:
    cve: str
    maker: str
    title: str
    kev_status: str
    """listed (in CISA's catalogue as of the seed's review) | not_listed (kept for reference: no finding
    unless an imported catalogue lists it)."""
    kev_date: date | None
    source: str
    lines: tuple[KevLine, ...]
    brand: str | None = None
    models: re.Pattern[str] | None = None
    advisory: str | None = None
    verified: str = "partial"
    due_date: date | None = None


@dataclass(frozen=True)
class KevMatch:
    cve: str
    maker: str
    title: str
    kev_status: str
    """listed | not_listed"""
    kev_date: str | None
    status: str
    """vulnerable | fixed | unknown (unknown: the firmware cannot be placed against the advisory)"""
    reason: str
    fixed: str | None
    source: str
    advisory: str | None = None
    due_date: str | None = None
    """CISA's due date (the imported catalogue's, else the seed's)."""
    unknown_kind: str | None = None
    """Why ``unknown``: ``no_firmware`` (none reported), ``unorderable`` (no version a comparison can
    use), ``no_build_date`` (the advisory's fix is by build date and the firmware has none),
    ``line`` (a firmware line the knowledge base's excerpt of the advisory does not cover),
    ``between`` (between the last affected and the first fixed build the advisory names)."""


@dataclass(frozen=True)
class KevCatalogEntry:
    """One entry of CISA's Known Exploited Vulnerabilities catalogue, as imported (``camaudit kev update``)."""

    cve: str
    vendor: str
    product: str
    name: str
    date_added: str
    due_date: str
    ransomware: str = "Unknown"
    description: str = ""
    required_action: str = ""
    notes: str = ""


@dataclass(frozen=True)
class KevCatalog:
    """The imported catalogue: which CVEs are listed, when they were added and their due dates."""

    version: str
    released: str
    entries: Mapping[str, KevCatalogEntry]


class _File:
    """One seed file, read and parsed by :mod:`auditor.opfile`; every check below is an
    ``opfile.Value`` check, so each error names the file and the line (the key's when known).

    The loaders keep the ``where`` + key style: ``where`` is a mapping of the parsed file
    (``f.data`` or an item of it).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        root = opfile.load(path, "knowledge file").root
        if not root.is_mapping():
            raise OperatorError("expected a mapping at the top level", str(path), 1)
        self.data: dict[str, Any] = root.data

    def _value(self, where: Any) -> Value:
        return Value(str(self.path), where, line_at(where, None, where if isinstance(where, int) else None))

    def _field(self, where: dict[str, Any], key: str, required: bool) -> Value | None:
        value = self._value(where)
        return value.require(key) if required else value.get(key)

    def fail(self, message: str, where: Any) -> OperatorError:
        return self._value(where).error(message)

    def keys(self, where: dict[str, Any], allowed: Iterable[str], what: str) -> None:
        """Refuse a key the schema does not know, naming its line (a typo must not pass silently)."""
        self._value(where).mapping(what, allowed)

    def items(self, where: dict[str, Any], key: str) -> list[dict[str, Any]]:
        value = self._value(where).get(key)
        if value is None:
            raise self.fail(f"'{key}' must be a list of mappings", where)
        return [item.data for item in value.mappings(f"'{key}'")]

    def text(self, where: dict[str, Any], key: str, *, required: bool = True) -> str | None:
        value = self._field(where, key, required)
        return None if value is None else value.text(f"'{key}'")

    def choice(self, where: dict[str, Any], key: str, options: Iterable[str], *, required: bool = True) -> str | None:
        value = self._field(where, key, required)
        return None if value is None else value.choice(f"'{key}'", options)

    def texts(self, where: dict[str, Any], key: str, *, required: bool = False) -> tuple[str, ...]:
        value = self._field(where, key, required)
        return () if value is None else value.texts(f"'{key}'")

    def regex(self, where: dict[str, Any], key: str, text: str, *, anchor: str = "") -> re.Pattern[str]:
        return (self._value(where).get(key) or self._value(where)).regex(f"'{key}'", text, anchor=anchor)

    def day(self, where: dict[str, Any], key: str) -> date | None:
        value = self._value(where).get(key)
        return None if value is None else value.date(f"'{key}'")


# ---------------------------------------------------------------- the knowledge base


@dataclass
class KnowledgeBase:
    """Everything ``seeds/vendors/`` says, indexed. Build with :func:`load_knowledge`."""

    version: str
    makers: Mapping[str, Maker]
    brands: Mapping[str, Brand]
    signatures: tuple[Signature, ...]
    oui_rules: tuple[OuiRule, ...]
    kev: tuple[KevEntry, ...]
    law: Mapping[str, Any] = field(default_factory=dict)
    kev_catalog: KevCatalog | None = None
    """CISA's catalogue as the operator imported it (``camaudit kev update``), when there is one: it
    decides which CVEs are listed and their dates; the version ranges stay the seed's."""
    registry: Registry = field(default_factory=default_registry)
    _names: tuple[tuple[re.Pattern[str], str, bool], ...] = ()
    _org_cache: dict[str, OuiRule | None] = field(default_factory=dict)

    # -- makers and brands

    def maker(self, name: str | None) -> Maker | None:
        return self.makers.get(name) if name else None

    def brand(self, name: str | None) -> Brand | None:
        return self.brands.get(name) if name else None

    def group_of(self, maker: str) -> str:
        found = self.makers.get(maker)
        return found.group if found else maker

    def same_group(self, a: str | None, b: str | None) -> bool:
        return a is not None and b is not None and self.group_of(a) == self.group_of(b)

    def brand_maker(self, brand: str | None, maker: str | None) -> BrandMaker | None:
        """The brand's entry for ``maker`` (or a maker of its group), if the brand lists it."""
        shown = self.brand(brand)
        if shown is None or maker is None:
            return None
        exact = [m for m in shown.makers if m.maker == maker]
        related = exact or [m for m in shown.makers if self.same_group(m.maker, maker)]
        return related[0] if related else None

    def coverage(self, maker: str | None, brand: str | None = None, proven: bool = False) -> Coverage:
        """Covered status of equipment made by ``maker``, shown as ``brand``.

        A brand whose relation to the maker is under review (e.g. Lorex) is never covered
        on the brand's word alone; ``proven`` (evidence of the maker beyond the brand, e.g.
        the device answers the maker's own discovery protocol) makes it the maker's
        equipment, still with the review note for a person.
        """
        found = self.maker(maker)
        if found is None:
            return Coverage(False)
        entry = self.brand_maker(brand, found.name)
        if entry is not None and entry.status == "review":
            review = entry.review or f"{brand}: relation to {found.name} needs review"
            if proven:
                return Coverage(found.covered, found.covered_basis, review)
            return Coverage(False, None, review)
        return Coverage(found.covered, found.covered_basis, found.review)

    def match_name(self, text: str | None) -> NameMatch | None:
        """Resolve free text a device showed to a maker or brand (start-anchored, whole words)."""
        if not text:
            return None
        shown = " ".join(str(text).split())[:_MAX_TEXT]
        for pattern, target, is_brand in self._names:
            if pattern.match(shown):
                if is_brand:
                    brand = self.brands[target]
                    return NameMatch(shown, brand.maker, brand.name, brand.relation, brand.status,
                                     brand.confidence, brand.candidates)
                return NameMatch(shown, target, target, "maker")
        return None

    def brand_class(self, name: str) -> str:
        """covered brand (own brand or subsidiary of a covered maker) | relabel | independent brand."""
        brand = self.brands[name]
        if any(m.relation == "OEM relabel" or m.status == "review" for m in brand.makers) or len(brand.makers) > 1:
            return "relabel"
        return "covered brand" if all(self.makers[m.maker].covered for m in brand.makers) else "independent brand"

    # -- OUI

    def owner_of_org(self, org: str) -> OuiRule | None:
        """The reviewed rule whose patterns match a registered organisation name, if any."""
        if org not in self._org_cache:
            self._org_cache[org] = next((rule for rule in self.oui_rules if rule.matches(org)), None)
        return self._org_cache[org]

    def lookup_oui(self, mac: str | None) -> OuiMatch | None:
        """Longest-prefix registry match for a globally administered unicast MAC, else None."""
        normal = normalise_mac(mac)
        if normal is None or is_locally_administered(normal) or is_multicast(normal):
            return None
        entry = self.registry.lookup(normal)
        if entry is None:
            return None
        rule = self.owner_of_org(entry.org)
        if rule is None:
            return OuiMatch(normal, entry.prefix, entry.prefix_len, entry.org, None)
        if rule.is_brand:
            brand = self.brands[rule.target]
            cover = self.coverage(brand.maker, brand.name)
            review = cover.review
            if brand.maker is None:
                review = (f"{brand.review or brand.name + ': maker not settled.'} Documented makers: "
                          f"{'; '.join(m.describe() for m in brand.makers)}.")
            return OuiMatch(normal, entry.prefix, entry.prefix_len, entry.org, brand.maker, brand.name,
                            brand.relation, cover.covered, cover.basis, review)
        cover = self.coverage(rule.target)
        return OuiMatch(normal, entry.prefix, entry.prefix_len, entry.org, rule.target, None, None,
                        cover.covered, cover.basis, cover.review)

    # -- serial numbers that are MACs

    def serials_shown_in(self, text: str | None) -> list[str]:
        """Serials a maker's firmware shows inside other text (``AXIS_<serial>`` realms, host names)."""
        if not text:
            return []
        shown = str(text).strip()[:_MAX_TEXT]
        out: list[str] = []
        for maker in self.makers.values():
            rule = maker.serial_is_mac
            for pattern in rule.shown_in if rule else ():
                for m in pattern.finditer(shown):
                    if m.group("serial") and m.group("serial") not in out:
                        out.append(m.group("serial"))
        return out

    def mac_from_serial(self, serial: str | None) -> tuple[str, str] | None:
        """(MAC, maker) when ``serial`` is a serial number of a maker whose serials are its units'
        MACs, and the registry gives that MAC to that maker; else None.

        The registry check keeps a random 12-hex serial of another maker from passing for a MAC.
        """
        text = str(serial or "").strip()
        if not text or len(text) > 32:
            return None
        for maker in self.makers.values():
            rule = maker.serial_is_mac
            if rule is None or not rule.pattern.fullmatch(text):
                continue
            mac = normalise_mac(re.sub(r"[^0-9A-Fa-f]", "", text))
            match = self.lookup_oui(mac)
            if mac and match is not None and self.same_group(match.maker, maker.name):
                return mac, maker.name
        return None

    # -- signatures

    def match_signatures(self, kind: str, value: object) -> list[Signature]:
        """Signatures of ``kind`` whose pattern is found in ``value`` (bounded text)."""
        if value is None:
            return []
        text = str(value).strip()[:_MAX_TEXT]
        if not text:
            return []
        return [s for s in self._signatures_of(kind) if s.pattern.search(text)]

    def _signatures_of(self, kind: str) -> tuple[Signature, ...]:
        return self._signatures_by_kind.get(kind, ())

    @functools.cached_property
    def _signatures_by_kind(self) -> dict[str, tuple[Signature, ...]]:
        """The signatures of each kind, in knowledge-base order: a scan asks thousands of times, and
        each kind is a small part of the whole list."""
        grouped: dict[str, list[Signature]] = {}
        for sig in self.signatures:
            grouped.setdefault(sig.kind, []).append(sig)
        return {k: tuple(v) for k, v in grouped.items()}

    # -- KEV

    def with_catalog(self, catalog: KevCatalog | None) -> KnowledgeBase:
        """This knowledge base with CISA's catalogue as the operator imported it (None: the seed alone)."""
        return self if catalog is None else replace(self, kev_catalog=catalog, _org_cache={})

    def kev_listing(self, entry: KevEntry) -> tuple[bool, str | None, str | None]:
        """(listed, date added, due date) of a seed entry: the imported catalogue's word when there is one,
        else the seed's reviewed status."""
        if self.kev_catalog is not None:
            found = self.kev_catalog.entries.get(entry.cve)
            if found is not None:
                return True, found.date_added, found.due_date
        listed = entry.kev_status == "listed"
        return (listed, entry.kev_date.isoformat() if entry.kev_date else None,
                entry.due_date.isoformat() if entry.due_date else None)

    def kev_for(self, maker: str | None, model: str | None, firmware: str | None,
                brand: str | None = None, relation: str | None = None) -> list[KevMatch]:
        """Known-exploited vulnerabilities that may apply to this device, each vulnerable/fixed/unknown.

        The firmware's real ``maker`` decides (whatever the label): a relabelled unit or an own brand
        (``relation`` ``OEM relabel``, ``own brand``) is checked against its maker's advisory even though
        its model name is the brand's, since it runs the maker's firmware. CVEs not in CISA's catalogue
        (per the imported catalogue, else the seed's review) are left out: they are not known-exploited.
        """
        results: list[KevMatch] = []
        for entry in self.kev:
            if maker is None or not self.same_group(entry.maker, maker):
                continue
            listed, added, due = self.kev_listing(entry)
            if not listed:
                continue
            # A relabel or an own brand runs the maker's own firmware platform under other model names; a
            # subsidiary (EZVIZ) has its own product lines and advisories, so the maker's models decide there.
            relabel = relation in ("OEM relabel", "own brand")
            if entry.brand is not None:
                by_model = bool(model and entry.models and entry.models.search(model))
                if brand != entry.brand and not by_model:
                    continue
            elif entry.models is not None and model and not entry.models.search(model) and not relabel:
                continue
            status, reason, fixed, kind = _kev_status(entry, firmware)
            results.append(KevMatch(
                cve=entry.cve, maker=entry.maker, title=entry.title, kev_status="listed", kev_date=added,
                status=status, reason=reason, fixed=fixed, source=entry.source, advisory=entry.advisory,
                due_date=due, unknown_kind=kind,
            ))
        return results


def _kev_status(entry: KevEntry, firmware: str | None) -> tuple[str, str, str | None, str | None]:
    """(vulnerable | fixed | unknown, the reason in words, the fixed firmware, why unknown)."""
    if not firmware or not str(firmware).strip():
        return "unknown", "the device reported no firmware version", None, "no_firmware"
    version = parse_firmware_version(firmware)
    if version is None:
        return ("unknown", f"firmware {shown(str(firmware)[:60])} holds no version number to compare with the "
                           "advisory", None, "unorderable")
    for line in entry.lines:
        if not line.firmware.search(version.raw):
            continue
        fixed = line.fixed
        if line.built_before or line.fixed_built_from:
            built = version.build_date
            if built is None:
                return ("unknown", f"{version.raw} carries no build date, and the advisory's fix is by build date "
                                   f"({line.fixed_built_from or line.built_before})", fixed, "no_build_date")
            if line.built_before and built < line.built_before:
                return "vulnerable", f"{version.raw} was built {built}, before {line.built_before}", fixed, None
            if line.fixed_built_from and built >= line.fixed_built_from:
                return "fixed", f"{version.raw} was built {built}, on or after {line.fixed_built_from}", fixed, None
            return ("unknown", f"{version.raw} was built {built}, between the advisory's affected builds (before "
                               f"{line.built_before}) and its fixed ones ({line.fixed_built_from}): check its "
                               "per-product table", fixed, "between")
        if line.affected_all:
            return "vulnerable", f"{version.raw}: every build of this line is affected ({line.note})", fixed, None
        if line.introduced and (compare_firmware(version, line.introduced) or 0) < 0:
            return "fixed", f"{version.raw} predates the affected range ({line.introduced})", fixed, None
        if fixed:
            cmp = compare_firmware(version, fixed)
            if cmp is not None:
                if cmp < 0:
                    if line.last_affected is None or (compare_firmware(version, line.last_affected) or 0) <= 0:
                        return "vulnerable", f"{version.raw} is older than the fixed {fixed}", fixed, None
                    return ("unknown", f"{version.raw} is after the last affected {line.last_affected} but before "
                                       f"the fixed {fixed}", fixed, "between")
                return "fixed", f"{version.raw} is at or after the fixed {fixed}", fixed, None
        if line.last_affected:
            cmp = compare_firmware(version, line.last_affected)
            if cmp is not None and cmp <= 0:
                return ("vulnerable", f"{version.raw} is at or before the last affected {line.last_affected}",
                        fixed, None)
            if cmp is not None:
                return ("unknown", f"{version.raw} is after the last affected {line.last_affected}, and the vendor "
                                   "published no fixed version", fixed, "between")
        return ("unknown", f"{version.raw} cannot be ordered against the advisory's versions (another numbering)",
                fixed, "unorderable")
    return ("unknown", f"{version.raw} is a firmware line the knowledge base's excerpt of the advisory does not "
                       "cover", None, "line")


# ---------------------------------------------------------------- loading


_MAKER_KEYS = ("name", "legal_name", "country", "kind", "group", "covered", "names", "review", "note", "sources",
               "serial_is_mac", "video_lines")
_SERIAL_MAC_KEYS = ("pattern", "shown_in", "source", "note")
_COVERED_KEYS = ("ndaa_889", "fcc_covered_list", "basis")
_BRAND_KEYS = ("name", "names", "maker", "makers", "relation", "status", "confidence", "source", "lines",
               "period", "review", "note")
_BRAND_MAKER_KEYS = ("maker", "relation", "status", "confidence", "source", "lines", "period", "review", "note")

_NamePattern = tuple[re.Pattern[str], str, bool]
"""(pattern, maker or brand name, is_brand)"""


def _name_patterns(f: _File, where: dict[str, Any], target: str, is_brand: bool) -> list[_NamePattern]:
    """``names``: start-anchored, whole-word, case-insensitive regexes of what devices show."""
    return [(f.regex(where, "names", pattern + r"\b", anchor="^"), target, is_brand)
            for pattern in f.texts(where, "names", required=is_brand)]


def _load_makers(f: _File) -> tuple[str, dict[str, Maker], dict[str, Any], list[_NamePattern]]:
    f.keys(f.data, ("kb_version", "law", "makers"), "makers.yaml")
    version = f.text(f.data, "kb_version")
    assert version is not None
    makers: dict[str, Maker] = {}
    names: list[_NamePattern] = []
    for item in f.items(f.data, "makers"):
        f.keys(item, _MAKER_KEYS, "maker")
        name = f.text(item, "name")
        assert name is not None
        if name in makers:
            raise f.fail(f"duplicate maker {name!r}", item)
        covered = item.get("covered")
        if covered is not None and not isinstance(covered, dict):
            raise f.fail("'covered' must be a mapping or null", item)
        if covered:
            f.keys(covered, _COVERED_KEYS, f"maker {name!r} covered")
        sources = f.texts(item, "sources", required=True)
        if not sources:
            raise f.fail(f"maker {name!r} has no sources", item)
        makers[name] = Maker(
            name=name,
            legal_name=f.text(item, "legal_name") or name,
            country=f.text(item, "country") or "",
            kind=f.choice(item, "kind", KINDS) or "video",
            group=f.text(item, "group", required=False) or name,
            covered=covered is not None,
            covered_basis=f.text(covered, "basis") if covered else None,
            ndaa_889=f.text(covered, "ndaa_889", required=False) if covered else None,
            fcc_covered_list=bool(covered.get("fcc_covered_list")) if covered else False,
            review=f.text(item, "review", required=False),
            note=f.text(item, "note", required=False),
            sources=sources,
            serial_is_mac=_serial_mac(f, item, name),
            video_lines=f.text(item, "video_lines", required=False),
        )
        names.extend(_name_patterns(f, item, name, False))
    law = f.data.get("law") or {}
    return version, makers, law, names


def _serial_mac(f: _File, item: dict[str, Any], maker: str) -> SerialMac | None:
    rule = item.get("serial_is_mac")
    if rule is None:
        return None
    if not isinstance(rule, dict):
        raise f.fail(f"maker {maker!r}: 'serial_is_mac' must be a mapping", item)
    f.keys(rule, _SERIAL_MAC_KEYS, f"maker {maker!r} serial_is_mac")
    shown_in = tuple(f.regex(rule, "shown_in", p) for p in f.texts(rule, "shown_in"))
    for pattern in shown_in:
        if "serial" not in pattern.groupindex:
            raise f.fail(f"maker {maker!r}: each 'shown_in' pattern needs a (?P<serial>...) group", rule)
    return SerialMac(pattern=f.regex(rule, "pattern", f.text(rule, "pattern") or "", anchor="^"),
                     shown_in=shown_in, source=f.text(rule, "source") or "",
                     note=f.text(rule, "note", required=False) or "")


def _brand_maker(f: _File, item: dict[str, Any], brand: str, makers: Mapping[str, Maker]) -> BrandMaker:
    maker = f.text(item, "maker")
    assert maker is not None
    if maker not in makers:
        raise f.fail(f"brand {brand!r}: unknown maker {maker!r}", item)
    status = f.choice(item, "status", STATUSES) or "confirmed"
    source = f.text(item, "source") or ""
    return BrandMaker(
        maker=maker,
        relation=f.choice(item, "relation", RELATIONS) or "",
        status=status,
        confidence=f.choice(item, "confidence", CONFIDENCE_LEVELS) or "low",
        source=source,
        lines=f.text(item, "lines", required=False),
        period=f.text(item, "period", required=False),
        review=f.text(item, "review", required=status == "review"),
        note=f.text(item, "note", required=False),
    )


def _load_brands(f: _File, makers: Mapping[str, Maker]) -> tuple[dict[str, Brand], list[_NamePattern]]:
    f.keys(f.data, ("brands",), "brands.yaml (maker names live in makers.yaml, under each maker's 'names')")
    names: list[_NamePattern] = []
    brands: dict[str, Brand] = {}
    for item in f.items(f.data, "brands"):
        f.keys(item, _BRAND_KEYS, "brand")
        name = f.text(item, "name")
        assert name is not None
        if name in brands or name in makers:
            raise f.fail(f"duplicate brand {name!r}", item)
        if ("maker" in item) == ("makers" in item):
            raise f.fail(f"brand {name!r}: give either 'maker' (one maker) or 'makers' (a list)", item)
        if "makers" in item:
            extra = [k for k in ("relation", "status", "confidence", "source", "lines", "period") if k in item]
            if extra:
                raise f.fail(f"brand {name!r}: with 'makers', put {', '.join(extra)} under each maker", item)
            entries = []
            for sub in f.items(item, "makers"):
                f.keys(sub, _BRAND_MAKER_KEYS, f"brand {name!r} maker")
                entries.append(_brand_maker(f, sub, name, makers))
            if not entries:
                raise f.fail(f"brand {name!r}: 'makers' is empty", item)
            if len({e.maker for e in entries}) != len(entries):
                raise f.fail(f"brand {name!r}: a maker is listed twice", item)
            review = f.text(item, "review", required=len(entries) > 1)
        else:
            entries = [_brand_maker(f, item, name, makers)]
            review = None
        brands[name] = Brand(name=name, makers=tuple(entries), review=review,
                             note=f.text(item, "note", required=False))
        names.extend(_name_patterns(f, item, name, True))
    return brands, names


def _load_oui(f: _File, makers: Mapping[str, Maker], brands: Mapping[str, Brand]) -> tuple[OuiRule, ...]:
    rules: list[OuiRule] = []
    f.keys(f.data, ("source_registry", "source_copy", "entries"), "oui-patterns.yaml")
    for item in f.items(f.data, "entries"):
        f.keys(item, ("maker", "brand", "patterns", "expected_orgs", "traps", "note", "source"), "entry")
        maker = f.text(item, "maker", required=False)
        brand = f.text(item, "brand", required=False)
        if (maker is None) == (brand is None):
            raise f.fail("each entry names exactly one of 'maker' or 'brand'", item)
        if maker is not None and maker not in makers:
            raise f.fail(f"unknown maker {maker!r}", item)
        if brand is not None and brand not in brands:
            raise f.fail(f"unknown brand {brand!r}", item)
        patterns = tuple(f.regex(item, "patterns", p) for p in f.texts(item, "patterns", required=True))
        rules.append(OuiRule(
            target=maker or brand or "", is_brand=brand is not None, patterns=patterns,
            expected_orgs=f.texts(item, "expected_orgs", required=True), traps=f.texts(item, "traps"),
            note=f.text(item, "note", required=False), source=f.text(item, "source") or "",
            line=line_at(item) or 0,
        ))
    return tuple(rules)


def _load_signatures(f: _File, makers: Mapping[str, Maker], brands: Mapping[str, Brand]) -> tuple[Signature, ...]:
    out: list[Signature] = []
    seen: set[str] = set()
    f.keys(f.data, ("signatures",), "signatures.yaml")
    for item in f.items(f.data, "signatures"):
        f.keys(item, ("id", "kind", "pattern", "maker", "brand", "device_class", "strength", "note", "source"),
               "signature")
        sid = f.text(item, "id")
        assert sid is not None
        if sid in seen:
            raise f.fail(f"duplicate signature id {sid!r}", item)
        seen.add(sid)
        maker = f.text(item, "maker", required=False)
        brand = f.text(item, "brand", required=False)
        if maker is not None and maker not in makers:
            raise f.fail(f"{sid}: unknown maker {maker!r}", item)
        if brand is not None and brand not in brands:
            raise f.fail(f"{sid}: unknown brand {brand!r}", item)
        if brand is not None and maker is not None and maker not in brands[brand].candidates:
            raise f.fail(f"{sid}: brand {brand!r} does not list maker {maker!r}", item)
        if brand is not None and maker is None and brands[brand].maker is None:
            raise f.fail(f"{sid}: brand {brand!r} has several makers: name the one this line comes from", item)
        device_class = f.choice(item, "device_class", CLASSES, required=False)
        if maker is None and brand is None and device_class is None:
            raise f.fail(f"{sid}: names no maker, brand or device_class", item)
        out.append(Signature(
            id=sid, kind=f.choice(item, "kind", SIGNATURE_KINDS) or "",
            pattern=f.regex(item, "pattern", f.text(item, "pattern") or ""),
            strength=f.choice(item, "strength", STRENGTHS) or "weak",
            note=f.text(item, "note") or "", source=f.text(item, "source") or "",
            maker=maker if maker is not None or brand is None else brands[brand].maker,
            brand=brand, device_class=device_class,
        ))
    return tuple(out)


def _load_kev(f: _File, makers: Mapping[str, Maker], brands: Mapping[str, Brand]) -> tuple[KevEntry, ...]:
    out: list[KevEntry] = []
    f.keys(f.data, ("kev",), "firmware-kev.yaml")
    for item in f.items(f.data, "kev"):
        f.keys(item, ("cve", "maker", "brand", "title", "kev", "source", "kev_source", "advisory", "verified", "models",
                      "lines", "review"),
               "kev entry")
        cve = f.text(item, "cve")
        maker = f.text(item, "maker")
        assert cve is not None and maker is not None
        if not re.fullmatch(r"CVE-\d{4}-\d{4,}", cve):
            raise f.fail(f"'{cve}' is not a CVE id", item)
        if maker not in makers:
            raise f.fail(f"{cve}: unknown maker {maker!r}", item)
        brand = f.text(item, "brand", required=False)
        if brand is not None and brand not in brands:
            raise f.fail(f"{cve}: unknown brand {brand!r}", item)
        kev = item.get("kev")
        if not isinstance(kev, dict):
            raise f.fail(f"{cve}: 'kev' must be a mapping with status", item)
        f.keys(kev, ("status", "date_added", "due_date", "checked"), f"{cve} kev")
        for line in f.items(item, "lines"):
            f.keys(line, ("firmware", "platforms", "introduced", "last_affected", "fixed", "affected_all",
                          "built_before", "fixed_built_from", "note"), f"{cve} line")
        models = f.text(item, "models", required=False)
        lines = [
            KevLine(
                firmware=f.regex(line, "firmware", f.text(line, "firmware") or "."),
                platforms=f.texts(line, "platforms"),
                introduced=f.text(line, "introduced", required=False),
                last_affected=f.text(line, "last_affected", required=False),
                fixed=f.text(line, "fixed", required=False),
                affected_all=bool(line.get("affected_all", False)),
                built_before=f.day(line, "built_before"),
                fixed_built_from=f.day(line, "fixed_built_from"),
                note=f.text(line, "note", required=False) or "",
            )
            for line in f.items(item, "lines")
        ]
        out.append(KevEntry(
            cve=cve, maker=maker, title=f.text(item, "title") or "",
            kev_status=f.choice(kev, "status", ("listed", "not_listed")) or "not_listed",
            kev_date=f.day(kev, "date_added"), due_date=f.day(kev, "due_date"), source=f.text(item, "source") or "",
            lines=tuple(lines), brand=brand,
            models=f.regex(item, "models", models) if models else None,
            advisory=f.text(item, "advisory", required=False),
            verified=f.text(item, "verified", required=False) or "partial",
        ))
    return tuple(out)


FILES: tuple[str, ...] = ("makers.yaml", "brands.yaml", "oui-patterns.yaml", "signatures.yaml", "firmware-kev.yaml")


def _build(directory: Path, registry: Registry) -> KnowledgeBase:
    missing = [name for name in FILES if not (directory / name).is_file()]
    if missing:
        raise OperatorError(f"knowledge base incomplete: missing {', '.join(missing)}", str(directory))
    version, makers, law, maker_names = _load_makers(_File(directory / "makers.yaml"))
    brands, names = _load_brands(_File(directory / "brands.yaml"), makers)
    names.extend(maker_names)
    # Longer patterns first, so "prama hikvision" wins over "hikvision"-style prefixes.
    names.sort(key=lambda entry: -len(entry[0].pattern))
    oui_rules = _load_oui(_File(directory / "oui-patterns.yaml"), makers, brands)
    signatures = _load_signatures(_File(directory / "signatures.yaml"), makers, brands)
    kev = _load_kev(_File(directory / "firmware-kev.yaml"), makers, brands)
    return KnowledgeBase(version=version, makers=makers, brands=brands, signatures=signatures,
                         oui_rules=oui_rules, kev=kev, law=law, registry=registry, _names=tuple(names))


@functools.lru_cache(maxsize=8)
def _cached(directory: Path) -> KnowledgeBase:
    return _build(directory, default_registry())


def default_directory() -> Path:
    return data_dir("seeds") / "vendors"


def load_knowledge(directory: str | Path | None = None, registry: Registry | None = None) -> KnowledgeBase:
    """Load (once per directory) the knowledge base; the shipped one when ``directory`` is None."""
    path = Path(directory).resolve() if directory is not None else default_directory().resolve()
    if registry is not None:
        return _build(path, registry)
    return _cached(path)


def lookup_oui(mac: str | None) -> OuiMatch | None:
    """Module-level convenience: :meth:`KnowledgeBase.lookup_oui` on the shipped knowledge base."""
    return load_knowledge().lookup_oui(mac)



def oui_answer(kb: KnowledgeBase, text: str) -> dict[str, Any]:
    """One MAC's registry answer as plain data (what ``camaudit oui --json`` prints).

    ``OperatorError`` if ``text`` is no MAC address.
    """
    mac = normalise_mac(text)
    if mac is None:
        raise OperatorError(f"{shown(text)} is not a MAC address (expected e.g. c0:56:e3:12:34:56)")
    answer: dict[str, Any] = {"mac": mac, "prefix": None, "prefix_len": None, "org": None, "maker": None,
                              "brand": None, "relation": None, "covered": False, "covered_basis": None,
                              "review": None, "note": None}
    if is_locally_administered(mac):
        answer["note"] = "locally administered (randomised or assigned by software): no registered maker"
        return answer
    if is_multicast(mac):
        answer["note"] = "multicast/group address: not a device"
        return answer
    match = kb.lookup_oui(mac)
    if match is None:
        answer["note"] = "not in the IEEE registry copy scapy ships"
        return answer
    answer.update({k: v for k, v in asdict(match).items() if k in answer and k != "mac"})
    if match.maker is None and match.brand is None:
        answer["note"] = "organisation not mapped to a maker in the knowledge base"
    elif match.maker is None:
        answer["note"] = "a brand that has sold several makers' equipment: the OUI alone does not settle which"
    return answer
