import io

from auditor.commands.progress import TerminalProgress


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_one_line_on_a_tty_and_clears_it():
    tty = FakeTTY()
    p = TerminalProgress(stream=tty)
    p.phase("discovery")
    p.hosts(3, 10, 2)
    p.hosts(10, 10, 7)
    p.close()
    out = tty.getvalue()
    assert "discovery…" in out and "probing hosts 10/10 · 7 live" in out
    assert "\n" not in out and out.endswith("\r\x1b[2K")


def test_progress_is_silent_off_a_tty_or_when_quiet():
    pipe = io.StringIO()
    p = TerminalProgress(stream=pipe)
    p.phase("discovery")
    p.hosts(1, 1, 1)
    p.close()
    assert pipe.getvalue() == ""
    quiet = FakeTTY()
    q = TerminalProgress(stream=quiet, enabled=False)
    q.phase("x")
    q.close()
    assert quiet.getvalue() == ""
