"""The only code that queries for analytics: one aggregate statement per report.

Every figure is counted in SQL (GROUP BY), never by loading rows. One statement builds the
facts of each message that went out (joined to tracking's per-message summary, kept up to date
as events are written, to inbound mail first grouped per message, and to the lead and the
enrollment) and returns two groupings of them:

- `k` rows: per campaign, sequence, step, variant, template, subject, mailbox, owner and length
  bucket (few rows: the service rolls them up to each dimension);
- `s` rows: per campaign, lead timezone and quarter-hour of sending (UTC), which the service turns into
  the weekday and hour in the lead's own timezone (every timezone's offset is a whole number of
  quarter hours; an unknown zone name counts as UTC instead of failing the query).

Every table is filtered on the tenant (and, on PostgreSQL, row-level security holds as well).

The campaign dashboard of all time reads `analytics_counter` instead (`AnalyticsCounterRepository`,
kept by `analytics.counters` with this same statement over the messages each write touches);
the statement itself stays the path of periods, of the workspace and team views, and of the
counters' rebuild and verification.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from salescopilot.analytics.tables import AbTestPolicy, AnalyticsCounter, MessageEngagement
from salescopilot.db.engine import get_engine, is_postgres
from salescopilot.tenancy.repository import TenantRepository

#: Body length buckets (upper bounds in words, exclusive); the last bucket is open-ended.
LENGTH_BUCKETS = (50, 100, 150, 200, 300)
#: Quarter hours: the granularity of the send-time grouping.
SLOT_SECONDS = 900

#: The figures each row carries, in order.
FIGURES = ("sent", "bounced", "opened", "opened_machine", "clicked", "clicked_machine", "replied",
           "auto_replied", "complained", "unsubscribed", "meetings")
#: The dimensions of a counter row (`analytics.counters`), in key order (`kind` first: k or w).
DIMENSIONS = ("kind", "step_key", "variant", "template", "subject_template", "mailbox", "owner", "bucket",
              "weekday", "hour")


@dataclass(frozen=True, slots=True)
class Scope:
    """Which messages a report counts: one campaign's, or the whole workspace's; optionally only
    those that went out in [since, until)."""

    campaign: uuid.UUID | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    #: Only these messages (the counters' before-and-after of a write; see `analytics.counters`).
    messages: tuple[uuid.UUID, ...] | None = None


def _bucket_sql() -> str:
    cases = " ".join(f"WHEN m.body_words < {bound} THEN {index}" for index, bound in enumerate(LENGTH_BUCKETS))
    return f"CASE {cases} ELSE {len(LENGTH_BUCKETS)} END"


def _slot_sql(postgres: bool) -> str:
    moment = "COALESCE(m.sent_at, m.updated_at)"
    if postgres:
        # date_part gives a double; EXTRACT a numeric (PostgreSQL 14+), several times slower.
        return f"CAST(FLOOR(date_part('epoch', {moment}) / {SLOT_SECONDS}) AS BIGINT)"
    return f"CAST(strftime('%s', {moment}) AS INTEGER) / {SLOT_SECONDS}"


def _text(column: str) -> str:
    return f"CAST({column} AS TEXT)"


def report_statement(scope: Scope, tenant: uuid.UUID, postgres: bool) -> tuple[str, list[Any]]:
    """The aggregate statement of `scope` and its values (`{}` placeholders, in reading order)."""
    values: list[Any] = []

    def use(value: Any) -> str:
        values.append(value)
        return "{}"

    def among(column: str) -> str:
        """` AND column is one of the scope's messages` (one array parameter on PostgreSQL)."""
        if scope.messages is None:
            return ""
        if postgres:
            return f" AND {column} = ANY({use(list(scope.messages))}::uuid[])"
        if not scope.messages:
            return " AND 1 = 0"
        return f" AND {column} IN ({', '.join(use(m) for m in scope.messages)})"

    bounded = scope.since is not None or scope.until is not None
    since = scope.since or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    until = scope.until or dt.datetime(9999, 1, 1, tzinfo=dt.UTC)
    events_where = f"g.tenant = {use(tenant)}"
    if scope.campaign is not None:
        events_where += f" AND g.campaign = {use(scope.campaign)}"
    events_where += among("g.message")
    inbound_where = f"i.tenant = {use(tenant)} AND i.outbox_message IS NOT NULL"
    if scope.campaign is not None:
        inbound_where += f" AND i.campaign = {use(scope.campaign)}"
    inbound_where += among("i.outbox_message")
    if bounded:
        # Replies come after the send: none before the period can be about it.
        inbound_where += f" AND i.received_at >= {use(since)}"
    # Meetings: credited to the last message of an enrollment that stopped on one, or whose lead
    # booked one (few rows: the main join stays small).
    meetings_where = f"n.tenant = {use(tenant)}"
    if scope.campaign is not None:
        meetings_where += f" AND n.campaign = {use(scope.campaign)}"
    if scope.messages is not None:
        # Through the messages' enrollments (their primary key): last_message has no index.
        meetings_where += (f" AND n.id IN (SELECT e.enrollment FROM outbox_message e WHERE e.tenant = {use(tenant)}"
                           f"{among('e.id')})")
    # Only messages that went out: sent, or refused for good at the hand-off (a hard bounce).
    messages_where = f"m.tenant = {use(tenant)} AND (m.state = 'sent' OR (m.state = 'failed' AND m.failure = 'bounced'))"
    if scope.campaign is not None:
        messages_where += f" AND m.campaign = {use(scope.campaign)}"
    messages_where += among("m.id")
    if bounded:
        messages_where += (
            f" AND ((m.sent_at >= {use(since)} AND m.sent_at < {use(until)})"
            f" OR (m.failure = 'bounced' AND m.sent_at IS NULL AND m.updated_at >= {use(since)}"
            f" AND m.updated_at < {use(until)}))"
        )
    # One campaign's report needs no sequence per message (the service knows it).
    sequence, campaign_join = ("NULL", "") if scope.campaign is not None or scope.messages is not None else (
        "c.sequence", "LEFT JOIN campaign c ON c.id = m.campaign AND c.tenant = m.tenant")
    kind = "CASE WHEN i.corrected_kind <> '' THEN i.corrected_kind ELSE i.kind END"
    materialized = "MATERIALIZED "
    sums = ", ".join(f"SUM({name}) AS {name}" for name in FIGURES)
    statement = f"""
