"""Queries of mailboxes, pools, sending domains, the sending policy and send attempts."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace
from typing import ClassVar

from salescopilot.db.engine import execute_many, fetch_all, is_postgres
from salescopilot.mailboxes.tables import (
    Mailbox,
    MailboxPool,
    MailboxPoolMember,
    SendAttempt,
    SendingDomain,
    SendingPolicy,
)
from salescopilot.tenancy.repository import TenantRepository


#: The columns the claim and the dry run read of each mailbox.
_CLAIM_COLUMNS = (
    "id", "email", "status", "profile", "daily_cap", "hourly_cap", "minute_cap", "min_gap_seconds",
    "jitter_seconds", "domain_daily_cap", "window", "warmup", "next_send_at", "status_reason",
    "probe_at", "created_at", "updated_at", "settings_version",
)
#: Quoted: `window` is a reserved word of PostgreSQL.
_CLAIM_SELECT = ", ".join(f'"{column}"' for column in _CLAIM_COLUMNS)


class MailboxRepository(TenantRepository[Mailbox]):
    table = Mailbox
    sortable: ClassVar[tuple[str, ...]] = ("created_at", "email", "status")
    default_sort: ClassVar[str] = "created_at"

    async def all(self) -> list[Mailbox]:
        return await Mailbox.objects().where(self._where()).order_by(Mailbox.email)

    async def sendable(self) -> list[SimpleNamespace]:
        """What the claim needs of the mailboxes that may send or probe (not paused or disabled
        by a person): plain values, read on every claim, so no full row objects are built."""
        rows = await fetch_all(
            f"SELECT {_CLAIM_SELECT} FROM mailbox WHERE tenant = {{}} "
            "AND status IN ('active', 'quarantined') ORDER BY id",
            [self.tenant_id],
        )
        if rows and not isinstance(rows[0]["id"], uuid.UUID):  # SQLite: the ids as text
            for row in rows:
                row["id"] = uuid.UUID(row["id"])
        return [SimpleNamespace(**row) for row in rows]

    async def statuses(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        """Each mailbox's status (one light query: recording outcomes reads it for every chunk)."""
        if not ids:
            return {}
        rows = await Mailbox.select(Mailbox.id, Mailbox.status).where(self._where(Mailbox.id.is_in(ids)))
        return {row["id"]: row["status"] for row in rows}

    async def lock(self, mailbox: uuid.UUID) -> None:
        """Hold the mailbox row until the transaction ends (PostgreSQL; a SQLite write
        transaction already excludes other writers): its health is judged one outcome at a time."""
        if is_postgres(Mailbox._meta.db):
            await Mailbox.raw(
                "SELECT id FROM mailbox WHERE tenant = {} AND id = {} FOR UPDATE", self.tenant_id, mailbox
            )

    async def set_pacing(self, values: list[tuple[uuid.UUID, dt.datetime | None, str]]) -> None:
        """(mailbox, next_send_at, status_reason) after a claim pass."""
        if values and is_postgres(Mailbox._meta.db):
            await Mailbox.raw(
                "UPDATE mailbox m SET next_send_at = v.next_send_at, status_reason = v.reason "
                "FROM unnest({}::uuid[], {}::timestamptz[], {}::text[]) AS v(id, next_send_at, reason) "
                "WHERE m.tenant = {} AND m.id = v.id",
                [v[0] for v in values], [v[1] for v in values], [v[2] for v in values], self.tenant_id,
            )
            return
        for mailbox, next_send_at, reason in values:
            await self.update_where(
                {"next_send_at": next_send_at, "status_reason": reason}, Mailbox.id == mailbox
            )


class MailboxPoolRepository(TenantRepository[MailboxPool]):
    table = MailboxPool
    sortable: ClassVar[tuple[str, ...]] = ("created_at", "name")
    default_sort: ClassVar[str] = "name"

    async def all(self) -> list[MailboxPool]:
        return await MailboxPool.objects().where(self._where()).order_by(MailboxPool.name)


class MailboxPoolMemberRepository(TenantRepository[MailboxPoolMember]):
    table = MailboxPoolMember

    async def pools_by_mailbox(self) -> dict[uuid.UUID, set[uuid.UUID]]:
        rows = await MailboxPoolMember.select(
            MailboxPoolMember.pool, MailboxPoolMember.mailbox
        ).where(self._where())
        pools: dict[uuid.UUID, set[uuid.UUID]] = {}
        for row in rows:
            pools.setdefault(row["mailbox"], set()).add(row["pool"])
        return pools

    async def members(self, pool: uuid.UUID) -> list[uuid.UUID]:
        rows = await MailboxPoolMember.select(MailboxPoolMember.mailbox).where(
            self._where(MailboxPoolMember.pool == pool)
        )
        return [r["mailbox"] for r in rows]


class SendingDomainRepository(TenantRepository[SendingDomain]):
    table = SendingDomain
    sortable: ClassVar[tuple[str, ...]] = ("domain", "created_at")
    default_sort: ClassVar[str] = "domain"

    async def all(self) -> list[SendingDomain]:
        return await SendingDomain.objects().where(self._where()).order_by(SendingDomain.domain)


class SendingPolicyRepository(TenantRepository[SendingPolicy]):
    table = SendingPolicy

    async def current(self) -> SendingPolicy:
        """The tenant's policy row, made on first use."""
        row = await self.find_one()
        if row is None:
            row = await self.add(SendingPolicy(id=uuid.uuid4()))
        return row

    async def claim_wake(self, at: dt.datetime, now: dt.datetime, stale: dt.timedelta) -> bool:
        """Take the job of waking the sender at `at`: True when no earlier wake-up is pending
        (or the pending one is overdue by `stale`, so a lost wake-up cannot stall sending)."""
        await self.current()
        changed = await self.update_where(
            {"wake_at": at},
            SendingPolicy.wake_at.is_null()
            | (SendingPolicy.wake_at > at)
            | (SendingPolicy.wake_at < now - stale),
        )
        return changed > 0

    async def clear_wake(self) -> None:
        await self.update_where({"wake_at": None}, SendingPolicy.wake_at.is_not_null())


class SendAttemptRepository(TenantRepository[SendAttempt]):
    table = SendAttempt
    sortable: ClassVar[tuple[str, ...]] = ("at",)
    default_sort: ClassVar[str] = "at"

    async def log(self, attempts: list[tuple[uuid.UUID, uuid.UUID, str, str, str]], at: dt.datetime) -> None:
        """Append (mailbox, message, outcome, code, detail) attempts in one batch, straight on the
        driver: every chunk of sent mail writes its attempts, and building row objects cost more
        than the insert."""
        await execute_many(
            "INSERT INTO send_attempt (id, tenant, mailbox, message, at, outcome, code, detail) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
            [(uuid.uuid4(), self.tenant_id, mailbox, message, at, outcome, code[:20], detail[:2000])
             for mailbox, message, outcome, code, detail in attempts],
        )

    async def outcomes_since(self, mailbox: uuid.UUID, since: dt.datetime) -> dict[str, int]:
        rows = await SendAttempt.raw(
            "SELECT outcome, COUNT(*) AS n FROM send_attempt WHERE tenant = {} AND mailbox = {} "
            "AND at > {} GROUP BY outcome",
            self.tenant_id, mailbox, since,
        )
        return {r["outcome"]: r["n"] for r in rows}

    async def recent(self, mailbox: uuid.UUID, limit: int) -> list[SendAttempt]:
        return await (
            SendAttempt.objects()
            .where(self._where(SendAttempt.mailbox == mailbox))
            .order_by(SendAttempt.at, ascending=False)
            .limit(limit)
        )
