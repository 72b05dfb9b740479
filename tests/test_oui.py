"""IEEE registry lookups: longest prefix over scapy's data, reviewed org-name patterns."""

from __future__ import annotations

import pytest

from auditor.knowledge import load_knowledge
from auditor.mac import is_locally_administered
from auditor.oui import Registry, default_registry

KB = load_knowledge()
ORGS = default_registry().organisations()
# One pass over the registry: org name -> every rule (maker/brand) whose patterns match it.
CLAIMS: dict[str, list[str]] = {}
for _org in ORGS:
    for _rule in KB.oui_rules:
        if _rule.matches(_org):
            CLAIMS.setdefault(_org, []).append(_rule.target)


def test_registry_has_all_block_sizes() -> None:
    sizes = {entry.prefix_len for entry in default_registry().entries()}
    assert sizes == {24, 28, 36}
    assert len(ORGS) > 20_000


@pytest.mark.parametrize("rule", KB.oui_rules, ids=lambda r: r.target)
def test_patterns_match_exactly_the_reviewed_registry_names(rule: object) -> None:
    """A registry update that adds a name (or a trap) fails here until a person reviews it."""
    from auditor.knowledge import OuiRule

    assert isinstance(rule, OuiRule)
    matched = {org for org, owners in CLAIMS.items() if rule.target in owners}
    assert matched == set(rule.expected_orgs), f"review oui-patterns.yaml line {rule.line}"
    for trap in rule.traps:
        assert not rule.matches(trap)


def test_no_org_claimed_by_two_rules() -> None:
    assert {org: owners for org, owners in CLAIMS.items() if len(owners) > 1} == {}


@pytest.mark.parametrize(
    ("mac", "prefix", "length", "maker", "brand", "covered"),
    [
        ("c0:56:e3:12:34:56", "C0:56:E3", 24, "Hikvision", None, True),
        ("C0-56-E3-12-34-56", "C0:56:E3", 24, "Hikvision", None, True),
        ("24:b1:05:00:00:01", "24:B1:05", 24, "Hikvision", "Prama Hikvision India", True),
        ("3c:ef:8c:00:00:01", "3C:EF:8C", 24, "Dahua", None, True),
        ("00:65:1e:00:00:01", "00:65:1E", 24, "Dahua", "Amcrest", True),
        ("00:1f:54:00:00:01", "00:1F:54", 24, "Dahua", "Lorex", False),  # review, not covered
        ("00:40:8c:11:22:33", "00:40:8C", 24, "Axis", None, False),
        ("64:69:bc:00:00:01", "64:69:BC", 24, "Hytera", None, True),
        ("48:ea:63:00:00:01", "48:EA:63", 24, "Uniview", None, False),
        # MA-M /28: the Shanghai Dahua Scale Factory trap inside 40:2C:76
        ("40:2c:76:1a:bc:de", "40:2C:76:1", 28, None, None, False),
        # MA-S /36
        ("00:1b:c5:00:01:23", "00:1B:C5:00:0", 36, None, None, False),
    ],
)
def test_lookup(mac: str, prefix: str, length: int, maker: str | None, brand: str | None, covered: bool) -> None:
    match = KB.lookup_oui(mac)
    assert match is not None
    assert (match.prefix, match.prefix_len, match.maker, match.brand, match.covered) == (
        prefix, length, maker, brand, covered)


def test_dahua_scale_factory_is_not_dahua() -> None:
    match = KB.lookup_oui("40:2c:76:1a:bc:de")
    assert match is not None and match.org == "Shanghai Dahua Scale Factory" and match.maker is None


def test_honor_is_not_huawei() -> None:
    honor = next(e for e in default_registry().entries() if e.org == "Honor Device Co., Ltd." and e.prefix_len == 24)
    match = KB.lookup_oui(honor.prefix.lower() + ":00:00:01")
    assert match is not None and match.maker == "Honor" and not match.covered


def test_huawei_device_spelling_is_huawei() -> None:
    block = next(e for e in default_registry().entries() if e.org == "Huawei Device Co., Ltd." and e.prefix_len == 24)
    match = KB.lookup_oui(block.prefix + ":00:00:01")
    assert match is not None and match.maker == "Huawei" and match.covered


def test_hisilicon_flagged_for_review_not_covered() -> None:
    block = next(e for e in default_registry().entries() if e.org.startswith("Hisilicon"))
    match = KB.lookup_oui(block.prefix.ljust(8, "0")[:8] + ":00:00:01")
    assert match is not None and match.maker == "HiSilicon" and not match.covered and match.review


@pytest.mark.parametrize("mac", ["02:11:22:33:44:55", "c2:56:e3:12:34:56", "da:a1:19:00:00:01"])
def test_locally_administered_carries_no_maker(mac: str) -> None:
    assert is_locally_administered(mac)
    assert KB.lookup_oui(mac) is None


@pytest.mark.parametrize("junk", ["", None, "not a mac", "c0:56:e3", "01:00:5e:00:00:01", "zz:zz:zz:zz:zz:zz"])
def test_lookup_rejects_junk_and_multicast(junk: str | None) -> None:
    assert KB.lookup_oui(junk) is None


def test_longest_prefix_with_injected_registry() -> None:
    registry = Registry({
        "AA:BB:CC": ("Big", "Big Corp"),
        "AA:BB:CC:D0/28": ("Mid", "Mid Corp"),
        "AA:BB:CC:DE:F0/36": ("Small", "Small Corp"),
    })
    assert registry.lookup("aa:bb:cc:11:22:33").org == "Big Corp"  # type: ignore[union-attr]
    assert registry.lookup("aa:bb:cc:d1:22:33").org == "Mid Corp"  # type: ignore[union-attr]
    small = registry.lookup("aa:bb:cc:de:f1:23")
    assert small is not None and (small.org, small.prefix, small.prefix_len) == ("Small Corp", "AA:BB:CC:DE:F", 36)
    assert registry.lookup("aa:bb:cd:00:00:00") is None
