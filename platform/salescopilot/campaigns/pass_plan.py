"""What a scheduler pass works out once per campaign rather than once per enrollment, and the
window and day helpers the scheduler and the dry run share."""

from __future__ import annotations

import datetime as dt
import functools

from salescopilot.campaigns.tables import Campaign
from salescopilot.db.json_column import json_dict
from salescopilot.mailboxes.limits import zone
from salescopilot.mailboxes.schemas import WindowSettings
from salescopilot.sequences.steps import Step, StopRules, delay_after, describe_delay


def window_of(campaign: Campaign) -> WindowSettings:
    return WindowSettings.model_validate(json_dict(campaign.window) or {})


def holiday_country(window: WindowSettings, lead_country: str) -> str | None:
    if window.holidays == "lead":
        return (lead_country or "")[:2].upper() or None
    return window.holidays


def day_start(now: dt.datetime, timezone: str | None) -> dt.datetime:
    """The start of `now`'s day in `timezone` (the campaign's window zone, else UTC)."""
    local = now.astimezone(zone(timezone))
    return dt.datetime.combine(local.date(), dt.time(0), local.tzinfo).astimezone(dt.UTC)


def minute(moment: dt.datetime) -> str:
    """`moment` to the minute, as its own offset shows it (a batch shares a few moments)."""
    return _minute_at(moment, moment.utcoffset())


@functools.lru_cache(maxsize=256)
def _minute_at(moment: dt.datetime, offset: dt.timedelta | None) -> str:
    # `offset` is part of the key: equal instants at other offsets read differently.
    return f"{moment:%Y-%m-%d %H:%M}"


class CampaignPass:
    """What a pass works out once per campaign instead of once per enrollment: its sequence,
    window, sender values, and the window's next opening and the following step's due time
    for each lead timezone and country (most of a batch shares a few)."""

    __slots__ = ("campaign", "steps", "rules", "window", "now", "next_day", "sender", "_send_window", "_opens",
                 "_following", "_waiting")

    def __init__(self, campaign: Campaign, version: list[Step], rules: StopRules, window: WindowSettings,
                 now: dt.datetime) -> None:
        self.campaign, self.steps, self.rules, self.window, self.now = campaign, version, rules, window, now
        self.next_day = day_start(now, window.timezone) + dt.timedelta(days=1)
        sender = campaign.sender_name or ""
        self.sender = {"firstName": sender.split(" ")[0] if sender else "", "fullName": sender}
        self._send_window = window.to_window()
        self._opens: dict[tuple[str | None, str], dt.datetime] = {}
        self._following: dict[tuple, dt.datetime] = {}
        self._waiting: dict[int, str] = {}

    def opens(self, timezone: str | None, country: str) -> dt.datetime:
        """The window's next opening from now for a lead in `timezone` and `country` (or now)."""
        key = (timezone, country)
        if key not in self._opens:
            self._opens[key] = self._send_window.next_open(self.now, timezone, country) or self.now
        return self._opens[key]

    def following_due(self, position: int, due: dt.datetime, timezone: str | None, country: str) -> dt.datetime:
        """When the step after `position` is due if `position`'s message goes out at `due`."""
        following = self.steps[position + 1] if position + 1 < len(self.steps) else None
        if following is None:
            return due
        key = (position, due, due.utcoffset(), timezone, country)
        if key not in self._following:
            self._following[key] = delay_after(due, following, timezone=timezone,
                                               holidays=holiday_country(self.window, country))
        return self._following[key]

    def waiting_after(self, position: int) -> str:
        """Why an enrollment waits once step `position` is queued."""
        if position not in self._waiting:
            following = self.steps[position + 1] if position + 1 < len(self.steps) else None
            self._waiting[position] = (
                f"step {position + 2} is due {describe_delay(following)} after step {position + 1} is sent"
                if following else f"finishes once step {position + 1} is sent")
        return self._waiting[position]
