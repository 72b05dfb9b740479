import pytest

from auditor.errors import OperatorError
from auditor.scope import MAX_ADDRESSES, build_scope


def test_cidr_range_and_host_with_excludes():
    scope = build_scope(["198.18.0.0/29", "198.18.0.20-22", "198.18.1.5"], ["198.18.0.3"])
    addrs = [str(a) for a in scope.addresses()]
    assert addrs == ["198.18.0.1", "198.18.0.2", "198.18.0.4", "198.18.0.5", "198.18.0.6",
                     "198.18.0.20", "198.18.0.21", "198.18.0.22", "198.18.1.5"]
    assert "198.18.0.3" not in scope and "198.18.0.21" in scope and "198.18.0.0" not in scope
    assert len(scope) == 9


def test_full_range_form_and_comma_lists():
    scope = build_scope(["198.18.0.250-198.18.1.2,198.18.9.9"])
    assert len(scope) == 10 and "198.18.1.0" in scope


def test_target_file_with_comments(tmp_path):
    f = tmp_path / "targets.txt"
    f.write_text("# lobby\n198.18.0.10\n\n198.18.0.0/30  # cams\n")
    assert [str(a) for a in build_scope([f"@{f}"]).addresses()] == ["198.18.0.1", "198.18.0.2", "198.18.0.10"]


def test_bad_entry_in_file_names_file_and_line(tmp_path):
    f = tmp_path / "targets.txt"
    f.write_text("198.18.0.10\n198.18.0.300\n")
    with pytest.raises(OperatorError) as err:
        build_scope([f"@{f}"])
    assert str(err.value).startswith(f"{f}:2: invalid target '198.18.0.300'")


@pytest.mark.parametrize("bad", ["198.18.0.0/33", "nonsense", "198.18.0.50-10", "198.18.0.1-300"])
def test_invalid_targets(bad):
    with pytest.raises(OperatorError, match="invalid target"):
        build_scope([bad])


def test_no_target_no_scan():
    with pytest.raises(OperatorError, match="no targets"):
        build_scope([])


@pytest.mark.parametrize("public", ["8.8.8.0/24", "1.1.1.1", "96.0.0.0/4", "198.18.0.0/14"])
def test_public_refused_without_flag(public):
    with pytest.raises(OperatorError, match="allow-public"):
        build_scope([public])
    assert len(build_scope([public], allow_public=True, allow_large=True)) > 0


def test_large_refused_without_flag():
    with pytest.raises(OperatorError, match="allow-large"):
        build_scope(["10.0.0.0/15"])
    assert len(build_scope(["10.0.0.0/15"], allow_large=True)) > MAX_ADDRESSES
    assert len(build_scope(["10.0.0.0/16"])) == 65_534


def test_excludes_everything():
    with pytest.raises(OperatorError, match="no address"):
        build_scope(["198.18.0.5"], ["198.18.0.0/24"])


@pytest.mark.parametrize("bad", ["0.0.0.0", "255.255.255.255", "239.255.255.250", "240.0.0.0/4",
                                 "223.255.255.254-224.0.0.1"])
def test_non_host_addresses_refused_whatever_the_flags(bad):
    with pytest.raises(OperatorError, match="not unicast hosts"):
        build_scope([bad], allow_public=True, allow_large=True)
