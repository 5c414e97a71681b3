"""A 5-step sequence with every condition, run through the real SMTP provider to an SMTP server
on a fake clock over four weeks, for leads in four timezones: each lead gets exactly the steps
its opens, clicks and replies call for, each inside its window in its own timezone, never on a
weekend or a public holiday of its country, each after its step's delay."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import holidays
import pytest

from salescopilot.sequences.steps import condition_holds
from tests.integration.campaigns.conftest import step

ZONES = [("America/New_York", "US"), ("Europe/Berlin", "DE"), ("Asia/Kolkata", "IN"), ("Australia/Sydney", "AU")]
#: What each lead does after its first message: (opens, clicks, replies).
BEHAVIOURS = {"quiet": (False, False, False), "opener": (True, False, False),
              "clicker": (True, True, False), "replier": (False, False, True)}
#: Shared steps; the fifth differs per campaign so that both click conditions run.
BASE = [
    ("always", dict(delay=0, thread="new")),
    ("no_reply", dict(delay=2)),
    ("opened", dict(delay=2, business=True)),
    ("not_opened", dict(delay=30, unit="hours", thread="new")),
]
DELAYS = [dt.timedelta(0), dt.timedelta(days=2), None, dt.timedelta(hours=30), None]


async def test_each_lead_gets_exactly_its_steps_inside_its_window(lab, clock):
    await lab.mailbox_pool()
    leads: dict = {}
    campaigns = {}
    for fifth in ("clicked", "not_clicked"):
        conditions = [c for c, _ in BASE] + [fifth]
        steps = [step(n, c, **kw) for n, (c, kw) in enumerate(BASE, 1)]
        steps.append(step(5, fifth, 3, business=True))
        # Replies do not stop this sequence, so the "if no reply" condition decides.
        sequence = await lab.sequence(steps, reply=False)
        ids = []
        for index, behaviour in enumerate(BEHAVIOURS):
            zone, country = ZONES[(index + len(campaigns)) % len(ZONES)]
            address = f"{behaviour}.{fifth}@{country.lower()}.customer.example.com"
            lead = await lab.lead(address, behaviour.title(), zone, country)
            leads[address] = {"id": lead, "behaviour": behaviour, "zone": zone, "country": country,
                              "conditions": conditions}
            ids.append(lead)
        campaigns[fifth] = await lab.campaign(sequence, ids)

    engaged: set = set()

    async def react() -> None:
        for message in await lab.messages():
            if message.state != "sent" or message.step != 1 or message.id in engaged:
                continue
            engaged.add(message.id)
            opens, clicks, replies = BEHAVIOURS[leads[message.recipient_email]["behaviour"]]
            for kind, does in (("opened", opens), ("clicked", clicks), ("replied", replies)):
                if does:
                    await lab.engage(message.id, kind)

    await lab.run_until(clock.now() + dt.timedelta(days=28), on_tick=react)

    received = lab.received()
    by_recipient: dict = {}
    for message in received:
        by_recipient.setdefault(message["To"].addresses[0].addr_spec, []).append(message)
    rows = {(m.recipient_email, m.step): m for m in await lab.messages()}
    for address, lead in leads.items():
        opens, clicks, replies = BEHAVIOURS[lead["behaviour"]]
        expected = [1] + [n for n, c in enumerate(lead["conditions"][1:], 2)
                          if condition_holds(c, opened=opens, clicked=clicks, replied=replies)]
        got = [int(re.search(r"\[step (\d)\]", m.get_body(("plain",)).get_content()).group(1))
               for m in by_recipient.get(address, [])]
        if got != expected:
            pytest.fail(f"{address}: steps {got}, expected {expected}\n" + await lab.timeline(lead["id"]))
        zone = ZoneInfo(lead["zone"])
        days_off = holidays.country_holidays(lead["country"], years=2026)
        previous = None
        for ordinal, number in enumerate(expected, 1):
            row = rows[(address, ordinal)]
            assert row.state == "sent"
            local = row.sent_at.astimezone(zone)
            assert local.weekday() < 5 and dt.time(9) <= local.time() < dt.time(17), (address, number, local)
            assert local.date() not in days_off, (address, number, local)
            if previous is not None and DELAYS[number - 1] is not None:
                assert row.sent_at >= previous + DELAYS[number - 1]
            elif previous is not None:  # business days: at least that many calendar days
                assert row.sent_at >= previous + dt.timedelta(days=2)
            previous = row.sent_at
        threaded = [m for m in by_recipient[address][1:] if m["In-Reply-To"]]
        assert all(m["Subject"].startswith("Re: ") for m in threaded)

    enrollments = await lab.enrollments()
    assert {e.state for e in enrollments} == {"completed"}
    assert len(received) == sum(1 for _ in rows)
