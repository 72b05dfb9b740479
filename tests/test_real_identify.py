"""Every real reply (tests/real) identifies as documented: alone, and together per device.

Each item goes through the parser its probe uses (tests/real_corpus.py) and the scan's own
assembly and identification, with the shipped knowledge base; the result must be the
manifest's ``expected``:

* ``maker``: that maker (or one of its group), or none at all where the manifest says the
  item carries no maker evidence (``maker: null`` with its reason) — identification must
  not guess one;
* ``covered``: exactly as documented (a covered maker under any brand is covered; nothing
  else is);
* ``class``: as documented (``unknown`` where the item alone cannot show it).

Items from one device (manifest ``device.id``) are then identified together, as a scan
that saw all those replies from one address would: the maker any of them establishes,
covered if any is, the class any of them documents.

A failure names the item and shows the identity's strongest evidence. Fix identification
or the knowledge base in a general way (never for one sample), or, where the item truly
carries no such evidence, the manifest with the reason.
"""

from __future__ import annotations

from typing import Any

import pytest
from real_corpus import Item, devices, identify_observations, load_manifest, parse

from auditor.knowledge import KnowledgeBase, load_knowledge
from auditor.models import Identity, Observation

KB = load_knowledge()
ITEMS = [i for i in load_manifest() if i.parser is not None]
GROUPS = {dev: items for dev, items in devices(ITEMS).items() if len(items) > 1}


def _identity(items: list[Item]) -> Identity | None:
    observations: list[Observation] = []
    for item in items:
        observations.extend(parse(item).observations)
    return identify_observations(observations, KB)


def _evidence(identity: Identity | None) -> str:
    if identity is None:
        return "no observation"
    return "; ".join(f"{e.strength} {e.probe}.{e.field}={e.value!r}->{e.supports or '-'}"
                     for e in identity.evidence[:4]) or "no evidence"


def _same_maker(kb: KnowledgeBase, want: str, got: str | None) -> bool:
    return got is not None and (want.casefold() == got.casefold() or kb.same_group(want, got))


def _check(label: str, expected: dict[str, Any], identity: Identity | None) -> None:
    why = _evidence(identity)
    maker = identity.maker if identity else None
    if expected["maker"] is None:
        assert maker is None, f"{label}: named {maker}, but the item carries no maker evidence " \
                              f"({expected.get('reason')}); evidence: {why}"
    else:
        assert _same_maker(KB, expected["maker"], maker), \
            f"{label}: maker {maker or 'unknown'}, expected {expected['maker']}; evidence: {why}"
    covered = bool(identity and identity.covered)
    assert covered == expected["covered"], f"{label}: covered={covered}, expected {expected['covered']}; {why}"
    want_class = expected.get("class")
    if want_class is not None:
        got_class = identity.device_class if identity else "unknown"
        assert got_class == want_class, f"{label}: class {got_class}, expected {want_class}; evidence: {why}"


@pytest.mark.parametrize("item", ITEMS, ids=[i.id for i in ITEMS])
def test_each_real_reply_identifies_as_documented(item: Item) -> None:
    _check(item.where + " " + item.id, item.expected, _identity([item]))


def _device_expected(items: list[Item]) -> dict[str, Any]:
    makers = {i.expected["maker"] for i in items if i.expected["maker"]}
    assert len(makers) <= 1, f"items of one device document different makers: {sorted(makers)}"
    classes = {i.expected.get("class") for i in items} - {None, "unknown"}
    assert len(classes) <= 1, f"items of one device document different classes: {sorted(classes)}"
    return {"maker": next(iter(makers), None), "covered": any(i.expected["covered"] for i in items),
            "class": next(iter(classes), None), "reason": "no item of the device names a maker"}


@pytest.mark.parametrize("device", sorted(GROUPS), ids=sorted(GROUPS))
def test_each_devices_replies_together_identify_as_documented(device: str) -> None:
    items = GROUPS[device]
    _check(f"device {device} ({len(items)} items)", _device_expected(items), _identity(items))


def test_the_corpus_covers_what_the_issue_asks() -> None:
    """At least 100 items from at least 12 makers, covered and independent ones, several multi-item devices."""
    assert len(ITEMS) >= 100
    assert len({i.expected["maker"] for i in ITEMS if i.expected["maker"]}) >= 12
    assert sum(1 for i in ITEMS if i.expected["covered"]) >= 30
    assert len(GROUPS) >= 5
