"""The send ledger."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class OutboxMessage(TenantOwned, Table):
    """One message to one lead: the row exists before anything is sent and records every step.

    States: queued → (claimed: an `OutboxLease`) → sending → sent; or → retry (4xx, timeout;
    same Message-ID) → ... → failed (dead letter); a hard bounce → failed at once; a crash or lost
    connection after the hand-off → uncertain, settled by searching the mailbox's Sent folder
    before any retry; paused / cancelled by a person or the campaign.
    """

    #: One row per enrollment and step: the database refuses a second.
    UNIQUE_TOGETHER = (("tenant", "enrollment", "step"), ("tenant", "message_id"))
    #: (tenant, lead): analytics' counters follow a lead's owner and status to its messages.
    INDEX_TOGETHER = (("tenant", "created_at"), ("tenant", "campaign"), ("tenant", "lead"))
    #: Claims read only waiting rows (and usage only rows that took capacity): partial indexes
    #: keep both reads small, and the claimable ones get no new entry when a row is claimed.
    PARTIAL_INDEXES = (
        ("claimable", ("tenant", "mailbox", "due_at", "id"), "state IN ('queued', 'retry')"),
        ("claimable_due", ("tenant", "due_at", "id"), "state IN ('queued', 'retry')"),
        ("reserved", ("tenant", "mailbox", "reserved_at"), "reserved_at IS NOT NULL"),
        ("reserved_all", ("tenant", "reserved_at"), "reserved_at IS NOT NULL"),
        ("handing_off", ("tenant", "lease_until"), "state = 'sending'"),
        ("settling", ("tenant", "state", "updated_at"), "state IN ('uncertain', 'paused')"),
        # Analytics over a period: what went out, and what bounced at the hand-off (no sent_at).
        ("went_out", ("tenant", "sent_at"), "sent_at IS NOT NULL"),
        ("bounced_at_send", ("tenant", "updated_at"), "failure = 'bounced'"),
    )

    #: Every index starts with the tenant: the mixin's own index on it would only cost writes.
    tenant = UUID(null=False)

    #: The lead's run through a sequence (or a one-off composer send) and the step in it.
    enrollment = UUID()
    step = Integer(default=0)
    campaign = UUID(null=True, default=None)
    lead = UUID(null=True, default=None)
    #: Pool to pick a mailbox from when `mailbox` is not set yet (a new lead).
    pool = UUID(null=True, default=None)
    mailbox = UUID(null=True, default=None)
    #: "<...@domain>", fixed at creation: every retry and reconciliation names the same message.
    message_id = Varchar(length=255)
    recipient_email = Varchar(length=320)
    recipient_name = Varchar(length=200, default="")
    recipient_domain = Varchar(length=253)
    recipient_timezone = Varchar(length=64, default="")
    recipient_country = Varchar(length=2, default="")
    subject = Text()
    #: What analytics groups by: the sequence step's key, its A/B variant, the template it
    #: used, the subject as written (before personalisation) and the body's length in words.
    step_key = Varchar(length=40, default="")
    variant = Varchar(length=40, default="")
    template = UUID(null=True, default=None)
    subject_template = Text(default="")
    body_words = Integer(default=0)
    body_text = Text()
    body_html = Text(default="")
    #: Threading: a follow-up in the enrollment's thread (In-Reply-To, References, "Re:"), or an
    #: answer to a received message (a composer draft answering a reply in the inbox).
    in_reply_to = Varchar(length=255, default="")
    references = Text(default="")
    track_opens = Boolean(default=False)
    track_clicks = Boolean(default=False)
    #: The campaign's own sending window (same shape as `Mailbox.window`); {} for none.
    window = JSON(default="{}")
    state = Varchar(length=20, default="queued")
    #: Earliest moment the message may be claimed (its schedule, a retry, a window opening).
    due_at = Timestamptz(default=TimestamptzNow())
    #: Why it is waiting, in words ("daily cap of 50 reached"), while queued.
    wait_reason = Text(default="")
    attempts = Integer(default=0)
    #: The hand-off (`sending`): who holds it and until when.
    lease_owner = Varchar(length=64, default="")
    lease_until = Timestamptz(null=True, default=None)
    #: When the mailbox's capacity was taken for this message (its place in the rolling caps).
    reserved_at = Timestamptz(null=True, default=None)
    sent_at = Timestamptz(null=True, default=None)
    provider_message_id = Varchar(length=255, default="")
    provider_response = Text(default="")
    #: bounced · rejected · max_attempts · suppressed · cancelled · resend_declined
    failure = Varchar(length=20, default="")
    last_error = Text(default="")
    #: RFC 3463 enhanced status of the last failure ("5.1.1").
    error_status = Varchar(length=20, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class OutboxLease(TenantOwned, Table):
    """A claim on a waiting message (`id` is the message's): who may send it, until when, and the
    mailbox capacity it took.

    Kept apart from `OutboxMessage` so that a claim writes a thousand narrow rows with two small
    indexes instead of a thousand new versions of the wide ledger row, each with a dozen index
    entries (the claim's cost, benchmarks/README.md). The message stays queued (or retry) while
    leased; `sending` takes the lease over in one statement and deletes it. A lease that ran out
    is deleted by the next claim, which frees its capacity.
    """

    #: Every index starts with the tenant: the mixin's own index on it would only cost writes.
    tenant = UUID(null=False)
    INDEX_TOGETHER = (("tenant", "mailbox", "reserved_at"),)

    mailbox = UUID()
    recipient_domain = Varchar(length=253)
    owner = Varchar(length=64)
    lease_until = Timestamptz()
    #: When the mailbox's capacity was taken: counted with the ledger's reservations.
    reserved_at = Timestamptz()
