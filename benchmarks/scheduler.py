"""scheduler: the next 1,000 due enrollments among 1,000,000, evaluated and written to the outbox,
on PostgreSQL. Goal: p95 <= 100 ms; and the due-row query alone <= 3x the same query in raw SQL.

One pass is `CampaignScheduler.run_pass(limit=1000)` in its own tenant transaction, exactly as
the `campaigns.run_due` task runs it: the campaigns share-locked, the 1,000 due enrollments read
through the `due` index (FOR UPDATE SKIP LOCKED), their leads, the sequence, each step's
condition decided, the template rendered for each lead, 1,000 outbox rows written
(`OutboxService.enqueue_many`), 1,000 enrollments moved, 1,000 timeline events written, commit.
After each measured pass its rows are put back (untimed), so every pass faces the same backlog.

The due-row query is timed on its own too: `EnrollmentRepository.due` in a tenant transaction
against the same SQL sent straight through asyncpg in a transaction that sets the tenant (as
`tenant_scope` does): `query_ratio` is ours / raw (goal <= 3).

    SALESCOPILOT_DATABASE__URL=postgresql://postgres@127.0.0.1:5432/test \\
        python benchmarks/scheduler.py            # full size
    ... python benchmarks/scheduler.py --quick    # 100,000 enrollments, < 60 s
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

NAME = "scheduler"
GOAL_MS = 100.0
QUERY_GOAL = 3.0
BATCH = 1000


async def seed(owner_url: str, tenant: uuid.UUID, campaign: uuid.UUID, rows: int) -> None:
    import asyncpg

    connection = await asyncpg.connect(owner_url)
    try:
        now = dt.datetime.now(dt.UTC)
        batch = 100_000
        for start in range(0, rows, batch):
            leads, enrollments = [], []
            for n in range(start, min(rows, start + batch)):
                lead = uuid.uuid4()
                address = f"lead{n}@customer{n % 5000}.example.com"
                leads.append((lead, tenant, address, address, f"Lead{n}", f"Company {n % 977}", "new",
                              "Europe/Berlin", "DE", "{}", "", now, now))
                due = now - dt.timedelta(seconds=rows - n)
                enrollments.append((uuid.uuid4(), tenant, campaign, lead, "waiting", 0, 0, due, due, "", "", "", "",
                                    due, due))
            await connection.copy_records_to_table(
                "lead", columns=["id", "tenant", "email", "email_normalised", "first_name", "company", "status",
                                 "timezone", "country", "custom_fields", "tags", "created_at", "updated_at"],
                records=leads)
            await connection.copy_records_to_table(
                "campaign_enrollment",
                columns=["id", "tenant", "campaign", "lead", "state", "next_step", "sends", "next_due_at", "anchor_at",
                         "wait_reason", "last_step_key", "variant", "stop_reason", "created_at", "updated_at"],
                records=enrollments)
            print(f"seeded {min(rows, start + batch):,} enrollments", flush=True)
        await connection.execute("UPDATE campaign SET status = 'active' WHERE id = $1", campaign)
        for table in ("lead", "campaign_enrollment", "outbox_message"):
            await connection.execute(f"ANALYZE {table}")
    finally:
        await connection.close()


async def measure(rounds: int, rows: int) -> dict:
    import asyncpg

    from salescopilot.campaigns.repository import DUE_COLUMNS, EnrollmentRepository
    from salescopilot.campaigns.scheduler import CampaignScheduler
    from salescopilot.campaigns.service import CampaignService
    from salescopilot.clock import system_clock
    from salescopilot.db.engine import connected
    from salescopilot.mailboxes.schemas import MailboxInput
    from salescopilot.mailboxes.service import MailboxService, PoolService
    from salescopilot.sequences.service import SequenceService
    from salescopilot.settings import get_settings
    from salescopilot.tasks.worker import freeze_startup_heap
    from salescopilot.tenancy.context import tenant_scope

    settings = get_settings()
    owner_url = settings.database.migration_url
    async with connected(settings):
        tenant, _ = await seed_tenant("bench", "owner@bench.example")
        async with tenant_scope(tenant):
            mailbox = await MailboxService().create(MailboxInput(
                email="ann@sender.example.com", provider="smtp", min_gap_seconds=0, jitter_seconds=0,
                account={"address": "ann@sender.example.com", "smtp_host": "127.0.0.1", "smtp_port": 9,
                         "smtp_security": "none", "auth_method": "none", "append_to_sent": "never"}))
            pool = await PoolService().create("Pool", [mailbox.id])
            steps = [{"variants": [{"subject": "Quick question, {{firstName|there}}",
                                    "text": "Hi {{firstName|there}},\n\nHow does {{company|your team}} book meetings today?"}]},
                     {"delay": 3, "condition": "no_reply", "thread": "reply",
                      "variants": [{"text": "Following up, {{firstName|there}}."}]}]
            sequence = await SequenceService(clock=system_clock).create({"name": "Bench", "steps": steps}, author=None)
            campaign = await CampaignService(settings.outbox, clock=system_clock).create(
                {"name": "Bench", "sequence": sequence.id, "pool": pool.id,
                 "window": {"days": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "23:59"}}, author=None)
        await seed(owner_url, tenant.id, campaign.id, rows)
        admin = await asyncpg.connect(owner_url)
        raw = await asyncpg.connect(settings.database.url)

        async def put_back() -> None:
            await admin.execute("DELETE FROM outbox_message WHERE campaign = $1", campaign.id)
            await admin.execute("DELETE FROM campaign_enrollment_event WHERE tenant = $1", tenant.id)
            await admin.execute(
                "UPDATE campaign_enrollment SET state = 'waiting', next_step = 0, sends = 0, last_message = NULL, "
                "last_step_key = '', variant = '', started_at = NULL, wait_reason = '', next_due_at = created_at, "
                "anchor_at = created_at WHERE sends > 0")
            await admin.execute("UPDATE lead SET status = 'new' WHERE status = 'active'")

        async def ours() -> int:
            async with tenant_scope(tenant):
                result = await CampaignScheduler(settings.outbox, system_clock).run_pass(BATCH)
            return result.queued

        async def our_query() -> int:
            async with tenant_scope(tenant):
                return len(await EnrollmentRepository().due(system_clock.now(), [campaign.id], BATCH))

        sql = (f"SELECT {', '.join(DUE_COLUMNS)} FROM campaign_enrollment WHERE tenant = $1 "
               "AND next_due_at IS NOT NULL AND next_due_at <= $2 AND campaign = ANY($3::uuid[]) "
               "ORDER BY next_due_at, id LIMIT $4 FOR UPDATE SKIP LOCKED")

        async def raw_query() -> int:
            async with raw.transaction():
                await raw.execute("SELECT set_config('app.tenant_id', $1, true)", str(tenant.id))
                return len(await raw.fetch(sql, tenant.id, system_clock.now(), [campaign.id], BATCH))

        freeze_startup_heap()
        await ours()
        await put_back()
        latencies: list[float] = []
        queued: list[int] = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            queued.append(await ours())
            latencies.append(time.perf_counter() - t0)
            await put_back()
        queries = {"ours": our_query, "raw": raw_query}
        query_latencies: dict[str, list[float]] = {name: [] for name in queries}
        for name in queries:
            await queries[name]()
        for index in range(rounds * 3):
            for name in (list(queries) if index % 2 == 0 else list(reversed(queries))):
                t0 = time.perf_counter()
                found = await queries[name]()
                query_latencies[name].append(time.perf_counter() - t0)
                assert found == BATCH, found
        await admin.close()
        await raw.close()
    return {"latencies": latencies, "queued": queued, "queries": query_latencies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version, < 60 s")
    parser.add_argument("--rounds", type=int, help="measured passes (default 30, quick 10)")
    args = parser.parse_args()
    rows = 100_000 if args.quick else 1_000_000
    rounds = args.rounds or (10 if args.quick else 30)
    if database_kind() != "postgresql" and not os.environ.get("SALESCOPILOT_DATABASE__URL", "").startswith("postgres"):
        sys.exit("scheduler measures PostgreSQL: set SALESCOPILOT_DATABASE__URL=postgresql://...")
    load_start = load_average()
    with bench_environment(NAME):
        result = asyncio.run(measure(rounds, rows))
    ours = summary_ms(result["latencies"])
    query = summary_ms(result["queries"]["ours"])
    raw = summary_ms(result["queries"]["raw"])
    query_ratio = round(query["p95_ms"] / raw["p95_ms"], 3) if raw["p95_ms"] else None
    print(f"pass: p50 {ours['p50_ms']} ms, p95 {ours['p95_ms']} ms, queued per pass {min(result['queued'])}; "
          f"due query: ours p95 {query['p95_ms']} ms, raw SQL p95 {raw['p95_ms']} ms", flush=True)
    emit({
        "name": NAME,
        "p95_ms": ours["p95_ms"],
        "goal_ms": GOAL_MS,
        "ok": ours["p95_ms"] <= GOAL_MS and min(result["queued"]) == BATCH and (query_ratio or 0) <= QUERY_GOAL,
        "ratio": query_ratio,
        "query_goal_ratio": QUERY_GOAL,
        "pass": ours,
        "due_query_ours": query,
        "due_query_raw_sql": raw,
        "queued_per_pass": min(result["queued"]),
        "enrollments": rows,
        "rounds": rounds,
        "database": "postgresql",
        "cpu_count": cpu_count(),
        "load_average": [load_start, load_average()],
    })


if __name__ == "__main__":
    main()
