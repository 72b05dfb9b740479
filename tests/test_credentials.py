"""Credentials file: formats, precedence, refusal of readable files, errors with line numbers, no leaks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditor.credentials import Credential, Credentials, load_credentials
from auditor.errors import OperatorError

YAML = """\
default: {username: admin, password: "d3fault"}
hosts:
  198.18.0.10: {username: cam10, password: 12345}
subnets:
  198.18.0.0/15: {username: wide, password: w}
  198.18.1.0/24:
    username: narrow
    password: "n4rrow"
"""

TOML = """\
[default]
username = "admin"
password = "d3fault"

[hosts."198.18.0.10"]
username = "cam10"
password = "12345"

[subnets."198.18.0.0/15"]
username = "wide"
password = "w"

[subnets."198.18.1.0/24"]
username = "narrow"
password = "n4rrow"
"""


def write(tmp_path: Path, name: str, text: str, mode: int = 0o600) -> Path:
    p = tmp_path / name
    p.write_text(text)
    os.chmod(p, mode)
    return p


@pytest.mark.parametrize(("name", "text"), [("c.yaml", YAML), ("c.toml", TOML)])
def test_precedence_host_then_most_specific_subnet_then_default(tmp_path: Path, name: str, text: str) -> None:
    creds = load_credentials(write(tmp_path, name, text))
    assert creds.for_host("198.18.0.10") == Credential("cam10", "12345")
    assert creds.for_host("198.18.1.7") == Credential("narrow", "n4rrow")
    assert creds.for_host("198.19.5.5") == Credential("wide", "w")
    assert creds.for_host("10.0.0.1") == Credential("admin", "d3fault")
    assert creds.for_host("not-an-ip") is None
    assert len(creds) == 4


def test_yaml_scalars_stay_text(tmp_path: Path) -> None:
    creds = load_credentials(write(tmp_path, "c.yml", "default: {username: admin, password: no}\n"))
    assert creds.for_host("1.2.3.4") == Credential("admin", "no")


def test_no_default_means_none(tmp_path: Path) -> None:
    creds = load_credentials(write(tmp_path, "c.yaml", "hosts:\n  10.0.0.1: {username: a, password: b}\n"))
    assert creds.for_host("10.0.0.2") is None
    assert Credentials().for_host("10.0.0.1") is None


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_group_or_world_readable_refused(tmp_path: Path, mode: int) -> None:
    p = write(tmp_path, "c.yaml", YAML, mode)
    with pytest.raises(OperatorError) as err:
        load_credentials(p)
    assert str(p) in str(err.value)
    assert "group/others may read or change it; chmod 600 it" in str(err.value)


def test_owner_only_modes_accepted(tmp_path: Path) -> None:
    assert load_credentials(write(tmp_path, "c.yaml", YAML, 0o400)).default is not None


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("default: {username: a, password: b}\nbogus: 1\n", 2, "unknown key in the credentials file"),
        ("hosts:\n  10.0.0.1:\n    username: a\n    pasword: b\n", 4, "unknown key in hosts 10.0.0.1"),
        ("subnets:\n  10.0.0.0/33: {username: a, password: b}\n", 2, "not a valid CIDR"),
        ("subnets:\n  10.0.0.1/24: {username: a, password: b}\n", 2, "not a valid CIDR"),
        ("hosts:\n  cam.local: {username: a, password: b}\n", 2, "not an IP address"),
        ("default: {username: a}\n", 1, "lacks password"),
        ("default: [a, b]\n", 1, "lists are not allowed"),
        ("default: {username: a, password: b\n", 2, "invalid YAML"),
    ],
)
def test_yaml_errors_name_file_and_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    p = write(tmp_path, "c.yaml", text)
    with pytest.raises(OperatorError) as err:
        load_credentials(p)
    assert err.value.path == str(p)
    assert err.value.line == line
    assert needle in str(err.value)
    assert str(err.value).startswith(f"{p}:{line}: ")


def test_toml_unknown_key_and_bad_cidr_have_lines(tmp_path: Path) -> None:
    p = write(tmp_path, "c.toml", '[default]\nusername = "a"\npassword = "b"\nrealm = "x"\n')
    with pytest.raises(OperatorError) as err:
        load_credentials(p)
    assert err.value.line == 4 and "unknown key in default" in str(err.value) and "realm" not in str(err.value)
    p = write(tmp_path, "d.toml", '[subnets."10.0.0.0/40"]\nusername = "a"\npassword = "b"\n')
    with pytest.raises(OperatorError) as err:
        load_credentials(p)
    assert err.value.line == 1 and "CIDR" in str(err.value)


def test_missing_file_is_operator_error(tmp_path: Path) -> None:
    with pytest.raises(OperatorError):
        load_credentials(tmp_path / "absent.yaml")


def test_password_never_in_repr_or_errors(tmp_path: Path) -> None:
    creds = load_credentials(write(tmp_path, "c.yaml", YAML))
    for text in (repr(creds), str(creds), repr(creds.for_host("198.18.1.1")), f"{creds.default}"):
        assert "n4rrow" not in text and "d3fault" not in text
    assert "narrow" in repr(creds.for_host("198.18.1.1"))
    for text in ("default: {username: a, password: s3cr3t, extra: 1}\n", "default: s3cr3t\n",
                 "hosts: s3cr3t\n", "default: {username: a, password: {s3cr3t: 1}}\n"):
        p = write(tmp_path, "e.yaml", text)
        with pytest.raises(OperatorError) as err:
            load_credentials(p)
        assert "s3cr3t" not in str(err.value), text
