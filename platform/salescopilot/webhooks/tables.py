"""Webhook endpoints of a tenant and the deliveries made to them."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class WebhookEndpoint(TenantOwned, Table):
    INDEX_TOGETHER = (("tenant", "created_at"),)

    tenant = UUID(null=False)
    url = Varchar(length=2048)
    description = Varchar(length=200, default="")
    #: The signing secret, sealed with the tenant SecretBox (shown once, at creation).
    secret = Text()
    #: Event kinds delivered ("email.opened", ...); ["*"] for all.
    events = JSON(default="[]")
    enabled = Boolean(default=True)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class WebhookDelivery(TenantOwned, Table):
    """One event for one endpoint: pending → delivered, or after the last retry → dead (the
    dead-letter list, from which a person can replay it)."""

    INDEX_TOGETHER = (("tenant", "endpoint", "created_at"), ("tenant", "state", "created_at"))
    PARTIAL_INDEXES = (("due", ("tenant", "next_attempt_at"), "state = 'pending'"),)

    tenant = UUID(null=False)
    endpoint = UUID()
    #: The event's id, the same in every delivery of it (receivers deduplicate on it).
    event_id = UUID()
    kind = Varchar(length=60)
    #: The JSON body sent, fixed at emission so every retry sends the same bytes.
    body = Text()
    #: pending · delivered · dead
    state = Varchar(length=12, default="pending")
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow())
    last_status = Integer(null=True, default=None)
    last_error = Text(default="")
    duration_ms = Integer(default=0)
    created_at = Timestamptz(default=TimestamptzNow())
    delivered_at = Timestamptz(null=True, default=None)
