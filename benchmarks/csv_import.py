"""csv_import: a CSV import of 1,000,000 rows × 10 columns through the product's path vs inserting
the same rows, already parsed, with the raw driver in batches. Goals: ratio of rows/s >= 0.3 and
the import's peak memory <= 200 MB.

The import side is everything a user's import does after the bytes arrive: the upload streamed to
the var dir in 64 KiB chunks, encoding/delimiter/header detection (a full pass checking UTF-8),
the suggested mapping, then `run_import` with its batches of 1,000 rows: every address validated
with email-validator, dedupe within the file and against the tenant, the suppression list,
timezone inference, custom fields, the batch insert, the skipped-row report and the checkpoint,
one transaction per batch. The peer reads the same file with `csv`, builds the same row tuples
outside the clock, and times only `executemany` of each batch of 1,000 in its own transaction
(sqlite3, or asyncpg as the app's role with the tenant set, so row-level security applies to it
too). Each side runs in its own subprocess, so the import's peak RSS is its own; sides alternate
(A B, then B A) over rounds, each round into a fresh tenant.

    python benchmarks/csv_import.py             # 1,000,000 rows, 2 rounds (~10 min on SQLite)
    python benchmarks/csv_import.py --quick     # 40,000 rows, 2 rounds, < 60 s
    SALESCOPILOT_DATABASE__URL=postgresql://postgres@127.0.0.1:5432/test \\
        python benchmarks/csv_import.py

The last line printed is one JSON object (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    ROOT, bench_environment, cpu_count, database_kind, emit, load_average, seed_tenant,
)

NAME = "csv_import"
GOAL = 0.3
MEMORY_GOAL_MB = 200
BATCH = 1000
HEADER = ["email", "first_name", "last_name", "company", "title", "phone", "website", "country",
          "city", "industry"]
COUNTRIES = [("DE", "+49 30 {:07d}"), ("FR", "+33 1 {:08d}"), ("GB", "+44 20 {:08d}"),
             ("US", "+1 415 555 {:04d}"), ("NL", "+31 20 {:07d}"), ("ES", "+34 91 {:07d}")]
INDUSTRIES = ["Logistics", "Retail", "Software", "Manufacturing", "Finance", "Healthcare"]


def write_file(path: Path, rows: int, seed: int = 7) -> int:
    """A realistic export: 10 columns, company domains shared by several people."""
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            company = f"Company {i // 7}"
            country, phone = COUNTRIES[i % len(COUNTRIES)]
            writer.writerow([
                f"person.{i}@company{i // 7}.example", f"First{i}", f"Last{i}", company,
                rng.choice(["CEO", "Head of Sales", "VP Marketing", "Founder", "Sales Manager"]),
                phone.format(i % 10_000), f"company{i // 7}.example", country,
                rng.choice(["Berlin", "Paris", "London", "Austin", "Madrid"]), rng.choice(INDUSTRIES),
            ])
    return path.stat().st_size


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# -- the two sides, each run in a subprocess -------------------------------------------------


async def import_side(path: Path) -> dict:
    from salescopilot.clock import system_clock
    from salescopilot.db.engine import connected
    from salescopilot.leads.import_runner import run_import
    from salescopilot.leads.imports import ImportService
    from salescopilot.settings import get_settings
    from salescopilot.tenancy.context import tenant_scope

    settings = get_settings()

    async def chunks():
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 16):
                yield chunk

    async with connected(settings):
        tenant, owner = await seed_tenant(f"imp{uuid.uuid4().hex[:8]}", f"o{uuid.uuid4().hex[:6]}@bench.example")
        started = time.perf_counter()
        async with tenant_scope(tenant):
            service = ImportService(clock=system_clock, var_dir=settings.var_dir)
            row = await service.upload("bench.csv", chunks(), created_by=owner)
            await service.start(row.id, mapping=None, on_duplicate="update", list_id=None, tags=[])
        result = await run_import(tenant, row.id, clock=system_clock, var_dir=settings.var_dir)
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": result["imported"], "skipped": result["skipped"],
            "status": result["status"], "peak_rss_mb": peak_rss_mb()}


def _raw_batches(path: Path, tenant: uuid.UUID, postgres: bool):
    """The rows of the file as the lead table's value tuples, a batch at a time (not timed)."""
    import datetime as dt

    from salescopilot.leads.repository import LEAD_INSERT_COLUMNS

    now = dt.datetime.now(dt.UTC)
    stamp = now if postgres else now.isoformat()
    tenant_value = tenant if postgres else str(tenant)
    assert len(LEAD_INSERT_COLUMNS) == 20
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        batch = []
        for cells in reader:
            lead_id = uuid.uuid4()
            custom = json.dumps({"city": cells[8], "industry": cells[9]})
            batch.append((
                lead_id if postgres else str(lead_id), tenant_value, cells[0], cells[0].lower(),
                cells[1], cells[2], cells[3], cells[4], cells[5], "https://" + cells[6], "", "",
                cells[7], custom, "", None, "new", None, stamp, stamp,
            ))
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


