import pytest

from auditor.xmlsafe import UnsafeXML, parse_xml, text_of

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Probe><Uuid>&xxe;</Uuid></Probe>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
<a>&lol2;</a>"""


def test_parses_namespaced_xml():
    root = parse_xml(b'<e:Envelope xmlns:e="urn:x"><e:Body><Name> cam </Name></e:Body></e:Envelope>')
    assert text_of(root, "Name") == "cam"


@pytest.mark.parametrize("payload", [XXE, LAUGHS])
def test_refuses_doctype_and_entities(payload):
    with pytest.raises(UnsafeXML, match="DOCTYPE"):
        parse_xml(payload)


def test_refuses_oversize():
    with pytest.raises(UnsafeXML, match="exceeds"):
        parse_xml(b"<a>" + b"x" * 1000 + b"</a>", max_bytes=100)


def test_refuses_garbage():
    with pytest.raises(UnsafeXML, match="malformed"):
        parse_xml(b"\x00\xff garbage <<<")


@pytest.mark.parametrize("encoding", [b"x-no-such-codec", b"big5", b"shift_jis"])
def test_refuses_undecodable_declared_encoding(encoding):
    """expat raises LookupError/ValueError (not ParseError) here; callers only catch UnsafeXML."""
    with pytest.raises(UnsafeXML, match="encoding"):
        parse_xml(b'<?xml version="1.0" encoding="' + encoding + b'"?><DeviceInfo/>')
