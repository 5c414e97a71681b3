"""Queries of tracking events and the tenant's tracking switches."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import ClassVar

from salescopilot.tenancy.repository import TenantRepository
from salescopilot.tracking.tables import TrackingEvent, TrackingSettings


class TrackingEventRepository(TenantRepository[TrackingEvent]):
    table = TrackingEvent
    sortable: ClassVar[tuple[str, ...]] = ("occurred_at", "kind")
    default_sort: ClassVar[str] = "occurred_at"

    async def of_message(self, message: uuid.UUID) -> list[TrackingEvent]:
        return await self.table.objects().where(self._where(TrackingEvent.message == message)).order_by(
            TrackingEvent.occurred_at
        )

    async def has_unsubscribe(self, message: uuid.UUID) -> bool:
        return await self.exists(TrackingEvent.message == message, TrackingEvent.kind == "unsubscribe")

    async def recent_clicks(self, messages: list[uuid.UUID], since: dt.datetime) -> list[dict]:
        """Clicks of `messages` stored since `since` (time, message, link index)."""
        if not messages:
            return []
        return await TrackingEvent.select(
            TrackingEvent.message, TrackingEvent.occurred_at, TrackingEvent.link_index
        ).where(self._where(
            TrackingEvent.message.is_in(messages), TrackingEvent.kind == "click",
            TrackingEvent.occurred_at >= since,
        ))

    async def recent_click_links(self, messages: list[uuid.UUID], since: dt.datetime) -> list[dict]:
        """The distinct (message, link index) of the clicks of `messages` stored since `since`."""
        if not messages:
            return []
        return await TrackingEvent.select(TrackingEvent.message, TrackingEvent.link_index).where(self._where(
            TrackingEvent.message.is_in(messages), TrackingEvent.kind == "click",
            TrackingEvent.occurred_at >= since,
        )).distinct()

    async def counts(self, message: uuid.UUID | None = None) -> dict[tuple[str, bool], int]:
        """(kind, machine) -> number of events, of one message or of the whole tenant."""
        conditions = [TrackingEvent.message == message] if message is not None else []
        rows = await TrackingEvent.select(
            TrackingEvent.kind, TrackingEvent.machine, TrackingEvent.id.count().as_alias("n")
        ).where(self._where(*conditions)).group_by(TrackingEvent.kind, TrackingEvent.machine)
        return {(row["kind"], bool(row["machine"])): row["n"] for row in rows}


class TrackingSettingsRepository(TenantRepository[TrackingSettings]):
    table = TrackingSettings

    async def current(self) -> TrackingSettings | None:
        return await self.find_one()
