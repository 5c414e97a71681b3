"""The send ledger's state machine on a fake clock: each outcome ends in the right state, and no
path sends a message twice."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from salescopilot.db.json_column import json_dict
from salescopilot.listing import ListQuery
from salescopilot.outbox.repository import OutboxRepository
from salescopilot.outbox.service import OutboxService, OutboxStateConflict
from salescopilot.outbox.tables import OutboxMessage
from salescopilot.tenancy.context import tenant_context, tenant_scope


async def test_a_message_is_sent_once_with_the_message_id_of_its_row(desk, script):
    mailbox = await desk.mailbox("ann@sender.example.com")
    message = await desk.enqueue(mailbox=mailbox)
    assert await desk.run_pass() == 1
    assert await desk.run_pass() == 0
    row = await desk.message(message)
    assert row.state == "sent" and row.sent_at == desk.clock.now()
    assert row.provider_message_id == "q-1"
    assert script.accepted_ids() == [row.message_id]
    assert b"Message-ID: " + row.message_id.encode() in script.accepted[0][2]


async def test_enqueueing_the_same_step_twice_gives_the_same_row(desk):
    mailbox = await desk.mailbox("ann@sender.example.com")
    enrollment = uuid.uuid4()
    first = await desk.enqueue(mailbox=mailbox, enrollment=enrollment, step=1)
    second = await desk.enqueue(mailbox=mailbox, enrollment=enrollment, step=1, subject="Other")
    assert first == second


async def test_the_database_refuses_a_second_row_for_an_enrollment_step(desk):
    mailbox = await desk.mailbox("ann@sender.example.com")
    enrollment = uuid.uuid4()
    await desk.enqueue(mailbox=mailbox, enrollment=enrollment, step=1)
    with pytest.raises(Exception):
        async with tenant_scope(desk.tenant):
            await OutboxRepository().add(OutboxMessage(
                id=uuid.uuid4(), enrollment=enrollment, step=1, message_id="<dup@sender.example.com>",
                recipient_email="x@y.test", recipient_domain="y.test", subject="s", body_text="t",
            ))


async def test_follow_ups_thread_from_the_same_mailbox(desk, script):
    first_box = await desk.mailbox("ann@sender.example.com")
    await desk.mailbox("bob@sender.example.com")
    async with tenant_scope(desk.tenant):
        from salescopilot.mailboxes.service import PoolService

        pool = (await PoolService(desk.clock).create("Team", [first_box])).id
    enrollment = uuid.uuid4()
    ids = [await desk.enqueue(pool=pool, enrollment=enrollment, step=0, subject="Quick question")]
    await desk.run_pass()
    for step in (1, 2):
        desk.clock.advance(days=2)
        ids.append(await desk.enqueue(pool=pool, enrollment=enrollment, step=step, thread=True, subject="ignored"))
        await desk.run_pass()
    rows = [await desk.message(i) for i in ids]
    assert [r.state for r in rows] == ["sent"] * 3
    assert {r.mailbox for r in rows} == {first_box}
    assert rows[1].in_reply_to == rows[0].message_id
    assert rows[2].in_reply_to == rows[1].message_id
    assert rows[2].references.split() == [rows[0].message_id, rows[1].message_id]
    assert rows[2].subject == "Re: Quick question"
    raw = script.accepted[2][2]
    assert b"In-Reply-To: " + rows[1].message_id.encode() in raw


async def test_a_temporary_failure_retries_with_the_same_message_id_then_dead_letters(desk, script):
    desk.settings.outbox.max_attempts = 3
    mailbox = await desk.mailbox("ann@sender.example.com")
    script.outcomes["ann@sender.example.com"] = ["4xx", "4xx", "4xx"]
    message = await desk.enqueue(mailbox=mailbox)
    await desk.run_pass()
    row = await desk.message(message)
    assert row.state == "retry" and row.error_status == "4.7.1"
    assert row.due_at > desk.clock.now()
    assert await desk.run_pass() == 0, "not before its backoff"
    desk.clock.advance(hours=7)
    await desk.run_pass()
    desk.clock.advance(hours=7)
    await desk.run_pass()
    row = await desk.message(message)
    assert row.state == "failed" and row.failure == "max_attempts" and row.attempts == 3
    assert "Greylisted" in row.last_error
    # An admin retries the dead letter: it goes, once, with its original Message-ID.
    async with tenant_scope(desk.tenant):
        await OutboxService(desk.settings.outbox, desk.clock).retry(message)
    await desk.run_pass()
    row = await desk.message(message)
    assert row.state == "sent"
    assert script.accepted_ids() == [row.message_id]


async def test_a_hard_bounce_fails_at_once_and_is_never_retried(desk, script):
    mailbox = await desk.mailbox("ann@sender.example.com")
    script.outcomes["ann@sender.example.com"] = ["5xx"]
    message = await desk.enqueue(mailbox=mailbox)
    await desk.run_pass()
    row = await desk.message(message)
    assert (row.state, row.failure, row.error_status) == ("failed", "bounced", "5.1.1")
    assert row.last_error.startswith("hard bounce (user_unknown)"), row.last_error
    async with tenant_scope(desk.tenant):
        with pytest.raises(OutboxStateConflict):
            await OutboxService(desk.settings.outbox, desk.clock).retry(message)
    desk.clock.advance(days=1)
    await desk.run_pass()
    assert script.attempts == 1


async def test_an_uncertain_hand_off_found_in_the_sent_folder_is_not_sent_again(desk, script):
    mailbox = await desk.mailbox("ann@sender.example.com")
    script.outcomes["ann@sender.example.com"] = ["lost"]
    message = await desk.enqueue(mailbox=mailbox)
    await desk.run_pass()
    assert (await desk.message(message)).state == "uncertain"
    desk.clock.advance(minutes=5)
    await desk.run_pass()
    row = await desk.message(message)
    assert row.state == "sent"
    assert len(script.accepted) == 1 and script.attempts == 1


async def test_an_uncertain_hand_off_not_found_is_sent_again_once(desk, script):
    mailbox = await desk.mailbox("ann@sender.example.com")
    script.outcomes["ann@sender.example.com"] = ["crash"]
    message = await desk.enqueue(mailbox=mailbox)
    await desk.run_pass()
    # The provider crashed after accepting; pretend the server did not keep it.
    script.accepted.clear()
    desk.clock.advance(minutes=5)
    await desk.run_pass()
    row = await desk.message(message)
    assert row.state == "sent"
    assert script.accepted_ids() == [row.message_id]


async def test_an_uncertain_message_stays_for_an_admin_when_the_sent_folder_cannot_be_read(desk, script):
    mailbox = await desk.mailbox("ann@sender.example.com")
    script.outcomes["ann@sender.example.com"] = ["lost"]
    message = await desk.enqueue(mailbox=mailbox)
    await desk.run_pass()
    script.unsearchable.add((await desk.message(message)).message_id)
    desk.clock.advance(minutes=5)
    await desk.run_pass()
    row = await desk.message(message)
    assert row.state == "uncertain" and "cannot search the Sent folder" in row.wait_reason
    async with tenant_scope(desk.tenant):
        await OutboxService(desk.settings.outbox, desk.clock).mark_sent(message)
    assert (await desk.message(message)).state == "sent"
    assert script.attempts == 1


async def test_a_claim_is_a_lease_that_holds_capacity_shows_as_claimed_and_runs_out(desk, script):
    mailbox = await desk.mailbox("ann@sender.example.com", daily_cap=1)
    first = await desk.enqueue(mailbox=mailbox)
    second = await desk.enqueue(mailbox=mailbox, due_at=desk.clock.now() - dt.timedelta(seconds=1))
    service = lambda: OutboxService(desk.settings.outbox, desk.clock)  # noqa: E731
    async with tenant_scope(desk.tenant):
        assert (await service().claim_due("worker-1")).claimed == [second]
        # The lease took the day's one send: a second claim (another worker) gets nothing.
        assert (await service().claim_due("worker-2")).claimed == []
        counts = await service().counts()
        assert (counts["claimed"], counts["queued"]) == (1, 1)
        listed = await service().list_messages(ListQuery(filters={"state": "claimed"}))
        assert [(row["id"], row["state"]) for row in listed.items] == [(second, "claimed")]
    assert (await desk.message(first)).state == "queued"
    # The lease runs out before any hand-off: the message is claimed again, by another worker.
    desk.clock.advance(seconds=desk.settings.outbox.lease_seconds + 1)
    async with tenant_scope(desk.tenant):
        assert (await service().claim_due("worker-2")).claimed == [second]
    with tenant_context(desk.tenant):
        assert await desk.sender("worker-1").send_claimed(second) == "lost"
        assert await desk.sender("worker-2").send_claimed(second) == "sent"
    row = await desk.message(second)
    assert (row.state, row.mailbox, row.attempts, row.lease_owner) == ("sent", mailbox, 1, "")
    assert row.reserved_at is not None
    async with tenant_scope(desk.tenant):
        assert "claimed" not in {k for k, v in (await service().counts()).items() if v}
    assert len(script.accepted) == 1


async def test_a_campaign_paused_between_claim_and_hand_off_sends_nothing(desk, script):
    mailbox = await desk.mailbox("ann@sender.example.com")
    campaign = uuid.uuid4()
    message = await desk.enqueue(mailbox=mailbox, campaign=campaign)
    service = lambda: OutboxService(desk.settings.outbox, desk.clock)  # noqa: E731
    async with tenant_scope(desk.tenant):
        assert (await service().claim_due("worker-1")).claimed == [message]
        assert await service().pause_campaign(campaign) == 1
    with tenant_context(desk.tenant):
        assert await desk.sender("worker-1").send_claimed(message) == "lost"
    async with tenant_scope(desk.tenant):
        assert await service().resume_campaign(campaign) == 1
    assert await desk.run_pass("worker-2") == 1
    assert (await desk.message(message)).state == "sent"
    assert len(script.accepted) == 1


async def test_an_address_suppressed_after_the_claim_is_not_sent(desk, script):
    from salescopilot.suppression.service import SuppressionService

    mailbox = await desk.mailbox("ann@sender.example.com")
    message = await desk.enqueue(mailbox=mailbox, recipient_email="late@customer.example.com")
    async with tenant_scope(desk.tenant):
        assert (await OutboxService(desk.settings.outbox, desk.clock).claim_due("worker-1")).claimed == [message]
        await SuppressionService(desk.clock).add("late@customer.example.com", reason="unsubscribe", source="test")
    with tenant_context(desk.tenant):
        assert await desk.sender("worker-1").send_claimed(message) == "failed"
    row = await desk.message(message)
    assert (row.state, row.failure, row.attempts, row.reserved_at) == ("failed", "suppressed", 0, None)
    assert script.attempts == 0


async def test_a_crash_after_the_hand_off_leaves_uncertain_and_is_reconciled(desk, script):
    mailbox = await desk.mailbox("ann@sender.example.com")
    message = await desk.enqueue(mailbox=mailbox)
    worker = desk.sender("worker-1")
    async with tenant_scope(desk.tenant):
        claimed = (await OutboxService(desk.settings.outbox, desk.clock).claim_due("worker-1")).claimed
    assert claimed == [message]
    with tenant_context(desk.tenant):
        [prepared], _, _ = await worker._prepare([message])
        await prepared.provider.send(prepared.outgoing)  # handed off... then the worker dies
    desk.clock.advance(seconds=desk.settings.outbox.lease_seconds + 1)
    await desk.run_pass("worker-2")  # expires the lease: uncertain
    assert (await desk.message(message)).state == "uncertain"
    desk.clock.advance(minutes=5)
    await desk.run_pass("worker-2")
    assert (await desk.message(message)).state == "sent"
    assert len(script.accepted) == 1


async def test_a_worker_whose_lease_was_taken_over_sends_nothing(desk, script):
    mailbox = await desk.mailbox("ann@sender.example.com")
    message = await desk.enqueue(mailbox=mailbox)
    async with tenant_scope(desk.tenant):
        await OutboxService(desk.settings.outbox, desk.clock).claim_due("slow-worker")
    desk.clock.advance(seconds=desk.settings.outbox.lease_seconds + 1)
    assert await desk.run_pass("fast-worker") == 1
    with tenant_context(desk.tenant):
        assert await desk.sender("slow-worker").send_claimed(message) == "lost"
    assert len(script.accepted) == 1


async def test_pause_and_resume_of_a_campaign_never_resend(desk, script):
    mailbox = await desk.mailbox("ann@sender.example.com")
    campaign = uuid.uuid4()
    sent = await desk.enqueue(mailbox=mailbox, campaign=campaign)
    await desk.run_pass()
    waiting = await desk.enqueue(mailbox=mailbox, campaign=campaign, due_at=desk.clock.now() + dt.timedelta(hours=1))
    service = lambda: OutboxService(desk.settings.outbox, desk.clock)  # noqa: E731
    async with tenant_scope(desk.tenant):
        assert await service().pause_campaign(campaign) == 1
    desk.clock.advance(hours=2)
    assert await desk.run_pass() == 0
    async with tenant_scope(desk.tenant):
        assert await service().resume_campaign(campaign) == 1
    assert await desk.run_pass() == 1
    assert (await desk.message(sent)).state == (await desk.message(waiting)).state == "sent"
    assert len(script.accepted) == 2


async def test_a_hand_off_begun_late_in_its_claim_keeps_a_full_lease(desk, script):
    """A claim may wait its turn in the worker; when its hand-off begins just before the lease
    would end, the lease is renewed, so no other worker declares it uncertain mid-send and sends
    it again (found by the chaos test)."""
    mailbox = await desk.mailbox("ann@sender.example.com")
    message = await desk.enqueue(mailbox=mailbox)
    async with tenant_scope(desk.tenant):
        await OutboxService(desk.settings.outbox, desk.clock).claim_due("slow-worker")
    desk.clock.advance(seconds=desk.settings.outbox.lease_seconds - 1)
    slow = desk.sender("slow-worker")
    with tenant_context(desk.tenant):
        [prepared], _, _ = await slow._prepare([message])
    desk.clock.advance(seconds=2)  # past the first lease, mid-hand-off
    assert await desk.run_pass("other-worker") == 0
    assert (await desk.message(message)).state == "sending"
    with tenant_context(desk.tenant):
        result = await prepared.provider.send(prepared.outgoing)
        assert await slow._record([(prepared, "sent", result)]) == {message: "sent"}
    desk.clock.advance(hours=1)
    await desk.run_pass("other-worker")
    assert (await desk.message(message)).state == "sent"
    assert len(script.accepted) == 1


async def test_suppressed_addresses_are_never_sent_and_hard_bounces_are_suppressed(desk, script):
    from salescopilot.suppression.service import SuppressionService

    mailbox = await desk.mailbox("ann@sender.example.com")
    async with tenant_scope(desk.tenant):
        await SuppressionService(desk.clock).add("gone@customer.example.com", reason="unsubscribe", source="test")
        await SuppressionService(desk.clock).add("blocked.example.com", reason="manual", source="test")
    kept_away = [await desk.enqueue(mailbox=mailbox, recipient_email=address)
                 for address in ("Gone@Customer.example.com", "anyone@blocked.example.com")]
    script.outcomes["ann@sender.example.com"] = ["5xx"]
    bounced = await desk.enqueue(mailbox=mailbox, recipient_email="dead@customer.example.com")
    await desk.run_pass()
    for message in kept_away:
        row = await desk.message(message)
        assert (row.state, row.failure) == ("failed", "suppressed")
        assert (row.attempts, row.reserved_at) == (0, None)  # no attempt, no capacity taken
    assert (await desk.message(bounced)).failure == "bounced"
    assert script.attempts == 1
    # The hard bounce put the address on the list: a later message to it never goes.
    later = await desk.enqueue(mailbox=mailbox, recipient_email="dead@customer.example.com")
    await desk.run_pass()
    assert (await desk.message(later)).failure == "suppressed"
    assert script.attempts == 1


async def test_messages_are_signed_in_the_pool_and_an_unsignable_one_fails_alone(desk, script):
    import dkim

    from salescopilot.crypto import SecretBox
    from salescopilot.mail.dkim import generate_dkim_key
    from salescopilot.mailboxes.repository import SendingDomainRepository
    from salescopilot.mailboxes.tables import SendingDomain

    assert desk.settings.outbox.signing_processes >= 1
    box = SecretBox.from_settings(desk.settings)
    pem, record = generate_dkim_key("rsa")
    async with tenant_scope(desk.tenant):
        for domain, key in (("good.example.com", pem.decode()), ("broken.example.com", "not a key")):
            await SendingDomainRepository().add(SendingDomain(
                id=uuid.uuid4(), domain=domain, dkim_selector="s1",
                dkim_private_key=box.encrypt(key), dkim_enabled=True,
            ))
    good = await desk.enqueue(mailbox=await desk.mailbox("ann@good.example.com"))
    broken = await desk.enqueue(mailbox=await desk.mailbox("bob@broken.example.com"))
    assert await desk.run_pass() == 2
    assert (await desk.message(good)).state == "sent"
    failed = await desk.message(broken)
    assert (failed.state, failed.failure) == ("failed", "rejected")
    assert failed.last_error.startswith("cannot build the message: the DKIM private key is not a readable PEM key")
    [(_, _, raw)] = script.accepted
    assert dkim.verify(raw, dnsfunc=lambda name, timeout=5: record.encode())


async def test_a_batch_stores_each_message_as_given_whether_its_values_differ_or_are_shared(desk):
    """`enqueue_many` writes a batch in one statement, passing a column once when every message
    has the same value in it: each row must still hold exactly its own message."""
    from salescopilot.mailboxes.schemas import WindowSettings
    from salescopilot.outbox.service import NewMessage

    mailbox = await desk.mailbox("ann@sender.example.com")
    window = WindowSettings(days=[0, 1, 2], start="09:00", end="17:00", holidays="lead")
    first, later = desk.clock.now(), desk.clock.now() + dt.timedelta(hours=3)
    threaded = uuid.uuid4()
    batch = [
        NewMessage(enrollment=uuid.uuid4(), step=1, recipient_email=f"lead{n}@customer{n % 2}.example.com",
                   recipient_name=f"Lead {n}" if n % 3 else "", subject="Same subject", text=f"Body {n}",
                   html="<p>same</p>" if n < 4 else "", mailbox=mailbox, timezone="Europe/Berlin", country="de",
                   due_at=first if n % 2 else later, window=window if n < 5 else None, track_opens=n == 2)
        for n in range(6)
    ]
    batch.append(NewMessage(enrollment=threaded, step=1, recipient_email="t@x.example.com", subject="Intro",
                            text="One", mailbox=mailbox))
    # The same enrollment's next step in the same batch threads on the row just added; a
    # repeated (enrollment, step) gives that row back instead of a second one.
    batch.append(NewMessage(enrollment=threaded, step=2, recipient_email="t@x.example.com", subject="Ignored",
                            text="Two", mailbox=mailbox, thread=True))
    batch.append(NewMessage(enrollment=threaded, step=1, recipient_email="t@x.example.com", subject="Again",
                            text="Again", mailbox=mailbox))
    async with tenant_scope(desk.tenant):
        queued = await OutboxService(desk.settings.outbox, desk.clock).enqueue_many(batch)
    assert [q.created for q in queued] == [True] * 8 + [False]
    assert queued[8].id == queued[6].id
    async with tenant_scope(desk.tenant, write=False):
        rows = {row.id: row for row in await OutboxRepository().find()}
    assert len(rows) == 8
    for new, message in zip(batch[:8], queued[:8], strict=True):
        row = rows[message.id]
        assert (row.tenant, row.enrollment, row.step, row.mailbox) == (desk.tenant.id, new.enrollment, new.step, mailbox)
        assert (row.recipient_email, row.recipient_name, row.recipient_domain) == (
            new.recipient_email, new.recipient_name, new.recipient_email.rpartition("@")[2])
        assert (row.body_text, row.body_html, row.track_opens, row.state) == (new.text, new.html, new.track_opens, "queued")
        assert row.due_at == (new.due_at or desk.clock.now()) and row.message_id == message.message_id
        assert (row.recipient_timezone, row.recipient_country) == (new.timezone, new.country.upper())
        stored_window = json_dict(row.window)
        assert stored_window == (window.model_dump(mode="json") if new.window else {})
    assert len({row.message_id for row in rows.values()}) == 8
    intro, follow_up = rows[queued[6].id], rows[queued[7].id]
    assert follow_up.subject == "Re: Intro" and follow_up.in_reply_to == intro.message_id
    assert follow_up.references == intro.message_id
