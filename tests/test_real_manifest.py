"""The real-reply corpus manifest (tests/real/manifest/*.yaml) is complete and well formed."""

from __future__ import annotations

from pathlib import Path

import pytest
from real_corpus import DATA_DIR, PARSERS, load_manifest

from auditor.errors import OperatorError

ITEMS = load_manifest()


def test_corpus_is_large_and_varied() -> None:
    assert len(ITEMS) >= 100
    makers = {i.device["maker"] for i in ITEMS if i.device["maker"]}
    assert len(makers) >= 12, sorted(makers)


def test_every_data_file_is_an_item_and_every_item_has_its_file() -> None:
    listed = {i.file.resolve() for i in ITEMS}
    on_disk = {p.resolve() for p in DATA_DIR.rglob("*") if p.is_file()}
    assert on_disk - listed == set(), "data files no manifest item names"
    assert listed <= on_disk


def test_ids_unique_and_every_item_documented() -> None:
    ids = [i.id for i in ITEMS]
    assert len(ids) == len(set(ids))
    for item in ITEMS:
        assert item.source and item.why_real and item.anonymised, item.where
        assert "maker" in item.expected and "covered" in item.expected, item.where
        if item.expected["maker"] is None:
            assert item.expected.get("reason"), f"{item.where}: a null maker needs its reason"


def test_every_kind_a_probe_parses_is_represented() -> None:
    kinds = {i.kind for i in ITEMS}
    for kind in ("sadp", "dhip", "wsdiscovery", "onvif", "http", "isapi_device_info", "rtsp", "tls_name",
                 "tls_certificate", "banner", "dahua_magicbox", "dahua_remote_device", "axis_basicdeviceinfo",
                 "axis_param", "isapi_channels"):
        assert kind in kinds, kind
    assert set(PARSERS) == kinds, "a kind no item represents, or an item of a kind no parser is listed for"


def test_both_covered_and_independent_makers_are_in_it() -> None:
    covered = [i for i in ITEMS if i.expected["covered"]]
    independent = [i for i in ITEMS if i.expected["maker"] and not i.expected["covered"]]
    assert len(covered) >= 30 and len(independent) >= 30


BAD = [
    ("items:\n  - id: x\n", "item misses", 2),
    ("items:\n  - id: Bad Id\n    kind: sadp\n    file: f\n    published_as: raw\n    source: {url: 'https://a'}\n"
     "    why_real: one two three four five six\n    anonymised: none\n    device: {id: d, maker: null}\n"
     "    expected: {maker: null, covered: false, reason: r}\n", "lower-case", 2),
    ("items:\n  - id: ok-id\n    kind: nope\n    file: f\n    published_as: raw\n    source: {url: 'https://a'}\n"
     "    why_real: one two three four five six\n    anonymised: none\n    device: {id: d, maker: null}\n"
     "    expected: {maker: null, covered: false, reason: r}\n", "unknown kind", 3),
    ("items:\n  - id: ok-id\n    kind: sadp\n    file: nofile\n    published_as: raw\n    source: {url: 'https://a'}\n"
     "    why_real: one two three four five six\n    anonymised: none\n    device: {id: d, maker: null}\n"
     "    expected: {maker: null, covered: false, reason: r}\n", "no file", 4),
]


@pytest.mark.parametrize(("text", "message", "line"), BAD)
def test_a_bad_entry_is_named_by_file_and_line(tmp_path: Path, text: str, message: str, line: int) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(OperatorError) as err:
        load_manifest(tmp_path)
    shown = str(err.value)
    assert message in shown and f"bad.yaml:{line}:" in shown, shown
