"""The `outbox.send_due` task sends what is due and schedules exactly one wake-up for later."""

from __future__ import annotations

import datetime as dt

from salescopilot.clock import system_clock
from salescopilot.outbox import tasks
from salescopilot.tenancy.context import tenant_context


class KickRecorder:
    def __init__(self) -> None:
        self.kicks: list[dict] = []

    def kicker(self):
        recorder = self

        class Kicker:
            labels: dict = {}

            def with_labels(self, **labels):
                self.labels = labels
                return self

            async def kiq(self, *args):
                recorder.kicks.append({"args": args, "labels": self.labels})

        return Kicker()


async def test_send_due_sends_now_and_wakes_once_for_the_next_message(desk, script, monkeypatch):
    desk.clock = system_clock
    recorder = KickRecorder()
    monkeypatch.setattr(tasks.send_due, "kicker", recorder.kicker)
    mailbox = await desk.mailbox("ann@sender.example.com")
    now = system_clock.now()
    await desk.enqueue(mailbox=mailbox, recipient_email="a@customer.example.com")
    later = await desk.enqueue(mailbox=mailbox, recipient_email="b@customer.example.com",
                               due_at=now + dt.timedelta(minutes=30))

    assert await tasks.send_due(desk.tenant.id) == 1
    assert len(script.accepted) == 1
    assert len(recorder.kicks) == 1
    delay = recorder.kicks[0]["labels"]["delay"]
    assert 29 * 60 < delay <= 30 * 60

    # Asking again for the same or a later time adds no second wake-up; an earlier time does.
    with tenant_context(desk.tenant):
        assert not await tasks.wake_sender(desk.tenant.id, now + dt.timedelta(minutes=40))
        assert await tasks.wake_sender(desk.tenant.id, now + dt.timedelta(minutes=5))
    assert len(recorder.kicks) == 2
    assert (await desk.message(later)).state == "queued"
