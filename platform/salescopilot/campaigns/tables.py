"""Campaigns, their enrollments (one lead's run through the campaign's sequence) and the
enrollments' timeline events."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned

CAMPAIGN_STATUSES = ("draft", "scheduled", "active", "paused", "completed", "archived")
#: waiting: not started yet (start date, daily new-lead limit) · active · paused (out of office,
#: until `paused_until`) · held (a template could not be rendered for the lead) · stopped
#: (reply, bounce, ...: `stop_reason`) · completed (every step done).
ENROLLMENT_STATES = ("waiting", "active", "paused", "held", "stopped", "completed")


class Campaign(TenantOwned, Table, tablename="campaign"):
    INDEX_TOGETHER = (("tenant", "updated_at"), ("tenant", "status"))

    name = Varchar(length=200)
    sequence = UUID()
    #: The sequence version its enrollments run (moved forward when a new version is applied).
    sequence_version = Integer(default=1)
    pool = UUID(null=True, default=None)
    status = Varchar(length=20, default="draft")
    #: The sending window, `WindowSettings` shape (days, start, end, timezone, holidays).
    window = JSON(default="{}")
    #: No step goes out before this moment (None: from launch).
    start_at = Timestamptz(null=True, default=None)
    #: At most this many leads start the sequence per day (None: no limit).
    daily_new_leads = Integer(null=True, default=None)
    track_opens = Boolean(default=False)
    track_clicks = Boolean(default=False)
    #: `{{sender.firstName}}` / `{{sender.fullName}}` in its messages.
    sender_name = Varchar(length=200, default="")
    #: Where its leads came from: {"kind": "list" | "filter" | "ids" | "csv", ...}.
    source = JSON(default="{}")
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    launched_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)


class Enrollment(TenantOwned, Table, tablename="campaign_enrollment"):
    """A lead in a campaign. `next_step` is the index of the step to evaluate next; `sends` is
    how many messages the enrollment has queued, and the next one is the outbox's step
    `sends + 1` (unique per enrollment), so a repeated pass can never queue it twice."""

    UNIQUE_TOGETHER = (("tenant", "campaign", "lead"),)
    INDEX_TOGETHER = (("tenant", "campaign", "state"), ("tenant", "lead"))
    #: The scheduler reads due enrollments through this index only; rows with nothing to do
    #: (stopped, completed, held) have no `next_due_at` and no entry.
    PARTIAL_INDEXES = (("due", ("tenant", "next_due_at", "id"), "next_due_at IS NOT NULL"),)

    tenant = UUID(null=False)
    campaign = UUID()
    lead = UUID()
    state = Varchar(length=20, default="waiting")
    next_step = Integer(default=0)
    sends = Integer(default=0)
    next_due_at = Timestamptz(null=True, default=None)
    #: Why it waits, in words, while active or waiting.
    wait_reason = Text(default="")
    #: The last step queued (its key, variant and outbox message).
    last_step_key = Varchar(length=40, default="")
    variant = Varchar(length=40, default="")
    last_message = UUID(null=True, default=None)
    paused_until = Timestamptz(null=True, default=None)
    #: The moment the next step's delay counts from when it is not the last message's send
    #: time (the previous step was skipped by its condition).
    anchor_at = Timestamptz(null=True, default=None)
    stop_reason = Varchar(length=40, default="")
    opened_at = Timestamptz(null=True, default=None)
    clicked_at = Timestamptz(null=True, default=None)
    replied_at = Timestamptz(null=True, default=None)
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class EnrollmentEvent(TenantOwned, Table, tablename="campaign_enrollment_event"):
    """One line of a lead's timeline: a step queued or skipped, a stop, a pause, a hold."""

    INDEX_TOGETHER = (("tenant", "enrollment", "at"),)

    tenant = UUID(null=False)
    enrollment = UUID()
    at = Timestamptz(default=TimestamptzNow())
    #: enrolled · queued · skipped · held · paused · resumed · stopped · completed · opened ·
    #: clicked · replied · version
    kind = Varchar(length=20)
    step = Integer(default=0)
    detail = Text(default="")
    outbox_message = UUID(null=True, default=None)
