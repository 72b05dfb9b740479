"""HTTP authentication as camera firmware asks for it: Digest (RFC 7616, MD5 and SHA-256, qop
``auth``) and Basic, and the lockout signals firmware sends back.

Pure functions over header values and bodies (hostile, capped): no socket, no state beyond
what the caller keeps. The credentialed readers (``auditor/probes/vendorapi.py``'s APIs read
by ``auditor/probes/login.py``) and the ONVIF probe (HTTP Digest instead of WS-Security) share
them.

Safety rules every caller follows (and tests check):

* **Basic only over TLS.** Basic sends the password itself (base64 is no protection); over
  plain HTTP a camaudit request never carries it. A device that offers only Basic on plain
  HTTP is not logged in to, and the reason is recorded (``basic_refused``).
* **One attempt per account.** :class:`Attempt` builds the Authorization for one challenge;
  a caller that is refused does not build another with the same account.
* **Lockout signals stop at once** (:func:`lockout_signal`): HTTP 423/429, a 403 after
  credentials were sent, Hikvision ISAPI ``lockStatus``/``unlockTime``/``retryLoginTime`` in a
  401 body, Dahua's "locked" errors.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..text import clean_text

MAX_CHALLENGE = 2048
"""Longest WWW-Authenticate value read."""
MAX_LOCK_BODY = 16 * 1024
"""Bytes of a refusal's body searched for a lockout signal."""

