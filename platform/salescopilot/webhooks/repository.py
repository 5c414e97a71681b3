"""Queries of webhook endpoints and deliveries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import ClassVar

from salescopilot.tenancy.repository import TenantRepository
from salescopilot.webhooks.tables import WebhookDelivery, WebhookEndpoint


class WebhookEndpointRepository(TenantRepository[WebhookEndpoint]):
    table = WebhookEndpoint
    sortable: ClassVar[tuple[str, ...]] = ("created_at", "url")

    async def enabled(self) -> list[WebhookEndpoint]:
        return await self.find(WebhookEndpoint.enabled == True)  # noqa: E712 - a SQL comparison


class WebhookDeliveryRepository(TenantRepository[WebhookDelivery]):
    table = WebhookDelivery
    sortable: ClassVar[tuple[str, ...]] = ("created_at", "state", "kind")

    async def claim_due(self, now: dt.datetime, lease_until: dt.datetime, limit: int) -> list[WebhookDelivery]:
        """Up to `limit` pending deliveries whose time came, claimed until `lease_until` (a
        worker that dies meanwhile leaves them due again then). Rows another worker claimed
        first are not returned."""
        due = await WebhookDelivery.select(WebhookDelivery.id, WebhookDelivery.next_attempt_at).where(
            self._where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
        ).order_by(WebhookDelivery.next_attempt_at).limit(limit)
        claimed: list[uuid.UUID] = []
        for row in due:
            changed = await self.update_where(
                {"next_attempt_at": lease_until},
                WebhookDelivery.id == row["id"], WebhookDelivery.state == "pending",
                WebhookDelivery.next_attempt_at == row["next_attempt_at"],
            )
            if changed:
                claimed.append(row["id"])
        return await self.find(WebhookDelivery.id.is_in(claimed)) if claimed else []

    async def of_endpoint(self, endpoint: uuid.UUID, limit: int, offset: int) -> tuple[list[WebhookDelivery], int]:
        where = self._where(WebhookDelivery.endpoint == endpoint)
        rows = await WebhookDelivery.objects().where(where).order_by(
            WebhookDelivery.created_at, ascending=False).order_by(WebhookDelivery.id).limit(limit).offset(offset)
        return rows, await WebhookDelivery.count().where(where)

    async def dead(self, limit: int, offset: int) -> tuple[list[WebhookDelivery], int]:
        where = self._where(WebhookDelivery.state == "dead")
        rows = await WebhookDelivery.objects().where(where).order_by(
            WebhookDelivery.created_at, ascending=False).order_by(WebhookDelivery.id).limit(limit).offset(offset)
        return rows, await WebhookDelivery.count().where(where)
