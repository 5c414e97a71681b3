"""Property tests of the scheduler: `decide` is a pure function that never sends early, and a
whole campaign run is deterministic (two tenants with the same data and the same clock get the
same messages at the same times) and idempotent (a repeated pass at the same instant queues
nothing; every enrollment's messages are numbered 1..n without a gap or a twin)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter

from hypothesis import HealthCheck, given, settings as hyp_settings, strategies as st

from salescopilot.campaigns.scheduler import Complete, Send, Skip, Stop, Wait, decide
from salescopilot.clock import FakeClock
from salescopilot.mailboxes.schemas import WindowSettings
from salescopilot.sequences.steps import CONDITIONS, parse_steps, parse_stop_rules
from tests.conftest import make_tenant
from tests.integration.campaigns.conftest import Lab, step

START = dt.datetime(2026, 5, 11, 6, 0, tzinfo=dt.UTC)
steps_strategy = st.lists(
    st.tuples(st.sampled_from(CONDITIONS), st.integers(0, 3), st.sampled_from(["days", "hours"]), st.booleans()),
    min_size=1, max_size=4,
)


@given(
    raw=steps_strategy,
    position=st.integers(0, 4),
    hours=st.integers(0, 24 * 20),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    status=st.sampled_from(["new", "active", "replied", "bounced", "unsubscribed", "meeting_booked"]),
    last_state=st.sampled_from([None, "queued", "sent", "failed", "cancelled"]),
)
@hyp_settings(max_examples=300, deadline=None)
def test_decide_is_pure_and_never_early(raw, position, hours, flags, status, last_state):
    steps = parse_steps([step(n, c, d, unit=u, business=b) for n, (c, d, u, b) in enumerate(raw, 1)])
    rules = parse_stop_rules({})
    now = START + dt.timedelta(hours=hours)
    opened, clicked, replied = flags
    anchor = START
    enrollment = {
        "state": "active", "next_step": min(position, len(steps)), "sends": min(position, len(steps)),
        "anchor_at": anchor, "last_message": uuid.UUID(int=1) if last_state else None, "paused_until": None,
        "opened_at": START if opened else None, "clicked_at": START if clicked else None,
        "replied_at": START if replied else None,
    }
    last = None if last_state is None else {
        "state": last_state, "failure": "bounced" if last_state == "failed" else "", "due_at": START,
        "sent_at": START + dt.timedelta(hours=1), "updated_at": START + dt.timedelta(hours=1), "wait_reason": "",
    }
    lead = {"status": status, "timezone": "Europe/Berlin", "country": "DE"}
    window = WindowSettings()
    first = decide(enrollment, steps, rules, lead, last, now, window=window)
    assert decide(dict(enrollment), steps, rules, dict(lead), dict(last) if last else None, now, window=window) == first
    if status in ("bounced", "unsubscribed") or (status == "replied" or replied) or status == "meeting_booked":
        assert isinstance(first, Stop)
    elif isinstance(first, Wait):
        assert first.until > now
    elif isinstance(first, Send):
        assert last is None or last["state"] in ("sent", "cancelled")
        assert first.due_at >= now
    elif isinstance(first, Skip):
        assert first.step == enrollment["next_step"]
    else:
        assert isinstance(first, (Stop, Complete))


@given(
    raw=st.lists(st.tuples(st.sampled_from(CONDITIONS), st.integers(0, 2), st.sampled_from(["days", "hours"])),
                 min_size=1, max_size=3),
    engaged=st.lists(st.sampled_from(["opened", "clicked", "replied", "none"]), min_size=1, max_size=4),
    ticks=st.lists(st.integers(1, 30), min_size=3, max_size=12),
)
@hyp_settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
async def test_a_run_is_deterministic_and_idempotent(settings, db, raw, engaged, ticks):
    from tests.mailservers import SmtpSink

    runs = []
    with SmtpSink() as sink:
        for _ in range(2):
            tenant = await make_tenant(f"t{uuid.uuid4().hex[:10]}")
            lab = Lab(tenant, settings, FakeClock(START), sink)
            await lab.mailbox_pool()
            sequence = await lab.sequence(
                [step(n, c, d, unit=u, thread="new" if n == 1 else "reply") for n, (c, d, u) in enumerate(raw, 1)],
                reply=False)
            leads = [await lab.lead(f"l{n}@c{n}.example.com", f"L{n}", "Europe/Berlin", "DE") for n in range(len(engaged))]
            await lab.campaign(sequence, leads, window={"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "23:59"})
            log = []
            for hours in ticks:
                first = await lab.schedule()
                second = await lab.schedule()
                assert second.queued == 0  # the same instant: nothing left to queue
                await lab.send()
                for message in await lab.messages():
                    kind = engaged[int(message.recipient_email[1:].split("@")[0])]
                    if message.state == "sent" and kind != "none":
                        await lab.engage(message.id, kind)
                log.append((first.queued, first.skipped, first.completed))
                lab.clock.advance(hours=hours)
            messages = await lab.messages()
            numbering = Counter((m.enrollment, m.step) for m in messages)
            assert set(numbering.values()) <= {1}
            for enrollment in {m.enrollment for m in messages}:
                ordinals = sorted(m.step for m in messages if m.enrollment == enrollment)
                assert ordinals == list(range(1, len(ordinals) + 1))
            runs.append((log, sorted((m.recipient_email, m.step, m.subject, m.due_at) for m in messages)))
    assert runs[0] == runs[1]
