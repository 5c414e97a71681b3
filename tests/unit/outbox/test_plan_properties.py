"""Property tests of the sending rules: for random pools, caps, windows, warmup and jitter, the
plan never exceeds a limit, and every message either goes out or waits for a named reason."""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from salescopilot.mailboxes.limits import (
    DAY,
    HOUR,
    MINUTE,
    MailboxLimits,
    MailboxUsage,
    SendWindow,
    Warmup,
)
from salescopilot.outbox.planner import simulate
from salescopilot.outbox.rotation import Candidate, MailboxState

START = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.UTC)  # a Monday
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
POOL = uuid.UUID(int=1)


@st.composite
def windows(draw):
    if not draw(st.booleans()):
        return None
    start = draw(st.integers(0, 20))
    end = draw(st.integers(start + 1, 24))
    return SendWindow(
        days=frozenset(draw(st.sets(st.integers(0, 6), min_size=1))),
        start=dt.time(start),
        end=dt.time(23, 59) if end == 24 else dt.time(end),
        timezone=draw(st.sampled_from([None, *ZONES])),
        holidays=draw(st.sampled_from([None, "US", "DE", "lead"])),
    )


@st.composite
def mailbox_limits(draw):
    warmup = None
    if draw(st.booleans()):
        warmup = Warmup(
            started_on=START.date() - dt.timedelta(days=draw(st.integers(0, 10))),
            start_per_day=draw(st.integers(1, 5)),
            daily_increase=draw(st.integers(0, 3)),
            target=draw(st.integers(1, 20)),
        )
    return MailboxLimits(
        daily_cap=draw(st.one_of(st.none(), st.integers(1, 15))),
        hourly_cap=draw(st.one_of(st.none(), st.integers(1, 6))),
        minute_cap=draw(st.one_of(st.none(), st.integers(1, 3))),
        min_gap=draw(st.sampled_from([0.0, 30.0, 120.0, 600.0])),
        jitter=draw(st.sampled_from([0.0, 15.0, 90.0])),
        warmup=warmup,
        domain_daily_cap=draw(st.one_of(st.none(), st.integers(1, 4))),
        window=draw(windows()),
    )


@st.composite
def scenarios(draw):
    limits = draw(st.lists(mailbox_limits(), min_size=1, max_size=4))
    states = [
        MailboxState(
            id=uuid.UUID(int=100 + i), email=f"m{i}@sender.test", status="active",
            limits=lim, usage=MailboxUsage(), pools=frozenset({POOL}),
        )
        for i, lim in enumerate(limits)
    ]
    count = draw(st.integers(1, 40))
    candidates = []
    for n in range(count):
        sticky = draw(st.one_of(st.none(), st.sampled_from([s.id for s in states])))
        candidates.append(
            Candidate(
                id=uuid.UUID(int=1000 + n),
                due_at=START + dt.timedelta(minutes=draw(st.integers(0, 600))),
                recipient_domain=draw(st.sampled_from(["a.test", "b.test", "c.test"])),
                mailbox=sticky,
                pool=POOL,
                timezone=draw(st.sampled_from([None, *ZONES])),
                country=draw(st.sampled_from([None, "US", "DE", "JP"])),
                window=draw(windows()) if draw(st.booleans()) else None,
            )
        )
    quota = draw(st.one_of(st.none(), st.integers(1, 30)))
    return states, candidates, quota


def _count(times, since, until):
    return sum(1 for t in times if since < t <= until)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_no_limit_is_ever_exceeded_and_every_message_is_accounted_for(scenario):
    states, candidates, quota = scenario
    limits = {s.id: s.limits for s in states}
    labels = {c.id: {"recipient_email": f"{c.id}@x.test", "subject": "s", "step": 0} for c in candidates}
    by_id = {c.id: c for c in candidates}
    horizon = START + dt.timedelta(days=10)

    plan = simulate(states, candidates, labels, START, horizon, quota=quota)

    # Every message is either planned or waiting with a reason.
    planned = {s.message for s in plan.sends}
    waiting = {w.message for w in plan.waiting}
    assert planned | waiting == set(by_id) and not planned & waiting
    assert all(w.reason for w in plan.waiting)

    email_to_id = {s.email: s.id for s in states}
    sends_by_mailbox: dict[uuid.UUID, list] = {s.id: [] for s in states}
    for send in plan.sends:
        candidate = by_id[send.message]
        mailbox = email_to_id[send.mailbox]
        assert send.at >= candidate.due_at
        if candidate.mailbox is not None:
            assert mailbox == candidate.mailbox, "a lead stays on its mailbox"
        sends_by_mailbox[mailbox].append((send.at, candidate))
        for window in (limits[mailbox].window, candidate.window):
            if window is not None:
                assert window.wait(send.at, candidate.timezone, candidate.country) is None, "sent outside its window"

    all_times = sorted(s.at for s in plan.sends)
    for at in all_times:
        if quota is not None:
            assert _count(all_times, at - DAY, at) <= quota
    for mailbox, sends in sends_by_mailbox.items():
        lim = limits[mailbox]
        times = sorted(t for t, _ in sends)
        for i, at in enumerate(times):
            if lim.minute_cap is not None:
                assert _count(times, at - MINUTE, at) <= lim.minute_cap
            if lim.hourly_cap is not None:
                assert _count(times, at - HOUR, at) <= lim.hourly_cap
            cap = lim.daily_cap_on(at.date())
            if cap is not None:
                assert _count(times, at - DAY, at) <= cap
            if i and lim.min_gap:
                assert (at - times[i - 1]).total_seconds() >= lim.min_gap
            if lim.domain_daily_cap is not None:
                for domain in {c.recipient_domain for _, c in sends}:
                    same = [t for t, c in sends if c.recipient_domain == domain]
                    assert _count(same, at - DAY, at) <= lim.domain_daily_cap


@settings(max_examples=30, deadline=None)
@given(scenarios())
def test_the_plan_is_the_same_for_the_same_inputs(scenario):
    import copy

    states, candidates, quota = scenario
    labels = {c.id: {"recipient_email": "x@x.test", "subject": "s", "step": 0} for c in candidates}
    horizon = START + dt.timedelta(days=3)
    first = simulate(copy.deepcopy(states), candidates, labels, START, horizon, quota=quota)
    second = simulate(copy.deepcopy(states), candidates, labels, START, horizon, quota=quota)
    assert first.to_dict() == second.to_dict()
