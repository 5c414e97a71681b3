"""Queries of the send ledger: the claim, the state transitions, the lists.

Every transition is a conditional UPDATE naming the state (and, once claimed, the lease owner) it
expects, so two workers can never both move the same message forward: the one whose UPDATE
matched nothing has lost it and stops.
"""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import Any, ClassVar

from salescopilot.db.engine import advisory_lock_key, execute_many, fetch_all, is_postgres, uuid_in
from salescopilot.db.json_column import json_dict
from salescopilot.outbox.tables import OutboxMessage
from salescopilot.tenancy.repository import TenantRepository

#: States a message is waiting to be claimed in.
CLAIMABLE = ("queued", "retry")
#: The columns the claim decides on (everything else is read when sending).
_CANDIDATE_COLUMNS = (
    "id, due_at, mailbox, pool, enrollment, recipient_domain, recipient_timezone, "
    "recipient_country, recipient_email, \"window\""
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
        """Claims whose lease ran out before the hand-off began go back to the queue: nothing was
        handed to a server, so they are safe to claim again (their reserved capacity is freed)."""
        return await self.update_where(
            {"state": "queued", "lease_owner": "", "lease_until": None, "reserved_at": None,
             "updated_at": now},
            OutboxMessage.state == "claimed",
            OutboxMessage.lease_until < now,
        )

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
        if self._postgres:
            rows = await OutboxMessage.raw(
                "SELECT m.mailbox, r.reserved_at, r.recipient_domain FROM unnest({}::uuid[], {}::int[]) "
                "AS m(mailbox, n) CROSS JOIN LATERAL (SELECT reserved_at, recipient_domain "
                "FROM outbox_message WHERE tenant = {} AND mailbox = m.mailbox AND reserved_at > {} "
                "ORDER BY reserved_at DESC LIMIT m.n) r",
                ids, [wanted[i] for i in ids], self.tenant_id, since,
            )
        else:
            rows = []
            for mailbox in ids:
                rows += await OutboxMessage.raw(
                    "SELECT mailbox, reserved_at, recipient_domain FROM outbox_message WHERE tenant = {} "
                    "AND mailbox = {} AND reserved_at > {} ORDER BY reserved_at DESC LIMIT {}",
                    self.tenant_id, mailbox, since, wanted[mailbox],
                )
        found: dict[uuid.UUID, list[tuple[dt.datetime, str]]] = {}
        for row in rows:
            found.setdefault(_uuid(row["mailbox"]), []).append((_time(row["reserved_at"]), row["recipient_domain"]))  # type: ignore[arg-type]
        return found

    async def recent_domain_reservations(
        self, pairs: dict[tuple[uuid.UUID, str], int], since: dt.datetime, *, excluding: set[uuid.UUID]
    ) -> dict[tuple[uuid.UUID, str], list[dt.datetime]]:
        """For each (mailbox, recipient domain), its n most recent reservations after `since`,
        leaving out the messages `excluding` (claimed by the pass that is asking)."""
        found: dict[tuple[uuid.UUID, str], list[dt.datetime]] = {}
        for (mailbox, domain), n in pairs.items():
            rows = await OutboxMessage.raw(
                "SELECT id, reserved_at FROM outbox_message WHERE tenant = {} AND mailbox = {} "
                "AND reserved_at > {} AND recipient_domain = {} ORDER BY reserved_at DESC LIMIT {}",
                self.tenant_id, mailbox, since, domain, n + len(excluding),
            )
            times = [_time(r["reserved_at"]) for r in rows if _uuid(r["id"]) not in excluding]
            found[(mailbox, domain)] = times[:n]
        return found

    async def tenant_reservations(self, since: dt.datetime, limit: int) -> list[dt.datetime]:
        """The tenant's `limit` most recent reservations after `since` (for its daily quota)."""
        rows = await OutboxMessage.raw(
            "SELECT reserved_at FROM outbox_message WHERE tenant = {} AND reserved_at > {} "
            "ORDER BY reserved_at DESC LIMIT {}",
            self.tenant_id, since, limit,
        )
        return [_time(r["reserved_at"]) for r in rows]

    async def sent_counts(self, now: dt.datetime) -> dict[uuid.UUID, tuple[int, int]]:
        """mailbox -> (reservations in the last hour, in the last 24 hours), for the pages."""
        rows = await OutboxMessage.raw(
            "SELECT mailbox, SUM(CASE WHEN reserved_at > {} THEN 1 ELSE 0 END) AS hour, COUNT(*) AS day "
            "FROM outbox_message WHERE tenant = {} AND reserved_at > {} AND mailbox IS NOT NULL "
            "GROUP BY mailbox",
            now - dt.timedelta(hours=1), self.tenant_id, now - dt.timedelta(days=1),
        )
        return {_uuid(r["mailbox"]): (int(r["hour"]), int(r["day"])) for r in rows}  # type: ignore[misc]

    async def due_for_mailboxes(self, allowances: dict[uuid.UUID, int], now: dt.datetime) -> list[dict]:
        """Due messages of leads already on a mailbox: at most `allowances[m]` per mailbox m, the
        oldest due first. PostgreSQL locks them (rows a sender is updating are skipped)."""
        if not allowances:
            return []
        ids = list(allowances)
        if self._postgres:
            rows = await OutboxMessage.raw(
                f"SELECT o.* FROM unnest({{}}::uuid[], {{}}::int[]) AS m(mailbox, allowance) "
                f"CROSS JOIN LATERAL (SELECT {_CANDIDATE_COLUMNS} FROM outbox_message "
                f"WHERE tenant = {{}} AND mailbox = m.mailbox AND state IN ('queued', 'retry') "
                f"AND due_at <= {{}} ORDER BY due_at, id LIMIT m.allowance "
                f"FOR UPDATE SKIP LOCKED) o LIMIT {{}}",
                ids, [allowances[i] for i in ids], self.tenant_id, now, sum(allowances.values()),
            )
        else:
            values = ", ".join("({}, {})" for _ in ids)
            rows = await OutboxMessage.raw(
                f"WITH m(mailbox, allowance) AS (VALUES {values}) "
                f"SELECT {_CANDIDATE_COLUMNS} FROM (SELECT o.*, m.allowance, ROW_NUMBER() OVER "
                f"(PARTITION BY o.mailbox ORDER BY o.due_at, o.id) AS rank FROM outbox_message o "
                f"JOIN m ON o.mailbox = m.mailbox WHERE o.tenant = {{}} "
                f"AND o.state IN ('queued', 'retry') AND o.due_at <= {{}}) WHERE rank <= allowance",
                *[v for i in ids for v in (i, allowances[i])], self.tenant_id, now,
            )
        return [_candidate_row(r) for r in rows]

    @property
    def claims_in_one_statement(self) -> bool:
        """PostgreSQL reads and claims the due messages of open mailboxes in one statement
        (`claim_for_mailboxes`); SQLite reads them, then claims the planned ones."""
        return self._postgres

    async def claim_for_mailboxes(
        self, allowances: dict[uuid.UUID, int], owner: str, lease_until: dt.datetime, now: dt.datetime
    ) -> list[dict]:
        """PostgreSQL: `due_for_mailboxes` and `claim` in one statement (rows locked with FOR
        UPDATE SKIP LOCKED and claimed as they are read); the caller then gives back, with
        `release`, those its plan does not send now. Half the row writes of read-then-claim."""
        if not allowances:
            return []
        ids = list(allowances)
        # Statements are prepared per connection, and PostgreSQL plans their first five runs for
        # the values given: with a thousand mailbox ids it then walks the due-time index of all
        # the tenant's waiting mail for each mailbox (~300 ms at 1,000,000 rows) instead of
        # probing each mailbox's own index range (~30 ms), as the generic plan does. Only this
        # statement is held to the generic plan: the others need their values' plans (partial
        # indexes on a state only match a state written in the statement's text or given).
        await OutboxMessage.raw("SET LOCAL plan_cache_mode = force_generic_plan")
        rows = await OutboxMessage.raw(
            "UPDATE outbox_message o SET state = 'claimed', lease_owner = {}, lease_until = {}, "
            "reserved_at = {}, updated_at = {}, wait_reason = '' FROM ("
            "SELECT c.id FROM unnest({}::uuid[], {}::int[]) AS m(mailbox, allowance) "
            "CROSS JOIN LATERAL (SELECT id FROM outbox_message WHERE tenant = {} "
            "AND mailbox = m.mailbox AND state IN ('queued', 'retry') AND due_at <= {} "
            "ORDER BY due_at, id LIMIT m.allowance FOR UPDATE SKIP LOCKED) c) picked "
            "WHERE o.tenant = {} AND o.id = picked.id RETURNING "
            + ", ".join(f"o.{c.strip()}" for c in _CANDIDATE_COLUMNS.split(",")),
            owner, lease_until, now, now, ids, [allowances[i] for i in ids], self.tenant_id, now,
            self.tenant_id,
        )
        await OutboxMessage.raw("SET LOCAL plan_cache_mode = auto")
        return [_candidate_row(r) for r in rows]

    async def fail_suppressed(self, messages: list[uuid.UUID], now: dt.datetime) -> int:
        """Messages to suppressed addresses never go: failed (suppressed), whether waiting or
        claimed by the pass that found them."""
        if not messages:
            return 0
        return await self.update_where(
            {"state": "failed", "failure": "suppressed", "lease_owner": "", "lease_until": None,
             "reserved_at": None, "last_error": "the address is on the suppression list",
             "wait_reason": "", "updated_at": now},
            OutboxMessage.id.is_in(messages),
            OutboxMessage.state.is_in(["queued", "retry", "claimed"]),
        )

    async def release(self, waits: list[tuple[uuid.UUID, dt.datetime | None, str]], owner: str, now: dt.datetime) -> None:
        """Give back claimed messages the plan does not send now: queued again, with why they
        wait and when to look again (None: as they were due)."""
        if not waits:
            return
        await OutboxMessage.raw(
            "UPDATE outbox_message o SET state = 'queued', lease_owner = '', lease_until = NULL, "
            "reserved_at = NULL, updated_at = {}, due_at = COALESCE(w.due_at, o.due_at), "
            "wait_reason = w.reason FROM unnest({}::uuid[], {}::timestamptz[], {}::text[]) "
            "AS w(id, due_at, reason) WHERE o.tenant = {} AND o.id = w.id AND o.lease_owner = {} "
            "AND o.state = 'claimed'",
            now, [w[0] for w in waits], [w[1] for w in waits], [w[2] for w in waits], self.tenant_id, owner,
        )

    async def due_without_mailbox(self, pools: list[uuid.UUID], now: dt.datetime, limit: int) -> list[dict]:
        """Due first messages of new leads (no mailbox yet) in `pools`, oldest due first."""
        if not pools or limit <= 0:
            return []
        if self._postgres:
            rows = await OutboxMessage.raw(
                f"SELECT {_CANDIDATE_COLUMNS} FROM outbox_message WHERE tenant = {{}} "
                f"AND mailbox IS NULL AND pool = ANY({{}}::uuid[]) AND state IN ('queued', 'retry') "
                f"AND due_at <= {{}} ORDER BY due_at, id LIMIT {{}} FOR UPDATE SKIP LOCKED",
                self.tenant_id, pools, now, limit,
            )
        else:
            marks = ", ".join("{}" for _ in pools)
            rows = await OutboxMessage.raw(
                f"SELECT {_CANDIDATE_COLUMNS} FROM outbox_message WHERE tenant = {{}} "
                f"AND mailbox IS NULL AND pool IN ({marks}) AND state IN ('queued', 'retry') "
                f"AND due_at <= {{}} ORDER BY due_at, id LIMIT {{}}",
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
        self, assignments: list[tuple[uuid.UUID, uuid.UUID]], owner: str, lease_until: dt.datetime,
        now: dt.datetime,
    ) -> None:
        """Mark each (message, mailbox) claimed by `owner` until `lease_until`, taking capacity."""
        if not assignments:
            return
        if self._postgres:
            await OutboxMessage.raw(
                "UPDATE outbox_message o SET state = 'claimed', mailbox = a.mailbox, "
                "lease_owner = {}, lease_until = {}, reserved_at = {}, updated_at = {}, "
                "wait_reason = '' FROM unnest({}::uuid[], {}::uuid[]) AS a(id, mailbox) "
                "WHERE o.tenant = {} AND o.id = a.id",
                owner, lease_until, now, now,
                [a[0] for a in assignments], [a[1] for a in assignments], self.tenant_id,
            )
            return
        await execute_many(
            "UPDATE outbox_message SET state = 'claimed', mailbox = {}, lease_owner = {}, lease_until = {}, "
            "reserved_at = {}, updated_at = {}, wait_reason = '' WHERE tenant = {} AND id = {}",
            [(mailbox, owner, lease_until, now, now, self.tenant_id, message) for message, mailbox in assignments],
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
        """claimed → sending for those of `messages` that `owner` still holds with a live lease,
        which is renewed to `lease_until` so the whole hand-off fits inside it (a claim may have
        waited its turn). Committed before the hand-off, so a crash after it leaves a trace
        (`sending`, then `uncertain`). Returns the messages now held for sending."""
        if not messages:
            return []
        rows = await (
            OutboxMessage.update(
                {OutboxMessage.state: "sending", OutboxMessage.attempts: OutboxMessage.attempts + 1,
                 OutboxMessage.lease_until: lease_until, OutboxMessage.updated_at: now}
            )
            .where(self._where(
                OutboxMessage.id.is_in(messages),
                OutboxMessage.state == "claimed",
                OutboxMessage.lease_owner == owner,
                OutboxMessage.lease_until > now,
            ))
            .returning(OutboxMessage.id)
        )
        return [_uuid(r["id"]) for r in rows]  # type: ignore[misc]

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
        due = await OutboxMessage.exists().where(self._where(
            OutboxMessage.state.is_in(list(CLAIMABLE)), OutboxMessage.due_at <= now))
        if due:
            return True
        return await OutboxMessage.exists().where(self._where(
            OutboxMessage.state.is_in(["claimed", "sending"]), OutboxMessage.lease_until < now))

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
        rows = await OutboxMessage.raw(
            "SELECT state, COUNT(*) AS n FROM outbox_message WHERE tenant = {} GROUP BY state",
            self.tenant_id,
        )
        return {r["state"]: r["n"] for r in rows}

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
