"""Queries on the AI tables (the only code that touches them)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from salescopilot.ai.tables import AiCacheEntry, AiDraft, AiMeter, AiSettings, AiUsage
from salescopilot.db.engine import get_engine, is_postgres
from salescopilot.tenancy.repository import TenantRepository


class AiSettingsRepository(TenantRepository[AiSettings]):
    table = AiSettings

    async def current(self) -> AiSettings | None:
        return await self.find_one()

    async def current_values(self) -> dict[str, Any] | None:
        """The tenant's row as column values (read on every AI call: no table object built)."""
        return await self.values_by()


class AiMeterRepository(TenantRepository[AiMeter]):
    """The monthly meter. Every change is one conditional UPDATE: on PostgreSQL the row lock and
    the re-checked WHERE, on SQLite the single writer, make concurrent reservations queue, so the
    budget and the rate limit hold however many calls run at once."""

    table = AiMeter

    async def ensure(self, month: str) -> None:
        await AiMeter.raw(
            "INSERT INTO ai_meter (id, tenant, month, tokens_used, tokens_reserved, cost_micros, "
            "window_minute, window_calls) VALUES ({}, {}, {}, 0, 0, 0, 0, 0) "
            "ON CONFLICT (tenant, month) DO NOTHING",
            uuid.uuid4(), self.tenant_id, month,
        )

    async def reserve(self, month: str, tokens: int, budget: int, minute: int, rate: int) -> bool:
        """Reserve `tokens` and count one call in `minute`'s window, if both fit; False if not."""
        rows = await AiMeter.raw(
            "UPDATE ai_meter SET tokens_reserved = tokens_reserved + {}, "
            "window_calls = CASE WHEN window_minute = {} THEN window_calls + 1 ELSE 1 END, "
            "window_minute = {} "
            "WHERE tenant = {} AND month = {} "
            # CAST: compared with a literal, PostgreSQL would type the budget int4 (a budget
            # past 2^31 tokens failed as a server error).
            "AND (CAST({} AS BIGINT) <= 0 OR tokens_used + tokens_reserved + {} <= {}) "
            "AND ({} <= 0 OR window_minute <> {} OR window_calls < {}) RETURNING id",
            tokens, minute, minute, self.tenant_id, month, budget, tokens, budget, rate, minute, rate,
        )
        return bool(rows)

    async def settle(self, month: str, reserved: int, used: int, cost_micros: int) -> None:
        """Release a reservation and count what the call really used."""
        await AiMeter.raw(
            "UPDATE ai_meter SET tokens_reserved = CASE WHEN tokens_reserved >= {} "
            "THEN tokens_reserved - {} ELSE 0 END, tokens_used = tokens_used + {}, "
            "cost_micros = cost_micros + {} WHERE tenant = {} AND month = {}",
            reserved, reserved, used, cost_micros, self.tenant_id, month,
        )

    async def of_month(self, month: str) -> AiMeter | None:
        return await self.find_one(AiMeter.month == month)


class AiUsageRepository(TenantRepository[AiUsage]):
    table = AiUsage

    async def summary(self, since: dt.datetime) -> list[dict[str, Any]]:
        """Tokens, calls and cost since `since` by user and feature."""
        return await (
            AiUsage.select(
                AiUsage.user, AiUsage.feature,
                AiUsage.prompt_tokens.as_alias("p"), AiUsage.completion_tokens.as_alias("c"),
                AiUsage.cost_micros.as_alias("cost"), AiUsage.cached, AiUsage.outcome,
            ).where(self._where(AiUsage.created_at >= since))
        )


class AiCacheRepository(TenantRepository[AiCacheEntry]):
    table = AiCacheEntry

    async def lookup(self, key: str) -> dict[str, Any] | None:
        """The entry's column values (`output` as stored: JSON text on SQLite), or None."""
        return await self.values_by(key=key)

    async def store(self, entry: AiCacheEntry) -> None:
        entry.tenant = self.tenant_id
        output = entry.output if isinstance(entry.output, str) else __import__("json").dumps(entry.output)
        cast = "::json" if is_postgres(get_engine()) else ""
        # A concurrent identical call may have stored it first: the newer answer wins.
        await AiCacheEntry.raw(
            "INSERT INTO ai_cache_entry (id, tenant, key, feature, draft, output, prompt_tokens, completion_tokens, "
            f"created_at) VALUES ({{}}, {{}}, {{}}, {{}}, {{}}, {{}}{cast}, {{}}, {{}}, {{}}) "
            "ON CONFLICT (tenant, key) DO UPDATE SET output = excluded.output, draft = excluded.draft, "
            "prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens, "
            "created_at = excluded.created_at",
            entry.id, self.tenant_id, entry.key, entry.feature, entry.draft, output, entry.prompt_tokens,
            entry.completion_tokens, entry.created_at,
        )

    async def purge(self) -> None:
        await self.delete_where(AiCacheEntry.tenant == self.tenant_id)


class AiDraftRepository(TenantRepository[AiDraft]):
    table = AiDraft
    sortable = ("created_at",)

    async def has(self, draft_id: uuid.UUID) -> bool:
        return await self.exists(AiDraft.id == draft_id)

    async def of_ids(self, ids: list[uuid.UUID]) -> list[AiDraft]:
        return await self.find(AiDraft.id.is_in(ids)) if ids else []


class AiAnalyticsRepository(TenantRepository[AiDraft]):
    """The tenant's own sending results, read for recommendations and as "best emails" context
    (the outbox and templates are read, never written)."""

    table = AiDraft

    async def subject_results(self, since: dt.datetime, limit: int = 50) -> list[dict[str, Any]]:
        """Per subject line: messages sent, failed (bounced, rejected...) and still waiting."""
        return await AiDraft.raw(
            "SELECT subject, "
            "SUM(CASE WHEN state = 'sent' THEN 1 ELSE 0 END) AS sent, "
            "SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed, "
            "SUM(CASE WHEN failure = 'bounced' THEN 1 ELSE 0 END) AS bounced, "
            "COUNT(*) AS total, MAX(body_text) AS sample "
            "FROM outbox_message WHERE tenant = {} AND created_at >= {} "
            "GROUP BY subject ORDER BY COUNT(*) DESC LIMIT {}",
            self.tenant_id, since, limit,
        )

    async def templates(self, limit: int = 50) -> list[dict[str, Any]]:
        return await AiDraft.raw(
            "SELECT name, category, subject, version, updated_at FROM email_template "
            "WHERE tenant = {} ORDER BY updated_at DESC LIMIT {}",
            self.tenant_id, limit,
        )

    async def drafts_by_feature(self, since: dt.datetime) -> list[dict[str, Any]]:
        return await AiDraft.raw(
            "SELECT feature, COUNT(*) AS drafts FROM ai_draft WHERE tenant = {} AND created_at >= {} "
            "GROUP BY feature ORDER BY feature",
            self.tenant_id, since,
        )
