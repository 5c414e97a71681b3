"""Two tenants with data in every tenant-owned table, and a view of the database that bypasses
both the repositories and row-level security (the owner connection), for before/after snapshots.

Rows are written through the services wherever one exists (members, API keys, invitations, plugin
configuration, an idempotent API create, and the audit entries all of these record); a
tenant-owned table no service has written yet gets a generic row, so a new table is seeded (and
probed) without anyone remembering to add it here.
"""

from __future__ import annotations

import datetime as dt
import decimal
import secrets
import sqlite3
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from piccolo import columns as c
from piccolo.table import Table

from salescopilot.accounts.api_keys import ApiKeyService
from salescopilot.accounts.principal import Principal
from salescopilot.accounts.team import TeamService
from salescopilot.db.schema import tenant_owned_tables
from salescopilot.mailboxes.domains import SendingDomainService
from salescopilot.mailboxes.schemas import MailboxInput
from salescopilot.mailboxes.service import MailboxService, PoolService
from salescopilot.outbox.repository import OutboxRepository
from salescopilot.outbox.service import NewMessage, OutboxService
from salescopilot.plugin_system.service import PluginConfigService
from salescopilot.settings import Settings
from salescopilot.tenancy.context import TenantRef, tenant_scope
from tests.conftest import app_client
from tests.support import PASSWORD, add_member


@dataclass
class SeededTenant:
    ref: TenantRef
    host: str
    owner_email: str
    owner_id: uuid.UUID
    #: An owner API key (`sc_...`).
    api_key: str
    invite_token: str
    #: tablename -> ids of this tenant's rows, for every tenant-owned table.
    ids: dict[str, list[uuid.UUID]] = field(default_factory=dict)
    #: Strings only this tenant's data contains: seeing one in another tenant's answer is a leak.
    secrets: set[str] = field(default_factory=set)
    password: str = PASSWORD


@asynccontextmanager
async def started(app):
    """The app's start-up and shut-down hooks around a block (the probes' clients skip them)."""
    for hook in app.on_startup:
        await hook(app)
    try:
        yield
    finally:
        for hook in app.on_shutdown:
            await hook(app)


def private_domain(slug: str) -> str:
    return f"{slug}-private.test"


async def seed_tenant(app, ref: TenantRef) -> SeededTenant:
    """Members, an API key, invitations, plugin configuration, an idempotency record and their
    audit entries for `ref`, then a generic row in any tenant-owned table still empty."""
    clock = app.state.services.clock
    services = app.state.services
    domain = private_domain(ref.slug)
    owner_email = f"owner@{domain}"
    owner_id = await add_member(ref, owner_email, "owner")
    await add_member(ref, f"member@{domain}", "member")
    owner = Principal(
        user_id=owner_id, label=owner_email, role="owner", permissions=frozenset(), via="session"
    )
    async with tenant_scope(ref):
        _, api_key = await ApiKeyService(clock=clock, permissions=services.permissions).create(
            owner, f"{ref.slug}-private key", "owner"
        )
        _, invite_token = await TeamService(clock=clock).invite(
            owner, f"invitee@{domain}", "member"
        )
        await PluginConfigService(app.state.catalogue, services.secret_box, clock).configure(
            "theme", "default", {}, enabled=True
        )
        sending = await seed_sending(app, ref)
        await _seed_ai(app, ref, domain)
        await _seed_leads_and_templates(ref, domain, owner_id, clock, services.settings.var_dir)
    host = f"{ref.slug}.localhost"
    async with app_client(app, host) as client:
        response = await client.post(
            "/api/v1/invites",
            json={"role": "viewer", "email": f"second@{domain}"},
            headers={"Authorization": f"Bearer {api_key}", "Idempotency-Key": f"{ref.slug}-seed"},
        )
        assert response.status_code == 201, response.text
    for table in tenant_owned_tables():
        async with tenant_scope(ref):
            if not await table.count().where(table.tenant == ref.id):  # type: ignore[attr-defined]
                await table.insert(generic_row(table, ref.id))
    seeded = SeededTenant(ref, host, owner_email, owner_id, api_key, invite_token)
    seeded.secrets |= {domain, str(ref.id), api_key, invite_token, f"{ref.slug}-private key", *sending}
    return seeded


