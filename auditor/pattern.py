"""Regular expressions from operator files, compiled with RE2: matching takes linear time.

A rules ``regex`` (and every pattern in the knowledge base) is matched against text a
device sent — hostile, and up to a few hundred characters — on every device of every
scan. Python's backtracking engine can take exponential time on a pattern such as
``(a+)+$``, and nothing can interrupt it: one careless pattern would hang an audit past
its deadline. RE2 (google-re2) never backtracks. Its syntax is the rules' dialect
(https://github.com/google/re2/wiki/Syntax, documented in rules/README.md): Python's
syntax without lookaround (``(?=``, ``(?!``, ``(?<=``), backreferences (``\\1``),
possessive quantifiers or conditionals, and with repeat counts of at most 1000.
"""

from __future__ import annotations

from typing import Any, Protocol

import re2

MAX_PATTERN = 4096
"""Characters a pattern may have: longer is a mistake, not a policy."""


class Pattern(Protocol):
    """What a compiled pattern offers (RE2's ``_Regexp``; the stdlib's ``re.Pattern`` too)."""

    @property
    def pattern(self) -> str: ...
    def search(self, text: str) -> Any: ...
    def match(self, text: str) -> Any: ...
    def fullmatch(self, text: str) -> Any: ...


class PatternError(ValueError):
    """The pattern is not valid RE2; the message says why (the caller adds file:line)."""


def _options(ignore_case: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    return options


def compile_pattern(source: str, *, ignore_case: bool = True) -> Pattern:
    """``source`` compiled with RE2 (case-insensitive unless asked); ``PatternError`` if it is not valid."""
    if len(source) > MAX_PATTERN:
        raise PatternError(f"longer than {MAX_PATTERN} characters")
    try:
        return re2.compile(source, _options(ignore_case))  # type: ignore[no-any-return]
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        raise PatternError(text) from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise PatternError(str(exc)) from None
