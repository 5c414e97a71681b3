"""Shared fixtures: a migrated database per test (SQLite by default, PostgreSQL when
SALESCOPILOT_TEST_DATABASE=postgres), two tenants, and settings pointing at both.

Services: under CI (CI=true) a test that needs PostgreSQL or Redis fails when the service is
missing; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
import os
import shutil
import uuid
from pathlib import Path

import pytest

from salescopilot.db.engine import stop_database, start_database
from salescopilot.db.migrate import migrate
from salescopilot.settings import Settings, get_settings
from salescopilot.tenancy.context import TenantRef

BACKEND = os.environ.get("SALESCOPILOT_TEST_DATABASE", "sqlite")
POSTGRES_URL = os.environ.get(
    "SALESCOPILOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("SALESCOPILOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
APP_ROLE = "salescopilot_test_app"
UNDER_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def service_missing(what: str, error: BaseException) -> None:
    """Fail under CI, skip elsewhere: CI must never pass by skipping."""
    message = f"{what} is not reachable: {error!r}"
    if UNDER_CI:
        pytest.fail(message)
    pytest.skip(message)


def _with_database(url: str, database: str, user: str | None = None) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc
    if user is not None:
        netloc = user + "@" + netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, "/" + database, parts.query, parts.fragment))


async def _pg_admin(sql: list[str], url: str = POSTGRES_URL) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        for statement in sql:
            await connection.execute(statement)
    finally:
        await connection.close()


def migrated_database(base: Path) -> dict:
    """A new, migrated database of the session's backend: a SQLite file under `base`, or a
    PostgreSQL database of its own (drop it with `drop_database`). Returns its template dict."""
    if BACKEND == "postgres":
        name = f"sc_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        try:
            asyncio.run(
                _pg_admin(
                    [
                        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                        f"'{APP_ROLE}') THEN CREATE ROLE {APP_ROLE} LOGIN; END IF; END $$",
                        f"CREATE DATABASE {name}",
                    ]
                )
            )
        except (OSError, Exception) as error:  # noqa: BLE001 - any connection failure
            service_missing("PostgreSQL", error)
        template = {
            "url": _with_database(POSTGRES_URL, name, user=APP_ROLE),
            "owner_url": _with_database(POSTGRES_URL, name),
            "app_role": APP_ROLE,
            "database": name,
        }
    else:
        path = base / "template.db"
        template = {"url": f"sqlite:///{path}", "path": path}
    asyncio.run(migrate(_settings(base, template)))
    return template


def drop_database(template: dict) -> None:
    if "database" in template:
        asyncio.run(_pg_admin([f"DROP DATABASE IF EXISTS {template['database']} WITH (FORCE)"]))


@pytest.fixture(scope="session")
def database_template(tmp_path_factory) -> dict:
    """Migrate once per test session; each test then gets a copy (SQLite) or a truncated
    database (PostgreSQL)."""
    template = migrated_database(tmp_path_factory.mktemp("db"))
    yield template
    drop_database(template)


def settings_env(var_dir: Path, template: dict) -> dict[str, str]:
    env = {
        "SALESCOPILOT_ENVIRONMENT": "test",
        "SALESCOPILOT_VAR_DIR": str(var_dir),
        "SALESCOPILOT_DATABASE__URL": template["url"],
        "SALESCOPILOT_SESSIONS__STORE": "memory",
    }
    if template.get("owner_url"):
        env["SALESCOPILOT_DATABASE__OWNER_URL"] = template["owner_url"]
        env["SALESCOPILOT_DATABASE__APP_ROLE"] = template["app_role"]
    return env


def _settings(var_dir: Path, template: dict) -> Settings:
    return Settings(**{
        "environment": "test",
        "var_dir": var_dir,
        "database": {k: template[k] for k in ("url", "owner_url", "app_role") if k in template},
        "sessions": {"store": "memory"},
    })


@pytest.fixture
def database_url(database_template, tmp_path) -> dict:
    """A fresh, migrated database for this test; returns the template dict with its URLs."""
    if BACKEND == "postgres":
        from salescopilot.db.engine import all_tables

        # DELETE, not TRUNCATE: on tables this small it is several times faster.
        asyncio.run(
            _pg_admin(
                ["SET session_replication_role = replica"]
                + [f"DELETE FROM {t._meta.tablename}" for t in all_tables()],
                database_template["owner_url"],
            )
        )
        return dict(database_template)
    path = tmp_path / "test.db"
    shutil.copyfile(database_template["path"], path)
    return {"url": f"sqlite:///{path}", "path": path}


@pytest.fixture
def settings(database_url, tmp_path, monkeypatch) -> Settings:
    """Settings for this test: its own database and var dir, also set in the environment (for
    code that calls `get_settings()`). The environment is restored afterwards."""
    for key in list(os.environ):
        if key.startswith("SALESCOPILOT_") and not key.startswith("SALESCOPILOT_TEST_"):
            monkeypatch.delenv(key)
    for key, value in settings_env(tmp_path / "var", database_url).items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
async def db(settings):
    """The app engine for this test's database, with every table bound to it."""
    engine = await start_database(settings)
    yield engine
    if VERIFY_COUNTERS:
        await verify_counters()
    await stop_database()


