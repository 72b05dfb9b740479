"""The makers' documented factory-default credentials (``seeds/vendors/default-credentials.yaml``).

Read only when the operator asks for the check (``--check-default-credentials``, audit config
``check_default_credentials: true``). Each account carries its public source; each maker its
lockout threshold. The passwords are shipped, public knowledge; what camaudit never stores,
logs or reports is *which device accepted one* beyond the account's user name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import opfile
from .errors import OperatorError
from .resources import data_dir

FILE = "default-credentials.yaml"
MAX_FAILED_LOGINS = 2
"""Whatever a maker's threshold, the check never lets a device see more than this many failed logins
in one scan (every probe counted): cameras without a documented lockout get no more than that."""


@dataclass(frozen=True)
class DefaultAccount:
    username: str
    password: str = field(repr=False)
    applies_to: str = ""
    source: str = ""

    def __repr__(self) -> str:
        return f"DefaultAccount(username={self.username!r}, password='***')"


@dataclass(frozen=True)
class MakerDefaults:
    maker: str
    accounts: tuple[DefaultAccount, ...]
    lockout_attempts: int | None
    """Failed logins after which the firmware locks the account; None: no documented lockout."""
    lockout_source: str = ""
    check: str = ""
    """What the check sends to this maker's devices, in words (the README quotes the seed)."""

    def failures_allowed(self) -> int:
        """The most failed logins a device of this maker may see in one scan, all probes together."""
        cap = MAX_FAILED_LOGINS
        if self.lockout_attempts is not None:
            cap = min(cap, self.lockout_attempts - 1)
        return max(0, cap)


@dataclass(frozen=True)
class DefaultCredentials:
    makers: Mapping[str, MakerDefaults]
    source: str = ""

    def for_maker(self, maker: str | None) -> MakerDefaults | None:
        return self.makers.get(maker) if maker else None


def load_default_credentials(path: str | Path | None = None,
                             known_makers: Mapping[str, object] | None = None) -> DefaultCredentials:
    """Read and check the seed; ``OperatorError`` (file:line) on any mistake. ``known_makers`` (the
    knowledge base's makers) refuses a maker name identification would never produce."""
    p = Path(path) if path is not None else data_dir("seeds") / "vendors" / FILE
    root = opfile.load(p, "default-credentials file", text_scalars=False).root
    top = root.mapping("default-credentials file", ("makers",), ("makers",))
    out: dict[str, MakerDefaults] = {}
    for item in top["makers"].mappings("'makers'"):
        entry = item.mapping("maker entry", ("maker", "check", "lockout", "accounts"), ("maker", "lockout", "accounts"))
        maker = entry["maker"].string("'maker'")
        if known_makers is not None and maker not in known_makers:
            raise entry["maker"].error(f"unknown maker {maker!r} (not in seeds/vendors/makers.yaml)")
        if maker in out:
            raise entry["maker"].error(f"maker {maker!r} listed twice")
        lockout = entry["lockout"].mapping("'lockout'", ("attempts", "source"), ("source",))
        attempts: int | None = None
        if "attempts" in lockout and lockout["attempts"].data is not None:
            attempts = lockout["attempts"].integer("'lockout.attempts'")
            if attempts < 1:
                raise lockout["attempts"].error("lockout.attempts must be at least 1 (or null)")
        accounts = []
        for acc in entry["accounts"].mappings("'accounts'"):
            fields = acc.mapping("account", ("username", "password", "applies_to", "source"),
                                 ("username", "password", "source"))
            accounts.append(DefaultAccount(
                username=fields["username"].string("'username'"),
                password=fields["password"].text("'password'"),
                applies_to=fields["applies_to"].string("'applies_to'") if "applies_to" in fields else "",
                source=fields["source"].string("'source'")))
        if not accounts:
            raise entry["accounts"].error(f"{maker}: at least one account")
        out[maker] = MakerDefaults(maker=maker, accounts=tuple(accounts), lockout_attempts=attempts,
                                   lockout_source=lockout["source"].string("'lockout.source'"),
                                   check=entry["check"].string("'check'") if "check" in entry else "")
    if not out:
        raise OperatorError("no makers listed", str(p), 1)
    return DefaultCredentials(makers=out, source=str(p))
