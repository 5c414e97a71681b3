"""A campaign's A/B-test policy: which figure decides a winner, how sure the test must be, and
whether the winner is promoted by itself once the test is significant."""

from __future__ import annotations

from piccolo.columns import UUID, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class AbTestPolicy(TenantOwned, Table, tablename="analytics_ab_policy"):
    """One row per campaign that changed the defaults (none: reply rate, 95 %, 100 per variant,
    no automatic promotion)."""

    UNIQUE_TOGETHER = (("tenant", "campaign"),)

    campaign = UUID()
    #: reply · open · click: the rate the variants are compared on.
    metric = Varchar(length=12, default="reply")
    #: Confidence a winner needs, in percent (90, 95, 99).
    confidence = Integer(default=95)
    #: Delivered messages each variant needs before any verdict.
    min_sample = Integer(default=100)
    #: Give the winner all the step's traffic (a new sequence version) once significant.
    auto_promote = Boolean(default=False)
    updated_at = Timestamptz(default=TimestamptzNow())


class MessageEngagement(TenantOwned, Table, tablename="analytics_message_engagement"):
    """What tracking saw of one sent message, kept up to date as its events are written (each
    flag 0 or 1), so reports read one row per message instead of every event."""

    UNIQUE_TOGETHER = (("tenant", "message"),)
    INDEX_TOGETHER = (("tenant", "campaign"),)

    message = UUID()
    campaign = UUID(null=True, default=None)
    #: A person opened it or clicked in it (a click proves the open the pixel may have missed).
    opened = Integer(default=0)
    opened_machine = Integer(default=0)
    clicked = Integer(default=0)
    clicked_machine = Integer(default=0)
    unsubscribed = Integer(default=0)


class AnalyticsCounter(TenantOwned, Table, tablename="analytics_counter"):
    """The report's figures per group of messages, kept up to date as the facts they count are
    written (see `analytics.counters`), so a campaign's dashboard reads a few hundred rows
    however many messages the campaign sent.

    Two kinds of row: `k`, per campaign, step, variant, template, subject, mailbox, owner and
    length bucket; `w`, per campaign, weekday and hour in the lead's timezone. A dimension a row
    does not have is '' (or -1): the unique key must not hold NULLs, which never conflict."""

    UNIQUE_TOGETHER = (("tenant", "campaign", "key"),)

    campaign = Varchar(length=36, default="")
    #: k or w (see above).
    kind = Varchar(length=1, default="k")
    #: Digest of every dimension of the row (the subject has no length limit, an index key has).
    key = Varchar(length=64)
    step_key = Varchar(length=40, default="")
    variant = Varchar(length=40, default="")
    template = Varchar(length=36, default="")
    subject_template = Text(default="")
    mailbox = Varchar(length=36, default="")
    owner = Varchar(length=36, default="")
    bucket = Integer(default=-1)
    weekday = Integer(default=-1)
    hour = Integer(default=-1)
    sent = Integer(default=0)
    bounced = Integer(default=0)
    opened = Integer(default=0)
    opened_machine = Integer(default=0)
    clicked = Integer(default=0)
    clicked_machine = Integer(default=0)
    replied = Integer(default=0)
    auto_replied = Integer(default=0)
    complained = Integer(default=0)
    unsubscribed = Integer(default=0)
    meetings = Integer(default=0)
