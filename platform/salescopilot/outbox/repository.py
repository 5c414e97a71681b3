"""Queries of the send ledger: the claim, the state transitions, the lists.

Every transition is a conditional UPDATE naming the state (and, once handed off, the lease owner)
it expects, so two workers can never both move the same message forward: the one whose UPDATE
matched nothing has lost it and stops. A claim is a row of `outbox_lease` (the message stays
queued); `start_sending_many` turns a live lease into the `sending` state in one statement.
"""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any, ClassVar

from salescopilot.db.engine import advisory_lock_key, execute_many, fetch_all, is_postgres, uuid_in
from salescopilot.db.json_column import json_dict
from salescopilot.outbox.tables import OutboxLease, OutboxMessage
from salescopilot.tenancy.repository import TenantRepository

#: States a message is waiting to be claimed in.
CLAIMABLE = ("queued", "retry")
#: A waiting message nobody holds a lease on (the claim's reads; `o` is the ledger row).
_NOT_LEASED = "NOT EXISTS (SELECT 1 FROM outbox_lease l WHERE l.id = o.id)"
#: The columns the claim decides on (everything else is read when sending).
_CANDIDATE_COLUMNS = (
    "id, due_at, mailbox, pool, enrollment, recipient_domain, recipient_timezone, "
    "recipient_country, \"window\""
)
#: The columns building a message reads (`outbox.building.build_outgoing`).
_BUILD_COLUMNS = (
    "id", "mailbox", "lead", "message_id", "recipient_email", "recipient_name", "subject", "body_text",
    "body_html", "in_reply_to", '"references"', "track_opens", "track_clicks",
)


def _uuid(value: Any) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(str(value))


