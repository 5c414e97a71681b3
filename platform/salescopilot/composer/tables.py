"""One-off emails written in the composer: drafts, and what became of them when sent."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class ComposerDraft(TenantOwned, Table, tablename="composer_draft"):
    """An email and its recipients. States: draft (editable) → scheduled (queued in the outbox
    for later) or sent (queued in the outbox for now); a scheduled one cancelled is a draft again."""

    INDEX_TOGETHER = (("tenant", "updated_at"), ("tenant", "status", "updated_at"))

    subject = Varchar(length=500, default="")
    #: Cleaned to the allow-list (`mail.sanitize`) before it is stored.
    html_body = Text(default="")
    text_body = Text(default="")
    #: The recipients: lead ids (strings), in the order chosen.
    leads = JSON(default="[]")
    #: Send from this mailbox, or from one of this pool's.
    mailbox = UUID(null=True, default=None)
    pool = UUID(null=True, default=None)
    #: The template it was started from, if any.
    template = UUID(null=True, default=None)
    #: The AI draft (`ai_draft`: model, prompt version, tokens) its content last came from, if
    #: the seller used an AI suggestion; kept once set, as the record that AI helped write it.
    ai_draft = UUID(null=True, default=None)
    #: The received message (a lead's reply, from the unified inbox) this email answers: that
    #: message's lead gets it in the reply's thread (In-Reply-To, References). Kept once set.
    in_reply_to = UUID(null=True, default=None)
    track_opens = Boolean(default=False)
    track_clicks = Boolean(default=False)
    status = Varchar(length=20, default="draft")
    #: When the messages are due (scheduled) or were queued (sent).
    send_at = Timestamptz(null=True, default=None)
    #: How many times it was handed to the outbox (each hand-off gets fresh enrollments).
    sends = Integer(default=0)
    #: Messages queued by the last hand-off, and recipients skipped (suppressed, unsubscribed).
    queued = Integer(default=0)
    skipped = JSON(default="[]")
    created_by = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
