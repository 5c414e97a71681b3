"""Queries on campaigns, enrollments and their timeline events: the only code that touches those
tables. The scheduler's reads and writes are batch statements on the driver (`fetch_all`,
`execute_many`): a pass reads and moves a thousand enrollments at a time."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from salescopilot.campaigns.tables import Campaign, Enrollment, EnrollmentEvent
from salescopilot.db.engine import execute_many, fetch_all, is_postgres, pg_batch_columns, uuid_in
from salescopilot.listing import ListQuery, Page
from salescopilot.tenancy.repository import TenantRepository

#: Enrollment states with work left (the others are final).
LIVE_STATES = ("waiting", "active", "paused", "held")
#: What the scheduler reads of a due enrollment.
DUE_COLUMNS = (
    "id", "campaign", "lead", "state", "next_step", "sends", "next_due_at", "last_step_key", "variant",
    "last_message", "paused_until", "anchor_at", "opened_at", "clicked_at", "replied_at", "started_at",
)
_UUIDS = ("id", "campaign", "lead", "last_message", "enrollment", "outbox_message")
_TIMES = ("next_due_at", "paused_until", "anchor_at", "opened_at", "clicked_at", "replied_at", "started_at",
          "finished_at", "created_at", "updated_at", "at")


def _uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def typed(row: dict) -> dict:
    """A driver row with UUIDs and aware datetimes (SQLite gives text for both)."""
    for name in _UUIDS:
        if name in row:
            row[name] = _uuid(row[name])
    for name in _TIMES:
        if name in row:
            row[name] = _time(row[name])
    return row


class CampaignRepository(TenantRepository[Campaign]):
    table = Campaign
    sortable = ("updated_at", "created_at", "name", "status")
    default_sort = "updated_at"

    async def page(self, query: ListQuery, q: str | None) -> Page[dict]:
        if q:
            return await self._list_page_built(query, Campaign.name.ilike(f"%{q}%"))
        return await self.list_page(query)

    async def change(self, campaign_id: uuid.UUID, values: dict[str, Any]) -> None:
        await self.update_where(values, Campaign.id == campaign_id)

    async def runnable(self) -> list[Campaign]:
        """Campaigns the scheduler works on (active, or scheduled to start). On PostgreSQL they
        are share-locked until the pass commits, so a pause waits for the pass and then holds
        every message the pass queued."""
        if is_postgres(Campaign._meta.db):
            rows = await Campaign.raw(
                "SELECT * FROM campaign WHERE tenant = {} AND status IN ('active', 'scheduled') "
                "ORDER BY id FOR SHARE", self.tenant_id,
            )
            return [Campaign(**row, _exists_in_db=True) for row in rows]
        return await self.find(Campaign.status.is_in(["active", "scheduled"]))

    async def using_sequence(self, sequence: uuid.UUID, statuses: tuple[str, ...]) -> list[Campaign]:
        return await self.find(Campaign.sequence == sequence, Campaign.status.is_in(list(statuses)))


class EnrollmentRepository(TenantRepository[Enrollment]):
    table = Enrollment
    sortable = ("created_at", "updated_at", "next_due_at", "state")

    async def due(self, now: dt.datetime, campaigns: list[uuid.UUID], limit: int) -> list[dict]:
        """The next `limit` enrollments due by `now` in `campaigns`, oldest due first (then by
        id), read through the `due` partial index; locked (skipping rows another pass holds) on
        PostgreSQL."""
        if not campaigns:
            return []
        condition, values = uuid_in("campaign", campaigns)
        postgres = is_postgres(Enrollment._meta.db)
        lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
        rows = await fetch_all(
            f"SELECT {', '.join(DUE_COLUMNS)} FROM campaign_enrollment WHERE tenant = {{}} "
            f"AND next_due_at IS NOT NULL AND next_due_at <= {{}} AND {condition} "
            f"ORDER BY next_due_at, id LIMIT {{}}{lock}",
            [self.tenant_id, now, *values, limit],
        )
        # asyncpg gives UUIDs and aware datetimes already.
        return rows if postgres else [typed(row) for row in rows]

    async def apply(self, changes: list[tuple[uuid.UUID, dict[str, Any]]]) -> None:
        """Write each enrollment's changed columns; changes with the same columns go in one batch."""
        groups: dict[tuple[str, ...], list[list[Any]]] = {}
        for enrollment, values in changes:
            names = tuple(sorted(values))
            groups.setdefault(names, []).append([*(values[n] for n in names), self.tenant_id, enrollment])
        postgres = is_postgres(Enrollment._meta.db)
        for names, rows in groups.items():
            columns = [self._col(name) for name in names]  # only real column names reach the SQL
            if postgres:
                # One statement per shape: the batch's values as arrays (one value where every
                # row has the same) joined on the ids.
                expressions, source, scalars, arrays = pg_batch_columns(
                    [Enrollment.id, *columns], [[row[-1] for row in rows], *([row[i] for row in rows] for i in range(len(names)))])
                assignments = ", ".join(f'"{n}" = {e}' for n, e in zip(names, expressions[1:], strict=True))
                await fetch_all(
                    f"UPDATE campaign_enrollment AS e SET {assignments} FROM {source} "
                    f"WHERE e.tenant = {{}} AND e.id = v.id",
                    [*scalars, *arrays, self.tenant_id],
                )
                continue
            assignments = ", ".join(f'"{name}" = {{}}' for name in names)
            await execute_many(
                f"UPDATE campaign_enrollment SET {assignments} WHERE tenant = {{}} AND id = {{}}", rows
            )

    async def lead_ids(self, campaign: uuid.UUID) -> set[uuid.UUID]:
        rows = await Enrollment.select(Enrollment.lead).where(self._where(Enrollment.campaign == campaign))
        return {row["lead"] for row in rows}

    async def counts(self, campaign: uuid.UUID) -> dict[str, int]:
        rows = await Enrollment.raw(
            "SELECT state, COUNT(*) AS n FROM campaign_enrollment WHERE tenant = {} AND campaign = {} "
            "GROUP BY state", self.tenant_id, campaign,
        )
        return {row["state"]: row["n"] for row in rows}

    async def stop_reasons(self, campaign: uuid.UUID) -> dict[str, int]:
        rows = await Enrollment.raw(
            "SELECT stop_reason, COUNT(*) AS n FROM campaign_enrollment WHERE tenant = {} AND campaign = {} "
            "AND state = 'stopped' GROUP BY stop_reason", self.tenant_id, campaign,
        )
        return {row["stop_reason"]: row["n"] for row in rows}

    async def exists_live(self, campaign: uuid.UUID) -> bool:
        return await self.exists(Enrollment.campaign == campaign, Enrollment.state.is_in(list(LIVE_STATES)))

    async def live_count(self, campaign: uuid.UUID) -> int:
        return await self.count(Enrollment.campaign == campaign, Enrollment.state.is_in(list(LIVE_STATES)))

    async def started_since(self, campaign: uuid.UUID, since: dt.datetime) -> int:
        return await self.count(Enrollment.campaign == campaign, Enrollment.started_at >= since)

    async def live_of_leads(self, leads: list[uuid.UUID]) -> list[Enrollment]:
        if not leads:
            return []
        return await self.find(Enrollment.lead.is_in(leads), Enrollment.state.is_in(list(LIVE_STATES)))

    async def in_flight(self, campaigns: list[uuid.UUID]) -> list[dict]:
        """(campaign, next_step, last_step_key, sends, count) of the live enrollments."""
        if not campaigns:
            return []
        condition, values = uuid_in("campaign", campaigns)
        rows = await fetch_all(
            "SELECT campaign, next_step, last_step_key, MIN(sends) AS sends, COUNT(*) AS n FROM campaign_enrollment "
            f"WHERE tenant = {{}} AND {condition} AND state IN ('waiting', 'active', 'paused', 'held') "
            "GROUP BY campaign, next_step, last_step_key ORDER BY campaign, next_step",
            [self.tenant_id, *values],
        )
        return [typed(row) for row in rows]

    async def live_of_campaigns(self, campaigns: list[uuid.UUID]) -> list[dict]:
        if not campaigns:
            return []
        condition, values = uuid_in("campaign", campaigns)
        rows = await fetch_all(
            f"SELECT id, campaign, next_step, last_step_key, sends FROM campaign_enrollment WHERE tenant = {{}} "
            f"AND {condition} AND state IN ('waiting', 'active', 'paused', 'held')",
            [self.tenant_id, *values],
        )
        return [typed(row) for row in rows]

    async def of_campaign(self, campaign: uuid.UUID, ids: list[uuid.UUID]) -> list[Enrollment]:
        if not ids:
            return []
        return await self.find(Enrollment.campaign == campaign, Enrollment.id.is_in(ids))

    async def page_of(self, campaign: uuid.UUID, query: ListQuery) -> Page[dict]:
        return await self._list_page_built(query, Enrollment.campaign == campaign)

    async def add_batch(self, rows: list[Enrollment]) -> None:
        await self.insert_many(rows)


class EnrollmentEventRepository(TenantRepository[EnrollmentEvent]):
    table = EnrollmentEvent

    async def of(self, enrollment: uuid.UUID) -> list[EnrollmentEvent]:
        return await (
            EnrollmentEvent.objects()
            .where(self._where(EnrollmentEvent.enrollment == enrollment))
            .order_by(EnrollmentEvent.at)
            .order_by(EnrollmentEvent.step)
        )