async def seed_sending(app, ref: TenantRef) -> set[str]:
    """A mailbox with a sealed password (bundled `smtp` provider), a pool, and two messages in the
    ledger: a dead letter an admin could retry and a sent one. None is queued, so no sender pass
    (the embedded scheduler runs during the suite) changes them. Returns the private strings."""
    services = app.state.services
    # Not the `.test` private domain: a sender address must be deliverable (email-validator).
    domain = f"{ref.slug}-sender.example.com"
    password = f"{ref.slug}-mailbox-password-{secrets.token_hex(4)}"
    mailbox = await MailboxService(services.clock, services.secret_box).create(MailboxInput(
        email=f"sender@{domain}", from_name=f"{ref.slug} sender", provider="smtp",
        account={"address": f"sender@{domain}", "smtp_host": f"smtp.{domain}", "password": password},
        warmup={"enabled": True, "start_per_day": 5},
    ))
    await PoolService(services.clock).create(f"{ref.slug}-private pool", [mailbox.id])
    sending_domain = await SendingDomainService(services.clock, services.secret_box).add(domain, f"{ref.slug}sel")
    dkim_record = SendingDomainService(services.clock, services.secret_box).dns_record(sending_domain)
    outbox = OutboxService(services.settings.outbox, services.clock)
    subjects = {}
    for state in ("failed", "sent"):
        subjects[state] = f"{ref.slug}-private {state} subject"
        message = await outbox.enqueue(NewMessage(
            enrollment=uuid.uuid4(), step=0, recipient_email=f"lead-{state}@{domain}",
            subject=subjects[state], text="private body", mailbox=mailbox.id,
        ))
        changes = {"state": state, "failure": "max_attempts", "last_error": "451 4.7.1 try later"}
        if state == "sent":
            changes = {"state": "sent", "sent_at": services.clock.now()}
        assert await OutboxRepository().settle(message.id, "queued", changes)
    return {password, domain, dkim_record.value[-40:], *subjects.values()}
async def _seed_ai(app, ref: TenantRef, domain: str) -> None:
    """AI settings with a private style guide but no provider (AI actions answer 409 the same for
    every tenant); the meter, usage, cache and drafts get generic rows."""
    from salescopilot.ai.service import AiService

    services = app.state.services
    await AiService(clock=services.clock, operator=services.settings.ai, secret_box=services.secret_box,
                    client=services.ai_client).update_settings({"styleGuide": f"Write like {domain}", "redactPii": True})


