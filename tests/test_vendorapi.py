"""The makers' identity-API parsers (auditor/probes/vendorapi.py) on hostile and odd input.

Real replies are the corpus's (tests/real, kinds dahua_magicbox, dahua_remote_device,
axis_basicdeviceinfo, axis_param, isapi_channels, isapi_device_info): test_real_parse.py
reads every one. Here: what must never get through.
"""

from __future__ import annotations

import json

import pytest

from auditor.probes import vendorapi as v
from auditor.xmlsafe import UnsafeXML


def test_not_the_api_is_a_vendor_reply_error() -> None:
    login_page = b"<html><head><title>Login</title></head></html>"
    with pytest.raises(v.VendorReplyError):
        v.parse_isapi_device_info(b"<ResponseStatus><statusCode>4</statusCode></ResponseStatus>")
    with pytest.raises(v.VendorReplyError):
        v.parse_isapi_channels(b"<DeviceInfo/>")
    with pytest.raises(v.VendorReplyError):
        v.parse_axis_basicdeviceinfo(login_page)
    with pytest.raises(v.VendorReplyError):
        v.parse_axis_params(login_page)
    with pytest.raises(v.VendorReplyError):
        v.parse_dahua_table(b"\r\n\r\n")
    with pytest.raises(v.VendorReplyError):
        v.parse_dahua_remote_devices(b"Error\r\nBad Request!\r\n")
    with pytest.raises(ValueError):
        v.parse_identity("no-such-api", b"")


def test_axis_error_reply_names_the_error() -> None:
    reply = json.dumps({"apiVersion": "1.0", "error": {"code": 8000, "message": "Internal error"}}).encode()
    with pytest.raises(v.VendorReplyError, match="8000"):
        v.parse_axis_basicdeviceinfo(reply)


def test_hostile_bodies_are_refused_not_parsed() -> None:
    xxe = (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b"<DeviceInfo><model>&x;</model></DeviceInfo>")
    with pytest.raises(UnsafeXML):
        v.parse_isapi_device_info(xxe)
    with pytest.raises(v.VendorReplyError, match="cap"):
        v.parse_dahua_table(b"a=b\n" * (v.MAX_BODY // 4 + 1))
    deep = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(v.VendorReplyError):
        v.parse_axis_basicdeviceinfo(deep[: v.MAX_BODY])


def test_values_are_cleaned_and_capped() -> None:
    body = ("deviceType=IPC-\x1b[31mHDW\x00" + "X" * 1000 + "\r\nserialNumber=5A0B2C3PAZ00001\r\n").encode()
    identity = v.dahua_magicbox_identity(v.parse_dahua_table(body))
    assert identity.model is not None and "\x1b" not in identity.model and "\x00" not in identity.model
    assert len(identity.model) <= 256


def test_dahua_numeric_device_type_gives_the_model_from_update_serial() -> None:
    table = v.parse_dahua_table(b"deviceType=31\r\nupdateSerial=DHI-NVR4108HS-8P-4KS2\r\nserialNumber=...\r\n")
    identity = v.dahua_magicbox_identity(table)
    assert (identity.model, identity.device_type, identity.model_code) == ("DHI-NVR4108HS-8P-4KS2", "31", None)
    assert identity.serial is None, "a placeholder is no serial"


def test_dahua_remote_devices_never_keep_a_password_and_drop_placeholders() -> None:
    body = (b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Address=10.1.1.5\r\n"
            b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Password=hunter2\r\n"
            b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Mac=ff:ff:ff:ff:ff:ff\r\n"
            b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_0.Enable=true\r\n"
            b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.Address=192.168.0.0\r\n"
            b"table.RemoteDevice.uuid:System_CONFIG_NETCAMERA_INFO_1.Enable=false\r\n")
    channels = v.parse_dahua_remote_devices(body)
    assert [(c.channel, c.address, c.mac, c.empty) for c in channels] == [(1, "10.1.1.5", None, False),
                                                                          (2, None, None, True)]
    assert "hunter2" not in repr(channels)


def test_axis_properties_without_image_group_mean_no_video() -> None:
    listing = b"root.Properties.System.SerialNumber=ACCC8ED0A6EC\nroot.Properties.IO.ManualTriggerNbr=17\n"
    assert v.axis_param_identity(v.parse_axis_params(listing)).video is False
    brand_only = b"root.Brand.Brand=AXIS\nroot.Brand.ProdNbr=P1346\n"
    assert v.axis_param_identity(v.parse_axis_params(brand_only)).video is None


def test_fields_keep_only_declared_values() -> None:
    from auditor.probes.contract import probe_fields, problems

    identity = v.VendorIdentity(api=v.AXIS_BASICDEVICEINFO, brand="AXIS", model="P1346", serial="00408C123456",
                                video=True)
    record = identity.fields()
    assert record == {"api": "axis-basicdeviceinfo", "brand": "AXIS", "model": "P1346", "serial": "00408C123456",
                      "video": True}
    assert problems(probe_fields()["http"], {"device_info": record}) == []