WITH ev AS (
  SELECT g.message, g.opened, g.opened_machine, g.clicked, g.clicked_machine, g.unsubscribed
  FROM analytics_message_engagement g WHERE {events_where}
), rp AS (
  SELECT i.outbox_message AS message,
    MAX(CASE WHEN {kind} = 'reply' THEN 1 ELSE 0 END) AS replied,
    MAX(CASE WHEN {kind} = 'auto_reply' THEN 1 ELSE 0 END) AS auto_replied,
    MAX(CASE WHEN {kind} = 'bounce' THEN 1 ELSE 0 END) AS bounced,
    MAX(CASE WHEN {kind} = 'complaint' THEN 1 ELSE 0 END) AS complained,
    MAX(CASE WHEN {kind} = 'unsubscribe' THEN 1 ELSE 0 END) AS unsubscribed
  FROM inbound_message i WHERE {inbound_where} GROUP BY i.outbox_message
), mt AS (
  SELECT n.last_message AS message FROM campaign_enrollment n
  LEFT JOIN lead ml ON ml.id = n.lead AND ml.tenant = n.tenant
  WHERE {meetings_where} AND n.last_message IS NOT NULL
    AND (n.stop_reason = 'meeting_booked' OR ml.status = 'meeting_booked')
), facts AS {materialized}(
  SELECT m.campaign, {sequence} AS sequence, m.step_key, m.variant, m.template, m.subject_template, m.mailbox, l.owner,
    {_bucket_sql()} AS bucket, m.recipient_timezone AS tz, {_slot_sql(postgres)} AS slot,
    1 AS sent,
    CASE WHEN m.state = 'failed' OR rp.bounced = 1 THEN 1 ELSE 0 END AS bounced,
    COALESCE(ev.opened, 0) AS opened, COALESCE(ev.opened_machine, 0) AS opened_machine,
    COALESCE(ev.clicked, 0) AS clicked, COALESCE(ev.clicked_machine, 0) AS clicked_machine,
    COALESCE(rp.replied, 0) AS replied, COALESCE(rp.auto_replied, 0) AS auto_replied,
    COALESCE(rp.complained, 0) AS complained,
    CASE WHEN ev.unsubscribed = 1 OR rp.unsubscribed = 1 THEN 1 ELSE 0 END AS unsubscribed,
    CASE WHEN mt.message IS NULL THEN 0 ELSE 1 END AS meetings
  FROM outbox_message m
  LEFT JOIN ev ON ev.message = m.id
  LEFT JOIN rp ON rp.message = m.id
  LEFT JOIN lead l ON l.id = m.lead AND l.tenant = m.tenant
  LEFT JOIN mt ON mt.message = m.id
  {campaign_join}
  WHERE {messages_where}
)
SELECT 'k' AS grouping, {_text('campaign')} AS campaign, {_text('sequence')} AS sequence, step_key, variant,
  {_text('template')} AS template, subject_template, {_text('mailbox')} AS mailbox, {_text('owner')} AS owner,
  bucket, NULL AS tz, NULL AS slot, {sums}
