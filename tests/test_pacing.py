"""The pacing mechanism itself (auditor/probes/pacing.py), measured by what fake operations observe."""

from __future__ import annotations

import asyncio
import time

import pytest

from auditor.probes.base import RateLimiter
from auditor.probes.pacing import PROFILES, HostGivenUp, Limits, Pacing, resolve_limits


def limits(rate: float = 10_000, host_rate: float = 1_000, host_connections: int = 2) -> Limits:
    return Limits(rate=rate, host_rate=host_rate, host_connections=host_connections)


def max_per_window(starts: list[float], window: float = 1.0) -> int:
    starts = sorted(starts)
    best, j = 0, 0
    for i, t in enumerate(starts):
        while starts[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_never_more_than_n_connections_at_once_to_one_device():
    async def main() -> tuple[int, int]:
        pacing = Pacing(limits(host_connections=2))
        open_now = {"a": 0, "b": 0}
        peak = {"a": 0, "b": 0}

        async def op(ip: str) -> None:
            async with pacing.host(ip).connection("fake"):
                open_now[ip] += 1
                peak[ip] = max(peak[ip], open_now[ip])
                await asyncio.sleep(0.02)
                open_now[ip] -= 1

        await asyncio.gather(*(op(ip) for ip in ("a", "b") for _ in range(12)))
        return peak["a"], peak["b"]

    assert asyncio.run(main()) == (2, 2)


def test_never_more_than_r_new_connections_or_requests_per_second_to_one_device():
    async def main() -> tuple[list[float], list[float]]:
        pacing = Pacing(limits(host_rate=20, host_connections=4))
        starts: dict[str, list[float]] = {"a": [], "b": []}
        loop = asyncio.get_running_loop()

        async def op(ip: str) -> None:
            async with pacing.host(ip).connection("fake") as conn:
                starts[ip].append(loop.time())
                for _ in range(2):  # the first request is paid by the connection, the second is not
                    await conn.request()
                    if conn.requests > 1:
                        starts[ip].append(loop.time())

        await asyncio.gather(*(op(ip) for ip in ("a", "b") for _ in range(15)))
        return starts["a"], starts["b"]

    a, b = asyncio.run(main())
    assert len(a) == len(b) == 30
    for starts in (a, b):
        assert max_per_window(starts) <= 21
        gaps = [y - x for x, y in zip(sorted(starts), sorted(starts)[1:], strict=False)]
        assert min(gaps) >= 0.05 - 0.005
    # the two devices were paced independently: both finished in about 1.5 s, not 3
    assert max(a + b) - min(a + b) < 2.2


def test_the_global_rate_bounds_all_devices_together():
    async def main() -> float:
        pacing = Pacing(limits(rate=200, host_rate=1000), limiter=RateLimiter(200, burst=1))
        t0 = time.monotonic()
        await asyncio.gather(*(pacing.host(f"10.0.0.{i}").datagram("fake") for i in range(60)))
        return time.monotonic() - t0

    assert 0.25 <= asyncio.run(main()) < 0.6  # 60 tokens at 200/s


def test_a_device_that_goes_quiet_is_checked_once_then_given_up():
    async def main() -> tuple[list[str], list[str], dict[str, int]]:
        pacing = Pacing(limits())
        checks: list[str] = []
        given_up: list[str] = []

        async def confirm(host):  # the engine's re-check: here the device stays dark
            checks.append(host.ip)
            async with host.connection("safety", bypass=True):
                pass
            return False

        pacing.confirm = confirm
        pacing.on_backoff = lambda host: given_up.append(host.record.given_up or "")
        host = pacing.host("10.0.0.9")
        for _ in range(2):
            async with host.connection("ports") as conn:
                conn.silent()  # silence before any answer is just a dead address, not a back-off
        async with host.connection("ports") as conn:
            conn.answered(80)
        for _ in range(3):
            async with host.connection("ports") as conn:
                conn.silent()
        with pytest.raises(HostGivenUp):
            async with host.connection("http"):
                pass
        with pytest.raises(HostGivenUp):
            await host.request("onvif")
        return checks, given_up, dict(host.record.sent["ports"])

    checks, given_up, sent = asyncio.run(main())
    assert checks == ["10.0.0.9"]
    assert len(given_up) == 1 and "3 connection attempts in a row went unanswered" in given_up[0]
    assert sent == {"connections": 6}


def test_a_quiet_run_that_passes_the_check_is_not_a_back_off():
    async def main() -> tuple[int, str | None]:
        pacing = Pacing(limits())
        calls = 0

        async def confirm(host):
            nonlocal calls
            calls += 1
            return True  # filtered ports, not a dead device

        pacing.confirm = confirm
        host = pacing.host("10.0.0.9")
        host.answered(80)
        for _ in range(6):
            async with host.connection("ports") as conn:
                conn.silent()
            await asyncio.sleep(0)
        async with host.connection("http") as conn:
            conn.answered(80)
        return calls, host.record.given_up

    calls, given_up = asyncio.run(main())
    assert calls == 2 and given_up is None


def test_profiles_and_explicit_values():
    assert resolve_limits() == PROFILES["default"]
    d = PROFILES["default"]
    assert (d.rate, d.host_rate, d.host_connections) == (1000, 20, 2)
    ot = PROFILES["ot"]
    assert ot.host_connections == 1 and ot.host_rate < d.host_rate and ot.rate < d.rate
    assert PROFILES["fast"].rate > d.rate
    mixed = resolve_limits("fast", host_rate=500, host_connections=8)
    assert (mixed.rate, mixed.host_rate, mixed.host_connections) == (PROFILES["fast"].rate, 500, 8)
    assert mixed.overrides == ("host_rate", "host_connections")
    assert "host-rate, host-connections set explicitly" in mixed.describe()
    with pytest.raises(ValueError, match="unknown profile"):
        resolve_limits("turbo")
    with pytest.raises(ValueError):
        Limits(rate=0, host_rate=1, host_connections=1)


def test_what_was_sent_reads_like_a_sentence():
    pacing = Pacing(limits())
    host = pacing.host("10.0.0.1")
    host.count("arp", "datagrams")
    host.record.count("http", "connections", 2)
    host.record.count("http", "requests", 5)
    assert host.record.sent_summary() == "arp: 1 datagram; http: 2 connections, 5 requests"


def test_waiting_for_the_global_rate_holds_none_of_the_devices_slots():
    """A connection queued behind a busy network must not hold one of the device's few slots: the device's
    other probes keep using their connections meanwhile (their requests need no global token)."""

    async def main() -> tuple[list[str], list[float], float]:
        limiter = RateLimiter(20, burst=1)  # one token every 50 ms
        pacing = Pacing(limits(rate=20, host_rate=1_000, host_connections=2), limiter=limiter)
        busy = pacing.host("10.0.0.9")  # another device whose knocks fill the global queue
        host = pacing.host("10.0.0.5")
        order: list[str] = []
        starts: list[float] = []

        async def knock(pacer, name: str) -> None:  # type: ignore[no-untyped-def]
            async with pacer.connection("ports"):
                starts.append(time.monotonic())
                order.append(name)

        async def web() -> None:  # holds a connection and sends requests on it
            async with host.connection("http") as conn:
                starts.append(time.monotonic())
                order.append("web")
                for _ in range(3):
                    await conn.request()
                    order.append("request")
                    await asyncio.sleep(0.01)

        queued = [asyncio.ensure_future(knock(busy, f"busy{i}")) for i in range(6)]
        queued += [asyncio.ensure_future(knock(host, f"knock{i}")) for i in range(2)]
        await asyncio.sleep(0)
        free_while_queued = host._semaphore()._value  # both of this device's knocks wait for tokens
        await asyncio.gather(web(), *queued)
        return order, starts, free_while_queued

    order, starts, free = asyncio.run(main())
    assert free == 2  # waiting in the global queue, the two knocks held neither slot (before: both)
    assert sorted(order) == sorted([*(f"busy{i}" for i in range(6)), "knock0", "knock1", "web", *["request"] * 3])
    gaps = [b - a for a, b in zip(sorted(starts), sorted(starts)[1:], strict=False)]
    assert min(gaps) >= 0.04  # and the global rate held: 20/s, one start per token


def test_a_token_that_comes_while_every_slot_is_busy_is_given_back():
    async def main() -> tuple[float, list[str]]:
        limiter = RateLimiter(1, burst=5)  # five tokens to start with, and next to no refill while this runs
        pacing = Pacing(limits(rate=1, host_rate=1_000, host_connections=1), limiter=limiter)
        host = pacing.host("10.0.0.5")
        order: list[str] = []
        release = asyncio.Event()

        async def long_one() -> None:
            async with host.connection("http"):
                order.append("first opened")
                await release.wait()
            order.append("first closed")

        async def second() -> None:
            async with host.connection("ports"):
                order.append("second opened")

        first = asyncio.ensure_future(long_one())
        await asyncio.sleep(0.01)
        waiting = asyncio.ensure_future(second())
        await asyncio.sleep(0.05)  # its token came, the only slot was busy: given back
        tokens = limiter._tokens
        release.set()
        await asyncio.gather(first, waiting)
        return tokens, order

    tokens, order = asyncio.run(main())
    assert 3.9 <= tokens < 4.5  # only the first connection's token is spent: the second one's was given back
    assert order == ["first opened", "first closed", "second opened"]
