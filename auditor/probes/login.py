"""Makers' identity APIs with the site's credentials, the cameras behind recorders, and (opt-in)
the factory-default password check: the ``login`` probe.

Runs after the other host probes (``after_others``), so it knows whose firmware answered (the
address's maker hints: SADP → Hikvision, DHIP → Dahua, an Axis OUI or realm…) and whether a
login already failed (the device's login record in ``auditor/probes/pacing.py``, which the
ONVIF probe writes too). It sends nothing at all without credentials for the address or the
factory-default check, and nothing to a device whose answers point to no maker it knows (or
to two).

With the site's credentials (the credentials file's entry for the address) it reads the maker's
own API over the device's web port (HTTPS when the device has it), one account, one login:

* Hikvision ISAPI: ``/ISAPI/System/deviceInfo``; on a recorder also
  ``/ISAPI/ContentMgmt/InputProxy/channels`` and ``…/channels/status``;
* Dahua CGI: ``magicBox.cgi`` ``getSystemInfo``, ``getDeviceType``, ``getSoftwareVersion``; on a
  recorder also ``configManager.cgi?action=getConfig&name=RemoteDevice``;
* Axis VAPIX: ``param.cgi?action=list&group=root.Brand,root.Properties``.

The first request goes without credentials; only a 401 is answered, once, with its challenge
(Digest; Basic only over HTTPS: ``auditor/probes/httpauth.py``). A refused account is never
offered again (by any probe); a lockout signal stops every login on the device at once. Every
request goes through the device's pacing; every reply is parsed as hostile input by
``auditor/probes/vendorapi.py`` with its caps.

The factory-default check (``ctx.default_credentials``, off unless the operator asks) tries only
the device's maker's documented accounts (``seeds/vendors/default-credentials.yaml``), one
attempt each, with the request of least side effects (``MakerApi.check``), and never on a
device where any login already failed in this scan; it never lets a device see more failed
logins than its maker's lockout threshold allows (``MakerDefaults.failures_allowed``). An
accepted account is recorded by its user name only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..models import Observation
from . import httpauth, vendorapi
from .base import HostState, ProbeContext
from .channels import channel_fields
from .contract import Field, ProbeFields
from .http import FIELDS as HTTP_FIELDS
from .http import HttpProbe, HttpResponse, KeptConnection, parse_response
from .pacing import HostPacer
from .streams import ConnectFailed

_DEVICE_INFO = HTTP_FIELDS.field("device_info")
assert _DEVICE_INFO is not None

FIELDS = ProbeFields("login", (
    Field("port", "int", "the web port the maker's API was read on", 443, kept="for a person"),
    Field("scheme", "str", "`http` or `https`", "https", kept="for a person"),
    Field("api", "list[str]", "the makers' APIs read (`auditor/probes/vendorapi.py` names)",
          ["isapi-device-info", "isapi-channels"], kept="for a person: what was asked"),
    Field("user", "str", "the account the site's credentials file gave (its password is never recorded)", "admin",
          kept="for a person"),
    Field("login", "str", "the site's credentials: `accepted`, `refused`, `open` (the API answered without a "
          "login), `locked` (the device signalled a lockout), `not_tried` (`note` says why) or `unavailable` "
          "(the API is not there)", "accepted"),
    Field("auth_scheme", "str", "`Digest` or `Basic` (Basic only over HTTPS)", "Digest", kept="for a person"),
    Field("note", "str", "why no login was made, or why a recorder's channel list could not be read",
          "the site's credentials were refused"),
    Field(_DEVICE_INFO.name, _DEVICE_INFO.kind, "the identity the maker's API gave with the site's credentials "
          "(the keys of the http probe's `device_info`)", _DEVICE_INFO.example, record=_DEVICE_INFO.record),
    Field("channels_read", "bool", "a recorder's channel list was read (each camera in it is a `channel` "
          "observation)", True),
    Field("channels_empty", "int", "channel slots of the recorder with no camera configured", 2,
          kept="for a person"),
    Field("lockout", "str", "the lockout signal the device gave; no further login was attempted on it",
          "the device reports the account locked (lockStatus)"),
    Field("default_accepted", "list[str]", "user names of factory-default accounts the device accepted "
          "(`--check-default-credentials`; passwords are never recorded)", ["admin"]),
    Field("default_tried", "list[str]", "user names of factory-default accounts tried, one attempt each", ["admin"],
          kept="for a person: what was sent"),
    Field("default_note", "str", "why the factory-default check was not made for this device, or stopped",
          "not checked: a login already failed on this device in this scan"),
), note="Runs after the other host probes, only where the address's answers point to Hikvision, Dahua or Axis, "
        "and sends nothing without credentials for the address or `--check-default-credentials`. One login "
        "attempt per account per device; a refused account is not offered again by any probe.")


@dataclass(frozen=True)
class Request:
    api: str
    """The ``vendorapi`` name that parses the reply."""
    path: str
    method: str = "GET"


@dataclass(frozen=True)
class MakerApi:
    """One maker's identity API: what is read with the site's credentials, and the default-password check."""

    maker: str
    identity: tuple[Request, ...]
    channels: tuple[Request, ...]
    check: Request
    """The request of least side effects for the factory-default check: read-only, one per account."""
    source: str


ISAPI_CHANNEL_STATUS = "isapi-channel-status"
ISAPI_USER_CHECK = "isapi-user-check"

MAKER_APIS: tuple[MakerApi, ...] = (
    MakerApi("Hikvision",
             identity=(Request(vendorapi.ISAPI_DEVICE_INFO, "/ISAPI/System/deviceInfo"),),
             channels=(Request(vendorapi.ISAPI_CHANNELS, "/ISAPI/ContentMgmt/InputProxy/channels"),
                       Request(ISAPI_CHANNEL_STATUS, "/ISAPI/ContentMgmt/InputProxy/channels/status")),
             check=Request(ISAPI_USER_CHECK, "/ISAPI/Security/userCheck"),
             source="Hikvision ISAPI (real replies: tests/real/data/isapi and recorder_channels)"),
    MakerApi("Dahua",
             identity=(Request(vendorapi.DAHUA_MAGICBOX, "/cgi-bin/magicBox.cgi?action=getSystemInfo"),
                       Request(vendorapi.DAHUA_MAGICBOX, "/cgi-bin/magicBox.cgi?action=getDeviceType"),
                       Request(vendorapi.DAHUA_MAGICBOX, "/cgi-bin/magicBox.cgi?action=getSoftwareVersion")),
             channels=(Request(vendorapi.DAHUA_REMOTE_DEVICE,
                               "/cgi-bin/configManager.cgi?action=getConfig&name=RemoteDevice"),),
             check=Request(vendorapi.DAHUA_MAGICBOX, "/cgi-bin/magicBox.cgi?action=getDeviceType"),
             source="Dahua HTTP API (real replies: tests/real/data/dahua, recorder_channels; rroller/dahua)"),
    MakerApi("Axis",
             identity=(Request(vendorapi.AXIS_PARAM,
                               "/axis-cgi/param.cgi?action=list&group=root.Brand,root.Properties"),),
             channels=(),
             check=Request(vendorapi.AXIS_PARAM, "/axis-cgi/param.cgi?action=list&group=root.Brand.ProdNbr"),
             source="Axis VAPIX param.cgi (real replies: tests/real/data/axis; Kane610/axis)"),
)

_RECORDER = re.compile(r"NVR|DVR|XVR|HVR|HCVR|NVS|^i?DS-[6789]\d{3}", re.IGNORECASE)
"""A device type or model that is a recorder (Hikvision deviceType NVR/DVR, models DS-7xxx/8xxx/9xxx;
Dahua NVR/XVR/HCVR models)."""
_USER_CHECK_REFUSED = re.compile(rb"<statusValue>\s*401\s*</statusValue>", re.IGNORECASE)


@dataclass
class _Login:
    """One account's login on one device: the challenge answered, and how it went."""

    username: str
    password: str = field(repr=False)
    attempt: httpauth.Attempt | None = None
    outcome: str | None = None
    """None until the device asked for credentials; then accepted | refused | locked | not_tried."""
    note: str | None = None
    retries_left: int | None = None


