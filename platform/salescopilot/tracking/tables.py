"""Tracking events (opens, clicks, unsubscribes) and the tenant's tracking switches."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class TrackingEvent(TenantOwned, Table):
    """One open, click or unsubscribe of one sent message, scored human or machine.

    Machine events are kept (the dashboards show both), never counted as engagement."""

    INDEX_TOGETHER = (("tenant", "message"), ("tenant", "occurred_at"), ("tenant", "campaign", "kind"))

    tenant = UUID(null=False)
    #: The outbox message the token named.
    message = UUID()
    campaign = UUID(null=True, default=None)
    lead = UUID(null=True, default=None)
    mailbox = UUID(null=True, default=None)
    #: open · click · unsubscribe
    kind = Varchar(length=12)
    link_index = Integer(default=0)
    url = Text(default="")
    occurred_at = Timestamptz(default=TimestamptzNow())
    #: True when a proxy, scanner or bot made the request rather than a person.
    machine = Boolean(default=False)
    #: Why it was scored so: "human", "apple_mpp", "link_scanner:mimecast", "too_soon", ...
    reason = Varchar(length=60, default="human")
    ip = Varchar(length=45, default="")
    user_agent = Varchar(length=512, default="")
    method = Varchar(length=8, default="GET")


class TrackingSettings(TenantOwned, Table):
    """The tenant's tracking switches (one row per tenant; none means the defaults).

    A message carries the pixel only when its campaign asks for it (`OutboxMessage.track_opens`,
    off unless the campaign turns it on: a tracking pixel raises spam scores), the tenant allows it
    here and its mailbox is not listed in `mailboxes_off`; likewise clicks. Turning a switch off
    here stops tracking for every campaign at once."""

    UNIQUE_TOGETHER = (("tenant",),)

    tenant = UUID(null=False)
    opens_enabled = Boolean(default=True)
    clicks_enabled = Boolean(default=True)
    #: The tenant's own hostname for tracking links (`t.acme.com`, CNAME to this installation);
    #: "" uses the installation's default.
    tracking_domain = Varchar(length=253, default="")
    #: Ids of mailboxes whose messages are never tracked.
    mailboxes_off = JSON(default="[]")
    updated_at = Timestamptz(default=TimestamptzNow())
