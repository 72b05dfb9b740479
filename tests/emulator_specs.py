"""Device specs the emulator tests share (own data, independent of the demo fleet)."""

from __future__ import annotations

import queue
import subprocess
import threading
from dataclasses import replace
from typing import Any

from auditor.lab.spec import (
    DeviceSpec,
    DhipService,
    HttpService,
    OnvifService,
    RtspService,
    SadpService,
    Services,
    Truth,
    WsdService,
)

HIK_MAC = "c0:56:e3:1a:2b:3c"
HIK_SCOPES = (
    "onvif://www.onvif.org/type/video_encoder",
    "onvif://www.onvif.org/Profile/Streaming",
    f"onvif://www.onvif.org/MAC/{HIK_MAC}",
    "onvif://www.onvif.org/hardware/DS-2CD2143G2-I",
    "onvif://www.onvif.org/name/HIKVISION%20DS-2CD2143G2-I",
)
PASSWORD = "Lab-Hik-12345"


def hik_camera(name: str = "hik", **onvif: Any) -> DeviceSpec:
    return DeviceSpec(
        name=name,
        segment="lan",
        ip="198.18.0.11",
        mac=HIK_MAC,
        truth=Truth("Hikvision", True, "camera", "Hikvision"),
        services=Services(
            wsd=WsdService("urn:uuid:3fa1fe68-b915-4053-a3e1-c056e31a2b3c", scopes=HIK_SCOPES),
            onvif=OnvifService(
                **{
                    "manufacturer": "HIKVISION",
                    "model": "DS-2CD2143G2-I",
                    "firmware": "V5.7.3 build 220112",
                    "serial": "DS-2CD2143G2-I20210315AAWRG12345678",
                    "hardware_id": "88",
                    "hostname": "lobby-dome",
                    "password": PASSWORD,
                    **onvif,
                }
            ),
            sadp=SadpService(
                device_type="139",
                description="DS-2CD2143G2-I",
                serial="DS-2CD2143G2-I20210315AAWRG12345678",
                firmware="V5.7.3build 220112",
            ),
            http=HttpService(
                server="App-webs/",
                title="Hikvision",
                realm="Hikvision",
                paths={"/doc/page/login.asp": 200, "/ISAPI/System/deviceInfo": 401},
                https_port=443,
                cert_subject_cn="DS-2CD2143G2-I",
            ),
            rtsp=RtspService(auth="digest", realm="Hikvision"),
            tcp_ports=(8000, 21, 22, 23),
        ),
    )


def dahua_camera(name: str = "dahua") -> DeviceSpec:
    return DeviceSpec(
        name=name,
        segment="routed",
        ip="198.18.32.20",
        mac="3c:ef:8c:12:34:56",
        truth=Truth("Dahua", True, "camera", "Dahua"),
        services=Services(
            dhip=DhipService(
                device_class="IPC",
                device_type="IPC-HFW2431S-S-S2",
                serial="6G0ABCDEF123456",
                vendor="General",
                machine_name="gate-bullet",
            ),
            http=HttpService(
                title="WEB SERVICE",
                upper_case_headers=True,
                extra_headers={"P3P": "CP=CAO PSA OUR"},
                realm="Login to 6G0ABCDEF123456",
                auth_scheme="Basic",
                paths={"/RPC2_Login": 200, "/cgi-bin/magicBox.cgi": 401},
            ),
            rtsp=RtspService(server="Dahua Rtsp Server", auth="basic", realm="Login to 6G0ABCDEF123456"),
            tcp_ports=(37777,),
        ),
    )


def open_camera(name: str = "open") -> DeviceSpec:
    """No credentials at all (password None), RTSP without auth."""
    hik = hik_camera(name, password=None)
    return replace(hik, services=replace(hik.services, rtsp=RtspService(auth="none", server="Streaming")))


def hostile(name: str, *behaviours: str) -> DeviceSpec:
    base = hik_camera(name, password=None)
    return replace(base, services=replace(base.services, dhip=dahua_camera().services.dhip, hostile=behaviours))



class LineReader:
    """Lines of a child's stdout via a thread, so a test waits with a timeout instead of hanging."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        stdout = proc.stdout
        threading.Thread(target=lambda: [self._lines.put(x) for x in stdout], daemon=True).start()

    def next(self, timeout: float = 30) -> str:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no output from the emulator within {timeout}s") from None


def discovery_fleet() -> list[DeviceSpec]:
    """A Hikvision and a Dahua camera plus one device per hostile discovery behaviour."""
    return [
        hik_camera(),
        dahua_camera(),
        hostile("xxe", "xxe_wsd"),
        hostile("garbage", "garbage_udp"),
        hostile("laughs", "billion_laughs"),
        hostile("big", "oversize"),
    ]
