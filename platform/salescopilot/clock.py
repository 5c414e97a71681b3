"""Time as a dependency: rules take a `Clock` so tests can run them on a fake one."""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += dt.timedelta(**delta)


system_clock = SystemClock()
