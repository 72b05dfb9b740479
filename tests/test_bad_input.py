"""The bad-input suite: every operator file, path and number a careless or hostile operator
can hand camaudit ends as ONE line naming the file (and line where there is one), exit 2,
within its deadline, with nothing already stored lost or changed (issue 13).

One row per case: the command line (after ``camaudit``), the files to create first, the
expected exit code and message fragment, a timeout, and what must not appear. A new case
joins by adding a row to ``CASES``.

Each case runs as its own process — a hang must be a timeout here, not a stuck suite; a
crash must show as a traceback on stderr — inside a fresh network and mount namespace
(``unshare -n -m``, loopback only), so even a case that wrongly let a scan start could
not send a packet anywhere. A database holding one recorded scan is there for every
case (``seed.db``, also the ``--db`` of every scan and the ``database:`` of every config),
and must be byte-for-byte the same afterwards.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from store_factory import device, finding, record_scan

from auditor.store import Store

pytestmark = pytest.mark.netns  # needs root for unshare -n -m; CI must run it (conftest)

CAMAUDIT = str(Path(sys.executable).with_name("camaudit"))
NOBODY = 65534

# ------------------------------------------------------------------ files a case can ask for


@dataclass(frozen=True)
class Fifo:
    """A named pipe with nobody writing: reading it would block forever."""


@dataclass(frozen=True)
class Dir:
    """A directory."""


@dataclass(frozen=True)
class Mode:
    """A file with this content and permission mode (and, optionally, another owner)."""

    content: str
    mode: int
    uid: int | None = None


@dataclass(frozen=True)
class Link:
    """A symbolic link to ``target`` (relative to the case's folder), optionally owned by ``uid``."""

    target: str
    uid: int | None = None


FileSpec = str | bytes | Fifo | Dir | Mode | Link


def make_file(root: Path, name: str, spec: FileSpec) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(spec, str):
        path.write_text(spec, encoding="utf-8")
    elif isinstance(spec, bytes):
        path.write_bytes(spec)
    elif isinstance(spec, Fifo):
        os.mkfifo(path, 0o600)
    elif isinstance(spec, Dir):
        path.mkdir(exist_ok=True)
    elif isinstance(spec, Mode):
        path.write_text(spec.content, encoding="utf-8")
        os.chmod(path, spec.mode)
        if spec.uid is not None:
            os.chown(path, spec.uid, spec.uid)
    elif isinstance(spec, Link):
        path.symlink_to(spec.target)
        if spec.uid is not None:
            os.lchown(path, spec.uid, spec.uid)


# ------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    """After ``camaudit``; run in the case's folder."""
    message: str
    """A fragment the one line on stderr must hold."""
    files: dict[str, FileSpec] = field(default_factory=dict)
    exit: int = 2
    timeout: float = 10.0
    setup: str = ""
    """Shell run inside the namespaces first (e.g. mounting a read-only file system)."""
    never: tuple[str, ...] = ()
    """Text that must not appear in the output (a password, a whole echoed number)."""
    max_line: int = 500


RULE = """\
rules:
  - id: t.r
    title: T
    severity: low
    match: {match}
    message: m
"""


def rule(match: str) -> str:
    return RULE.format(match=match)


CONFIG = "site: S\ntargets: [127.0.0.1]\ninterface: lo\ndatabase: seed.db\nreport_dir: out\n"
CONFIG_TOML = 'site = "S"\ntargets = ["127.0.0.1"]\ninterface = "lo"\ndatabase = "seed.db"\nreport_dir = "out"\n'
SCAN = ("scan", "127.0.0.1", "-i", "lo", "--db", "seed.db", "--quiet")
CREDS = "default: {username: auditor, password: s3cret}\n"
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(9))
DEEP_FLOW = "rules: " + "[" * 3000 + "]" * 3000 + "\n"
DEEP_BLOCK = "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v\n"
NOT_CHAIN = "{" + "not: {" * 200 + "covered: is_true" + "}" * 201
SHALLOW_NOT_CHAIN = "{" + "not: {" * 20 + "covered: is_true" + "}" * 21
BIG_NUMBER = "9" * 5000
LONG_NAME = "r" * 300 + ".html"

