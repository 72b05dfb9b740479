import subprocess
import sys
import time

from auditor.probes.daemon_pool import DaemonThreadPool


def test_runs_work_and_passes_exceptions():
    pool = DaemonThreadPool(3)
    assert [f.result(timeout=5) for f in [pool.submit(pow, 2, n) for n in range(5)]] == [1, 2, 4, 8, 16]
    boom = pool.submit(int, "x")
    try:
        boom.result(timeout=5)
        raise AssertionError("expected ValueError")
    except ValueError:
        pass
    pool.shutdown()


def test_a_blocked_call_does_not_hold_the_process_at_exit():
    code = ("import time; from auditor.probes.daemon_pool import DaemonThreadPool; "
            "DaemonThreadPool(2).submit(time.sleep, 30); print('bye')")
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=20).stdout
    assert out.strip() == "bye" and time.monotonic() - t0 < 5
