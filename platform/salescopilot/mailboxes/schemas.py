"""What a person may set on a mailbox, validated before anything is stored."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from salescopilot.mailboxes.limits import (
    PROVIDER_PROFILES,
    MailboxLimits,
    SendWindow,
    Warmup,
    supported_holiday_country,
    zone,
)


class WindowSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    start: dt.time = dt.time(8, 0)
    end: dt.time = dt.time(18, 0)
    #: None: the lead's timezone.
    timezone: str | None = None
    #: None, "lead" or an ISO country code.
    holidays: str | None = None

    @field_validator("days")
    @classmethod
    def _days(cls, days: list[int]) -> list[int]:
        if any(d < 0 or d > 6 for d in days):
            raise ValueError("days are 0 (Monday) to 6 (Sunday)")
        return sorted(set(days))

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, name: str | None) -> str | None:
        if name and zone(name, "").key != name:
            raise ValueError(f"unknown timezone {name!r}")
        return name or None

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, country: str | None) -> str | None:
        if not country:
            return None
        if country != "lead" and not supported_holiday_country(country):
            raise ValueError(f"no holiday calendar for {country!r}")
        return country if country == "lead" else country.upper()

    @model_validator(mode="after")
    def _span(self) -> WindowSettings:
        if self.start >= self.end:
            raise ValueError("the window must end after it starts")
        return self

    def to_window(self) -> SendWindow:
        return SendWindow(
            days=frozenset(self.days), start=self.start, end=self.end,
            timezone=self.timezone, holidays=self.holidays,
        )


class WarmupSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    started_on: dt.date | None = None
    start_per_day: int = Field(10, ge=1, le=10000)
    daily_increase: int = Field(5, ge=0, le=10000)
    target: int = Field(50, ge=1, le=100000)

    def to_warmup(self, default_start: dt.date) -> Warmup | None:
        if not self.enabled:
            return None
        return Warmup(
            started_on=self.started_on or default_start,
            start_per_day=self.start_per_day,
            daily_increase=self.daily_increase,
            target=self.target,
        )


def sender_address(value: str) -> str:
    """A sending mailbox's address, normalised (IDN domains to ASCII, lower case). Syntax only:
    whether the domain receives mail is the connection check's business, and `.test` domains
    are accepted for test installations."""
    from email_validator import EmailNotValidError, validate_email

    try:
        checked = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as error:
        raise ValueError(str(error)) from None
    return checked.normalized.lower()


class MailboxInput(BaseModel):
    """A mailbox as a person submits it (API body or form). `account` is checked against the
    provider plugin's `account_model` by the service."""

    model_config = ConfigDict(extra="forbid")

    email: str = Field(max_length=320)
    from_name: str = Field("", max_length=200)
    provider: str = "smtp"
    profile: Literal["gmail", "microsoft365", "custom"] = "custom"
    account: dict[str, Any] = Field(default_factory=dict)
    signature_text: str = Field("", max_length=5000)
    signature_html: str = Field("", max_length=20000)
    daily_cap: int | None = Field(None, ge=0, le=100000)
    hourly_cap: int | None = Field(None, ge=0, le=100000)
    minute_cap: int | None = Field(None, ge=0, le=10000)
    min_gap_seconds: int = Field(120, ge=0, le=86400)
    jitter_seconds: int = Field(60, ge=0, le=86400)
    domain_daily_cap: int | None = Field(None, ge=0, le=100000)
    window: WindowSettings | None = None
    warmup: WarmupSettings = Field(default_factory=WarmupSettings)
    bounce_threshold: float = Field(0.03, gt=0, le=1)
    complaint_threshold: float = Field(0.001, gt=0, le=1)
    error_threshold: float = Field(0.2, gt=0, le=1)
    health_window_days: int = Field(7, ge=1, le=90)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return sender_address(value)


#: (mailbox id, settings version, updated_at) -> its limits: the claim reads every mailbox on every pass, and a
#: mailbox's limits change only when the mailbox is saved (which moves `updated_at`).
_LIMITS_CACHE: dict[tuple[Any, Any], MailboxLimits] = {}


def limits_of(row: Any, today: dt.date | None = None) -> MailboxLimits:
    """The limits of a stored mailbox row, merged with its provider profile."""
    key = (row.id, row.settings_version, row.updated_at)
    cached = _LIMITS_CACHE.get(key)
    if cached is None:
        if len(_LIMITS_CACHE) > 100_000:
            _LIMITS_CACHE.clear()
        cached = _LIMITS_CACHE[key] = _limits_of(row, today)
    return cached


def _limits_of(row: Any, today: dt.date | None) -> MailboxLimits:
    from salescopilot.db.json_column import json_dict

    window = json_dict(row.window)
    warmup = json_dict(row.warmup)
    created = row.created_at.date() if getattr(row, "created_at", None) else (today or dt.date.today())
    profile = row.profile if row.profile in PROVIDER_PROFILES else "custom"
    return MailboxLimits.for_profile(
        profile,
        daily_cap=row.daily_cap,
        hourly_cap=row.hourly_cap,
        minute_cap=row.minute_cap,
        min_gap=float(row.min_gap_seconds or 0),
        jitter=float(row.jitter_seconds or 0),
        warmup=WarmupSettings.model_validate(warmup).to_warmup(created) if warmup else None,
        domain_daily_cap=row.domain_daily_cap,
        window=WindowSettings.model_validate(window).to_window() if window else None,
    )