CASES: list[Case] = [
    # --- rules files: what they are, how big, how they are nested, what they hold
    Case("rules-fifo", ("rules", "check", "r.yaml"), "r.yaml: rules file is a FIFO", {"r.yaml": Fifo()}),
    Case("rules-dev-zero", ("rules", "check", "/dev/zero"), "/dev/zero: rules file is a character device"),
    Case("rules-directory", ("rules", "check", "d"), "is a directory", {"d": Dir()}),
    Case("rules-too-large", ("rules", "check", "r.yaml"), "larger than 2097152 bytes",
         {"r.yaml": "# " + "x" * (2 * 1024 * 1024) + "\n"}),
    Case("rules-billion-laughs", ("rules", "check", "r.yaml"), "r.yaml:1: YAML aliases expand", {"r.yaml": LAUGHS}),
    Case("rules-recursive-alias", ("rules", "check", "r.yaml"), "recursive alias", {"r.yaml": "rules: &r [*r]\n"}),
    Case("rules-deep-flow", ("rules", "check", "r.yaml"), "r.yaml:1: nested deeper than 64", {"r.yaml": DEEP_FLOW}),
    Case("rules-deep-block", ("rules", "check", "r.yaml"), "nested deeper than 64", {"r.yaml": DEEP_BLOCK}),
    Case("rules-deep-not-chain", ("rules", "check", "r.yaml"), "r.yaml:5: nested deeper than 64",
         {"r.yaml": rule(NOT_CHAIN)}),
    Case("rules-not-chain-within-limit", ("rules", "check", "r.yaml"), "ok: 1 file(s), 1 rules",
         {"r.yaml": rule(SHALLOW_NOT_CHAIN)}, exit=0),
    Case("rules-binary-tag", ("rules", "check", "r.yaml"), "r.yaml:5: YAML tag 'tag:yaml.org,2002:binary'",
         {"r.yaml": rule("{serial: {equals: !!binary aGVsbG8=}}")}),
    Case("rules-python-tag", ("rules", "check", "r.yaml"), "is not allowed here",
         {"r.yaml": rule("{serial: {equals: !!python/object/apply:os.system [id]}}")}),
    Case("rules-gt-nan", ("rules", "check", "r.yaml"), "r.yaml:5: invalid YAML value: a number must be finite",
         {"r.yaml": rule("{clock_skew_s: {gt: .nan}}")}),
    Case("rules-gt-inf", ("rules", "check", "r.yaml"), "must be finite",
         {"r.yaml": rule("{clock_skew_s: {gt: .inf}}")}),
    Case("rules-gt-overflow", ("rules", "check", "r.yaml"), "must be finite",
         {"r.yaml": rule("{clock_skew_s: {gt: 1.0e+999}}")}),
    Case("rules-huge-integer", ("rules", "check", "r.yaml"), "r.yaml:5: invalid YAML value: integer too large",
         {"r.yaml": rule(f"{{clock_skew_s: {{gt: {BIG_NUMBER}}}}}")}, never=(BIG_NUMBER[:100],)),
    Case("rules-integer-echo-cut", ("rules", "check", "r.yaml"), "must be a string",
         {"r.yaml": rule("{covered: is_true}").replace("title: T", "title: " + "9" * 18)}, max_line=300),
    Case("rules-not-utf8", ("rules", "check", "r.yaml"), "r.yaml: not UTF-8 text", {"r.yaml": b"rules: [\xff\xfe]\n"}),
    Case("rules-nul-byte", ("rules", "check", "r.yaml"), "r.yaml:2: invalid character U+0000",
         {"r.yaml": "rules:\n  - id: t\x00\n"}),
    Case("rules-regex-lookahead", ("rules", "check", "r.yaml"), "not a valid RE2 regular expression",
         {"r.yaml": rule("{model: {regex: '(?=DS)'}}")}),
    Case("rules-regex-backreference", ("rules", "check", "r.yaml"), "not a valid RE2",
         {"r.yaml": rule(r"{model: {regex: '(a)\1'}}")}),
    Case("rules-regex-huge-repeat", ("rules", "check", "r.yaml"), "invalid repetition size",
         {"r.yaml": rule("{serial: {regex: 'a{100000}'}}")}),
    Case("rules-regex-nested-repeat", ("rules", "check", "r.yaml"), "not a valid RE2",
         {"r.yaml": rule("{serial: {regex: '(a{1000}){1000}'}}")}),
    Case("rules-inventory-fifo", ("rules", "check", "r.yaml"), "inv.csv: inventory is a FIFO",
         {"r.yaml": "inventory: inv.csv\n", "inv.csv": Fifo()}),
    Case("rules-inventory-not-utf8", ("rules", "check", "r.yaml"), "inv.csv: not UTF-8 text",
         {"r.yaml": "inventory: inv.csv\n", "inv.csv": b"mac,serial\n\xff,\n"}),
    Case("rules-inventory-bad-row", ("rules", "check", "r.yaml"), "inv.csv:3: bad MAC address",
         {"r.yaml": "inventory: inv.csv\n", "inv.csv": "mac,serial\n00:11:22:33:44:55,\nzz,\n"}),
    Case("rules-inventory-huge-field", ("rules", "check", "r.yaml"), "inv.csv:2: not a readable CSV row",
         {"r.yaml": "inventory: inv.csv\n", "inv.csv": "mac,serial\n," + "a" * 200_000 + "\n"}),
    Case("scan-rules-fifo", (*SCAN, "--rules", "r.yaml"), "r.yaml: rules file is a FIFO", {"r.yaml": Fifo()}),
    Case("scan-rules-deep", (*SCAN, "--rules", "r.yaml"), "nested deeper", {"r.yaml": DEEP_FLOW}),
    Case("identify-rules-deep", ("identify", "--scan", "1", "--db", "seed.db", "--rules", "r.yaml"),
         "nested deeper", {"r.yaml": DEEP_FLOW}),
    # --- targets and excludes files
    Case("targets-fifo", ("scan", "@t.txt", "-i", "lo", "--db", "seed.db"), "t.txt: target file is a FIFO",
         {"t.txt": Fifo()}),
    Case("targets-dev-zero", ("scan", "@/dev/zero", "-i", "lo", "--db", "seed.db"), "character device"),
    Case("targets-not-utf8", ("scan", "@t.txt", "-i", "lo", "--db", "seed.db"), "t.txt: not UTF-8 text",
         {"t.txt": b"127.0.0.1\n\xe9\n"}),
    Case("targets-nul", ("scan", "@t.txt", "-i", "lo", "--db", "seed.db"), "t.txt:2: invalid target '\\x00'",
         {"t.txt": "127.0.0.1\n\x00\n"}),
    Case("targets-long-entry", ("scan", "@t.txt", "-i", "lo", "--db", "seed.db"), "t.txt:1: invalid target",
         {"t.txt": "1" * 5000 + "\n"}, never=("1" * 100,)),
    Case("exclude-not-utf8", (*SCAN, "--exclude", "@x.txt"), "x.txt: not UTF-8 text", {"x.txt": b"\xff\n"}),
    Case("exclude-fifo", (*SCAN, "--exclude", "@x.txt"), "x.txt: target file is a FIFO", {"x.txt": Fifo()}),
    # --- numbers on the command line
    Case("rate-nan", (*SCAN, "--rate", "nan"), "'nan' is not a finite number"),
    Case("rate-inf", (*SCAN, "--rate", "inf"), "'--rate': inf is not in the range"),
    Case("deadline-nan", (*SCAN, "--deadline", "nan"), "not a finite number"),
    Case("timeout-inf", (*SCAN, "--timeout", "inf"), "is not in the range"),
    Case("timeout-nan", (*SCAN, "--timeout", "nan"), "'nan' is not a finite number"),
    Case("wait-nan", ("audit", "--config", "c.yaml", "--wait", "nan"), "not a finite number", {"c.yaml": CONFIG}),
    Case("site-not-utf8", (*SCAN, "--site", "\udcff"), "'--site': is not valid UTF-8 text"),
    Case("report-site-not-utf8", ("report", "--db", "seed.db", "--site", "\udcff", "-o", "r.html"),
         "is not valid UTF-8 text"),
    Case("scan-id-overflow", ("report", "--db", "seed.db", "--scan", "9" * 30), "is not in the range"),
    Case("diff-id-overflow", ("diff", "--db", "seed.db", "1", "9" * 30), "is not in the range"),
    # --- output paths, all checked before the first packet
    Case("report-is-directory", (*SCAN, "--report", "out"), "out: html report: is a directory", {"out": Dir()}),
    Case("report-parent-missing", (*SCAN, "--report", "nowhere/r.html"), "the directory nowhere does not exist"),
    Case("report-parent-is-file", (*SCAN, "--report", "f/r.html"), "f is not a directory", {"f": "x"}),
    Case("report-name-too-long", (*SCAN, "--report", LONG_NAME),
         "html report: cannot use this path: File name too long"),
    Case("report-read-only", (*SCAN, "--report", "ro/r.html"), "the file system is read-only", {"ro": Dir()},
         setup="mount -t tmpfs -o ro none ro"),
    Case("json-is-directory", (*SCAN, "--json", "out"), "out: json report: is a directory", {"out": Dir()}),
    Case("report-cmd-parent-missing", ("report", "--db", "seed.db", "-o", "nowhere/r.html"),
         "nowhere/r.html: cannot write the report"),
    # --- the audit config
    Case("config-fifo", ("audit", "--config", "c.yaml"), "c.yaml: config is a FIFO", {"c.yaml": Fifo()}),
    Case("config-dev-zero", ("audit", "--config", "/dev/zero"), "config is a character device"),
    Case("config-not-utf8", ("audit", "--config", "c.yaml"), "c.yaml: not UTF-8 text",
         {"c.yaml": CONFIG.encode() + b"# caf\xe9\n"}),
    Case("config-nul", ("audit", "--config", "c.yaml"), "c.yaml:6: invalid character U+0000",
         {"c.yaml": CONFIG + "fail_on: \x00\n"}),
    Case("config-deep-flow", ("audit", "--config", "c.yaml"), "nested deeper than 64",
         {"c.yaml": CONFIG + "exclude: " + "[" * 2000 + "]" * 2000 + "\n"}),
    Case("config-deep-toml", ("audit", "--config", "c.toml"), "c.toml: nested deeper than 64",
         {"c.toml": CONFIG_TOML + "exclude = " + "[" * 2000 + "]" * 2000 + "\n"}),
    Case("config-billion-laughs", ("audit", "--config", "c.yaml"), "YAML aliases expand",
         {"c.yaml": CONFIG + LAUGHS.replace("a:", "x-a:", 1)}),
    Case("config-rate-nan", ("audit", "--config", "c.yaml"), "c.yaml:6: invalid YAML value: a number must be finite",
         {"c.yaml": CONFIG + "rate: .nan\n"}),
    Case("config-deadline-nan", ("audit", "--config", "c.yaml"), "c.yaml:6: invalid YAML value: a number must be",
         {"c.yaml": CONFIG + "deadline: .nan\n"}),
    Case("config-timeout-nan", ("audit", "--config", "c.yaml"), "must be finite",
         {"c.yaml": CONFIG + "timeout: .nan\n"}),
    Case("config-rate-inf-toml", ("audit", "--config", "c.toml"), "c.toml:6: a number must be finite",
         {"c.toml": CONFIG_TOML + "rate = inf\n"}),
    Case("config-rate-too-large", ("audit", "--config", "c.yaml"), "c.yaml:6: rate must be between 1 and 100000",
         {"c.yaml": CONFIG + "rate: 1.0e+300\n"}),
    Case("config-huge-integer", ("audit", "--config", "c.yaml"), "c.yaml:6: invalid YAML value: integer too large",
         {"c.yaml": CONFIG + f"deadline: {BIG_NUMBER}\n"}, never=(BIG_NUMBER[:100],)),
    Case("config-binary-tag", ("audit", "--config", "c.yaml"), "c.yaml:6: YAML tag",
         {"c.yaml": CONFIG + "log_file: !!binary aGVsbG8=\n"}),
    Case("config-toml-line", ("audit", "--config", "c.toml"), "c.toml:9: unknown key 'bogus'",
         {"c.toml": CONFIG_TOML + 'log_file = """\nbogus = 1\n"""\nbogus = 2\n'}),
    Case("report-name-parent", ("audit", "--config", "c.yaml"), "c.yaml:6: report_name gives",
         {"c.yaml": CONFIG + "report_name: '../x-{site}'\n"}),
    Case("report-name-absolute", ("audit", "--config", "c.yaml"), "a path, not a file name",
         {"c.yaml": CONFIG + "report_name: '/etc/x'\n"}),
    Case("report-name-attribute", ("audit", "--config", "c.yaml"), "unknown field {date.__class__}",
         {"c.yaml": CONFIG + "report_name: '{date.__class__}'\n"}),
    Case("report-name-index", ("audit", "--config", "c.yaml"), "unknown field",
         {"c.yaml": CONFIG + "report_name: '{site[0]}'\n"}),
    Case("report-name-empty", ("audit", "--config", "c.yaml"), "an empty name",
         {"c.yaml": CONFIG + "report_name: '{site:.0}'\n"}),
    Case("report-name-slash-date", ("audit", "--config", "c.yaml"), "a path, not a file name",
         {"c.yaml": CONFIG + "report_name: 'r-{date:%Y/%m}'\n"}),
    Case("report-dir-is-file", ("audit", "--config", "c.yaml"), "c.yaml:5: report_dir: a file is in the way",
         {"c.yaml": CONFIG, "out": "not a directory"}),
    Case("report-dir-read-only", ("audit", "--config", "c.yaml"), "c.yaml:5: report_dir: cannot write",
         {"c.yaml": CONFIG, "out": Dir()}, setup="mount -t tmpfs -o ro none out"),
    Case("log-file-directory", ("audit", "--config", "c.yaml"), "c.yaml:6: log_file: log file: is a directory",
         {"c.yaml": CONFIG + "log_file: logs\n", "logs": Dir()}),
    Case("log-file-parent-missing", ("audit", "--config", "c.yaml"), "c.yaml:6: log_file:",
         {"c.yaml": CONFIG + "log_file: nowhere/a.log\n"}),
    Case("log-file-fifo", ("audit", "--config", "c.yaml"), "c.yaml:6: log_file: log file: not a regular file",
         {"c.yaml": CONFIG + "log_file: a.log\n", "a.log": Fifo()}),
    Case("config-targets-file-missing", ("audit", "--config", "site/c.yaml"),
         "site/c.yaml:2: targets: @site/cams.txt: cannot read target file",
         {"site/c.yaml": CONFIG.replace("[127.0.0.1]", "['@cams.txt']")}),
    Case("config-targets-file-fifo", ("audit", "--config", "site/c.yaml"), "site/c.yaml:2: targets: @",
         {"site/c.yaml": CONFIG.replace("[127.0.0.1]", "['@cams.txt']"), "site/cams.txt": Fifo()}),
    Case("config-targets-file-bad-entry", ("audit", "--config", "site/c.yaml"),
         "site/cams.txt:2: invalid target 'x': Expected 4 octets in 'x' (listed in site/c.yaml:2)",
         {"site/c.yaml": CONFIG.replace("[127.0.0.1]", "['@cams.txt']"), "site/cams.txt": "127.0.0.1\nx\n"}),
    Case("schedule-deep", ("schedule", "--config", "c.yaml"), "nested deeper",
         {"c.yaml": CONFIG + "exclude: " + "[" * 2000 + "]" * 2000 + "\n"}),
    Case("schedule-fifo", ("schedule", "--config", "c.yaml"), "config is a FIFO", {"c.yaml": Fifo()}),
    # --- credentials files
    *(Case(f"credentials-mode-{mode:04o}", (*SCAN, "--credentials", "c.yaml"), f"has mode {mode:04o}",
           {"c.yaml": Mode(CREDS, mode)}, never=("s3cret",)) for mode in (0o620, 0o640, 0o604, 0o644, 0o601)),
    Case("credentials-owner", (*SCAN, "--credentials", "c.yaml"), "is owned by uid 65534",
         {"c.yaml": Mode(CREDS, 0o600, NOBODY)}),
    Case("credentials-link-owner", (*SCAN, "--credentials", "l.yaml"), "symbolic link owned by another user",
         {"c.yaml": Mode(CREDS, 0o600), "l.yaml": Link("c.yaml", NOBODY)}),
    Case("credentials-link-target-owner", (*SCAN, "--credentials", "l.yaml"), "is owned by uid 65534",
         {"c.yaml": Mode(CREDS, 0o600, NOBODY), "l.yaml": Link("c.yaml")}),
    Case("credentials-link-target-mode", (*SCAN, "--credentials", "l.yaml"), "has mode 0640",
         {"c.yaml": Mode(CREDS, 0o640), "l.yaml": Link("c.yaml")}),
    Case("credentials-fifo", (*SCAN, "--credentials", "c.yaml"), "not a regular file", {"c.yaml": Fifo()}),
    Case("credentials-password-as-key", (*SCAN, "--credentials", "c.yaml"), "c.yaml:1: unknown key in default",
         {"c.yaml": Mode("default: {username: auditor, hunter2-secret}\n", 0o600)}, never=("hunter2",)),
    Case("credentials-syntax", (*SCAN, "--credentials", "c.yaml"), "c.yaml:2: invalid YAML syntax",
         {"c.yaml": Mode("default: {username: a, password: 'hunter2\n", 0o600)}, never=("hunter2",)),
    Case("credentials-duplicate", (*SCAN, "--credentials", "c.yaml"), "c.yaml:2: duplicate key",
         {"c.yaml": Mode("hunter2: {}\nhunter2: {}\n", 0o600)}, never=("hunter2",)),
    Case("credentials-laughs", (*SCAN, "--credentials", "c.yaml"), "YAML aliases expand",
         {"c.yaml": Mode(LAUGHS, 0o600)}),
    Case("credentials-deep", (*SCAN, "--credentials", "c.yaml"), "nested deeper", {"c.yaml": Mode(DEEP_FLOW, 0o600)}),
    Case("credentials-toml-line", (*SCAN, "--credentials", "c.toml"), "c.toml:5: unknown key in default",
         {"c.toml": Mode('[default]\nusername = "a"\npassword = """\nrealm = 1"""\nrealm = "b"\n', 0o600)},
         never=("realm",)),
    Case("credentials-binary", (*SCAN, "--credentials", "c.yaml"), "c.yaml:1: YAML tag",
         {"c.yaml": Mode("default: {username: a, password: !!binary aGVsbG8=}\n", 0o600)}),
    Case("credentials-not-utf8", (*SCAN, "--credentials", "c.yaml"), "not UTF-8",
         {"c.yaml": Mode("", 0o600)}, setup="printf 'default: \\377\\n' > c.yaml"),
    # --- a site's report templates (report --template-dir)
    Case("template-syntax", ("report", "--db", "seed.db", "--template-dir", "tpl", "-o", "r.html"),
         "tpl/report.html:1: template error (TemplateSyntaxError)", {"tpl/report.html": "{% if %}\n"}),
    Case("template-fifo", ("report", "--db", "seed.db", "--template-dir", "tpl", "-o", "r.html"),
         "tpl/_summary.html: template is a FIFO", {"tpl/_summary.html": Fifo()}),
    Case("template-recursive", ("report", "--db", "seed.db", "--template-dir", "tpl", "-o", "r.html"),
         "template error (RecursionError)", {"tpl/_summary.html": '{% include "_summary.html" %}'}),
    Case("oui-long-argument", ("oui", "a" * 5000), "is not a MAC address", never=("a" * 100,)),
    # --- an existing inventory to classify (camaudit classify): refused before the database is touched
    Case("classify-fifo", ("classify", "inv.csv", "--db", "seed.db"), "inv.csv: inventory is a FIFO",
         {"inv.csv": Fifo()}),
    Case("classify-directory", ("classify", "d", "--db", "seed.db"), "inventory is a directory", {"d": Dir()}),
    Case("classify-dev-zero", ("classify", "/dev/zero", "--db", "seed.db"), "character device"),
    Case("classify-not-utf8", ("classify", "inv.csv", "--db", "seed.db"), "inv.csv: not UTF-8 text",
         {"inv.csv": b"IP,Make\n198.18.0.1,Hik\xe9vision\n"}),
    Case("classify-no-columns", ("classify", "inv.csv", "--db", "seed.db"), "inv.csv:1: no recognisable columns",
         {"inv.csv": "colour,size\nred,3\n"}),
    Case("classify-bad-ip", ("classify", "inv.csv", "--db", "seed.db"), "inv.csv:3: row 2: bad IP address",
         {"inv.csv": "IP,MAC\n198.18.0.1,00:40:8c:00:00:01\n198.18.0.999,00:40:8c:00:00:02\n"}),
    Case("classify-bad-mac", ("classify", "inv.csv", "--db", "seed.db"), "inv.csv:2: row 1: bad MAC address",
         {"inv.csv": "IP,MAC\n198.18.0.1,00:40:8c\n"}),
    Case("classify-duplicate", ("classify", "inv.csv", "--db", "seed.db"), "row 2: duplicate of row 1",
         {"inv.csv": "IP,Make\n198.18.0.1,Axis\n198.18.0.1,Axis\n"}),
    Case("classify-huge-field", ("classify", "inv.csv", "--db", "seed.db"), "inv.csv:2: malformed CSV",
         {"inv.csv": "IP,Make\n198.18.0.1," + "a" * 200_000 + "\n"}),
    Case("classify-deep-json", ("classify", "inv.json", "--db", "seed.db"), "inv.json: not valid JSON",
         {"inv.json": "[" * 100_000 + "]" * 100_000}),
    # --- the lab's fleet file: refused before any namespace is made
    Case("fleet-fifo", ("lab", "up", "--tag", "zzbad", "--fleet", "f.yaml"), "f.yaml: fleet file is a FIFO",
         {"f.yaml": Fifo()}),
    Case("fleet-deep", ("lab", "up", "--tag", "zzbad", "--fleet", "f.yaml"), "nested deeper", {"f.yaml": DEEP_FLOW}),
]


