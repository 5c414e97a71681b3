"""Sending limits as pure rules over values: windows, warmup, caps and pacing.

The outbox applies these at claim time to usage read from the database, and the dry-run planner
applies the same functions to usage it simulates, so what the plan shows is what the claim does.
Every "no" comes with a `Wait`: the limit by name and the earliest time it can change.

Windows are rolling: "hourly" means the last 60 minutes, "daily" the last 24 hours, so a cap
holds at every instant, not only per calendar period.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import random
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holiday_calendars

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
_NO_GAP = dt.timedelta(0)
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

#: Limits of the big providers (their documented sending limits), applied unless a mailbox's own
#: caps are lower. "custom" is a raw SMTP server: only what the tenant configured.
PROVIDER_PROFILES: dict[str, dict[str, int]] = {
    "gmail": {"daily_cap": 2000},
    "microsoft365": {"minute_cap": 30, "daily_cap": 10000},
    "custom": {},
}


@dataclass(frozen=True, slots=True)
class Wait:
    """Why something cannot be sent now, and when that may change (None: not by time alone)."""

    reason: str
    until: dt.datetime | None


def zone(name: str | None, fallback: str = "UTC") -> ZoneInfo:
    """The zone called `name`, or `fallback` when it is empty or unknown (lead data is untrusted)."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


@functools.lru_cache(maxsize=512)
def _holiday_dates(country: str, year: int) -> frozenset[dt.date]:
    try:
        return frozenset(holiday_calendars.country_holidays(country.upper(), years=year))
    except (NotImplementedError, KeyError, ValueError):
        return frozenset()


def is_holiday(country: str | None, day: dt.date) -> bool:
    return bool(country) and day in _holiday_dates(country, day.year)


def supported_holiday_country(country: str) -> bool:
    return country.upper() in holiday_calendars.list_supported_countries()


@dataclass(frozen=True, slots=True)
class SendWindow:
    """When messages may go out: days of the week and hours, read in the lead's timezone unless
    `timezone` is set, skipping public holidays of a country when `holidays` is set."""

    days: frozenset[int] = frozenset(range(5))
    start: dt.time = dt.time(8, 0)
    end: dt.time = dt.time(18, 0)
    #: Zone the hours are read in; None: the lead's own (or `fallback_timezone` when unknown).
    timezone: str | None = None
    fallback_timezone: str = "UTC"
    #: ISO 3166 country whose public holidays are skipped; "lead": the lead's country; None: none.
    holidays: str | None = None

    def describe(self, lead_timezone: str | None = None) -> str:
        days = ",".join(DAY_NAMES[d] for d in sorted(self.days)) or "no day"
        where = self.timezone or f"lead's timezone ({lead_timezone or self.fallback_timezone})"
        text = f"{days} {self.start:%H:%M}-{self.end:%H:%M} {where}"
        return text + (f", skipping {self.holidays} holidays" if self.holidays else "")

    def _zone(self, lead_timezone: str | None) -> ZoneInfo:
        return zone(self.timezone or lead_timezone, self.fallback_timezone)

    def _holiday_country(self, lead_country: str | None) -> str | None:
        return lead_country if self.holidays == "lead" else self.holidays

    def _open_day(self, day: dt.date, country: str | None) -> bool:
        return day.weekday() in self.days and not is_holiday(country, day)

    def next_open(
        self, at: dt.datetime, lead_timezone: str | None = None, lead_country: str | None = None
    ) -> dt.datetime | None:
        """`at` when the window is open then, else the next moment it opens (UTC); None when it
        never opens (no day chosen, or an empty span of hours)."""
        if not self.days or self.start >= self.end:
            return None
        tz = self._zone(lead_timezone)
        country = self._holiday_country(lead_country)
        local = at.astimezone(tz)
        for offset in range(0, 400):
            day = local.date() + dt.timedelta(days=offset)
            if not self._open_day(day, country):
                continue
            opens = dt.datetime.combine(day, self.start, tz)
            closes = dt.datetime.combine(day, self.end, tz)
            if offset == 0 and local >= closes:
                continue
            moment = max(opens, local)
            # A time that does not exist locally (DST gap) is normalised by the UTC round trip.
            return moment.astimezone(dt.UTC)
        return None

    def wait(
        self, at: dt.datetime, lead_timezone: str | None = None, lead_country: str | None = None
    ) -> Wait | None:
        """None when open at `at`, else the wait until it opens."""
        opens = self.next_open(at, lead_timezone, lead_country)
        if opens is not None and opens <= at:
            return None
        return Wait(f"outside the sending window ({self.describe(lead_timezone)})", opens)


@dataclass(frozen=True, slots=True)
class Warmup:
    """A new mailbox's ramp: `start_per_day` on its first day, `daily_increase` more each day,
    never more than `target`."""

    started_on: dt.date
    start_per_day: int = 10
    daily_increase: int = 5
    target: int = 50

    def cap_on(self, day: dt.date) -> int:
        days = max(0, (day - self.started_on).days)
        return max(0, min(self.target, self.start_per_day + self.daily_increase * days))

    def curve(self, days: int = 30) -> list[tuple[dt.date, int]]:
        return [
            (self.started_on + dt.timedelta(days=n), self.cap_on(self.started_on + dt.timedelta(days=n)))
            for n in range(days)
        ]


