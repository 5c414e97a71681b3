"""Inbound messages, each mailbox's sync position, and the tenant's inbound rules."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, Date, Integer, Real, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class ReceivedMessage(TenantOwned, Table, tablename="inbound_message"):
    """One message found in a mailbox, stored once however often a sync sees it (`dedupe_key`),
    with its classification, what it was matched to, and the effects applied."""

    #: A message re-read after a UIDVALIDITY change, or copied to two mailboxes, is the same row.
    UNIQUE_TOGETHER = (("tenant", "dedupe_key"),)
    INDEX_TOGETHER = (("tenant", "received_at"), ("tenant", "lead"), ("tenant", "about_address"),
                      ("tenant", "campaign"), ("tenant", "outbox_message"))

    mailbox = UUID()
    #: "mid:<Message-ID>" or, without one, "sha256:<hex of the bytes>".
    dedupe_key = Varchar(length=600)
    provider_message_id = Varchar(length=600, default="")
    folder = Varchar(length=255, default="INBOX")
    message_id = Varchar(length=500, default="")
    in_reply_to = Varchar(length=500, default="")
    references = Text(default="")
    from_address = Varchar(length=320, default="")
    from_name = Varchar(length=200, default="")
    to_addresses = Text(default="")
    subject = Text(default="")
    #: The start of the sender's own text (quoted history left out), for the inbox.
    excerpt = Text(default="")
    #: A few headers kept for people and support (Date, Auto-Submitted, List-Id, ...).
    headers = JSON(default="{}")
    raw_size = Integer(default=0)
    sent_at = Timestamptz(null=True, default=None)
    received_at = Timestamptz(default=TimestamptzNow())
    #: The classifier's verdict: reply · auto_reply · bounce · complaint · unsubscribe · unknown.
    kind = Varchar(length=20)
    #: `Verdict.to_dict()` plus the complaint's details.
    verdict = JSON(default="{}")
    #: hard · soft for a bounce, else empty.
    bounce_type = Varchar(length=4, default="")
    #: The address the message is about: a bounce's failed recipient, else the sender.
    about_address = Varchar(length=320, default="")
    #: A person's correction of `kind` (empty: none), who made it and when.
    corrected_kind = Varchar(length=20, default="")
    corrected_by = UUID(null=True, default=None)
    corrected_at = Timestamptz(null=True, default=None)
    lead = UUID(null=True, default=None)
    outbox_message = UUID(null=True, default=None)
    campaign = UUID(null=True, default=None)
    #: How it was matched: thread · report · sender, or empty when it was not.
    match_method = Varchar(length=10, default="")
    #: The effects applied, in order ("lead_replied", "sequence_stopped", "suppressed", ...).
    effects = JSON(default="[]")
    created_at = Timestamptz(default=TimestamptzNow())
    #: What a human reply wants (`ai.schemas.INTENTS`: interested, meeting_request, ...), read by
    #: `AiService.classify_reply_intent`; empty (null) until read, or when reading it failed.
    intent = Varchar(length=30, null=True, default=None)
    #: The return date an out-of-office reply states.
    intent_return_date = Date(null=True, default=None)
    #: How sure the reading is (0-1) and its one-sentence reason.
    intent_confidence = Real(null=True, default=None)
    intent_summary = Text(null=True, default=None)
    #: offline (recognised without a model) · model.
    intent_source = Varchar(length=10, null=True, default=None)
    #: The `ai_draft` row of the model's answer (model, prompt version, tokens); null offline.
    intent_ai_draft = UUID(null=True, default=None)
    intent_classified_at = Timestamptz(null=True, default=None)


class MailboxSyncState(TenantOwned, Table, tablename="mailbox_sync_state"):
    """Where the sync of one mailbox stands: the provider's cursor (IMAP: UIDVALIDITY/UID per
    folder) and the last outcome."""

    UNIQUE_TOGETHER = (("tenant", "mailbox"),)

    mailbox = UUID()
    cursor = Text(default="")
    last_synced_at = Timestamptz(null=True, default=None)
    #: Why the last sync failed, for people; empty when it worked.
    last_error = Text(default="")
    #: Failed syncs in a row (the next try waits longer: backoff).
    failures = Integer(default=0)
    next_attempt_at = Timestamptz(null=True, default=None)
    messages_stored = Integer(default=0)


class InboundPolicy(TenantOwned, Table, tablename="inbound_policy"):
    """The tenant's inbound rules, one row per tenant (made on first use)."""

    UNIQUE_TOGETHER = (("tenant",),)

    #: A human reply also stops every other lead of the same company domain (never a freemail one).
    stop_company_on_reply = Boolean(default=False)
    #: Days an out-of-office pauses a lead when the reply states no return date.
    out_of_office_days = Integer(default=7)
    #: Soft bounces of one address (mailbox full, greylisted) that suppress it.
    soft_bounce_limit = Integer(default=3)
