"""outbox_claim: claim the next 1,000 sendable messages among 1,000,000 queued rows across 1,000
mailboxes, on PostgreSQL. Goal: p95 <= 50 ms.

One claim is `OutboxService.claim_due(limit=1000)` in its own tenant transaction, exactly as the
sender runs it: the tenant's claim lock, expired leases freed, every mailbox's durable usage
read, the rotation plan, 1,000 leases written (`outbox_lease`), pacing written, commit. Mailboxes have no pacing limits (no gap, no caps), as the figure asks. After each
measured claim the claimed rows are put back (untimed), so every claim faces the same queue.

For scale, the same run times a bare claim in raw SQL over the same table (one
`UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1000)`), which decides nothing:
`ratio` is bare p95 / our p95 (information only; the goal is the p95).

    SALESCOPILOT_DATABASE__URL=postgresql://postgres@127.0.0.1:5432/test \\
        python benchmarks/outbox_claim.py            # full size
    ... python benchmarks/outbox_claim.py --quick    # 100,000 rows, 100 mailboxes, < 60 s
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    bench_environment, cpu_count, database_kind, emit, load_average, seed_tenant, summary_ms,
)

NAME = "outbox_claim"
GOAL_MS = 50.0
CLAIM = 1000


async def seed(owner_url: str, tenant: uuid.UUID, rows: int, mailboxes: int) -> None:
    import asyncpg

    connection = await asyncpg.connect(owner_url)
    try:
        now = dt.datetime.now(dt.UTC)
        boxes = [uuid.uuid4() for _ in range(mailboxes)]
        await connection.copy_records_to_table(
            "mailbox",
            columns=["id", "tenant", "email", "provider", "profile", "status", "min_gap_seconds",
                     "jitter_seconds", "created_at", "updated_at"],
            records=[(b, tenant, f"m{i}@sender.example.com", "smtp", "custom", "active", 0, 0, now, now)
                     for i, b in enumerate(boxes)],
        )
        batch = 100_000
        for start in range(0, rows, batch):
            records = []
            for n in range(start, min(rows, start + batch)):
                records.append((
                    uuid.uuid4(), tenant, uuid.uuid4(), 0, boxes[n % mailboxes], f"<{n}@sender.example.com>",
                    f"lead{n}@customer{n % 5000}.example.com", f"customer{n % 5000}.example.com",
                    "Subject", "Body", "queued", now - dt.timedelta(seconds=rows - n), now, now,
                ))
            await connection.copy_records_to_table(
                "outbox_message",
                columns=["id", "tenant", "enrollment", "step", "mailbox", "message_id", "recipient_email",
                         "recipient_domain", "subject", "body_text", "state", "due_at", "created_at",
                         "updated_at"],
                records=records,
            )
            print(f"seeded {min(rows, start + batch):,} rows", flush=True)
        await connection.execute("ANALYZE outbox_message")
        await connection.execute("ANALYZE mailbox")
    finally:
        await connection.close()


async def measure(rounds: int, rows: int, mailboxes: int) -> dict:
    import asyncpg

    from salescopilot.db.engine import connected
    from salescopilot.outbox.service import OutboxService
    from salescopilot.outbox.tables import OutboxMessage
    from salescopilot.settings import get_settings
    from salescopilot.tasks.worker import freeze_startup_heap
    from salescopilot.tenancy.context import tenant_scope

    settings = get_settings()
    owner_url = settings.database.migration_url
    async with connected(settings):
        tenant, _ = await seed_tenant("bench", "owner@bench.example")
        await seed(owner_url, tenant.id, rows, mailboxes)
        admin = await asyncpg.connect(owner_url)

        async def put_back() -> None:
            await admin.execute(
                "UPDATE outbox_message SET state = 'queued', lease_owner = '', lease_until = NULL, "
                "reserved_at = NULL WHERE state = 'claimed'"
            )
            await admin.execute("DELETE FROM outbox_lease")
            await admin.execute("UPDATE mailbox SET next_send_at = NULL, status_reason = ''")

        async def ours() -> int:
            async with tenant_scope(tenant):
                result = await OutboxService(settings.outbox).claim_due("bench", limit=CLAIM)
            return len(result.claimed)

        async def bare() -> int:
            async with tenant_scope(tenant):
                claimed = await OutboxMessage.raw(
                    "UPDATE outbox_message SET state = 'claimed', lease_owner = 'bare', "
                    "reserved_at = now() WHERE id IN (SELECT id FROM outbox_message WHERE tenant = {} "
                    "AND state IN ('queued', 'retry') AND due_at <= now() ORDER BY due_at "
                    "LIMIT {} FOR UPDATE SKIP LOCKED) RETURNING id",
                    tenant.id, CLAIM,
                )
            return len(claimed)

        freeze_startup_heap()  # as a worker process does once it is ready
        sides = {"ours": ours, "bare": bare}
        latencies: dict[str, list[float]] = {name: [] for name in sides}
        claimed_counts: dict[str, list[int]] = {name: [] for name in sides}
        for name in sides:  # warm-up, unmeasured
            await sides[name]()
            await put_back()
        for index in range(rounds):
            order = list(sides) if index % 2 == 0 else list(reversed(sides))
            for name in order:
                t0 = time.perf_counter()
                count = await sides[name]()
                latencies[name].append(time.perf_counter() - t0)
                claimed_counts[name].append(count)
                await put_back()
        await admin.close()
    return {"latencies": latencies, "claimed": claimed_counts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version, < 60 s")
    parser.add_argument("--rounds", type=int, help="measured claims per side (default 40, quick 15)")
    args = parser.parse_args()
    rows, mailboxes = (100_000, 100) if args.quick else (1_000_000, 1000)
    rounds = args.rounds or (15 if args.quick else 40)
    if database_kind() != "postgresql" and not os.environ.get("SALESCOPILOT_DATABASE__URL", "").startswith("postgres"):
        sys.exit("outbox_claim measures PostgreSQL: set SALESCOPILOT_DATABASE__URL=postgresql://...")
    load_start = load_average()
    with bench_environment(NAME):
        result = asyncio.run(measure(rounds, rows, mailboxes))
    ours = summary_ms(result["latencies"]["ours"])
    bare = summary_ms(result["latencies"]["bare"])
    print(f"ours: p50 {ours['p50_ms']} ms, p95 {ours['p95_ms']} ms; bare SQL: p50 {bare['p50_ms']} ms, "
          f"p95 {bare['p95_ms']} ms; claimed per call {min(result['claimed']['ours'])}", flush=True)
    emit({
        "name": NAME,
        "p95_ms": ours["p95_ms"],
        "goal_ms": GOAL_MS,
        "ok": ours["p95_ms"] <= GOAL_MS and min(result["claimed"]["ours"]) == CLAIM,
        "ratio": round(bare["p95_ms"] / ours["p95_ms"], 3) if ours["p95_ms"] else None,
        "ours": ours,
        "bare_sql": bare,
        "claimed_per_call": min(result["claimed"]["ours"]),
        "rows": rows,
        "mailboxes": mailboxes,
        "rounds": rounds,
        "database": "postgresql",
        "cpu_count": cpu_count(),
        "load_average": [load_start, load_average()],
    })


if __name__ == "__main__":
    main()