class _Session:
    """The device's web port on one keep-alive connection (reopened, paced, when the server closes it),
    with at most one account's login at a time."""

    def __init__(self, probe: LoginProbe, ctx: ProbeContext, ip: str, port: int, tls: bool) -> None:
        self.ctx, self.tls = ctx, tls
        self.conn = KeptConnection(probe.http, ctx, ip, port, tls)
        self.login: _Login | None = None

    async def get(self, req: Request) -> HttpResponse | None:
        """One request, with the current login's Authorization when it has one; None: no HTTP reply."""
        if self.ctx.remaining() <= 0:
            return None
        login = self.login
        headers = None
        if login is not None and login.attempt is not None:
            attempt = login.attempt

            def headers() -> dict[str, str]:
                return {"Authorization": attempt.header(req.method, req.path)}

        data, _note, _ = await self.conn.get(req.path, last=False, method=req.method, headers=headers)
        try:
            return parse_response(data)
        except ValueError:
            return None

    async def close(self) -> None:
        await self.conn.close()


def _challenge_of(resp: HttpResponse, tls: bool) -> httpauth.Challenge:
    return httpauth.choose(httpauth.parse_challenges(resp.all("WWW-Authenticate")), tls)


async def _fetch(session: _Session, req: Request, pacer: HostPacer) -> HttpResponse | None:
    """``req`` on the session; a 401 is answered once with the session's account (its one login attempt)."""
    resp = await session.get(req)
    login = session.login
    if resp is None or resp.status != 401 or login is None or login.outcome is not None:
        return resp
    if (lock := httpauth.lockout_signal(401, resp.body, sent_credentials=False)) is not None:
        pacer.locked_out(lock)
        login.outcome, login.note = "locked", lock
        return resp
    if not pacer.may_log_in(login.username):
        login.outcome = "not_tried"
        login.note = ("the account was refused earlier in this scan, or the device signalled a lockout: "
                      "not offered again")
        return resp
    try:
        login.attempt = httpauth.Attempt(_challenge_of(resp, session.tls), login.username, login.password,
                                         tls=session.tls)
    except httpauth.AuthRefused as exc:
        login.outcome, login.note = "not_tried", str(exc)
        return resp
    answer = await session.get(req)
    if answer is not None and answer.status == 401:
        try:
            fresh = _challenge_of(answer, session.tls)
        except httpauth.AuthRefused:
            fresh = None
        if fresh is not None and fresh.params.get("stale", "").lower() == "true":
            # The nonce expired, the password was not refused (RFC 7616 §3.3): once more with the new nonce.
            login.attempt = httpauth.Attempt(fresh, login.username, login.password, tls=session.tls)
            answer = await session.get(req)
    if answer is None:
        # Credentials went out and no verdict came back: counted as a failure, never offered again.
        pacer.login(login.username, False)
        login.outcome, login.note = "refused", "no reply to the login"
        return None
    if 200 <= answer.status < 300 and not (req.api == ISAPI_USER_CHECK and _USER_CHECK_REFUSED.search(answer.body)):
        pacer.login(login.username, True)
        login.outcome = "accepted"
        return answer
    lock = httpauth.lockout_signal(answer.status, answer.body, sent_credentials=True)
    if answer.status in (401, 403) or lock is not None or req.api == ISAPI_USER_CHECK:
        pacer.login(login.username, False)
        login.retries_left = httpauth.retries_left(answer.body)
        if lock is not None:
            pacer.locked_out(lock)
            login.outcome, login.note = "locked", lock
        else:
            login.outcome = "refused"
        return answer
    login.outcome = "accepted"  # the login passed; the API itself answered otherwise (404, 500…)
    pacer.login(login.username, True)
    return answer


