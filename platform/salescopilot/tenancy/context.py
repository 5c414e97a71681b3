"""The tenant context: who the current code acts for. Reading it when empty raises (fails closed).

`tenant_scope(tenant)` sets the context and opens a database transaction for it. On PostgreSQL the
transaction also sets `app.tenant_id` transaction-locally, which the row-level security policies
read; a pooled connection therefore never carries a stale tenant into another request.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from piccolo.engine.postgres import PostgresTransaction
from piccolo.engine.sqlite import TransactionType

from salescopilot.db.engine import get_engine, is_postgres
from salescopilot.errors import TenantNotResolved


@dataclass(frozen=True, slots=True)
class TenantRef:
    id: uuid.UUID
    slug: str


_current_tenant: ContextVar[TenantRef | None] = ContextVar("salescopilot_tenant", default=None)
_current_scope: ContextVar[TenantScope | None] = ContextVar("salescopilot_scope", default=None)


def current_tenant() -> TenantRef:
    """The tenant the current code acts for; raises `TenantNotResolved` when there is none."""
    tenant = _current_tenant.get()
    if tenant is None:
        raise TenantNotResolved("no tenant in context")
    return tenant


def current_tenant_id() -> uuid.UUID:
    return current_tenant().id


def keep_writes_on_error() -> None:
    """Commit this scope's writes even if the request ends in an error (see TenantScope)."""
    scope = _current_scope.get()
    if scope is not None:
        scope.keep_writes_on_error = True


class TenantScope:
    """An open tenant scope whose transaction the caller may end early (see the web middleware,
    which commits before the response leaves, so a client never sees success for a rolled-back
    write)."""

    def __init__(self, tenant: TenantRef, transaction) -> None:
        self.tenant = tenant
        self.transaction = transaction
        self.finished = False
        #: Set by code whose writes must survive a failed request: the audit entry and counters of
        #: a refused sign-in. The web layer commits instead of rolling back when it is set.
        self.keep_writes_on_error = False

    async def commit(self) -> None:
        if not self.finished:
            self.finished = True
            await self.transaction.commit()

    async def rollback(self) -> None:
        if not self.finished:
            self.finished = True
            await self.transaction.rollback()


@contextlib.contextmanager
def tenant_context(tenant: TenantRef) -> Iterator[None]:
    """Act for `tenant` without a transaction: for long work (sending mail) that opens its own
    short `tenant_scope`s one after another, committing each, instead of one that spans it all."""
    if _current_scope.get() is not None:
        raise RuntimeError("tenant_context cannot be entered inside a tenant scope")
    token = _current_tenant.set(tenant)
    try:
        yield
    finally:
        _current_tenant.reset(token)


@contextlib.asynccontextmanager
async def tenant_scope(tenant: TenantRef, *, write: bool = True) -> AsyncIterator[TenantScope]:
    """Act for `tenant` inside one transaction: committed on success, rolled back on error.

    `write=False` opens a read transaction: on SQLite a deferred one, which takes no write lock;
    on PostgreSQL a READ ONLY one, so a write where none was declared (a GET handler without
    `opt={"writes": True}`) fails at once, in every test run, instead of as a rare "database is
    locked" under load on SQLite.
    Nesting a scope for the same tenant joins the outer one; for another tenant it raises, since a
    transaction-local setting cannot be restored halfway through.
    """
    outer = _current_tenant.get()
    if outer is not None and outer.id != tenant.id:
        raise RuntimeError("cannot enter a tenant scope for another tenant inside a scope")
    if outer is not None and _current_scope.get() is not None:
        yield TenantScope(tenant, _JoinedTransaction())
        return

    engine = get_engine()
    if is_postgres(engine):
        transaction = _TenantPostgresTransaction(engine, tenant.id, read_only=not write)
    else:
        kind = TransactionType.immediate if write else TransactionType.deferred
        transaction = engine.transaction(transaction_type=kind, allow_nested=False)

    token = _current_tenant.set(tenant)
    try:
        await transaction.__aenter__()
        scope = TenantScope(tenant, transaction)
        scope_token = _current_scope.set(scope)
        try:
            yield scope
        except BaseException:
            if scope.keep_writes_on_error:
                await scope.commit()
            else:
                await scope.rollback()
            raise
        else:
            await scope.commit()
        finally:
            # Commit or rollback already happened above; this only releases the connection.
            await transaction.__aexit__(None, None, None)
            _current_scope.reset(scope_token)
    finally:
        _current_tenant.reset(token)


class _TenantPostgresTransaction(PostgresTransaction):
    """Piccolo's PostgreSQL transaction, begun together with the transaction-local
    `app.tenant_id` in one round trip (`BEGIN; SELECT set_config(...)`, one simple query)
    instead of two; it ends with a plain COMMIT or ROLLBACK on the same connection."""

    __slots__ = ("tenant_id", "read_only")

    def __init__(self, engine, tenant_id: uuid.UUID, *, read_only: bool = False) -> None:
        super().__init__(engine, allow_nested=False)
        self.tenant_id = uuid.UUID(str(tenant_id))  # hex digits and dashes only: safe as text
        self.read_only = read_only

    async def begin(self) -> None:
        mode = " READ ONLY" if self.read_only else ""
        await self.connection.execute(
            f"BEGIN{mode}; SELECT set_config('app.tenant_id', '{self.tenant_id}', true)"
        )

    async def commit(self) -> None:
        await self.connection.execute("COMMIT")
        self._committed = True

    async def rollback(self) -> None:
        await self.connection.execute("ROLLBACK")
        self._rolled_back = True


class _JoinedTransaction:
    """Stands for the outer scope's transaction: the outer scope decides commit or rollback."""

    async def commit(self) -> None:
        return None

    async def rollback(self) -> None:
        return None
