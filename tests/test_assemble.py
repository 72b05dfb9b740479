from auditor.assemble import assemble
from auditor.models import Observation


def obs(ip, probe, **fields):
    return Observation(ip=ip, probe=probe, fields=fields, seen_at=1.0)


def test_merges_per_ip_and_prefers_arp_mac():
    hosts = assemble([
        obs("198.18.0.11", "arp", mac="c0:56:e3:00:00:01"),
        obs("198.18.0.11", "sadp", mac="C0-56-E3-00-00-09", serial="DS-2CD2143G2-I20210315AAWRG1"),
        obs("198.18.0.12", "ports", open=[22]),
    ])
    assert [h.ip for h in hosts] == ["198.18.0.11", "198.18.0.12"]
    cam = hosts[0]
    assert cam.key == "mac:c0:56:e3:00:00:01" and len(cam.observations) == 2
    assert hosts[1].key == "ip:198.18.0.12" and hosts[1].mac is None


def test_folds_two_addresses_of_one_device_by_serial():
    hosts = assemble([
        obs("198.18.0.20", "dhip", serial="7G0ABC", mac="3c:ef:8c:00:00:02"),
        obs("198.18.0.21", "onvif", serial="7G0ABC", manufacturer="Dahua"),
        obs("198.18.0.21", "http", port=80),
    ])
    assert len(hosts) == 1
    assert hosts[0].ips == ("198.18.0.20", "198.18.0.21")
    assert hosts[0].key == "mac:3c:ef:8c:00:00:02"
    assert len(hosts[0].observations) == 3


def test_routed_host_keys():
    hosts = assemble([
        obs("198.18.32.10", "onvif", macs=["AC:CC:8E:01:02:03"], serial="ACCC8E010203"),
        obs("198.18.32.11", "wsdiscovery", endpoint="urn:uuid:1234"),
        obs("198.18.32.12", "sadp", serial="DS-7608NI-K220200101CCWR1"),
    ])
    assert [h.key for h in hosts] == ["mac:ac:cc:8e:01:02:03", "epr:urn:uuid:1234",
                                      "serial:DS-7608NI-K220200101CCWR1"]


def test_a_shared_endpoint_identifies_no_one():
    """Cheap firmware ships one WS-Discovery UUID on every unit: two MAC-less hosts must stay two devices."""
    hosts = assemble([
        obs("198.18.32.20", "wsdiscovery", endpoint="urn:uuid:cloned"),
        obs("198.18.32.21", "wsdiscovery", endpoint="urn:uuid:cloned"),
        obs("198.18.32.22", "wsdiscovery", endpoint="urn:uuid:unique"),
    ])
    assert [h.key for h in hosts] == ["ip:198.18.32.20", "ip:198.18.32.21", "epr:urn:uuid:unique"]


def test_a_shared_serial_does_not_merge_two_network_cards():
    """Two on-link units answering ARP from different MACs are two devices, whatever serial they claim."""
    hosts = assemble([
        obs("198.18.0.30", "arp", mac="3c:ef:8c:00:00:30"),
        obs("198.18.0.30", "onvif", serial="00000000"),
        obs("198.18.0.31", "arp", mac="3c:ef:8c:00:00:31"),
        obs("198.18.0.31", "onvif", serial="00000000"),
    ])
    assert [(h.key, h.ips) for h in hosts] == [("mac:3c:ef:8c:00:00:30", ("198.18.0.30",)),
                                               ("mac:3c:ef:8c:00:00:31", ("198.18.0.31",))]


def test_a_vendor_apis_mac_and_serial_fold_a_routed_device():
    """The ISAPI deviceInfo a routed Hikvision hands out names its MAC and serial: both fold."""
    info = {"api": "isapi-device-info", "mac": "c0:56:e3:00:00:40", "serial": "DS-2CD2143G2-I20210315AAWRG40"}
    hosts = assemble([
        obs("198.18.32.40", "http", port=80, device_info=info),
        obs("198.18.32.41", "sadp", serial="DS-2CD2143G2-I20210315AAWRG40"),
        obs("198.18.32.42", "onvif", macs=["c0:56:e3:00:00:40"]),
    ])
    assert [(h.key, h.ips) for h in hosts] == [
        ("mac:c0:56:e3:00:00:40", ("198.18.32.40", "198.18.32.41", "198.18.32.42"))]


def test_a_serial_that_is_a_mac_folds_and_keys_the_device():
    """Axis serials are MACs: with the knowledge base's reading, a routed Axis that reports only its
    serial gets a MAC key, and folds with the address that reported the MAC."""
    from auditor.knowledge import load_knowledge

    kb = load_knowledge()
    observations = [
        obs("198.18.32.50", "onvif", serial="ACCC8E1A909D", manufacturer="AXIS"),
        obs("198.18.32.51", "wsdiscovery", mac="ac:cc:8e:1a:90:9d", endpoint="urn:uuid:axis"),
    ]
    assert len(assemble(observations)) == 2, "without the knowledge base a serial is only a serial"
    (one,) = assemble(observations, kb.mac_from_serial)
    assert one.key == "mac:ac:cc:8e:1a:90:9d" and one.ips == ("198.18.32.50", "198.18.32.51")
    (other,) = assemble([obs("198.18.32.52", "onvif", serial="C0FFEE123456")], kb.mac_from_serial)
    assert other.key == "serial:C0FFEE123456", "a 12-hex serial whose OUI is not Axis's is no MAC"