async def _seed_leads_and_templates(ref: TenantRef, domain: str, owner_id, clock, var_dir) -> None:
    """A lead on a list, an import (with a saved mapping and a skipped row), a suppression and a
    template, each carrying the tenant's private domain so a leak of any of them shows."""
    from salescopilot.leads.import_runner import run_import
    from salescopilot.leads.imports import ImportService
    from salescopilot.leads.service import LeadService
    from salescopilot.suppression.service import SuppressionService
    from salescopilot.templates.service import TemplateService

    leads = LeadService(clock=clock)
    lead = await leads.create({"email": f"lead@{domain}.example.com", "first_name": f"{ref.slug}-private lead",
                               "custom_fields": {"note": domain}})
    lead_list = await leads.create_list(f"{ref.slug}-private list")
    await leads.bulk("add_to_list", [lead.id], str(lead_list.id))
    await SuppressionService(clock).add(f"blocked@{domain}.example.com", reason="manual", source="seed")
    await TemplateService(clock=clock).create(
        {"name": f"{ref.slug}-private template", "subject": "Hi {{firstName}}", "text": f"From {domain}"},
        author=owner_id,
    )
    await _seed_campaign(ref, lead.id, owner_id, clock)
    # A draft to the lead and a scheduled email (its outbox message due next year), so the
    # composer's routes have the tenant's private content to leak.
    from salescopilot.composer.service import ComposerService
    from salescopilot.mailboxes.repository import MailboxRepository
    from salescopilot.settings import get_settings

    composer = ComposerService(clock=clock, outbox=get_settings().outbox)
    [mailbox] = await MailboxRepository().find()
    content = {"subject": f"{ref.slug}-private draft", "text": f"Hello from {domain}",
               "lead_ids": [lead.id], "mailbox_id": mailbox.id}
    await composer.create(content, author=owner_id)
    scheduled = await composer.create({**content, "subject": f"{ref.slug}-private scheduled"}, author=owner_id)
    report = await composer.send(scheduled.id, send_at=clock.now() + dt.timedelta(days=300), sender={})
    # Paused, not queued: a sender pass (the embedded scheduler runs during the suite) would
    # otherwise record its wake-up for it and change the tenant's rows between two snapshots.
    for message in report.messages:
        assert await OutboxRepository().settle(message.id, "queued", {"state": "paused"})
    imports = ImportService(clock=clock, var_dir=var_dir)

    async def chunks():
        yield f"email,company\nimported@{domain}.example.com,{domain}\nnot-an-address,x\n".encode()

    upload = await imports.upload("seed.csv", chunks(), created_by=owner_id)
    await imports.start(upload.id, mapping=None, on_duplicate="update", list_id=lead_list.id, tags=[],
                        save_mapping_as=f"{ref.slug}-private mapping")
    await run_import(ref, upload.id, clock=clock, var_dir=var_dir)


async def _seed_campaign(ref: TenantRef, lead_id, owner_id, clock) -> None:
    """A sequence and a draft campaign (never launched, so no background pass moves it) with the
    lead enrolled, named with the tenant's slug."""
    from salescopilot.campaigns.service import CampaignService
    from salescopilot.sequences.service import SequenceService
    from salescopilot.settings import get_settings

    sequence = await SequenceService(clock=clock).create({"name": f"{ref.slug}-private sequence", "steps": [
        {"variants": [{"subject": f"{ref.slug}-private step", "text": "Hello {{firstName}}"}]}]}, author=owner_id)
    campaigns = CampaignService(get_settings().outbox, clock=clock)
    campaign = await campaigns.create({"name": f"{ref.slug}-private campaign", "sequence": sequence.id}, author=owner_id)
    await campaigns.add_leads(campaign.id, {"kind": "ids", "ids": [lead_id]})


async def record_ids(database: OwnerDatabase, seeded: SeededTenant) -> None:
    """Fill `seeded.ids` (and its secrets) from what the database holds for the tenant."""
    for table in tenant_owned_tables():
        name = table._meta.tablename
        rows = await database.fetch(
            f"SELECT id FROM {name} WHERE tenant = {{}} ORDER BY id", seeded.ref.id
        )
        seeded.ids[name] = [uuid.UUID(str(row[0])) for row in rows]
        seeded.secrets |= {str(i) for i in seeded.ids[name]}


def generic_row(table: type[Table], tenant_id: uuid.UUID) -> Table:
    """A row of `table` for `tenant_id` with a plausible value in every column."""
    values = {
        column._meta.name: _value(column)
        for column in table._meta.columns
        if column._meta.name not in ("id", "tenant")
    }
    return table(tenant=tenant_id, **values)