# ------------------------------------------------------------------ running a case


def _unshare_works() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "needs root to run each case in its own network namespace (unshare -n -m)"
    if shutil.which("unshare") is None:
        return False, "util-linux 'unshare' not installed"
    return True, ""


@pytest.fixture(scope="module")
def seed_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seed") / "seed.db"
    with Store(path) as store:
        cam = device("198.18.0.10", "44:19:b6:00:00:10", serial="DS" + "a" * 40)
        record_scan(store, [cam], [finding(cam)])
    return path


def dump(db: Path) -> list[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(con.iterdump())
    finally:
        con.close()


def run_case(case: Case, folder: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    script = "ip link set lo up && " + (f"{case.setup} && " if case.setup else "")
    script += f"exec {shlex.quote(CAMAUDIT)} {shlex.join(case.argv)}"
    t0 = time.monotonic()
    proc = subprocess.run(["unshare", "-n", "-m", "sh", "-c", script], cwd=folder, capture_output=True, text=True,
                          timeout=case.timeout, env={**os.environ, "CAMAUDIT_DB": "seed.db"}, stdin=subprocess.DEVNULL)
    return proc, time.monotonic() - t0


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, seed_db: Path, tmp_path: Path) -> None:
    ok, reason = _unshare_works()
    if not ok:
        pytest.skip(reason)
    shutil.copy(seed_db, tmp_path / "seed.db")
    before_bytes = (tmp_path / "seed.db").read_bytes()
    before = dump(tmp_path / "seed.db")
    for name, spec in case.files.items():
        make_file(tmp_path, name, spec)
    try:
        proc, took = run_case(case, tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{case.id}: hung past {case.timeout}s")
    err_lines = [line for line in proc.stderr.splitlines() if line.strip()]
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode == case.exit, output
    if case.exit == 2:
        assert len(err_lines) == 1, f"expected one line on stderr, got {err_lines}"
        assert case.message in err_lines[0], err_lines[0]
        assert len(err_lines[0]) <= case.max_line
    else:
        assert case.message in proc.stdout
    for secret in case.never:
        assert secret not in output
    assert took < case.timeout
    assert dump(tmp_path / "seed.db") == before, "the stored scan changed"
    assert (tmp_path / "seed.db").read_bytes() == before_bytes


def test_every_case_has_a_unique_id() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 90


def test_the_helpers_make_what_they_say(tmp_path: Path) -> None:
    for name, spec in {"f": Fifo(), "d": Dir(), "m": Mode("x", 0o640), "l": Link("m")}.items():
        make_file(tmp_path, name, spec)
    assert stat.S_ISFIFO(os.lstat(tmp_path / "f").st_mode) and (tmp_path / "d").is_dir()
    assert stat.S_IMODE(os.stat(tmp_path / "m").st_mode) == 0o640 and (tmp_path / "l").is_symlink()

