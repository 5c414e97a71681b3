"""Limits hold from durable state at claim time, rotation picks the mailbox with most room, and
a sick mailbox is quarantined on its own while the campaign goes on with the others."""

from __future__ import annotations

import datetime as dt
import uuid

from salescopilot.mailboxes.repository import MailboxRepository, SendingPolicyRepository
from salescopilot.mailboxes.service import PoolService
from salescopilot.outbox.planner import dry_run
from salescopilot.tenancy.context import tenant_scope


async def _pool(desk, *mailboxes) -> uuid.UUID:
    async with tenant_scope(desk.tenant):
        return (await PoolService(desk.clock).create(f"pool-{uuid.uuid4().hex[:6]}", list(mailboxes))).id


async def _mailbox(desk, mailbox_id):
    async with tenant_scope(desk.tenant, write=False):
        return await MailboxRepository().get(mailbox_id)


async def test_a_daily_cap_holds_across_passes_and_names_its_reason(desk, script):
    mailbox = await desk.mailbox("ann@sender.example.com", daily_cap=3)
    ids = [await desk.enqueue(mailbox=mailbox, recipient_email=f"p{n}@customer.example.com") for n in range(5)]
    for _ in range(4):
        await desk.run_pass()
        desk.clock.advance(minutes=10)
    rows = [await desk.message(i) for i in ids]
    assert sum(r.state == "sent" for r in rows) == 3
    assert "daily cap of 3 reached" in (await _mailbox(desk, mailbox)).status_reason
    desk.clock.advance(hours=24)
    await desk.run_pass()
    assert [(await desk.message(i)).state for i in ids] == ["sent"] * 5


async def test_the_minimum_gap_spaces_sends_from_one_mailbox(desk, script):
    mailbox = await desk.mailbox("ann@sender.example.com", min_gap_seconds=300, jitter_seconds=60)
    for n in range(3):
        await desk.enqueue(mailbox=mailbox, recipient_email=f"p{n}@customer.example.com")
    assert await desk.run_pass() == 1
    assert await desk.run_pass() == 0
    desk.clock.advance(seconds=299)
    assert await desk.run_pass() == 0
    desk.clock.advance(seconds=62)
    assert await desk.run_pass() == 1


async def test_new_leads_go_to_the_mailbox_with_most_room_and_stay_there(desk, script):
    small = await desk.mailbox("small@sender.example.com", daily_cap=2)
    large = await desk.mailbox("large@sender.example.com", daily_cap=10)
    pool = await _pool(desk, small, large)
    enrollments = [uuid.uuid4() for _ in range(6)]
    for n, enrollment in enumerate(enrollments):
        await desk.enqueue(pool=pool, enrollment=enrollment, recipient_email=f"p{n}@customer.example.com")
    await desk.run_pass()
    rows = await desk.messages()
    by_mailbox = {small: 0, large: 0}
    for row in rows:
        by_mailbox[row.mailbox] += 1
    assert by_mailbox == {small: 0, large: 6}, "10 remaining beats 2 for every one of the six"
    # Follow-ups stay on the mailbox of the first step even when another has more room.
    await desk.enqueue(pool=pool, enrollment=enrollments[0], step=1, thread=True, subject="x")
    desk.clock.advance(days=1)
    await desk.run_pass()
    follow_up = [r for r in await desk.messages() if r.step == 1][0]
    assert follow_up.mailbox == large and follow_up.state == "sent"


async def test_the_per_domain_cap_and_the_tenant_quota(desk, script):
    mailbox = await desk.mailbox("ann@sender.example.com", domain_daily_cap=2)
    for n in range(3):
        await desk.enqueue(mailbox=mailbox, recipient_email=f"p{n}@big.example.com")
    other = await desk.enqueue(mailbox=mailbox, recipient_email="x@other.example.com")
    async with tenant_scope(desk.tenant):
        repo = SendingPolicyRepository()
        await repo.current()  # the tenant's policy row, made on first use
        await repo.update_where({"daily_quota": 3})
    await desk.run_pass()
    rows = await desk.messages()
    sent = [r for r in rows if r.state == "sent"]
    assert len(sent) == 3
    assert sum(r.recipient_domain == "big.example.com" for r in sent) == 2
    assert (await desk.message(other)).state == "sent"
    waiting = [r for r in rows if r.state == "queued"]
    assert "big.example.com" in waiting[0].wait_reason or "quota" in waiting[0].wait_reason


async def test_the_sending_window_postpones_to_the_leads_morning(desk, script):
    window = {"days": [0, 1, 2, 3, 4], "start": "09:00", "end": "17:00", "timezone": None}
    mailbox = await desk.mailbox("ann@sender.example.com", window=window)
    # 10:00 UTC on a Monday is 19:00 in Tokyo: wait for Tuesday 09:00 Tokyo (00:00 UTC).
    message = await desk.enqueue(mailbox=mailbox, timezone="Asia/Tokyo")
    assert await desk.run_pass() == 0
    row = await desk.message(message)
    assert "outside the sending window" in row.wait_reason
    assert row.due_at == dt.datetime(2026, 3, 3, 0, 0, tzinfo=dt.UTC)
    desk.clock.advance(hours=14)
    assert await desk.run_pass() == 1


async def test_a_failing_mailbox_is_quarantined_alone_and_probes_reopen_it(desk, script):
    bad = await desk.mailbox("bad@sender.example.com")
    good = await desk.mailbox("good@sender.example.com")
    pool = await _pool(desk, bad, good)
    script.outcomes["bad@sender.example.com"] = ["auth"] * 5
    for n in range(5):
        await desk.enqueue(mailbox=bad, recipient_email=f"b{n}@customer.example.com")
    await desk.run_pass()
    row = await _mailbox(desk, bad)
    assert row.status == "quarantined" and "5 mailbox errors in a row" in row.status_reason
    # The campaign goes on with the healthy mailbox.
    for n in range(3):
        await desk.enqueue(pool=pool, recipient_email=f"g{n}@customer.example.com")
    await desk.run_pass()
    assert {r.mailbox for r in await desk.messages() if r.state == "sent"} == {good}
    # After the cool-down, probes go out from the quarantined mailbox; three successes reopen it.
    desk.clock.advance(hours=8)
    for _ in range(4):
        await desk.run_pass()
        desk.clock.advance(hours=1)
    assert (await _mailbox(desk, bad)).status == "active"


async def test_the_dry_run_shows_when_and_from_which_mailbox_without_sending(desk, script):
    mailbox = await desk.mailbox("ann@sender.example.com", daily_cap=2, min_gap_seconds=600, jitter_seconds=0)
    for n in range(3):
        await desk.enqueue(mailbox=mailbox, recipient_email=f"p{n}@customer.example.com")
    async with tenant_scope(desk.tenant):
        plan = await dry_run(desk.clock.now(), hours=48)
    assert [s.at - desk.clock.now() for s in plan.sends] == [
        dt.timedelta(0), dt.timedelta(minutes=10), dt.timedelta(hours=24)]
    assert {s.mailbox for s in plan.sends} == {"ann@sender.example.com"}
    assert "daily cap of 2 reached" in plan.sends[2].waited_for
    assert script.attempts == 0
    async with tenant_scope(desk.tenant):
        again = await dry_run(desk.clock.now(), hours=48)
    assert again.to_dict() == plan.to_dict()
