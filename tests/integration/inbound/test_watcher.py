"""The IDLE watcher against a real Dovecot: new mail is announced within seconds; a mailbox that
cannot be reached is retried with backoff and never stops the others."""

from __future__ import annotations

import asyncio
import random

from salescopilot.inbound import watcher as watching
from salescopilot.inbound.watcher import IdleWatcher, retry_delay
from salescopilot.mailboxes.schemas import MailboxInput
from salescopilot.mailboxes.service import MailboxService
from salescopilot.tenancy.context import tenant_scope
from tests.integration.inbound import messages as mail
from tests.mailservers import free_port, running_dovecot

PASSWORD = "watch password"


def test_retry_delays_grow_and_are_capped():
    rng = random.Random(4)
    delays = [retry_delay(n, rng) for n in range(1, 12)]
    assert 4 <= delays[0] <= 6 and 8 <= delays[1] <= 12
    assert max(delays) <= watching.MAX_RETRY * 1.2 and delays[-1] >= watching.MAX_RETRY * 0.8


async def test_new_mail_is_announced_and_a_dead_server_is_retried(settings, db, tenant_a, monkeypatch):
    dovecot = running_dovecot()
    try:
        dovecot.add_user("watched@seller.example", PASSWORD)
        async with tenant_scope(tenant_a):
            service = MailboxService()
            watched = (await service.create(MailboxInput(email="watched@seller.example", provider="smtp", account={
                "address": "watched@seller.example", "smtp_host": "127.0.0.1", "smtp_port": 2525,
                "smtp_security": "none", "auth_method": "none", "imap_host": dovecot.host,
                "imap_port": dovecot.port, "imap_security": "none", "imap_password": PASSWORD,
            }))).id
            await service.create(MailboxInput(email="dead@seller.example", provider="smtp", account={
                "address": "dead@seller.example", "smtp_host": "127.0.0.1", "smtp_port": 2525,
                "smtp_security": "none", "auth_method": "none", "imap_host": "127.0.0.1",
                "imap_port": free_port(), "imap_security": "none", "imap_password": PASSWORD,
            }))
        monkeypatch.setattr(watching, "FIRST_RETRY", 0.05)
        announced: list = []

        async def announce(tenant_id, mailbox_id):  # noqa: ANN001, ANN202
            announced.append((tenant_id, mailbox_id))

        watcher = IdleWatcher(settings, announce=announce, idle_seconds=30, refresh_seconds=60)
        stop = asyncio.Event()
        running = asyncio.create_task(watcher.run(stop))
        await asyncio.sleep(1.5)  # connected and idling; the dead mailbox failing meanwhile
        await asyncio.to_thread(dovecot.append, "watched@seller.example", "INBOX", mail.reply("a@b.example"))
        for _ in range(100):
            if announced:
                break
            await asyncio.sleep(0.1)
        assert announced == [(tenant_a.id, watched)]
        assert len(watcher._watching) == 2 and not running.done()
        stop.set()
        await asyncio.wait_for(running, 10)
        assert watcher._watching == {}
    finally:
        dovecot.stop()


async def test_a_failing_mailbox_waits_with_backoff_and_shows_why(settings, db, tenant_a):
    from salescopilot.clock import FakeClock
    from salescopilot.inbound.service import InboundService
    from salescopilot.inbound.sync import InboxSync
    from salescopilot.tenancy.context import tenant_context

    async with tenant_scope(tenant_a):
        await MailboxService().create(MailboxInput(email="dead@seller.example", provider="smtp", account={
            "address": "dead@seller.example", "smtp_host": "127.0.0.1", "smtp_port": 2525,
            "smtp_security": "none", "auth_method": "none", "imap_host": "127.0.0.1",
            "imap_port": free_port(), "imap_security": "none", "imap_password": PASSWORD,
        }))
    clock = FakeClock()
    sync = InboxSync(settings, clock)
    with tenant_context(tenant_a):
        first = await sync.sync_tenant()
        assert len(first.failed) == 1 and "Connection refused" in next(iter(first.failed.values()))
        waiting = await sync.sync_tenant()
        assert (waiting.mailboxes, waiting.skipped) == (0, 1)
        clock.advance(seconds=31)
        second = await sync.sync_tenant()
        assert len(second.failed) == 1
    async with tenant_scope(tenant_a, write=False):
        [status] = await InboundService(clock).sync_status()
    assert status["failures"] == 2 and "Connection refused" in status["lastError"]
    assert status["nextAttemptAt"] == (clock.now() + __import__("datetime").timedelta(seconds=60)).isoformat()


async def test_the_embedded_runtime_keeps_the_watcher_when_idle_is_on(settings, db, monkeypatch):
    from salescopilot.tasks.worker import task_runtime

    started, stopped = asyncio.Event(), asyncio.Event()

    async def run(self, stop):  # noqa: ANN001, ANN202
        started.set()
        await stop.wait()
        stopped.set()

    monkeypatch.setattr(IdleWatcher, "run", run)
    idle = settings.model_copy(update={"mail": settings.mail.model_copy(update={"imap_idle": True})})
    async with task_runtime(idle, run_scheduler=False):
        await asyncio.wait_for(started.wait(), 5)
    assert stopped.is_set()
    started.clear()
    async with task_runtime(settings, run_scheduler=False):
        await asyncio.sleep(0.2)
    assert not started.is_set()
