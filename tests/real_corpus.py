"""The real-reply corpus (``tests/real/``): its manifest, and each item turned into Observations.

Every item is a reply a real device sent, published by someone else (a test fixture of
an integration that talks to real cameras, a fingerprint database, a write-up, an
issue thread), kept byte for byte with its provenance in ``tests/real/manifest/*.yaml``.
This module is the harness: it runs an item through the SAME parse functions the
probes use and builds the Observation the scan would have emitted, so identification
can be measured on material nobody on the team wrote (``bench/real_corpus.py``).

Some items were not published as a whole datagram or reply; ``published_as`` says how
the harness gets from the published bytes to the message (and nothing else is changed):

* ``raw`` / ``fragment``: the file is the message (a fragment is a verbatim excerpt of a
  longer published file, e.g. one reply out of a capture log);
* ``string-literal``: the message as assembled from string literals in published test code;
* ``xmltodict-json``: the publisher stored the XML reply converted by xmltodict; the
  harness converts it back (element order, attributes and text kept);
* ``dhip-json-body``: only the JSON body of a DHIP datagram was published; the harness
  adds the documented 32-byte header (``auditor.probes.dhip.build_dhip_header``);
* ``elided-namespaces``: the publisher replaced namespace declarations by ``...``; the
  harness restores the standard declarations of the prefixes used;
* ``soap-body``: only the element inside the SOAP Body was published; the harness puts
  it in a SOAP 1.2 envelope;
* ``value``: one header value, page title, banner or certificate name (fingerprint
  databases keep only that); the harness wraps it in the smallest reply carrying it;
* ``tool-listing``: WS-Discovery scopes as a discovery tool printed them, one a line.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from auditor import opfile
from auditor.assemble import assemble
from auditor.errors import OperatorError
from auditor.identify import identify
from auditor.knowledge import KnowledgeBase
from auditor.models import Identity, Observation
from auditor.opfile import Document as Source
from auditor.opfile import LineDict, line_at
from auditor.probes import dhip, onvif, ports, rtsp, sadp, vendorapi, wsdiscovery
from auditor.probes import http as http_probe
from auditor.text import clean_text

ROOT = Path(__file__).resolve().parent / "real"
MANIFEST_DIR = ROOT / "manifest"
DATA_DIR = ROOT / "data"

PARSERS: dict[str, str | None] = {
    "sadp": "sadp",
    "dhip": "dhip",
    "wsdiscovery": "wsdiscovery",
    "wsd_scopes": "wsdiscovery",
    "onvif": "onvif",
    "http": "http",
    "isapi_device_info": "http",
    "rtsp": "rtsp",
    "tls_certificate": "x509",
    "tls_name": "x509",
    "banner": "ports",
    # Makers' identity APIs (auditor/probes/vendorapi.py): what the http probe (unauthenticated) or a
    # credentialed reader (issue 12) gets, as the http observation's device_info record.
    "dahua_magicbox": "vendorapi",
    "dahua_remote_device": "vendorapi",
    "axis_basicdeviceinfo": "vendorapi",
    "axis_param": "vendorapi",
    "isapi_channels": "vendorapi",
}
VENDOR_APIS: dict[str, tuple[str, str]] = {
    "dahua_magicbox": (vendorapi.DAHUA_MAGICBOX, "/cgi-bin/magicBox.cgi"),
    "dahua_remote_device": (vendorapi.DAHUA_REMOTE_DEVICE, "/cgi-bin/configManager.cgi"),
    "axis_basicdeviceinfo": (vendorapi.AXIS_BASICDEVICEINFO, "/axis-cgi/basicdeviceinfo.cgi"),
    "axis_param": (vendorapi.AXIS_PARAM, "/axis-cgi/param.cgi"),
    "isapi_channels": (vendorapi.ISAPI_CHANNELS, "/ISAPI/ContentMgmt/InputProxy/channels"),
}
"""kind → (the ``device_info.api`` name, the path the reply answers)."""
PUBLISHED_AS = ("raw", "fragment", "string-literal", "xmltodict-json", "dhip-json-body", "elided-namespaces",
                "soap-body", "value", "tool-listing")
DEVICE_CLASSES = ("camera", "recorder", "other")
"""Identity classes; an encoder counts as a camera, an intercom or door controller as other."""
EXPECTED_CLASSES = (*DEVICE_CLASSES, "unknown")
"""``expected.class`` may also be ``unknown``: the item alone does not show what kind of device it is
(its ``device.class`` says what the device is)."""
_REQUIRED = ("id", "kind", "file", "published_as", "source", "why_real", "anonymised", "device", "expected")
_OPTIONAL = ("operation", "path", "method", "header", "port", "name_field", "carries", "parser", "notes")
_ID = re.compile(r"^[a-z0-9][a-z0-9.-]{2,80}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")

ONVIF_OPERATIONS = ("GetSystemDateAndTime", "GetDeviceInformation", "GetNetworkInterfaces", "GetScopes",
                    "GetHostname", "GetCapabilities", "GetServices")
VALUE_HEADERS = {"http": ("Server", "WWW-Authenticate", "title"), "rtsp": ("Server", "WWW-Authenticate")}


@dataclass(frozen=True)
class Item:
    """One manifest entry (see tests/real/README.md for the fields)."""

    id: str
    kind: str
    file: Path
    published_as: str
    source: dict[str, Any]
    why_real: str
    anonymised: str
    device: dict[str, Any]
    expected: dict[str, Any]
    where: str
    """``manifest/file.yaml:line`` of the entry, for messages."""
    operation: str | None = None
    path: str | None = None
    method: str | None = None
    header: str | None = None
    port: int | None = None
    name_field: str | None = None
    carries: dict[str, Any] = field(default_factory=dict)
    notes: str | None = None

    @property
    def parser(self) -> str | None:
        return PARSERS[self.kind]

    @property
    def device_id(self) -> str:
        return str(self.device["id"])

    def read(self) -> bytes:
        return self.file.read_bytes()


# ---------------------------------------------------------------- manifest


def _fail(src: Source, data: Any, key: str | None, message: str) -> OperatorError:
    return OperatorError(message, src.path, line_at(data, key))


def _need_str(src: Source, entry: LineDict, key: str, what: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(src, entry, key, f"{what}: {key!r} must be a non-empty string")
    return value


def _check_source(src: Source, entry: LineDict, what: str) -> dict[str, Any]:
    source = entry["source"]
    if not isinstance(source, dict):
        raise _fail(src, entry, "source", f"{what}: source must be a mapping")
    if "url" in source:
        if not str(source["url"]).startswith("https://"):
            raise _fail(src, source, "url", f"{what}: source url must be https://")
    else:
        for key in ("repo", "path", "commit"):
            _need_str(src, source, key, f"{what} source")
        if not _COMMIT.match(str(source["commit"])):
            raise _fail(src, source, "commit", f"{what}: source commit must be 40 hex digits")
    return dict(source)


def _check_expected(src: Source, entry: LineDict, what: str) -> dict[str, Any]:
    expected = entry["expected"]
    if not isinstance(expected, dict) or "maker" not in expected or "covered" not in expected:
        raise _fail(src, entry, "expected", f"{what}: expected needs maker and covered")
    maker = expected["maker"]
    if maker is None:
        _need_str(src, expected, "reason", f"{what} expected (maker null)")
    elif not isinstance(maker, str) or not maker.strip():
        raise _fail(src, expected, "maker", f"{what}: expected maker must be a name or null")
    if not isinstance(expected["covered"], bool):
        raise _fail(src, expected, "covered", f"{what}: expected covered must be true or false")
    if maker is None and expected["covered"]:
        raise _fail(src, expected, "covered", f"{what}: an item without maker evidence cannot be expected covered")
    cls = expected.get("class")
    if cls is not None and cls not in EXPECTED_CLASSES:
        raise _fail(src, expected, "class", f"{what}: class must be one of {', '.join(EXPECTED_CLASSES)}")
    return dict(expected)


def _item(src: Source, entry: Any) -> Item:
    if not isinstance(entry, LineDict):
        raise OperatorError("each item must be a mapping", src.path, line_at(entry))
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise _fail(src, entry, unknown[0], f"unknown key {unknown[0]!r}")
    for key in _REQUIRED:
        if key not in entry:
            raise _fail(src, entry, None, f"item misses {key!r}")
    item_id = _need_str(src, entry, "id", "item")
    if not _ID.match(item_id):
        raise _fail(src, entry, "id", f"id {item_id!r}: lower-case letters, digits, '.' and '-' only")
    what = f"item {item_id}"
    kind = _need_str(src, entry, "kind", what)
    if kind not in PARSERS:
        raise _fail(src, entry, "kind", f"{what}: unknown kind {kind!r}")
    published_as = _need_str(src, entry, "published_as", what)
    if published_as not in PUBLISHED_AS:
        raise _fail(src, entry, "published_as", f"{what}: published_as must be one of {', '.join(PUBLISHED_AS)}")
    file = DATA_DIR / _need_str(src, entry, "file", what)
    if not file.is_file():
        raise _fail(src, entry, "file", f"{what}: no file {file.relative_to(ROOT)}")
    for key in ("why_real", "anonymised"):
        _need_str(src, entry, key, what)
    if len(str(entry["why_real"]).split()) < 6:
        raise _fail(src, entry, "why_real", f"{what}: why_real must say why (a sentence, not a word)")
    device = entry["device"]
    if not isinstance(device, dict):
        raise _fail(src, entry, "device", f"{what}: device must be a mapping")
    _need_str(src, device, "id", f"{what} device")
    if "maker" not in device:
        raise _fail(src, device, None, f"{what}: device needs maker (null when the source does not establish it)")
    parser = entry.get("parser")
    if PARSERS[kind] is None and parser != "none-yet":
        raise _fail(src, entry, "kind", f"{what}: no probe parses {kind!r} yet; mark it 'parser: none-yet'")
    if PARSERS[kind] is not None and parser is not None:
        raise _fail(src, entry, "parser", f"{what}: kind {kind!r} has a parser; drop 'parser'")
    carries = entry.get("carries") or {}
    if not isinstance(carries, dict):
        raise _fail(src, entry, "carries", f"{what}: carries must be a mapping")
    item = Item(
        id=item_id, kind=kind, file=file, published_as=published_as, source=_check_source(src, entry, what),
        why_real=str(entry["why_real"]), anonymised=str(entry["anonymised"]), device=dict(device),
        expected=_check_expected(src, entry, what), where=f"{Path(src.path).name}:{line_at(entry)}",
        operation=entry.get("operation"), path=entry.get("path"), method=entry.get("method"),
        header=entry.get("header"), port=entry.get("port"), name_field=entry.get("name_field"),
        carries=dict(carries), notes=entry.get("notes"),
    )
    _check_kind_keys(src, entry, item)
    return item


def _check_kind_keys(src: Source, entry: LineDict, item: Item) -> None:
    what = f"item {item.id}"
    if item.kind == "onvif" and item.operation not in ONVIF_OPERATIONS:
        raise _fail(src, entry, "operation",
                    f"{what}: onvif items need operation, one of {', '.join(ONVIF_OPERATIONS)}")
    if item.kind == "http" and not (isinstance(item.path, str) and item.path.startswith("/")):
        raise _fail(src, entry, "path", f"{what}: http items need the path requested, e.g. '/'")
    if item.kind == "rtsp" and item.method not in ("OPTIONS", "DESCRIBE"):
        raise _fail(src, entry, "method", f"{what}: rtsp items need method OPTIONS or DESCRIBE")
    if item.kind == "banner" and not isinstance(item.port, int):
        raise _fail(src, entry, "port", f"{what}: banner items need the TCP port")
    if item.kind == "tls_name" and item.name_field not in ("subject", "issuer"):
        raise _fail(src, entry, "name_field", f"{what}: tls_name items need name_field subject or issuer")
    if item.published_as == "value" and item.kind in VALUE_HEADERS and item.header not in VALUE_HEADERS[item.kind]:
        raise _fail(src, entry, "header", f"{what}: value items of kind {item.kind} need header, one of "
                    f"{', '.join(VALUE_HEADERS[item.kind])}")


def load_manifest(directory: Path = MANIFEST_DIR) -> list[Item]:
    """Every item of every ``*.yaml`` under ``directory``; ``OperatorError`` naming file:line on a bad entry."""
    items: list[Item] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        src = opfile.load(path, "manifest")
        doc = src.root.data
        entries = doc.get("items") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise OperatorError("a manifest file holds 'items:', a list", str(path), line_at(doc))
        for entry in entries:
            item = _item(src, entry)
            if item.id in seen:
                raise OperatorError(f"duplicate id {item.id!r} (first at {seen[item.id]})", str(path),
                                    line_at(entry, "id"))
            seen[item.id] = item.where
            items.append(item)
    return items


# ---------------------------------------------------------------- published bytes → message

_NS = {
    "env": "http://www.w3.org/2003/05/soap-envelope", "SOAP-ENV": "http://www.w3.org/2003/05/soap-envelope",
    "s": "http://www.w3.org/2003/05/soap-envelope", "soap": "http://www.w3.org/2003/05/soap-envelope",
    "wsadis": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing", "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery", "wsdd": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "dn": "http://www.onvif.org/ver10/network/wsdl", "tdn": "http://www.onvif.org/ver10/network/wsdl",
    "tds": "http://www.onvif.org/ver10/device/wsdl", "tt": "http://www.onvif.org/ver10/schema",
}


def restore_namespaces(data: bytes) -> bytes:
    """Replace the ``...`` a publisher left in the root start tag by the declarations of the prefixes used."""
    text = data.decode("utf-8")
    declared = set(re.findall(r"xmlns:([\w-]+)=", text))
    used = set(re.findall(r"</?([\w-]+):", text)) | set(re.findall(r"\s([\w-]+):[\w-]+=", text))
    missing = sorted(p for p in used - declared if p in _NS)
    decls = "".join(f' xmlns:{p}="{_NS[p]}"' for p in missing)
    restored, n = re.subn(r"\s+\.\.\.(\s*>)", decls + r"\1", text, count=1)
    if n != 1:
        raise ValueError("no '...' in a start tag to restore")
    return restored.encode("utf-8")


def soap_envelope(body: bytes) -> bytes:
    """A SOAP 1.2 envelope around a published Body child (its prefixes declared as in ``restore_namespaces``)."""
    text = body.decode("utf-8").strip()
    used = sorted(p for p in set(re.findall(r"</?([\w-]+):", text)) if p in _NS)
    decls = "".join(f' xmlns:{p}="{_NS[p]}"' for p in used if p != "env")
    envelope = _NS["env"]
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope xmlns:env="{envelope}"{decls}>'
            f"<env:Body>{text}</env:Body></env:Envelope>").encode()


def _xml_element(name: str, value: Any) -> str:
    if isinstance(value, list):
        return "".join(_xml_element(name, v) for v in value)
    if value is None:
        return f"<{name}/>"
    if not isinstance(value, dict):
        return f"<{name}>{escape(str(value))}</{name}>"
    attrs = "".join(f" {k[1:]}={quoteattr(str(v))}" for k, v in value.items() if k.startswith("@"))
    text = escape(str(value["#text"])) if value.get("#text") is not None else ""
    children = "".join(_xml_element(k, v) for k, v in value.items() if not k.startswith(("@", "#")))
    return f"<{name}{attrs}>{text}{children}</{name}>"


def xml_from_xmltodict(doc: Any) -> bytes:
    """The XML document that xmltodict turned into ``doc`` (a ``{"response": {root: …}}`` or ``{root: …}``)."""
    if isinstance(doc, dict) and set(doc) == {"response"}:
        doc = doc["response"]
    if not isinstance(doc, dict) or len(doc) != 1:
        raise ValueError("xmltodict JSON must hold exactly one root element")
    ((name, value),) = doc.items()
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + _xml_element(name, value)).encode("utf-8")


def dhip_datagram(published: bytes) -> bytes:
    """The DHIP datagram whose JSON body is the one published (header per auditor.probes.dhip).

    Devices end the JSON with a newline that the header's length counts; inline-code
    publications lose it (the AMP-Research capture's header says 788 = JSON + 1).
    """
    text = published.decode("utf-8")
    body = text[text.index("{"): text.rindex("}") + 1].encode("utf-8") + b"\n"
    return dhip.build_dhip_header(len(body)) + body


def _value(item: Item) -> bytes:
    data = item.read()
    return data[:-1] if data.endswith(b"\n") else data


def message(item: Item) -> bytes:
    """The message the device sent, from the bytes as published (see the module docstring)."""

    how = item.published_as
    if how == "xmltodict-json":
        return xml_from_xmltodict(json.loads(item.read()))
    if how == "dhip-json-body":
        return dhip_datagram(item.read())
    if how == "elided-namespaces":
        return restore_namespaces(item.read())
    if how == "soap-body":
        return soap_envelope(item.read())
    if how != "value":
        return item.read()
    value = _value(item)
    if item.kind == "http":
        if item.header == "title":
            return b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><head><title>" + value + \
                b"</title></head></html>"
        status = b"401 Unauthorized" if item.header == "WWW-Authenticate" else b"200 OK"
        return b"HTTP/1.1 " + status + b"\r\n" + str(item.header).encode() + b": " + value + b"\r\n\r\n"
    if item.kind == "rtsp":
        if item.header == "WWW-Authenticate":
            return b"RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: " + value + b"\r\n\r\n"
        return b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nServer: " + value + b"\r\n\r\n"
    return value


# ---------------------------------------------------------------- message → observation fields


@dataclass(frozen=True)
class Parsed:
    """What the probe's parser made of an item: the observations, and the fields to check against ``carries``."""

    observations: tuple[Observation, ...]
    fields: dict[str, Any]


def _flatten(fields: dict[str, Any]) -> dict[str, Any]:
    out = dict(fields)
    for key, value in fields.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
    return out


def _onvif(item: Item, data: bytes, ip: str) -> dict[str, Any]:
    op = str(item.operation)
    fields: dict[str, Any] = {"xaddr": f"http://{ip}/onvif/device_service"}
    extra: dict[str, Any] = {}
    try:
        value = onvif.parse_reply(op, data)
    except Exception as exc:  # the probe classifies every failure the same way (OnvifProbe._call)
        kind, note = onvif.classify_error(exc)
        extra["call_outcome"] = "denied" if kind == "auth_needed" else "error"
        extra["call_error"] = kind
        if note:
            extra["call_note"] = note
    else:
        extra["call_outcome"] = "open"
        fields.update(onvif.interpret(op, value))
        if op == "GetSystemDateAndTime":
            stamp = onvif.device_time(value)
            if stamp is not None:
                extra["device_time"] = dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    fields["calls"] = {op: extra["call_outcome"]}
    fields["auth_used"] = False
    return {**fields, "_extra": extra}


def _http(item: Item, data: bytes) -> dict[str, Any]:
    fields: dict[str, Any] = {"port": 80, "scheme": "http"}
    if item.kind == "isapi_device_info":
        path = "/ISAPI/System/deviceInfo"
        resp = http_probe.HttpResponse(version="HTTP/1.1", status=200, reason="OK", body=data)
    else:
        path = str(item.path)
        resp = http_probe.parse_response(data)
    if path == "/":
        fields.update(http_probe.summarize_root(resp))
        fields["paths"] = {}
        return fields
    found = http_probe.summarize_path(path, resp)
    if found.warning:
        raise ValueError(found.warning)
    fields["paths"] = {path: found.status}
    if found.realm:
        fields.update(realm=found.realm, auth_scheme=found.auth_scheme, path_realms={path: found.realm})
    if found.device_info:
        fields["device_info"] = found.device_info
    return fields


def _vendor(item: Item, data: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the http observation's fields, extra checkable fields: each recorder channel as ``channel[N].key``)."""
    api, path = VENDOR_APIS[item.kind]
    identity = vendorapi.parse_identity(api, data)
    extra: dict[str, Any] = {}
    channels: list[vendorapi.RecorderChannel] = []
    if api == vendorapi.ISAPI_CHANNELS:
        channels = vendorapi.parse_isapi_channels(data)
    elif api == vendorapi.DAHUA_REMOTE_DEVICE:
        channels = vendorapi.parse_dahua_remote_devices(data)
    for channel in channels:
        for key, value in dataclasses.asdict(channel).items():
            if value is not None and key != "channel":
                extra[f"channel[{channel.channel}].{key}"] = value
    return {"port": 80, "scheme": "http", "paths": {path: 200}, "device_info": identity.fields()}, extra


def _certificate(data: bytes) -> dict[str, Any]:
    text = data.decode("ascii")
    b64 = re.search(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", text, re.S)
    if b64 is None:
        raise ValueError("no PEM certificate in the item")
    der = base64.b64decode("".join(b64.group(1).split()))
    return {"port": 443, "scheme": "https", **http_probe.certificate_fields(der)}


def parse(item: Item, ip: str = "198.51.100.1") -> Parsed:
    """Run ``item`` through its probe's parser; raises what that parser raises on bad input.

    Items of a kind no parser reads yet (``parser: none-yet``) give no observation.
    """
    if item.parser is None:
        return Parsed((), {})
    data = message(item)
    probe = "http" if item.parser in ("x509", "vendorapi") else str(item.parser)  # the http probe reads both
    many: list[dict[str, Any]]
    extra: dict[str, Any] = {}
    if item.kind == "sadp":
        many = [sadp.parse_sadp_reply(data)]
    elif item.kind == "dhip":
        many = [dhip.parse_dhip_reply(data)]
    elif item.kind == "wsdiscovery":
        many = wsdiscovery.parse_probe_match(data)
    elif item.kind == "wsd_scopes":
        scopes = [line.strip() for line in data.decode("utf-8").splitlines() if line.strip()]
        many = [{"scopes": scopes, **wsdiscovery._scope_fields(scopes)}]
    elif item.kind == "onvif":
        fields = _onvif(item, data, ip)
        extra = fields.pop("_extra")
        many = [fields]
    elif item.kind in ("http", "isapi_device_info"):
        many = [_http(item, data)]
    elif item.kind == "rtsp":
        resp = http_probe.parse_response(data)
        pair = (resp, None) if item.method == "OPTIONS" else (None, resp)
        many = [{"port": 554, **rtsp.summarize(*pair)}]
    elif item.kind == "tls_certificate":
        many = [_certificate(data)]
    elif item.kind == "tls_name":
        key = "cert_subject" if item.name_field == "subject" else "cert_issuer"
        many = [{"port": 443, "scheme": "https", key: clean_text(data)}]
    elif item.parser == "vendorapi":
        fields, extra = _vendor(item, data)
        many = [fields]
    elif item.kind == "banner":
        port = int(item.port or 0)
        many = [{"open": [port], "banners": {str(port): ports.clean_banner(data)}}]
    else:  # pragma: no cover - PARSERS and this switch list the same kinds
        raise AssertionError(item.kind)
    observations = tuple(Observation(ip=ip, probe=probe, fields=f, seen_at=0.0) for f in many if f)
    merged: dict[str, Any] = {}
    for f in many:
        merged.update(_flatten(f))
    merged.update(extra)
    return Parsed(observations, merged)


# ---------------------------------------------------------------- identification


def identify_observations(observations: Iterable[Observation], kb: KnowledgeBase) -> Identity | None:
    """The identity the pipeline gives these observations (one address: one host)."""
    hosts = assemble(observations, kb.mac_from_serial)
    if not hosts:
        return None
    return identify(max(hosts, key=lambda h: len(h.observations)), kb)


def devices(items: Iterable[Item]) -> dict[str, list[Item]]:
    """Items grouped by the device they came from (manifest ``device.id``), in manifest order."""
    out: dict[str, list[Item]] = {}
    for item in items:
        out.setdefault(item.device_id, []).append(item)
    return out
