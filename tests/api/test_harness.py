"""The harness itself must be able to fail: a server whose output holds a
sanitizer report (a leak at exit after SIGTERM) or that exits nonzero
after SIGTERM fails its test at cleanup (conftest.Server.cleanup)."""
import os

import pytest

from conftest import Server


def test_a_sanitizer_report_in_the_output_fails_the_cleanup():
    s = Server().start()
    s.stop()
    with open(os.path.join(s.dir, "server.log"), "ab") as f:
        f.write(b"==4242==ERROR: LeakSanitizer: detected memory leaks\n")
    with pytest.raises(AssertionError, match="LeakSanitizer"):
        s.cleanup()
    os.remove(os.path.join(s.dir, "server.log"))
    s.cleanup()  # nothing left to report: it cleans up


def test_a_nonzero_exit_after_sigterm_fails_the_cleanup():
    s = Server().start()
    s.stop()
    s.exit_codes.append(23)  # what LeakSanitizer exits with when it finds a leak
    with pytest.raises(AssertionError, match=r"\[23\]"):
        s.cleanup()
    s.exit_codes = []
    s.cleanup()


def test_the_servers_run_with_leak_detection_on():
    s = Server()
    assert s.env["ASAN_OPTIONS"].split(":")[-1] == "detect_leaks=1"
    s.cleanup()