def _value(column: c.Column) -> Any:
    if isinstance(column, c.UUID):
        return uuid.uuid4()
    if isinstance(column, c.Varchar):
        return secrets.token_hex(max(1, min(column.length, 16) // 2))[: column.length]
    if isinstance(column, c.Text | c.Secret):
        return "seeded"
    if isinstance(column, c.Boolean):
        return False
    if isinstance(column, c.Integer | c.BigInt | c.SmallInt):
        # Random, so a (tenant, number) unique index does not meet an existing row.
        return 1000 + secrets.randbelow(30_000)
    if isinstance(column, c.Real | c.DoublePrecision):
        return 1.0
    if isinstance(column, c.Numeric):
        return decimal.Decimal(1)
    if isinstance(column, c.Timestamptz):
        return dt.datetime.now(dt.UTC)
    if isinstance(column, c.Timestamp):
        return dt.datetime.now()
    if isinstance(column, c.Date):
        return dt.date.today()
    if isinstance(column, c.JSON | c.JSONB):
        return "{}"
    if isinstance(column, c.Array):
        return []
    return column.get_default_value()


#: Columns the tenant's own background work writes on the real clock, whatever the test does:
#: the sender's next wake-up is recorded by any sender pass (an earlier test's leftover sweep
#: included), so two snapshots could differ there by chance. Every other column is compared.
BOOKKEEPING_COLUMNS = {"sending_policy": ("wake_at",)}


class OwnerDatabase:
    """Raw SQL through the migration (owner) connection: no repository, and on PostgreSQL no
    row-level security (the test set-up migrates as a superuser, which RLS never binds, not even
    with FORCE). SQL uses `{}` for parameters."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.postgres = settings.database.url.startswith(("postgres://", "postgresql://"))

    def _sql(self, sql: str) -> str:
        if not self.postgres:
            return sql.replace("{}", "?")
        parts = sql.split("{}")
        return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "") for i, p in enumerate(parts))

    def _arg(self, value: Any) -> Any:
        if isinstance(value, uuid.UUID) and not self.postgres:
            return str(value)
        if isinstance(value, list | tuple) and not self.postgres:
            return [self._arg(v) for v in value]
        return value

    async def fetch(self, sql: str, *args: Any) -> list[tuple]:
        args = tuple(self._arg(a) for a in args)
        if self.postgres:
            import asyncpg

            connection = await asyncpg.connect(self.settings.database.migration_url)
            try:
                return [tuple(row) for row in await connection.fetch(self._sql(sql), *args)]
            finally:
                await connection.close()
        path = self.settings.database.url.removeprefix("sqlite:///")
        connection = sqlite3.connect(path, timeout=30)
        try:
            return [tuple(row) for row in connection.execute(self._sql(sql), args).fetchall()]
        finally:
            connection.close()

    async def count(self, tablename: str, tenant_id: uuid.UUID) -> int:
        rows = await self.fetch(f"SELECT count(*) FROM {tablename} WHERE tenant = {{}}", tenant_id)
        return int(rows[0][0])

    async def snapshot(
        self, tenant_id: uuid.UUID, *, except_actions: tuple[str, ...] = ()
    ) -> dict[str, list[str]]:
        """Every row the tenant owns, in every tenant-owned table, plus its tenant, domain,
        membership-index and user rows: compare two snapshots to prove nothing changed.

        `except_actions` leaves out audit entries of those actions: a refused sign-in on the
        tenant's own host is recorded in its log, by design, whoever attempted it."""
        found: dict[str, list[str]] = {}

        async def take(name: str, sql: str, *args: Any) -> None:
            found[name] = sorted(
                repr(tuple(str(v) for v in row)) for row in await self.fetch(sql, *args)
            )

        for table in tenant_owned_tables():
            name = table._meta.tablename
            columns = "*"
            if name in BOOKKEEPING_COLUMNS:
                columns = ", ".join(c._meta.db_column_name for c in table._meta.columns
                                    if c._meta.name not in BOOKKEEPING_COLUMNS[name])
            sql = f"SELECT {columns} FROM {name} WHERE tenant = {{}}"
            if name == "audit_entry" and except_actions:
                sql += " AND action NOT IN (" + ", ".join("{}" for _ in except_actions) + ")"
            await take(name, sql, tenant_id, *(except_actions if name == "audit_entry" else ()))
        await take("tenant", "SELECT * FROM tenant WHERE id = {}", tenant_id)
        await take("tenant_domain", "SELECT * FROM tenant_domain WHERE tenant = {}", tenant_id)
        await take("user_tenant", "SELECT * FROM user_tenant WHERE tenant = {}", tenant_id)
        await take(
            "app_user",
            'SELECT * FROM app_user WHERE id IN (SELECT "user" FROM user_tenant WHERE tenant = {})',
            tenant_id,
        )
        return found
