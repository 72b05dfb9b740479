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
