"""queue_latency: time from a message entering the outbox to the SMTP server having it, at 50
messages/s with no pacing limits. Goal: p95 <= 1,000 ms.

The embedded default as it runs in the web process: the in-process task broker, messages
enqueued one by one at a steady 50/s (each its own committed transaction, then `wake_sender`, as
the campaign scheduler and the composer do), `outbox.send_due` passes claiming and handing them
to the `mail_smtp` provider over two pooled SMTP connections, to an aiosmtpd sink on loopback
that notes when each Message-ID arrives. Latency = arrival time - enqueue commit time.

    python benchmarks/queue_latency.py            # 60 s of load (3,000 messages)
    python benchmarks/queue_latency.py --quick    # 20 s
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    bench_environment, cpu_count, database_kind, emit, load_average, percentile, seed_tenant,
)
from _smtp_sink import SmtpSink  # noqa: E402

NAME = "queue_latency"
GOAL_MS = 1000.0
RATE = 50.0


async def measure(seconds: float) -> dict:
    from salescopilot.db.engine import connected
    from salescopilot.mailboxes.schemas import MailboxInput
    from salescopilot.mailboxes.service import MailboxService
    from salescopilot.outbox.service import NewMessage, OutboxService
    from salescopilot.outbox.tasks import wake_sender
    from salescopilot.settings import get_settings
    from salescopilot.tasks.worker import task_runtime
    from salescopilot.tenancy.context import tenant_context, tenant_scope

    settings = get_settings()
    with SmtpSink() as sink:
        async with connected(settings):
            tenant, _ = await seed_tenant("bench", "owner@bench.example")
            async with tenant_scope(tenant):
                mailboxes = [
                    (await MailboxService().create(MailboxInput(
                        email=f"rep{n}@sender.example.com", provider="smtp", min_gap_seconds=0, jitter_seconds=0,
                        account={"address": f"rep{n}@sender.example.com", "smtp_host": "127.0.0.1",
                                 "smtp_port": sink.port, "smtp_security": "none", "auth_method": "none",
                                 "append_to_sent": "never"},
                    ))).id
                    for n in range(2)
                ]
            enqueued: dict[str, float] = {}
            async with task_runtime(settings, run_scheduler=False):
                start = time.monotonic()
                count = int(seconds * RATE)
                for n in range(count):
                    due = start + n / RATE
                    delay = due - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    async with tenant_scope(tenant):
                        row = await OutboxService(settings.outbox).enqueue(NewMessage(
                            enrollment=uuid.uuid4(), step=0, mailbox=mailboxes[n % 2],
                            recipient_email=f"lead{n}@customer.example.com", subject=f"Hello {n}",
                            text="A short note.",
                        ))
                    enqueued[row.message_id] = time.time()
                    with tenant_context(tenant):
                        await wake_sender(tenant.id, row.due_at)
                deadline = time.monotonic() + 30
                while sink.accepted < count and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
    arrivals = sink.counter.arrivals
    latencies = [arrivals[m] - t for m, t in enqueued.items() if m in arrivals]
    return {"latencies": latencies, "sent": len(latencies), "enqueued": len(enqueued)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version, < 60 s")
    args = parser.parse_args()
    seconds = 20.0 if args.quick else 60.0
    load_start = load_average()
    with bench_environment(NAME):
        kind = database_kind()
        result = asyncio.run(measure(seconds))
    lat = result["latencies"]
    p95 = percentile(lat, 95) * 1000
    print(f"{result['sent']}/{result['enqueued']} delivered; p50 {percentile(lat, 50) * 1000:.0f} ms, "
          f"p95 {p95:.0f} ms, max {max(lat) * 1000:.0f} ms", flush=True)
    emit({
        "name": NAME, "p95_ms": round(p95, 1), "goal_ms": GOAL_MS,
        "ok": p95 <= GOAL_MS and result["sent"] == result["enqueued"],
        "p50_ms": round(percentile(lat, 50) * 1000, 1), "p99_ms": round(percentile(lat, 99) * 1000, 1),
        "max_ms": round(max(lat) * 1000, 1), "rate_per_s": RATE, "seconds": seconds,
        "delivered": result["sent"], "enqueued": result["enqueued"], "database": kind,
        "cpu_count": cpu_count(), "load_average": [load_start, load_average()],
    })


if __name__ == "__main__":
    main()