def _web_port(host: HostState) -> tuple[int, bool] | None:
    """The port to read the maker's API on: HTTPS when the device answered there, else port 80, else
    another web port that answered."""
    answered: list[tuple[int, bool]] = []
    for obs in host.seen:
        port = obs.fields.get("port")
        if obs.probe == "http" and isinstance(port, int) and isinstance(obs.fields.get("status"), int):
            answered.append((port, obs.fields.get("scheme") == "https"))
    if not answered:
        return None
    return min(answered, key=lambda pt: (not pt[1], pt[0] != 80, pt[0]))


def _is_recorder(identity: vendorapi.VendorIdentity, host: HostState) -> bool:
    texts = [identity.device_type, identity.model, identity.model_code]
    for obs in host.seen:
        if obs.probe == "sadp":
            texts += [obs.fields.get("device_type"), obs.fields.get("model")]
        elif obs.probe == "dhip":
            texts += [obs.fields.get("device_class"), obs.fields.get("model")]
    return any(isinstance(t, str) and _RECORDER.search(t) for t in texts)


class LoginProbe:
    name: ClassVar[str] = "login"
    after_others: ClassVar[bool] = True

    def __init__(self) -> None:
        self.http = HttpProbe(plain_ports=(), tls_ports=(443,), paths=(), max_bytes=vendorapi.MAX_BODY)

    async def probe_host(self, ctx: ProbeContext, host: HostState) -> None:
        if host.ip not in ctx.scope:
            return
        cred = ctx.credentials.for_host(host.ip) if ctx.credentials is not None else None
        if cred is None and ctx.default_credentials is None:
            return  # nothing to offer: not a packet
        makers = host.makers()
        apis = [api for api in MAKER_APIS if api.maker in makers]
        if len(apis) != 1:
            return  # no known maker API, or evidence for two makers: never send a device another maker's API
        api = apis[0]
        web = _web_port(host)
        if web is None:
            return
        port, tls = web
        pacer = ctx.host(host.ip)
        fields: dict[str, Any] = {"port": port, "scheme": "https" if tls else "http", "api": []}
        channels: list[vendorapi.RecorderChannel] = []
        channel_api = ""
        warnings: list[str] = []
        session = _Session(self, ctx, host.ip, port, tls)
        try:
            if cred is not None:
                channels, channel_api = await self._site(session, api, host, cred.username, cred.password, pacer,
                                                         fields, warnings)
            if ctx.default_credentials is not None:
                await self._defaults(ctx, session, api, cred, pacer, fields)
        except ConnectFailed as exc:
            fields.setdefault("note", f"the web port stopped answering: {exc}")
        finally:
            await session.close()
        if pacer.record.lockout is not None:
            fields["lockout"] = pacer.record.lockout
        if fields["api"]:
            fields["api"] = list(dict.fromkeys(fields["api"]))
        else:
            del fields["api"]
        ctx.emit(Observation(ip=host.ip, probe=self.name, fields=fields,
                             warning="; ".join(dict.fromkeys(warnings)) or None))
        for channel in channels:
            ctx.emit(Observation(ip=host.ip, probe="channel", fields=channel_fields(channel, channel_api)))

    # ------------------------------------------------------------ the site's credentials

    async def _site(self, session: _Session, api: MakerApi, host: HostState, username: str, password: str,
                    pacer: HostPacer, fields: dict[str, Any],
                    warnings: list[str]) -> tuple[list[vendorapi.RecorderChannel], str]:
        fields["user"] = username
        if not pacer.may_log_in(username):
            fields["login"] = "not_tried"
            fields["note"] = ("the site's credentials were refused earlier in this scan (or the device signalled a "
                              "lockout): not offered again")
            return [], ""
        session.login = login = _Login(username, password)
        table: dict[str, str] = {}
        identity: vendorapi.VendorIdentity | None = None
        for req in api.identity:
            resp = await _fetch(session, req, pacer)
            if resp is None or resp.status != 200:
                if login.outcome in ("refused", "locked", "not_tried"):
                    break
                if resp is not None and req is api.identity[0]:
                    fields["login"] = login.outcome or "unavailable"
                    fields["note"] = f"{req.path.split('?')[0]} answered HTTP {resp.status}"
                    return [], ""
                continue
            fields["api"].append(req.api)
            try:
                if req.api == vendorapi.DAHUA_MAGICBOX:
                    table.update({k: v for k, v in vendorapi.parse_dahua_table(resp.body).items() if k not in table})
                    identity = vendorapi.dahua_magicbox_identity(table)
                else:
                    identity = vendorapi.parse_identity(req.api, resp.body)
            except ValueError as exc:  # VendorReplyError, UnsafeXML: not that API's reply
                warnings.append(f"{req.path.split('?')[0]}: {str(exc)[:120]}")
        fields["login"] = login.outcome or ("open" if fields["api"] else "unavailable")
        if login.attempt is not None:
            fields["auth_scheme"] = login.attempt.challenge.scheme
        if login.outcome in ("refused", "locked", "not_tried"):
            fields["note"] = login.note or "the site's credentials were refused"
            if login.outcome == "refused" and not login.note:
                fields["note"] = "the site's credentials were refused (not offered again in this scan)"
            return [], ""
        if identity is None:
            fields.setdefault("note", "the maker's API gave no identity")
            return [], ""
        info = identity.fields()
        channels: list[vendorapi.RecorderChannel] = []
        channel_api = ""
        if api.channels and _is_recorder(identity, host):
            channels, channel_api, empty = await self._channels(session, api, pacer, fields, warnings)
            if channel_api:
                info["channels"] = len(channels)
                fields["channels_empty"] = empty
        fields["device_info"] = info
        return channels, channel_api

    async def _channels(self, session: _Session, api: MakerApi, pacer: HostPacer, fields: dict[str, Any],
                        warnings: list[str]) -> tuple[list[vendorapi.RecorderChannel], str, int]:
        """The recorder's configured cameras (empty slots left out), the list's API, and the empty slots."""
        listing: list[vendorapi.RecorderChannel] | None = None
        listed_by = ""
        for req in api.channels:
            resp = await _fetch(session, req, pacer)
            if resp is None or resp.status != 200:
                if req.api != ISAPI_CHANNEL_STATUS:
                    fields["channels_read"] = False
                    fields["note"] = (f"the recorder's channel list ({req.path}) answered "
                                      f"{'nothing' if resp is None else f'HTTP {resp.status}'}")
                    return [], "", 0
                continue
            fields["api"].append(req.api)
            try:
                if req.api == vendorapi.ISAPI_CHANNELS:
                    listing, listed_by = vendorapi.parse_isapi_channels(resp.body), req.api
                elif req.api == vendorapi.DAHUA_REMOTE_DEVICE:
                    listing, listed_by = vendorapi.parse_dahua_remote_devices(resp.body), req.api
                elif req.api == ISAPI_CHANNEL_STATUS and listing is not None:
                    listing = vendorapi.with_status(listing, vendorapi.parse_isapi_channel_status(resp.body))
            except ValueError as exc:
                warnings.append(f"{req.path}: {str(exc)[:120]}")
                if req.api != ISAPI_CHANNEL_STATUS:
                    fields["channels_read"] = False
                    fields["note"] = f"the recorder's channel list could not be read: {str(exc)[:120]}"
                    return [], "", 0
        if listing is None:
            return [], "", 0
        fields["channels_read"] = True
        configured = [c for c in listing if not c.empty]
        return configured, listed_by, len(listing) - len(configured)

    # ------------------------------------------------------------ factory defaults (opt-in)

    async def _defaults(self, ctx: ProbeContext, session: _Session, api: MakerApi, cred: Any, pacer: HostPacer,
                        fields: dict[str, Any]) -> None:
        known = ctx.default_credentials.for_maker(api.maker)
        if known is None:
            fields["default_note"] = f"no documented factory-default account for {api.maker}"
            return
        rec = pacer.record
        if rec.lockout is not None:
            fields["default_note"] = f"not checked: the device signalled a lockout ({rec.lockout})"
            return
        if rec.failed_logins:
            fields["default_note"] = ("not checked: a login already failed on this device in this scan (its maker "
                                      "locks accounts after repeated failures)")
            return
        allowed = known.failures_allowed()
        accepted: list[str] = []
        tried: list[str] = []
        for account in known.accounts:
            site_user = cred.username if cred is not None else None
            if site_user == account.username and rec.logins.get(site_user) == "accepted":
                if cred.password == account.password:  # compared here, never sent again
                    accepted.append(account.username)
                continue  # the account takes the site's password: a default would only be refused
            if not pacer.may_log_in(account.username):
                continue
            if rec.failed_logins >= allowed:
                fields["default_note"] = (f"stopped: {rec.failed_logins} failed login(s) on this device, the most "
                                          f"{api.maker}'s lockout threshold allows camaudit")
                break
            session.login = login = _Login(account.username, account.password)
            tried.append(account.username)
            resp = await _fetch(session, api.check, pacer)
            if login.outcome == "accepted":
                accepted.append(account.username)
            elif login.outcome is None:
                fields["default_note"] = (f"{api.check.path.split('?')[0]} answered "
                                          f"{'nothing' if resp is None else f'HTTP {resp.status}'} without a "
                                          "login: nothing to check there")
                break
            if login.outcome == "locked" or (login.retries_left is not None and login.retries_left <= 1):
                fields["default_note"] = f"stopped: {login.note or 'the device reports its lockout is near'}"
                break
        session.login = None
        fields["default_tried"] = tried
        fields["default_accepted"] = accepted
