"""Every real reply goes through the parser its probe uses; none raises; documented fields come out.

A failure here is a parser bug found on real bytes (or a manifest mistake): fix the parser.
"""

from __future__ import annotations

import pytest
from real_corpus import Item, load_manifest, parse

ITEMS = load_manifest()
PARSED = [i for i in ITEMS if i.parser is not None]


@pytest.mark.parametrize("item", PARSED, ids=[i.id for i in PARSED])
def test_parser_reads_the_real_reply(item: Item) -> None:
    result = parse(item)
    assert result.observations, f"{item.where}: the parser produced no observation"
    for name, want in item.carries.items():
        assert name in result.fields, f"{item.where}: {name} not extracted (got {sorted(result.fields)})"
        assert result.fields[name] == want, f"{item.where}: {name} = {result.fields[name]!r}, documented {want!r}"


def test_items_without_a_parser_give_no_observation() -> None:
    for item in ITEMS:
        if item.parser is None:
            assert parse(item).observations == ()
