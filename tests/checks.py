"""Assertions shared by the test modules about how a CLI run ended."""
from __future__ import annotations


def ok(result) -> None:
    """The run succeeded; on failure, show everything it printed."""
    assert result.status == 0, (result.status, result.out, result.err)


def assert_error(result, *needles: str, status: int = 2) -> None:
    """The CLI refused cleanly: the status, our error line, no traceback, and every needle
    (what went wrong and where) in the message."""
    assert result.status == status, (result.status, result.out, result.err)
    assert "link-migration: error:" in result.err, result.err
    assert "Traceback" not in result.err, result.err
    for needle in needles:
        assert needle in result.err, (needle, result.err)