_SCHEME = re.compile(r"\s*([A-Za-z][\w-]*)\s*")
_PARAM = re.compile(r'\s*([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ECHOED = ("realm", "nonce", "opaque")
"""Challenge parameters a Digest answer repeats back to the server."""
_ALGORITHMS = {"MD5": hashlib.md5, "MD5-SESS": hashlib.md5, "SHA-256": hashlib.sha256,
               "SHA-256-SESS": hashlib.sha256}


class AuthRefused(ValueError):
    """No challenge camaudit may answer (an unknown scheme or algorithm, Basic over plain HTTP)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        """A short token for the observation: ``basic_refused``, ``unsupported``, ``no_challenge``."""


@dataclass(frozen=True)
class Challenge:
    """One parsed ``WWW-Authenticate`` challenge."""

    scheme: str
    """``Digest``, ``Basic`` or whatever the server named (case as in the standard)."""
    params: dict[str, str] = field(default_factory=dict)
    """Parameter names lower-cased; values unquoted (``realm``, ``nonce``, ``qop``, ``algorithm``…)."""

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Every challenge in the ``WWW-Authenticate`` header values (several per value are allowed)."""
    out: list[Challenge] = []
    for value in list(values)[:8]:
        text = str(value)[:MAX_CHALLENGE]
        pos = 0
        while pos < len(text):
            m = _SCHEME.match(text, pos)
            if not m:
                break
            scheme = m.group(1)
            pos = m.end()
            params: dict[str, str] = {}
            while pos < len(text):
                pm = _PARAM.match(text, pos)
                if not pm or pm.end() == pos:
                    break
                # a bare word followed by a space is the next challenge's scheme, not a parameter
                params[pm.group(1).lower()] = pm.group(2).replace('\\"', '"') if pm.group(2) is not None \
                    else pm.group(3)
                pos = pm.end()
            low = scheme.lower()
            out.append(Challenge("Digest" if low == "digest" else "Basic" if low == "basic" else scheme, params))
            if pos < len(text) and not params:
                pos += 1  # a token68 or garbage: skip a character so the loop always advances
    return out


def _h(algorithm: str, text: str) -> str:
    return _ALGORITHMS[algorithm](text.encode("utf-8")).hexdigest()


@dataclass
class Attempt:
    """One account's answer to one server's challenge: the Authorization header of each request.

    ``header(method, uri)`` gives the value for the next request (Digest counts ``nc`` up on the
    same nonce, as browsers do on a kept connection). Never holds more than the one password
    it was built with; ``repr`` shows no secret.
    """

    challenge: Challenge
    username: str
    password: str = field(repr=False)
    tls: bool = False
    _nc: int = 0
    _cnonce: str = field(default_factory=lambda: os.urandom(8).hex(), repr=False)

    def __post_init__(self) -> None:
        scheme = self.challenge.scheme
        if scheme == "Basic":
            if not self.tls:
                raise AuthRefused("the device offers only Basic authentication over plain HTTP: the password "
                                  "would cross the network readable, so none was sent", "basic_refused")
            return
        if scheme != "Digest":
            raise AuthRefused(f"unsupported authentication scheme {clean_text(scheme, 24)!r}", "unsupported")
        algorithm = self.algorithm
        if algorithm not in _ALGORITHMS:
            raise AuthRefused(f"unsupported digest algorithm {clean_text(algorithm, 24)!r}", "unsupported")
        if not self.challenge.params.get("nonce"):
            raise AuthRefused("digest challenge without a nonce", "unsupported")
        if any(_CONTROL.search(self.challenge.params.get(name, "")) for name in _ECHOED):
            # echoed into our Authorization header: a CR/LF there would split our own request
            raise AuthRefused("digest challenge with control characters in its realm, nonce or opaque",
                              "unsupported")

    @property
    def algorithm(self) -> str:
        return (self.challenge.params.get("algorithm") or "MD5").upper()

    def header(self, method: str, uri: str) -> str:
        """The ``Authorization`` value for one request."""
        if self.challenge.scheme == "Basic":
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
            return f"Basic {token}"
        p = self.challenge.params
        algorithm = self.algorithm
        realm, nonce = p.get("realm", ""), p["nonce"]
        qops = [q.strip().lower() for q in p.get("qop", "").split(",") if q.strip()]
        self._nc += 1
        nc = f"{self._nc:08x}"
        ha1 = _h(algorithm, f"{self.username}:{realm}:{self.password}")
        if algorithm.endswith("-SESS"):
            ha1 = _h(algorithm, f"{ha1}:{nonce}:{self._cnonce}")
        ha2 = _h(algorithm, f"{method}:{uri}")
        if "auth" in qops:
            response = _h(algorithm, f"{ha1}:{nonce}:{nc}:{self._cnonce}:auth:{ha2}")
        else:  # RFC 2069 form (old firmware without qop)
            response = _h(algorithm, f"{ha1}:{nonce}:{ha2}")
        parts = [f'username="{_quote(self.username)}"', f'realm="{_quote(realm)}"', f'nonce="{_quote(nonce)}"',
                 f'uri="{_quote(uri)}"', f'response="{response}"']
        if "algorithm" in p:
            parts.append(f"algorithm={p['algorithm']}")
        if "opaque" in p:
            parts.append(f'opaque="{_quote(p["opaque"])}"')
        if "auth" in qops:
            parts += ["qop=auth", f"nc={nc}", f'cnonce="{self._cnonce}"']
        return "Digest " + ", ".join(parts)


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def choose(challenges: list[Challenge], tls: bool) -> Challenge:
    """The challenge camaudit answers: Digest (SHA-256 before MD5), else Basic over TLS only.

    Raises :class:`AuthRefused` (with the reason) when none may be answered.
    """
    if not challenges:
        raise AuthRefused("the device asked for credentials without saying how (no WWW-Authenticate)",
                          "no_challenge")
    digests = [c for c in challenges if c.scheme == "Digest"
               and (c.params.get("algorithm") or "MD5").upper() in _ALGORITHMS and c.params.get("nonce")]
    if digests:
        return max(digests, key=lambda c: (c.params.get("algorithm") or "MD5").upper().startswith("SHA-256"))
    basic = [c for c in challenges if c.scheme == "Basic"]
    if basic and tls:
        return basic[0]
    if basic:
        raise AuthRefused("the device offers only Basic authentication over plain HTTP: the password would "
                          "cross the network readable, so none was sent", "basic_refused")
    raise AuthRefused(f"unsupported authentication scheme {clean_text(challenges[0].scheme, 24)!r}",
                      "unsupported")


_HIK_LOCK = re.compile(rb"<lockStatus>\s*lock(?:ed)?\s*</lockStatus>", re.IGNORECASE)
_HIK_UNLOCK_TIME = re.compile(rb"<unlockTime>\s*(\d{1,9})\s*</unlockTime>", re.IGNORECASE)
_HIK_RETRIES = re.compile(rb"<retryLoginTime>\s*(\d{1,4})\s*</retryLoginTime>", re.IGNORECASE)
_LOCK_WORDS = re.compile(rb"(?:account|user)\s*(?:is\s*)?locked|locked\s*(?:out|account|user)|too many (?:failed )?"
                         rb"(?:login|attempts|tries)|login (?:attempts|failures) exceed|maximum .{0,20}attempts",
                         re.IGNORECASE)


def retries_left(body: bytes) -> int | None:
    """Hikvision's ``retryLoginTime`` in a refusal body: how many more failed logins the account
    takes before it locks (None when the body does not say)."""
    m = _HIK_RETRIES.search(body[:MAX_LOCK_BODY])
    return int(m.group(1)) if m else None


def lockout_signal(status: int, body: bytes, *, sent_credentials: bool) -> str | None:
    """Why this reply says the account (or the client) is locked out, or None.

    HTTP 423 (Locked) and 429 (Too Many Requests) always; a 403 to a request that carried
    credentials (firmware that refuses a locked account outright); in a refusal's body,
    Hikvision's ``<lockStatus>lock</lockStatus>``, a non-zero ``<unlockTime>`` or
    ``<retryLoginTime>0</retryLoginTime>``, or words such as "account locked" / "too many
    login attempts" (Dahua and others).
    """
    if status == 423:
        return "HTTP 423 Locked"
    if status == 429:
        return "HTTP 429 Too Many Requests"
    if status not in (401, 403) and not (status >= 400 and sent_credentials):
        return None
    head = body[:MAX_LOCK_BODY]
    if _HIK_LOCK.search(head):
        return "the device reports the account locked (lockStatus)"
    m = _HIK_UNLOCK_TIME.search(head)
    if m and int(m.group(1)) > 0:
        return f"the device reports the account locked for {int(m.group(1))} s (unlockTime)"
    left = retries_left(head)
    if left == 0:
        return "the device reports no login attempts left (retryLoginTime 0)"
    if _LOCK_WORDS.search(head):
        return "the device's reply says the account is locked"
    if status == 403 and sent_credentials:
        return "HTTP 403 to a login: the device may be refusing this client or account"
    return None


__all__ = ["Attempt", "AuthRefused", "Challenge", "choose", "lockout_signal", "parse_challenges", "retries_left"]