FROM facts GROUP BY campaign, sequence, step_key, variant, template, subject_template, mailbox, owner, bucket
UNION ALL
SELECT 's', {_text('campaign')}, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, tz, slot, {sums}
FROM facts GROUP BY campaign, tz, slot
"""
    return statement, values


class AnalyticsRepository:
    """Aggregates over the tenant's sending ledger, tracking events, inbound mail, leads and
    enrollments (read-only; the tenant filter is in every part of every statement)."""

    def __init__(self) -> None:
        from salescopilot.tenancy.context import current_tenant_id

        self.tenant_id = current_tenant_id()

    async def report_rows(self, scope: Scope) -> list[dict[str, Any]]:
        """The `k` and `s` rows of `scope` (see the module's docstring)."""
        from salescopilot.db.engine import fetch_all

        statement, values = report_statement(scope, self.tenant_id, is_postgres(get_engine()))
        rows = await fetch_all(statement, values)
        for row in rows:
            for name in FIGURES:
                row[name] = int(row[name] or 0)
        return rows


#: (flag column, event kind, machine) of each engagement flag.
FLAGS = (("opened", ("open", "click"), False), ("opened_machine", ("open",), True), ("clicked", ("click",), False),
         ("clicked_machine", ("click",), True), ("unsubscribed", ("unsubscribe",), None))


class MessageEngagementRepository(TenantRepository[MessageEngagement]):
    table = MessageEngagement

    async def note(self, events: list[tuple[uuid.UUID, uuid.UUID | None, str, bool]]) -> None:
        """Raise the flags of each (message, campaign, kind, machine) event's message, in one
        upsert per message of the batch (flags only ever go from 0 to 1)."""
        from salescopilot.db.engine import execute_many

        merged: dict[uuid.UUID, list[Any]] = {}
        for message, campaign, kind, machine in events:
            row = merged.setdefault(message, [campaign, 0, 0, 0, 0, 0])
            for index, (_, kinds, wanted) in enumerate(FLAGS, 1):
                if kind in kinds and (wanted is None or bool(machine) == wanted):
                    row[index] = 1
        if not merged:
            return
        bigger = "GREATEST" if is_postgres(get_engine()) else "MAX"
        names = [name for name, _, _ in FLAGS]
        updates = ", ".join(f"{n} = {bigger}(analytics_message_engagement.{n}, excluded.{n})" for n in names)
        statement = (
            f"INSERT INTO analytics_message_engagement (id, tenant, message, campaign, {', '.join(names)}) "
            f"VALUES ({', '.join('{}' for _ in range(4 + len(names)))}) "
            f"ON CONFLICT (tenant, message) DO UPDATE SET {updates}"
        )
        await execute_many(statement, [[uuid.uuid4(), self.tenant_id, message, *row]
                                       for message, row in sorted(merged.items(), key=lambda item: str(item[0]))])


def counter_insert_statement() -> str:
    """The insert of one counter row: id, tenant, campaign, key, the dimensions, the figures."""
    columns = ["id", "tenant", "campaign", "key", *DIMENSIONS, *FIGURES]
    return f"INSERT INTO analytics_counter ({', '.join(columns)}) VALUES ({', '.join('{}' for _ in columns)})"


class AnalyticsCounterRepository(TenantRepository[AnalyticsCounter]):
    """The counters of `analytics.counters` and the statements that keep and check them."""

    table = AnalyticsCounter

    @property
    def postgres(self) -> bool:
        return is_postgres(get_engine())

    async def fact_rows(self, scope: Scope) -> list[dict[str, Any]]:
        """The report statement's rows of `scope`, as they come."""
        from salescopilot.db.engine import fetch_all

        statement, values = report_statement(scope, self.tenant_id, self.postgres)
        return await fetch_all(statement, values)

    async def lock(self, messages: Sequence[uuid.UUID]) -> None:
        """Hold the messages' rows until the transaction ends (PostgreSQL; SQLite has one writer
        at a time anyway), always in the same order, so writers about one message take turns."""
        if not self.postgres or not messages:
            return
        from salescopilot.db.engine import fetch_all

        await fetch_all("SELECT id FROM outbox_message WHERE tenant = {} AND id = ANY({}::uuid[]) "
                        "ORDER BY id FOR UPDATE", [self.tenant_id, sorted(set(messages))])

    async def add_rows(self, rows: list[list[Any]]) -> None:
        """Add each row's figures to its counter (made when missing): one statement, run once
        per row of the batch, on SQLite and PostgreSQL alike."""
        from salescopilot.db.engine import execute_many

        updates = ", ".join(f"{name} = analytics_counter.{name} + excluded.{name}" for name in FIGURES)
        await execute_many(f"{counter_insert_statement()} ON CONFLICT (tenant, campaign, key) DO UPDATE SET {updates}",
                           rows)

    async def delete_all(self) -> None:
        await self.delete_where(AnalyticsCounter.tenant == self.tenant_id)

    async def messages_of_leads(self, leads: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        """The messages the report may count of these leads (their owner and status matter)."""
        from salescopilot.db.engine import fetch_all, uuid_in

        if not leads:
            return []
        condition, values = uuid_in("lead", sorted(set(leads), key=str))
        rows = await fetch_all(f"SELECT id FROM outbox_message WHERE tenant = {{}} AND {condition} "
                               "AND state IN ('sent', 'failed')", [self.tenant_id, *values])
        return [r["id"] if isinstance(r["id"], uuid.UUID) else uuid.UUID(str(r["id"])) for r in rows]

    async def stored_rows(self, campaign: uuid.UUID | None = None) -> list[dict[str, Any]]:
        """The tenant's counter rows (or one campaign's) with their dimensions and figures."""
        from salescopilot.db.engine import fetch_all

        where, values = "tenant = {}", [self.tenant_id]
        if campaign is not None:
            where, values = where + " AND campaign = {}", [*values, str(campaign)]
        return await fetch_all(f"SELECT {', '.join(('campaign', *DIMENSIONS, *FIGURES))} FROM analytics_counter "
                               f"WHERE {where}", values)

    async def rows_of(self, campaign: uuid.UUID) -> list[dict[str, Any]]:
        """The campaign's counters as the report statement's rows (`k`, and `w` for the
        weekday/hour grid), leaving out groups that count nothing."""
        answer = []
        for row in await self.stored_rows(campaign):
            figures = {name: int(row[name] or 0) for name in FIGURES}
            if not any(figures.values()):
                continue
            text = {name: (row[name] or None) for name in ("campaign", "step_key", "variant", "template",
                                                            "subject_template", "mailbox", "owner")}
            answer.append({"grouping": row["kind"], **text, "sequence": None, "bucket": row["bucket"],
                           "weekday": row["weekday"], "hour": row["hour"], "tz": None, "slot": None, **figures})
        return answer


class AbTestPolicyRepository(TenantRepository[AbTestPolicy]):
    table = AbTestPolicy
    sortable: ClassVar[tuple[str, ...]] = ("updated_at",)
    default_sort: ClassVar[str] = "updated_at"

    async def of_campaign(self, campaign: uuid.UUID) -> AbTestPolicy | None:
        return await self.find_one(AbTestPolicy.campaign == campaign)

    async def auto_promoting(self) -> list[AbTestPolicy]:
        return await self.find(AbTestPolicy.auto_promote == True)  # noqa: E712 - a column comparison
