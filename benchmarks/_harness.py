"""Shared set-up for the benchmarks: a throw-away migrated database, seeding helpers, statistics
and the one-JSON-line result.

Database: SQLite in a temporary directory by default. When `SALESCOPILOT_DATABASE__URL` points to
PostgreSQL, a fresh database named `sc_bench_<pid>_<random>` is created on that server with the
same credentials, migrated by the owner, and the app connects as a role that does not own the
tables (as in production and in tests/conftest.py), so row-level security is on the measured path.
The database is dropped again at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
BENCH_APP_ROLE = "salescopilot_bench_app"


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_average() -> float | None:
    """The machine's 1-minute load average (other processes compete for the same CPUs)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _with_database(url: str, database: str, user: str | None = None) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc
    if user is not None:
        netloc = user + "@" + netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, "/" + database, parts.query, parts.fragment))


async def _pg_admin(url: str, statements: list[str]) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@contextlib.contextmanager
def bench_environment(label: str) -> Iterator[dict[str, str]]:
    """Creates and migrates a database, sets the SALESCOPILOT_* environment of this process for
    it (also returned, for server subprocesses) and removes everything on exit."""
    from salescopilot.db.migrate import migrate
    from salescopilot.settings import get_settings

    given = os.environ.get("SALESCOPILOT_DATABASE__URL", "")
    postgres = urlsplit(given).scheme in ("postgres", "postgresql")
    tmp = Path(tempfile.mkdtemp(prefix=f"sc-bench-{label}-"))
    env = {
        "SALESCOPILOT_ENVIRONMENT": "test",
        "SALESCOPILOT_VAR_DIR": str(tmp / "var"),
        "SALESCOPILOT_SESSIONS__STORE": "memory",
        "SALESCOPILOT_LOG_LEVEL": "WARNING",
        "SALESCOPILOT_TASKS__BROKER": "inmemory",
    }
    database = None
    if postgres:
        database = f"sc_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = given
        asyncio.run(_pg_admin(admin, [
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{BENCH_APP_ROLE}') "
            f"THEN CREATE ROLE {BENCH_APP_ROLE} LOGIN; END IF; END $$",
            f"CREATE DATABASE {database}",
        ]))
        env["SALESCOPILOT_DATABASE__URL"] = _with_database(given, database, user=BENCH_APP_ROLE)
        env["SALESCOPILOT_DATABASE__OWNER_URL"] = _with_database(given, database)
        env["SALESCOPILOT_DATABASE__APP_ROLE"] = BENCH_APP_ROLE
    else:
        env["SALESCOPILOT_DATABASE__URL"] = f"sqlite:///{tmp / 'bench.db'}"
    saved = {k: v for k, v in os.environ.items() if k.startswith("SALESCOPILOT_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        asyncio.run(migrate(get_settings()))
        yield env
    finally:
        for key in [k for k in os.environ if k.startswith("SALESCOPILOT_")]:
            del os.environ[key]
        os.environ.update(saved)
        get_settings.cache_clear()
        if database is not None:
            with contextlib.suppress(Exception):
                asyncio.run(_pg_admin(given, [f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"]))
        shutil.rmtree(tmp, ignore_errors=True)


def database_kind() -> str:
    url = os.environ.get("SALESCOPILOT_DATABASE__URL", "")
    return "postgresql" if urlsplit(url).scheme in ("postgres", "postgresql") else "sqlite"


async def seed_tenant(slug: str, owner_email: str):
    """A tenant served at `<slug>.localhost` with one owner; returns (TenantRef, owner user id).
    Runs inside a started database (see `salescopilot.db.engine.connected`)."""
    from salescopilot.accounts.cli import ensure_member
    from salescopilot.accounts.repository import UserRepository
    from salescopilot.tenancy.context import TenantRef, tenant_scope
    from salescopilot.tenancy.repository import TenantCatalogue
    from salescopilot.tenancy.tables import Tenant

    catalogue = TenantCatalogue()
    tenant = await catalogue.add(Tenant(slug=slug, name=slug.title()))
    await catalogue.add_domain(tenant.id, f"{slug}.localhost")
    ref = TenantRef(id=tenant.id, slug=slug)
    async with tenant_scope(ref):
        await ensure_member(
            owner_email, "Owner", "bench-password-123", "owner", reset_password=False
        )
        user = await UserRepository().by_email(owner_email)
    return ref, user.id


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of `values` (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary_ms(latencies_s: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(latencies_s, 50) * 1000, 3),
        "p95_ms": round(percentile(latencies_s, 95) * 1000, 3),
        "mean_ms": round(statistics.fmean(latencies_s) * 1000, 3) if latencies_s else float("nan"),
    }


def emit(result: dict) -> None:
    """Print the result as the last line (one JSON object), after a readable summary."""
    sys.stdout.flush()
    print(json.dumps(result, separators=(",", ":")), flush=True)