def _time(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _candidate_row(row: dict) -> dict:
    for name in ("id", "mailbox", "pool", "enrollment"):
        row[name] = _uuid(row[name])
    row["due_at"] = _time(row["due_at"])
    row["window"] = json_dict(row.get("window"))
    return row


class OutboxRepository(TenantRepository[OutboxMessage]):
    table = OutboxMessage
    sortable: ClassVar[tuple[str, ...]] = ("created_at", "due_at", "sent_at", "state")
    default_sort: ClassVar[str] = "created_at"

    @property
    def _postgres(self) -> bool:
        return is_postgres(OutboxMessage._meta.db)

    # -- the claim ------------------------------------------------------------------------------

    async def lock_claims(self) -> None:
        """Serialise this tenant's claims until the transaction ends, so caps and the quota are
        counted by one claimer at a time (SQLite: the write transaction already is the lock).
        Sending happens outside this lock; only the deciding is serial."""
        if self._postgres:
            await OutboxMessage.raw(
                "SELECT pg_advisory_xact_lock({})", advisory_lock_key("outbox-claim", self.tenant_id)
            )

    async def release_expired_claims(self, now: dt.datetime) -> int:
        """Leases that ran out before the hand-off began are deleted: nothing was handed to a
        server, so their messages (still queued) are safe to claim again, and the capacity
        they reserved is free."""
        rows = await OutboxLease.raw(
            "DELETE FROM outbox_lease WHERE tenant = {} AND lease_until < {} RETURNING id", self.tenant_id, now
        )
        return len(rows)

    async def expire_sending(self, now: dt.datetime, search_at: dt.datetime) -> int:
        """A hand-off whose lease ran out may or may not have reached the server: uncertain, to
        be searched for in the Sent folder from `search_at` on."""
        return await self.update_where(
            {"state": "uncertain", "wait_reason": "the sender stopped during the hand-off",
             "due_at": search_at, "updated_at": now},
            OutboxMessage.state == "sending",
            OutboxMessage.lease_until < now,
        )

    async def recent_reservations(
        self, wanted: dict[uuid.UUID, int], since: dt.datetime
    ) -> dict[uuid.UUID, list[tuple[dt.datetime, str]]]:
        """The `wanted[m]` most recent (reserved_at, recipient domain) of each mailbox m after
        `since`, newest first: all a cap of n needs (more sends than n only say "at the cap"), so
        the read stays bounded by the caps, not by how much was sent."""
        wanted = {m: n for m, n in wanted.items() if n > 0}
        if not wanted:
            return {}
        ids = list(wanted)
        # Reservations are the ledger's (handed off) and the live leases' (claimed).
        newest = ("SELECT * FROM (SELECT reserved_at, recipient_domain FROM {table} WHERE tenant = {{}} "
                  "AND mailbox = {mailbox} AND reserved_at > {{}} ORDER BY reserved_at DESC LIMIT {limit}) AS {table}")
        if self._postgres:
            rows = await OutboxMessage.raw(
                "SELECT m.mailbox, r.reserved_at, r.recipient_domain FROM unnest({}::uuid[], {}::int[]) "
                "AS m(mailbox, n) CROSS JOIN LATERAL ("
                + newest.format(table="outbox_message", mailbox="m.mailbox", limit="m.n") + " UNION ALL "
                + newest.format(table="outbox_lease", mailbox="m.mailbox", limit="m.n") + ") r",
                ids, [wanted[i] for i in ids], self.tenant_id, since, self.tenant_id, since,
            )
        else:
            rows = []
            for mailbox in ids:
                rows += await OutboxMessage.raw(
                    "SELECT {} AS mailbox, reserved_at, recipient_domain FROM ("
                    + newest.format(table="outbox_message", mailbox="{}", limit="{}") + " UNION ALL "
                    + newest.format(table="outbox_lease", mailbox="{}", limit="{}") + ") AS r",
                    mailbox, self.tenant_id, mailbox, since, wanted[mailbox],
                    self.tenant_id, mailbox, since, wanted[mailbox],
                )
        found: dict[uuid.UUID, list[tuple[dt.datetime, str]]] = {}
        for row in rows:
            found.setdefault(_uuid(row["mailbox"]), []).append((_time(row["reserved_at"]), row["recipient_domain"]))  # type: ignore[arg-type]
        for mailbox, sends in found.items():
            found[mailbox] = sorted(sends, reverse=True)[:wanted[mailbox]]
        return found

    async def recent_domain_reservations(
        self, pairs: dict[tuple[uuid.UUID, str], int], since: dt.datetime
    ) -> dict[tuple[uuid.UUID, str], list[dt.datetime]]:
        """For each (mailbox, recipient domain), its n most recent reservations after `since`
        (the ledger's and the live leases')."""
        found: dict[tuple[uuid.UUID, str], list[dt.datetime]] = {}
        newest = ("SELECT reserved_at FROM {} WHERE tenant = {{}} AND mailbox = {{}} AND reserved_at > {{}} "
                  "AND recipient_domain = {{}}")
        for (mailbox, domain), n in pairs.items():
            rows = await OutboxMessage.raw(
                f"SELECT reserved_at FROM ({newest.format('outbox_message')} UNION ALL "
                f"{newest.format('outbox_lease')}) r ORDER BY reserved_at DESC LIMIT {{}}",
                self.tenant_id, mailbox, since, domain, self.tenant_id, mailbox, since, domain, n,
            )
            found[(mailbox, domain)] = [_time(r["reserved_at"]) for r in rows]
        return found

    async def tenant_reservations(self, since: dt.datetime, limit: int) -> list[dt.datetime]:
        """The tenant's `limit` most recent reservations after `since` (for its daily quota)."""
        newest = ("SELECT * FROM (SELECT reserved_at FROM {0} WHERE tenant = {{}} AND reserved_at > {{}} "
                  "ORDER BY reserved_at DESC LIMIT {{}}) AS {0}")
        rows = await OutboxMessage.raw(
            f"SELECT reserved_at FROM ({newest.format('outbox_message')} UNION ALL "
            f"{newest.format('outbox_lease')}) r ORDER BY reserved_at DESC LIMIT {{}}",
            self.tenant_id, since, limit, self.tenant_id, since, limit, limit,
        )
        return [_time(r["reserved_at"]) for r in rows]

    async def sent_counts(self, now: dt.datetime) -> dict[uuid.UUID, tuple[int, int]]:
        """mailbox -> (reservations in the last hour, in the last 24 hours), for the pages."""
        taken = "SELECT mailbox, reserved_at FROM {} WHERE tenant = {{}} AND reserved_at > {{}} AND mailbox IS NOT NULL"
        rows = await OutboxMessage.raw(
            "SELECT mailbox, SUM(CASE WHEN reserved_at > {} THEN 1 ELSE 0 END) AS hour, COUNT(*) AS day "
            f"FROM ({taken.format('outbox_message')} UNION ALL {taken.format('outbox_lease')}) r GROUP BY mailbox",
            now - dt.timedelta(hours=1), self.tenant_id, now - dt.timedelta(days=1),
            self.tenant_id, now - dt.timedelta(days=1),
        )
        return {_uuid(r["mailbox"]): (int(r["hour"]), int(r["day"])) for r in rows}  # type: ignore[misc]

    async def due_for_mailboxes(self, allowances: dict[uuid.UUID, int], now: dt.datetime) -> list[dict]:
        """Due messages of leads already on a mailbox that nobody holds: at most `allowances[m]`
        per mailbox m, the oldest due first. Only read: `claim` leases the ones the plan sends."""
        if not allowances:
            return []
        ids = list(allowances)
        if self._postgres:
            # Statements are prepared per connection, and PostgreSQL plans their first five runs
            # for the values given: with a thousand mailbox ids it then walks the due-time index
            # of all the tenant's waiting mail for each mailbox (~300 ms at 1,000,000 rows)
            # instead of probing each mailbox's own index range, as the generic plan does. Only
            # this statement is held to the generic plan: the others need their values' plans
            # (partial indexes on a state only match a state written in the statement's text).
            await OutboxMessage.raw("SET LOCAL plan_cache_mode = force_generic_plan")
            rows = await OutboxMessage.raw(
                f"SELECT c.* FROM unnest({{}}::uuid[], {{}}::int[]) AS m(mailbox, allowance) "
                f"CROSS JOIN LATERAL (SELECT {_CANDIDATE_COLUMNS} FROM outbox_message o "
                f"WHERE tenant = {{}} AND mailbox = m.mailbox AND state IN ('queued', 'retry') "
                f"AND due_at <= {{}} AND {_NOT_LEASED} ORDER BY due_at, id LIMIT m.allowance) c",
                ids, [allowances[i] for i in ids], self.tenant_id, now,
            )
            await OutboxMessage.raw("SET LOCAL plan_cache_mode = auto")
        else:
            values = ", ".join("({}, {})" for _ in ids)
            rows = await OutboxMessage.raw(
                f"WITH m(mailbox, allowance) AS (VALUES {values}) "
                f"SELECT {_CANDIDATE_COLUMNS} FROM (SELECT o.*, m.allowance, ROW_NUMBER() OVER "
                f"(PARTITION BY o.mailbox ORDER BY o.due_at, o.id) AS rank FROM outbox_message o "
                f"JOIN m ON o.mailbox = m.mailbox WHERE o.tenant = {{}} "
                f"AND o.state IN ('queued', 'retry') AND o.due_at <= {{}} AND {_NOT_LEASED}) "
                f"WHERE rank <= allowance",
                *[v for i in ids for v in (i, allowances[i])], self.tenant_id, now,
            )
        return [_candidate_row(r) for r in rows]

    async def fail_suppressed(self, messages: list[uuid.UUID], owner: str, now: dt.datetime) -> int:
        """Messages to suppressed addresses never go: failed (suppressed) when `owner` is about to
        hand them off, before anything reaches a server; the capacity they took is given back and
        the attempt is not counted."""
        if not messages:
            return 0
        return await self.update_where(
            {"state": "failed", "failure": "suppressed", "lease_owner": "", "lease_until": None,
             "reserved_at": None, "attempts": OutboxMessage.attempts - 1,
             "last_error": "the address is on the suppression list", "wait_reason": "", "updated_at": now},
            OutboxMessage.id.is_in(messages),
            OutboxMessage.state == "sending",
            OutboxMessage.lease_owner == owner,
        )

    async def due_without_mailbox(self, pools: list[uuid.UUID], now: dt.datetime, limit: int) -> list[dict]:
        """Due first messages of new leads (no mailbox yet) in `pools`, oldest due first."""
        if not pools or limit <= 0:
            return []
        if self._postgres:
            rows = await OutboxMessage.raw(
                f"SELECT {_CANDIDATE_COLUMNS} FROM outbox_message o WHERE tenant = {{}} "
                f"AND mailbox IS NULL AND pool = ANY({{}}::uuid[]) AND state IN ('queued', 'retry') "
                f"AND due_at <= {{}} AND {_NOT_LEASED} ORDER BY due_at, id LIMIT {{}}",
                self.tenant_id, pools, now, limit,
            )
        else:
            marks = ", ".join("{}" for _ in pools)
            rows = await OutboxMessage.raw(
                f"SELECT {_CANDIDATE_COLUMNS} FROM outbox_message o WHERE tenant = {{}} "
                f"AND mailbox IS NULL AND pool IN ({marks}) AND state IN ('queued', 'retry') "
                f"AND due_at <= {{}} AND {_NOT_LEASED} ORDER BY due_at, id LIMIT {{}}",
                self.tenant_id, *pools, now, limit,
            )
        return [_candidate_row(r) for r in rows]

    async def mailboxes_of_enrollments(self, enrollments: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """enrollment -> the mailbox its earlier messages went from (a lead stays on it)."""
        if not enrollments:
            return {}
        rows = await (
            OutboxMessage.select(OutboxMessage.enrollment, OutboxMessage.mailbox)
            .where(self._where(OutboxMessage.enrollment.is_in(enrollments), OutboxMessage.mailbox.is_not_null()))
        )
        return {_uuid(r["enrollment"]): _uuid(r["mailbox"]) for r in rows}  # type: ignore[misc]

    async def claim(
        self, assignments: list[tuple[uuid.UUID, uuid.UUID, str]], owner: str, lease_until: dt.datetime,
        now: dt.datetime,
    ) -> None:
        """Lease each (message, mailbox, recipient domain) to `owner` until `lease_until`, taking
        the mailbox's capacity. The messages were read as not leased under the claim lock (which
        every lease is written under), so none can be leased meanwhile: no conflict to handle."""
        if not assignments:
            return
        insert = "INSERT INTO outbox_lease (id, tenant, mailbox, recipient_domain, owner, lease_until, reserved_at) "
        if self._postgres:
            await fetch_all(
                insert + "SELECT a.id, {}, a.mailbox, a.domain, {}, {}, {} "
                "FROM unnest({}::uuid[], {}::uuid[], {}::text[]) AS a(id, mailbox, domain)",
                [self.tenant_id, owner, lease_until, now,
                 [a[0] for a in assignments], [a[1] for a in assignments], [a[2] for a in assignments]],
            )
            return
        await execute_many(
            insert + "VALUES ({}, {}, {}, {}, {}, {}, {})",
            [(message, self.tenant_id, mailbox, domain, owner, lease_until, now) for message, mailbox, domain in assignments],
        )

    async def postpone(self, waits: list[tuple[uuid.UUID, dt.datetime, str]], now: dt.datetime) -> None:
        """Record why each message waits and when to look at it again."""
        if not waits:
            return
        if self._postgres:
            await OutboxMessage.raw(
                "UPDATE outbox_message o SET due_at = w.due_at, wait_reason = w.reason, "
                "updated_at = {} FROM unnest({}::uuid[], {}::timestamptz[], {}::text[]) "
                "AS w(id, due_at, reason) WHERE o.tenant = {} AND o.id = w.id "
                "AND o.state IN ('queued', 'retry')",
                now, [w[0] for w in waits], [w[1] for w in waits], [w[2] for w in waits],
                self.tenant_id,
            )
            return
        for message, due_at, reason in waits:
            await self.update_where(
                {"due_at": due_at, "wait_reason": reason, "updated_at": now},
                OutboxMessage.id == message,
                OutboxMessage.state.is_in(list(CLAIMABLE)),
            )

    # -- the hand-off ---------------------------------------------------------------------------

    async def start_sending_many(
        self, messages: list[uuid.UUID], owner: str, now: dt.datetime, lease_until: dt.datetime
    ) -> list[uuid.UUID]:
        """→ sending for those of `messages` that `owner` holds a live lease on and that still
        wait (a pause or a cancel since the claim wins): the lease's mailbox and reservation move
        to the ledger row, the lease is renewed there to `lease_until` so the whole hand-off fits
        inside it (a claim may have waited its turn), and `owner`'s leases of `messages` are
        deleted. Committed before the hand-off, so a crash after it leaves a trace (`sending`,
        then `uncertain`). Returns the messages now held for sending."""
        if not messages:
            return []
        among, values = uuid_in("l.id", messages)
        rows = await fetch_all(
            "UPDATE outbox_message SET state = 'sending', attempts = attempts + 1, mailbox = l.mailbox, "
            "reserved_at = l.reserved_at, lease_owner = l.owner, lease_until = {}, updated_at = {}, "
            "wait_reason = '' FROM outbox_lease l WHERE l.tenant = {} AND " + among + " AND l.owner = {} "
            "AND l.lease_until > {} AND outbox_message.tenant = {} AND outbox_message.id = l.id "
            "AND outbox_message.state IN ('queued', 'retry') RETURNING outbox_message.id",
            [lease_until, now, self.tenant_id, *values, owner, now, self.tenant_id],
        )
        among, values = uuid_in("id", messages)
        await fetch_all(f"DELETE FROM outbox_lease WHERE tenant = {{}} AND {among} AND owner = {{}}",
                        [self.tenant_id, *values, owner])
        return [_uuid(r["id"]) for r in rows]  # type: ignore[misc]

    async def leased(self) -> set[uuid.UUID]:
        """The messages under a lease now (claimed, the hand-off not begun)."""
        rows = await OutboxLease.raw("SELECT id FROM outbox_lease WHERE tenant = {}", self.tenant_id)
        return {_uuid(r["id"]) for r in rows}  # type: ignore[misc]

    async def to_build(self, messages: list[uuid.UUID]) -> list[SimpleNamespace]:
        """What building the messages needs of their rows, as plain values (read for every chunk
        sent; full row objects cost more to make than the query)."""
        if not messages:
            return []
        among, values = uuid_in("id", messages)
        rows = await fetch_all(
            f"SELECT {', '.join(_BUILD_COLUMNS)} FROM outbox_message WHERE tenant = {{}} AND {among}",
            [self.tenant_id, *values],
        )
        return [
            SimpleNamespace(**{**row, "id": _uuid(row["id"]), "mailbox": _uuid(row["mailbox"]), "lead": _uuid(row["lead"]),
                               "track_opens": bool(row["track_opens"]), "track_clicks": bool(row["track_clicks"])})
            for row in rows
        ]

    async def finish(
        self, message: uuid.UUID, owner: str, values: dict[str, Any],
        *, from_states: tuple[str, ...] = ("sending", "uncertain"),
    ) -> bool:
        """Record the outcome of `owner`'s hand-off. Also from `uncertain`: if the lease ran out
        meanwhile, this worker still knows best what the server answered."""
        values = {**values, "lease_owner": "", "lease_until": None}
        changed = await self.update_where(
            values,
            OutboxMessage.id == message,
            OutboxMessage.state.is_in(list(from_states)),
            OutboxMessage.lease_owner == owner,
        )
        return changed > 0

    async def finish_sent_many(
        self, sent: list[tuple[uuid.UUID, str, str]], owner: str, now: dt.datetime
    ) -> set[uuid.UUID]:
        """`finish` for many accepted messages at once: (message, provider id, server reply).
        Returns the messages recorded (those `owner` still held)."""
        if not sent:
            return set()
        common = ("state = 'sent', sent_at = {}, last_error = '', wait_reason = '', updated_at = {}, "
                  "lease_owner = '', lease_until = NULL")
        if self._postgres:
            rows = await OutboxMessage.raw(
                f"UPDATE outbox_message o SET {common}, provider_message_id = v.pid, provider_response = v.reply "
                f"FROM unnest({{}}::uuid[], {{}}::text[], {{}}::text[]) AS v(id, pid, reply) "
                f"WHERE o.tenant = {{}} AND o.id = v.id AND o.lease_owner = {{}} "
                f"AND o.state IN ('sending', 'uncertain') RETURNING o.id",
                now, now, [m for m, _, _ in sent], [p for _, p, _ in sent], [r for _, _, r in sent],
                self.tenant_id, owner,
            )
        else:
            values = ", ".join("({}, {}, {})" for _ in sent)
            rows = await OutboxMessage.raw(
                f"UPDATE outbox_message SET {common}, provider_message_id = v.pid, provider_response = v.reply "
                f"FROM (SELECT column1 AS id, column2 AS pid, column3 AS reply FROM (VALUES {values})) AS v "
                f"WHERE outbox_message.tenant = {{}} AND outbox_message.id = v.id "
                f"AND outbox_message.lease_owner = {{}} AND outbox_message.state IN ('sending', 'uncertain') "
                f"RETURNING outbox_message.id",
                now, now, *[x for item in sent for x in item], self.tenant_id, owner,
            )
        return {_uuid(r["id"]) for r in rows}  # type: ignore[misc]

    async def settle(self, message: uuid.UUID, expected_state: str, values: dict[str, Any]) -> bool:
        """Move a message out of `expected_state` (reconciliation, admin actions). Into or out of
        a state analytics counts (sent, failed), its counters follow in the same transaction."""
        from salescopilot.analytics.counters import counting

        counted = {expected_state, values.get("state")} & {"sent", "failed"}
        async with counting([message] if counted else []):
            return await self.update_where(values, OutboxMessage.id == message,
                                           OutboxMessage.state == expected_state) > 0

    async def in_state(self, state: str, limit: int) -> list[OutboxMessage]:
        return await (
            OutboxMessage.objects()
            .where(self._where(OutboxMessage.state == state))
            .order_by(OutboxMessage.updated_at)
            .limit(limit)
        )

    async def of_enrollment(self, enrollment: uuid.UUID) -> list[OutboxMessage]:
        return await (
            OutboxMessage.objects()
            .where(self._where(OutboxMessage.enrollment == enrollment))
            .order_by(OutboxMessage.step)
        )

    async def of_enrollments(self, enrollments: list[uuid.UUID]) -> dict[uuid.UUID, list[dict]]:
        """The messages of each enrollment (id, step, mailbox, message_id, subject, state, times),
        by step: what enqueueing a batch needs to dedupe and to thread."""
        if not enrollments:
            return {}
        columns = ("id, enrollment, step, mailbox, message_id, subject, state, failure, due_at, sent_at, "
                   "updated_at, wait_reason")
        if self._postgres:
            # One probe of the (tenant, enrollment, step) index per enrollment, whatever the
            # statistics say: an `= ANY` filter let the planner scan every row of the tenant
            # (dead ones included) when the table's statistics were taken while it was small.
            rows = await fetch_all(
                f"SELECT {columns} FROM unnest({{}}::uuid[]) AS wanted(item) CROSS JOIN LATERAL "
                f"(SELECT {columns} FROM outbox_message WHERE outbox_message.tenant = {{}} "
                "AND outbox_message.enrollment = wanted.item) AS outbox_message ORDER BY step",
                [list(enrollments), self.tenant_id],
            )
        else:
            condition, values = uuid_in("enrollment", enrollments)
            rows = await fetch_all(
                f"SELECT {columns} FROM outbox_message WHERE tenant = {{}} AND {condition} ORDER BY step",
                [self.tenant_id, *values],
            )
        found: dict[uuid.UUID, list[dict]] = {}
        for row in rows:
            for name in ("id", "enrollment", "mailbox"):
                row[name] = _uuid(row[name])
            for name in ("due_at", "sent_at", "updated_at"):
                row[name] = _time(row[name]) if row[name] is not None else None
            found.setdefault(row["enrollment"], []).append(row)
        return found

    async def by_ids_brief(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
        """State and times of the given messages (what the scheduler needs of a previous step)."""
        if not ids:
            return {}
        condition, values = uuid_in("id", ids)
        rows = await fetch_all(
            "SELECT id, enrollment, step, state, failure, due_at, sent_at, updated_at, wait_reason "
            f"FROM outbox_message WHERE tenant = {{}} AND {condition}",
            [self.tenant_id, *values],
        )
        found = {}
        for row in rows:
            row["id"], row["enrollment"] = _uuid(row["id"]), _uuid(row["enrollment"])
            for name in ("due_at", "sent_at", "updated_at"):
                row[name] = _time(row[name]) if row[name] is not None else None
            found[row["id"]] = row
        return found

    async def set_state_where_enrollments(
        self, enrollments: list[uuid.UUID], from_states: tuple[str, ...], values: dict[str, Any]
    ) -> int:
        if not enrollments:
            return 0
        return await self.update_where(
            values, OutboxMessage.enrollment.is_in(enrollments), OutboxMessage.state.is_in(list(from_states))
        )

    async def postpone_enrollments(self, enrollments: list[uuid.UUID], until: dt.datetime, reason: str,
                                   now: dt.datetime) -> int:
        """Hold the waiting messages of these enrollments until `until` (an out-of-office)."""
        if not enrollments:
            return 0
        return await self.update_where(
            {"due_at": until, "wait_reason": reason[:500], "updated_at": now},
            OutboxMessage.enrollment.is_in(enrollments), OutboxMessage.state.is_in(list(CLAIMABLE) + ["paused"]),
            OutboxMessage.due_at < until,
        )

    async def has_work(self, now: dt.datetime) -> bool:
        """Whether a claim pass would change anything: a waiting message is due, or a lease ran
        out. Read first, so an idle pass never takes the write lock."""
        rows = await OutboxMessage.raw(
            "SELECT EXISTS (SELECT 1 FROM outbox_message o WHERE tenant = {} AND state IN ('queued', 'retry') "
            f"AND due_at <= {{}} AND {_NOT_LEASED}) OR EXISTS (SELECT 1 FROM outbox_lease "
            "WHERE tenant = {} AND lease_until < {}) OR EXISTS (SELECT 1 FROM outbox_message "
            "WHERE tenant = {} AND state = 'sending' AND lease_until < {}) AS work",
            self.tenant_id, now, self.tenant_id, now, self.tenant_id, now,
        )
        return bool(rows[0]["work"])

    async def next_due(self) -> dt.datetime | None:
        row = await (
            OutboxMessage.select(OutboxMessage.due_at)
            .where(self._where(OutboxMessage.state.is_in(list(CLAIMABLE))))
            .order_by(OutboxMessage.due_at)
            .first()
        )
        return _time(row["due_at"]) if row else None

    async def queued_candidates(self, limit: int) -> list[dict]:
        """Every waiting message (not only due ones), for the dry-run plan."""
        rows = await OutboxMessage.raw(
            f"SELECT {_CANDIDATE_COLUMNS}, recipient_email, subject, step FROM outbox_message "
            f"WHERE tenant = {{}} AND state IN ('queued', 'retry') ORDER BY due_at, id LIMIT {{}}",
            self.tenant_id, limit,
        )
        return [_candidate_row(r) for r in rows]

    async def counts_by_state(self) -> dict[str, int]:
        """Messages by state; a waiting message under a lease counts as `claimed`."""
        rows = await OutboxMessage.raw(
            "SELECT state, COUNT(*) AS n FROM outbox_message WHERE tenant = {} GROUP BY state",
            self.tenant_id,
        )
        counts = {r["state"]: r["n"] for r in rows}
        leased = await OutboxMessage.raw(
            "SELECT o.state, COUNT(*) AS n FROM outbox_lease l JOIN outbox_message o ON o.id = l.id "
            "WHERE l.tenant = {} AND o.tenant = {} AND o.state IN ('queued', 'retry') GROUP BY o.state",
            self.tenant_id, self.tenant_id,
        )
        for row in leased:
            counts[row["state"]] -= row["n"]
            counts["claimed"] = counts.get("claimed", 0) + row["n"]
        return counts

    async def count_by_state_of_campaign(self, campaign: uuid.UUID) -> dict[str, int]:
        rows = await OutboxMessage.raw(
            "SELECT state, COUNT(*) AS n FROM outbox_message WHERE tenant = {} AND campaign = {} GROUP BY state",
            self.tenant_id, campaign,
        )
        return {r["state"]: r["n"] for r in rows}

    async def set_state_where_campaign(
        self, campaign: uuid.UUID, from_states: tuple[str, ...], values: dict[str, Any]
    ) -> int:
        return await self.update_where(
            values, OutboxMessage.campaign == campaign, OutboxMessage.state.is_in(list(from_states))
        )

    async def of_lead(self, lead: uuid.UUID, limit: int = 100) -> list[OutboxMessage]:
        """The lead's messages, oldest first (the outgoing side of the inbox's threads)."""
        return await (
            OutboxMessage.objects()
            .where(self._where(OutboxMessage.lead == lead))
            .order_by(OutboxMessage.created_at)
            .limit(limit)
        )

    async def by_message_ids(self, message_ids: list[str]) -> list[OutboxMessage]:
        """The messages with these Message-IDs ("<...>"), for matching inbound replies."""
        wanted = [m for m in dict.fromkeys(message_ids) if m][:100]
        if not wanted:
            return []
        return await OutboxMessage.objects().where(self._where(OutboxMessage.message_id.is_in(wanted)))

    async def latest_to(self, *, lead: uuid.UUID | None = None, address: str | None = None) -> OutboxMessage | None:
        """The most recent message that went (or is going) to the lead, else to the address."""
        condition = OutboxMessage.lead == lead if lead is not None else OutboxMessage.recipient_email == address
        return await (
            OutboxMessage.objects()
            .where(self._where(condition, OutboxMessage.state.not_in(["cancelled"])))
            .order_by(OutboxMessage.created_at, ascending=False)
            .first()
        )

    async def cancel_waiting_of_leads(self, leads: list[uuid.UUID], reason: str, now: dt.datetime) -> int:
        """Cancel the messages of these leads outside any campaign (one-off sends) that have not
        gone yet (queued, retry, paused); a campaign's messages follow its enrollments."""
        if not leads:
            return 0
        return await self.update_where(
            {"state": "cancelled", "failure": "cancelled", "wait_reason": reason[:500], "updated_at": now,
             "reserved_at": None},
            OutboxMessage.lead.is_in(leads), OutboxMessage.state.is_in(["queued", "retry", "paused"]),
            OutboxMessage.campaign.is_null(),
        )

    async def postpone_waiting_of_lead(
        self, lead: uuid.UUID, until: dt.datetime, reason: str, now: dt.datetime
    ) -> int:
        """Hold the lead's waiting messages outside any campaign until `until` (those due later
        keep their time); a campaign's messages follow its enrollments."""
        return await self.update_where(
            {"due_at": until, "wait_reason": reason[:500], "updated_at": now},
            OutboxMessage.lead == lead, OutboxMessage.state.is_in(["queued", "retry"]),
            OutboxMessage.due_at < until, OutboxMessage.campaign.is_null(),
        )

    async def tracking_facts(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, dict]:
        """What tracking needs of sent messages (campaign, lead, mailbox, recipient, sent_at),
        by id; messages of other tenants or of no one are absent."""
        if not ids:
            return {}
        rows = await OutboxMessage.select(
            OutboxMessage.id, OutboxMessage.campaign, OutboxMessage.lead, OutboxMessage.mailbox,
            OutboxMessage.recipient_email, OutboxMessage.sent_at, OutboxMessage.state,
        ).where(self._where(OutboxMessage.id.is_in(list(dict.fromkeys(ids)))))
        return {_uuid(row["id"]): row for row in rows}

    async def campaign_outcomes(self, campaign: uuid.UUID) -> dict[str, int]:
        """Sent, bounced and complained-about messages of one campaign (complaints are the send
        attempts inbound recorded as `complaint`)."""
        rows = await OutboxMessage.raw(
            "SELECT SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END) AS sent, "
            "SUM(CASE WHEN failure = 'bounced' THEN 1 ELSE 0 END) AS bounced "
            "FROM outbox_message WHERE tenant = {} AND campaign = {}", self.tenant_id, campaign,
        )
        complaints = await OutboxMessage.raw(
            "SELECT COUNT(DISTINCT a.message) AS n FROM send_attempt a JOIN outbox_message m "
            "ON m.id = a.message AND m.tenant = a.tenant "
            "WHERE a.tenant = {} AND m.campaign = {} AND a.outcome = 'complaint'", self.tenant_id, campaign,
        )
        row = rows[0] if rows else {}
        return {"sent": int(row.get("sent") or 0), "bounced": int(row.get("bounced") or 0),
                "complaints": int(complaints[0]["n"] if complaints else 0)}