#: Check after every test with a database that analytics' counters equal a count from the facts
#: (`SALESCOPILOT_TEST_VERIFY_COUNTERS=1`): every scenario that sends, tracks, receives or edits
#: leads through the app becomes a test of the counters. Off by default: tests that write facts
#: straight into the tables (fixtures of stored data) have no counters unless they rebuild them.
VERIFY_COUNTERS = os.environ.get("SALESCOPILOT_TEST_VERIFY_COUNTERS", "") == "1"


async def verify_counters() -> None:
    from salescopilot.analytics.counters import verify
    from salescopilot.tenancy.context import tenant_scope
    from salescopilot.tenancy.repository import TenantCatalogue

    differing = {}
    for row in await TenantCatalogue().all():
        async with tenant_scope(TenantRef(id=row.id, slug=row.slug), write=False):
            found = await verify()
        if found:
            differing[row.slug] = found
    assert not differing, f"analytics counters differ from the facts (counters - facts): {differing}"


async def make_tenant(slug: str, name: str | None = None) -> TenantRef:
    from salescopilot.tenancy.tables import Tenant, TenantDomain

    tenant = Tenant(slug=slug, name=name or slug.title())
    await tenant.save()
    await TenantDomain(tenant=tenant.id, hostname=f"{slug}.localhost").save()
    return TenantRef(id=tenant.id, slug=slug)


@pytest.fixture
async def tenant_a(db) -> TenantRef:
    return await make_tenant("acme", "Acme Corp")


@pytest.fixture
async def tenant_b(db) -> TenantRef:
    return await make_tenant("globex", "Globex Inc")


@pytest.fixture
def redis_url() -> str:
    """A reachable Redis URL (database 15, flushed), or skip/fail as `service_missing` says."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
        client.flushdb()
    except Exception as error:  # noqa: BLE001
        service_missing("Redis", error)
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture
async def app(settings, db):
    from salescopilot.clock import FakeClock
    from salescopilot.web.app import create_app

    return create_app(settings, clock=FakeClock(__import__("datetime").datetime.now(__import__("datetime").UTC)))


@asynccontextmanager
async def app_client(app, host: str):
    """An HTTP client driving `app` in the test's own event loop (the database pool is bound to
    it), with the app's start-up and shut-down run around it."""
    import httpx

    # The start-up and shut-down hooks are called directly: `app.lifespan()` holds an anyio cancel
    # scope, which pytest-asyncio may enter and exit in different tasks.
    for hook in app.on_startup:
        await hook(app)
    try:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
            yield client
    finally:
        for hook in app.on_shutdown:
            await hook(app)


@pytest.fixture
async def client_a(app, tenant_a):
    """A browser-like client on tenant A's host."""
    async with app_client(app, "acme.localhost") as client:
        yield client


@pytest.fixture
async def client_b(app, tenant_b):
    async with app_client(app, "globex.localhost") as client:
        yield client


@pytest.fixture
def redis_env(settings, redis_url, monkeypatch) -> dict[str, str]:
    """Scale-out settings for this test (also in the environment, for worker subprocesses): the
    redis broker, a unique queue, short delays so retries and redelivery happen within seconds."""
    env = {
        "SALESCOPILOT_TASKS__BROKER": "redis",
        "SALESCOPILOT_REDIS__URL": redis_url,
        "SALESCOPILOT_TASKS__QUEUE": f"sctest:{uuid.uuid4().hex[:12]}",
        "SALESCOPILOT_TASKS__REDELIVERY_TIMEOUT": "2",
        "SALESCOPILOT_TASKS__RETRY_BASE_DELAY": "0.2",
        "SALESCOPILOT_TASKS__RETRY_MAX_DELAY": "0.5",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    return env


@pytest.fixture
def no_scheduler(monkeypatch):
    """The app without its embedded scheduler. Its minutely `outbox.sweep` runs sender passes on
    the real clock, which write the tenants' sending state (`sending_policy.wake_at`) behind a
    test's back: a before/after snapshot would then differ by chance. Request it before the app
    starts (before a client fixture)."""
    import functools

    from salescopilot.tasks.worker import task_runtime
    from salescopilot.web import app as web_app

    monkeypatch.setattr(web_app, "task_runtime", functools.partial(task_runtime, run_scheduler=False))
