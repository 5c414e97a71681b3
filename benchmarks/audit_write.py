"""audit_write: an audited write vs the same write without audit. Goal: ratio of writes/s >= 0.6.

Measured at the service level, inside `tenant_scope` (no HTTP): that is what the figure is
about. One write is one tenant transaction that inserts one API-key row through
`ApiKeyRepository` exactly as `ApiKeyService.create` does; the audited side also appends its
entry with `AuditService.record` (chain lock on PostgreSQL, chain head, redaction, HMAC, insert)
in the same transaction, as `ApiKeyService.create` does. Both sides commit every write.
Each round alternates the sides in batches of 20 writes (A B B A ...) in one process on one
database; writes run one after another,
since a tenant's audited writes are serialised by the chain anyway.

    python benchmarks/audit_write.py            # full size (~2 min)
    python benchmarks/audit_write.py --quick    # < 60 s
    SALESCOPILOT_DATABASE__URL=postgresql://postgres@127.0.0.1:5432/test \
        python benchmarks/audit_write.py

SQLite by default (WAL, the default synchronous=FULL, so every commit is synced); PostgreSQL
when the URL says so (app connected as a non-owner role, row-level security on). The last line
printed is one JSON object (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    bench_environment, cpu_count, database_kind, emit, load_average, seed_tenant, summary_ms,
)

NAME = "audit_write"
GOAL = 0.6
#: Writes per side before switching to the other side.
BATCH = 20


async def measure(rounds: int, seconds: float, max_writes: int) -> dict:
    from salescopilot.accounts.repository import ApiKeyRepository
    from salescopilot.accounts.tables import ApiKey
    from salescopilot.actor import Actor, acting_as
    from salescopilot.audit.repository import AuditRepository
    from salescopilot.audit.service import AuditService
    from salescopilot.clock import system_clock
    from salescopilot.crypto import sha256_hex
    from salescopilot.db.engine import connected
    from salescopilot.settings import get_settings
    from salescopilot.tenancy.context import tenant_scope

    async with connected(get_settings()):
        tenant, owner_id = await seed_tenant("bench", "owner@bench.example")
        audit = AuditService(system_clock)
        counter = 0

        async def write(audited: bool) -> None:
            nonlocal counter
            counter += 1
            name = f"key {counter}"
            prefix = secrets.token_hex(6)
            token = f"sc_{prefix}_{secrets.token_urlsafe(32)}"
            async with tenant_scope(tenant):
                key = ApiKey(
                    name=name, prefix=prefix, key_hash=sha256_hex(token), role="viewer",
                    created_by=owner_id, created_at=system_clock.now(),
                )
                await ApiKeyRepository().add(key)
                if audited:
                    await audit.record(
                        "api_key.created", target_type="api_key", target_id=str(key.id),
                        after={"name": name, "role": "viewer", "prefix": prefix},
                    )

        async def batch(audited: bool, size: int, into: dict) -> None:
            cpu = time.process_time()
            for _ in range(size):
                t0 = time.perf_counter()
                await write(audited)
                took = time.perf_counter() - t0
                into["latencies"].append(took)
                into["seconds"] += took
            into["cpu"] += time.process_time() - cpu

        async def run_round(round_index: int, limit: int, duration: float) -> dict[str, dict]:
            """Both sides in small alternating batches (A B B A ...), so a burst of noise on
            this shared machine hits both alike; each side gets about `duration` seconds."""
            result = {name: {"latencies": [], "seconds": 0.0, "cpu": 0.0} for name in sides}
            names = list(sides) if round_index % 2 == 0 else list(reversed(sides))
            step = 0
            while True:
                if all(r["seconds"] >= duration or len(r["latencies"]) >= limit
                       for r in result.values()):
                    return result
                for name in (names if step % 2 == 0 else list(reversed(names))):
                    await batch(sides[name], BATCH, result[name])
                step += 1

        sides = {"audited": True, "unaudited": False}
        totals = {
            name: {"writes": 0, "seconds": 0.0, "latencies": [], "cpu": 0.0} for name in sides
        }
        per_round = []
        with acting_as(Actor(kind="system", label="benchmark")):
            await run_round(0, 200, 0.5)  # warm-up, unmeasured
            for index in range(rounds):
                result = await run_round(index, max_writes, seconds)
                rates = {}
                for name, part in result.items():
                    elapsed = part["seconds"]
                    totals[name]["writes"] += len(part["latencies"])
                    totals[name]["seconds"] += elapsed
                    totals[name]["latencies"] += part["latencies"]
                    totals[name]["cpu"] += part["cpu"]
                    rates[name] = len(part["latencies"]) / elapsed
                per_round.append(rates)
                print(
                    f"round {index + 1}/{rounds}: audited {rates['audited']:.0f} writes/s, "
                    f"unaudited {rates['unaudited']:.0f} writes/s, "
                    f"ratio {rates['audited'] / rates['unaudited']:.3f}",
                    flush=True,
                )
            async with tenant_scope(tenant, write=False):
                chain = await AuditRepository().head()
                keys = await ApiKeyRepository().count()
            verified = await audit.verify(tenant)
    return {"totals": totals, "per_round": per_round, "chain_length": chain.seq if chain else 0,
            "rows": keys, "chain_ok": verified.ok}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version, < 60 s")
    parser.add_argument("--rounds", type=int, help="rounds per side (default 12, quick 4)")
    parser.add_argument("--seconds", type=float, help="duration of one round (default 4, quick 2)")
    parser.add_argument("--max-writes", type=int, default=20_000, help="cap per round")
    args = parser.parse_args()
    load_before = load_average()
    rounds = args.rounds or (4 if args.quick else 12)
    seconds = args.seconds or (2.0 if args.quick else 4.0)

    with bench_environment(NAME):
        result = asyncio.run(measure(rounds, seconds, args.max_writes))

    figures = {}
    for name, total in result["totals"].items():
        figures[name] = {
            "writes_per_s": round(total["writes"] / total["seconds"], 1),
            **summary_ms(total["latencies"]),
            "writes": total["writes"],
            "cpu_us_per_write": round(total["cpu"] / total["writes"] * 1e6, 1),
        }
    ratio_total = figures["audited"]["writes_per_s"] / figures["unaudited"]["writes_per_s"]
    round_ratios = [r["audited"] / r["unaudited"] for r in result["per_round"]]
    ratio = statistics.median(round_ratios)
    for name, f in figures.items():
        print(f"{name}: {f['writes_per_s']} writes/s, p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, "
              f"{f['cpu_us_per_write']} us CPU/write")
    print(f"ratio {ratio:.3f} (median of rounds; overall {ratio_total:.3f}; goal >= {GOAL}); "
          f"chain of {result['chain_length']} entries verifies: {result['chain_ok']}")
    emit({
        "name": NAME,
        "ratio": round(ratio, 3),
        "goal": GOAL,
        "ok": ratio >= GOAL and result["chain_ok"],
        "ratio_overall": round(ratio_total, 3),
        "audited": figures["audited"],
        "unaudited": figures["unaudited"],
        "round_ratios": [round(r, 3) for r in round_ratios],
        "level": "service, inside tenant_scope (no HTTP)",
        "write": "ApiKeyRepository.add (+ AuditService.record), one transaction, committed",
        "database": database_kind(),
        "rows_written": result["rows"],
        "chain_length": result["chain_length"],
        "chain_verifies": result["chain_ok"],
        "rounds": rounds,
        "round_seconds": seconds,
        "quick": args.quick,
        "cpu_count": cpu_count(),
        "load_average_1m": {"start": load_before, "end": load_average()},
    })


if __name__ == "__main__":
    main()
