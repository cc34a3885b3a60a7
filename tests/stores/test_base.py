"""Who and when a store records, read without the modules (getpass, socket, datetime) that
would otherwise weigh on every run; the standard library's answers are the reference."""
from __future__ import annotations

import getpass
import re
import socket
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from link_migration.stores import base
from link_migration.stores.base import host_name, utc_timestamp, who_am_i


@pytest.mark.parametrize("digits", [3, 6])
def test_timestamps_are_written_as_datetime_writes_them(digits: int) -> None:
    before = datetime.now(timezone.utc)
    stamp = utc_timestamp(digits)
    after = datetime.now(timezone.utc)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{%d}\+00:00" % digits, stamp), stamp
    parsed = datetime.fromisoformat(stamp)
    # Truncated, not rounded, to the digits kept: as isoformat(timespec=...) does.
    assert before - timedelta(milliseconds=1) <= parsed <= after
    spec = "milliseconds" if digits == 3 else "microseconds"
    assert parsed.isoformat(timespec=spec) == stamp


def test_each_instant_gets_its_own_second_even_when_the_clock_steps_back(monkeypatch) -> None:
    # The date and time are kept from one call to the next within a second (see utc_timestamp).
    instants = [1_700_000_000_999_999_999, 1_700_000_001_000_000_000, 1_700_000_000_500_000_000,
                1_700_000_000_500_000_000, 1_800_000_000_000_123_000]
    # Only the clock link_migration reads: the rest of Python keeps the real one.
    clock = SimpleNamespace(time_ns=iter(instants).__next__, gmtime=time.gmtime, strftime=time.strftime)
    monkeypatch.setattr(base, "time", clock)
    for nanoseconds in instants:
        seconds, fraction = divmod(nanoseconds, 10**9)
        moment = datetime.fromtimestamp(seconds, timezone.utc) + timedelta(microseconds=fraction // 1000)
        assert utc_timestamp(6) == moment.isoformat(timespec="microseconds")


def test_host_name_is_the_one_socket_gives() -> None:
    assert host_name() == socket.gethostname()


@pytest.mark.parametrize("variable", ["LOGNAME", "USER", "LNAME", "USERNAME"])
def test_user_name_comes_from_the_environment_as_getpass_reads_it(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, "ada")
    assert getpass.getuser() == "ada"
    assert who_am_i() == f"ada@{socket.gethostname()}"


def test_user_name_without_environment_is_the_account_name(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    try:
        expected = getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry, as in some containers
        expected = None
    user = who_am_i().rpartition("@")[0]
    assert user == expected if expected is not None else user.startswith("uid")