async def raw_side(path: Path) -> dict:
    from salescopilot.leads.repository import LEAD_INSERT_COLUMNS
    from salescopilot.settings import get_settings

    settings = get_settings()
    tenant = uuid.uuid4()
    names = ", ".join(f'"{c}"' for c in LEAD_INSERT_COLUMNS)
    rows = 0
    seconds = 0.0
    if settings.database.is_postgres:
        import asyncpg

        connection = await asyncpg.connect(settings.database.url)
        await connection.execute(f"SELECT set_config('app.tenant_id', '{tenant}', false)")
        marks = ", ".join(f"${i + 1}" for i in range(len(LEAD_INSERT_COLUMNS)))
        statement = f"INSERT INTO lead ({names}) VALUES ({marks})"
        try:
            for batch in _raw_batches(path, tenant, True):
                started = time.perf_counter()
                async with connection.transaction():
                    await connection.executemany(statement, batch)
                seconds += time.perf_counter() - started
                rows += len(batch)
        finally:
            await connection.close()
    else:
        import sqlite3

        database = settings.database.url.removeprefix("sqlite:///")
        connection = sqlite3.connect(database, timeout=60, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        marks = ", ".join("?" for _ in LEAD_INSERT_COLUMNS)
        statement = f"INSERT INTO lead ({names}) VALUES ({marks})"
        try:
            for batch in _raw_batches(path, tenant, False):
                started = time.perf_counter()
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany(statement, batch)
                connection.execute("COMMIT")
                seconds += time.perf_counter() - started
                rows += len(batch)
        finally:
            connection.close()
    return {"seconds": seconds, "rows": rows, "peak_rss_mb": peak_rss_mb()}


def run_side(side: str, path: Path) -> dict:
    """One side in a fresh interpreter (so its peak RSS is its own)."""
    completed = subprocess.run(
        [sys.executable, __file__, "--side", side, "--file", str(path)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"{side} side failed:\n{completed.stderr[-4000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version, < 60 s")
    parser.add_argument("--rows", type=int, help="rows in the file (default 1,000,000; quick 40,000)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (each runs both sides)")
    parser.add_argument("--side", choices=["import", "raw"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.side:
        side = import_side if args.side == "import" else raw_side
        print(json.dumps(asyncio.run(side(args.file))))
        return

    rows = args.rows or (40_000 if args.quick else 1_000_000)
    load_before = load_average()
    with bench_environment(NAME) as env:
        data = Path(env["SALESCOPILOT_VAR_DIR"]).parent / "bench.csv"
        size = write_file(data, rows)
        print(f"file: {rows:,} rows × {len(HEADER)} columns, {size / 1e6:.1f} MB", flush=True)
        results: dict[str, list[dict]] = {"import": [], "raw": []}
        for index in range(args.rounds):
            order = ["import", "raw"] if index % 2 == 0 else ["raw", "import"]
            rates = {}
            for side in order:
                result = run_side(side, data)
                results[side].append(result)
                rates[side] = result["rows"] / result["seconds"]
                print(f"round {index + 1}/{args.rounds} {side}: {result['rows']:,} rows in "
                      f"{result['seconds']:.1f} s = {rates[side]:,.0f} rows/s, peak RSS "
                      f"{result['peak_rss_mb']} MB", flush=True)
            print(f"round {index + 1}: ratio {rates['import'] / rates['raw']:.3f}", flush=True)

    round_ratios = [
        (i["rows"] / i["seconds"]) / (r["rows"] / r["seconds"])
        for i, r in zip(results["import"], results["raw"], strict=True)
    ]
    ratio = statistics.median(round_ratios)
    peak = max(r["peak_rss_mb"] for r in results["import"])
    complete = all(r["status"] == "completed" and r["rows"] == rows and r["skipped"] == 0
                   for r in results["import"])

    def figures(side: str) -> dict:
        total_rows = sum(r["rows"] for r in results[side])
        total_seconds = sum(r["seconds"] for r in results[side])
        return {"rows_per_s": round(total_rows / total_seconds), "seconds": [round(r["seconds"], 2) for r in results[side]],
                "peak_rss_mb": max(r["peak_rss_mb"] for r in results[side])}

    print(f"ratio {ratio:.3f} (median of rounds; goal >= {GOAL}); import peak RSS {peak} MB "
          f"(goal <= {MEMORY_GOAL_MB}); every row imported: {complete}")
    emit({
        "name": NAME,
        "ratio": round(ratio, 3),
        "goal": GOAL,
        "ok": ratio >= GOAL and peak <= MEMORY_GOAL_MB and complete,
        "peak_rss_mb": peak,
        "memory_goal_mb": MEMORY_GOAL_MB,
        "import": figures("import"),
        "raw_driver": figures("raw"),
        "round_ratios": [round(r, 3) for r in round_ratios],
        "rows": rows,
        "columns": len(HEADER),
        "file_mb": round(size / 1e6, 1),
        "batch": BATCH,
        "database": database_kind(),
        "rounds": args.rounds,
        "quick": args.quick,
        "cpu_count": cpu_count(),
        "load_average_1m": {"start": load_before, "end": load_average()},
    })


if __name__ == "__main__":
    main()