@dataclass(frozen=True, slots=True)
class MailboxLimits:
    """Everything that limits one mailbox, already merged with its provider's profile."""

    daily_cap: int | None = None
    hourly_cap: int | None = None
    minute_cap: int | None = None
    #: Seconds between two sends, plus a random 0..jitter seconds so the rhythm is not robotic.
    min_gap: float = 0.0
    jitter: float = 0.0
    warmup: Warmup | None = None
    #: Most messages to one recipient domain in 24 hours.
    domain_daily_cap: int | None = None
    window: SendWindow | None = None

    @classmethod
    def for_profile(cls, profile: str, **own: object) -> MailboxLimits:
        """The mailbox's own caps, lowered to its provider's where the provider's are stricter."""
        merged = dict(own)
        for name, provider_cap in PROVIDER_PROFILES.get(profile, {}).items():
            mine = merged.get(name)
            merged[name] = provider_cap if mine is None else min(int(mine), provider_cap)
        return cls(**merged)  # type: ignore[arg-type]

    def daily_cap_on(self, day: dt.date) -> int | None:
        if self.warmup is None:
            return self.daily_cap  # asked for every mailbox several times per claim
        ramp = self.warmup.cap_on(day)
        return ramp if self.daily_cap is None else min(self.daily_cap, ramp)

    def gap_after(self, sent_at: dt.datetime, seed: object) -> dt.timedelta:
        """The pause after a send at `sent_at`: `min_gap` plus jitter drawn from a generator
        seeded by (`seed` as text, `sent_at`), so the same inputs give the same plan."""
        if self.min_gap <= 0 and self.jitter <= 0:
            return _NO_GAP
        digest = hashlib.sha256(f"{seed}|{sent_at.isoformat()}".encode()).digest()
        extra = random.Random(digest).uniform(0, self.jitter) if self.jitter > 0 else 0.0
        return dt.timedelta(seconds=self.min_gap + extra)


@dataclass(slots=True)
class MailboxUsage:
    """A mailbox's sends, as the times they were made (only the last 24 hours matter)."""

    sends: list[dt.datetime] = field(default_factory=list)
    #: Recipient domain -> its send times in the last 24 hours.
    by_domain: dict[str, list[dt.datetime]] = field(default_factory=dict)
    #: The earliest moment of the next send (last send + gap + jitter).
    next_send_at: dt.datetime | None = None

    def record(self, at: dt.datetime, domain: str) -> None:
        self.sends.append(at)
        self.by_domain.setdefault(domain, []).append(at)

    def count_since(self, since: dt.datetime, domain: str | None = None) -> int:
        times = self.sends if domain is None else self.by_domain.get(domain, ())
        return sum(1 for t in times if t > since)

    def _freed_at(self, span: dt.timedelta, cap: int, domain: str | None = None) -> dt.datetime:
        """When the rolling `span` next holds fewer than `cap` sends."""
        times = sorted(self.sends if domain is None else self.by_domain.get(domain, ()))
        # The send that must leave the window for one more to fit.
        return times[-cap] + span if cap > 0 and len(times) >= cap else times[-1] + span


def mailbox_wait(limits: MailboxLimits, usage: MailboxUsage, now: dt.datetime) -> Wait | None:
    """None when the mailbox may send one more message now, else which limit holds it back."""
    if usage.next_send_at is not None and usage.next_send_at > now:
        return Wait("pacing: minimum gap between sends", usage.next_send_at)
    checks = (
        (limits.minute_cap, MINUTE, "per-minute cap"),
        (limits.hourly_cap, HOUR, "hourly cap"),
        (limits.daily_cap_on(now.date()), DAY, "daily cap"),
    )
    for cap, span, name in checks:
        if cap is None:
            continue
        if cap <= 0:
            return Wait(f"{name} is 0", now + DAY)
        if usage.count_since(now - span) >= cap:
            warm = " (warmup)" if name == "daily cap" and limits.warmup and cap == limits.warmup.cap_on(now.date()) else ""
            return Wait(f"{name} of {cap} reached{warm}", usage._freed_at(span, cap))
    return None


def recipient_wait(
    limits: MailboxLimits,
    usage: MailboxUsage,
    now: dt.datetime,
    *,
    domain: str,
    timezone: str | None,
    country: str | None,
    extra_window: SendWindow | None = None,
) -> Wait | None:
    """None when this recipient may get a message from this mailbox now (its window, the
    campaign's window, the per-domain cap), else why not."""
    for window in (limits.window, extra_window):
        if window is not None:
            wait = window.wait(now, timezone, country)
            if wait is not None:
                return wait
    cap = limits.domain_daily_cap
    if cap is not None and usage.count_since(now - DAY, domain) >= cap:
        return Wait(f"{cap} messages to {domain} in 24 hours", usage._freed_at(DAY, cap, domain))
    return None


def remaining_today(limits: MailboxLimits, usage: MailboxUsage, now: dt.datetime) -> int:
    """How many more messages the mailbox may send in the rolling day (a large number when
    unlimited): new leads go to the mailbox with the most."""
    remaining = [10**9]
    for cap, span in (
        (limits.daily_cap_on(now.date()), DAY),
        (limits.hourly_cap, HOUR),
        (limits.minute_cap, MINUTE),
    ):
        if cap is not None:
            remaining.append(max(0, cap - usage.count_since(now - span)))
    return min(remaining)
