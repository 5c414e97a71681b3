"""The rules of the composer: drafts (create, edit, delete), and sending one to its leads now or
at a chosen time through the outbox.

Sending renders the email for every lead first and refuses (writing nothing) while any lead
leaves a variable unknown or empty without a fallback; suppressed, unsubscribed and bounced
leads are skipped and reported. Each recipient then gets one outbox row whose enrollment id is
derived from (draft, lead, hand-off number), so asking the outbox twice never queues twice, and
the outbox's claim applies the mailbox's caps, window and the suppression list again at the
moment of sending. A scheduled send is the same rows with a later due time; cancelling it
cancels those still waiting and makes the draft editable again. A draft that answers a lead's
reply (started from the unified inbox) goes to that lead in the reply's thread.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from salescopilot.ai.provenance import ai_provenance, require_ai_draft
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.composer.repository import ComposerDraftRepository
from salescopilot.composer.tables import ComposerDraft
from salescopilot.db.json_column import json_list
from salescopilot.errors import Conflict, NotFound, ValidationFailed
from salescopilot.inbound.repository import ReceivedMessageRepository
from salescopilot.inbound.tables import ReceivedMessage
from salescopilot.leads.repository import LeadRepository
from salescopilot.leads.service import LeadNotFound, lead_values
from salescopilot.leads.tables import Lead
from salescopilot.listing import ListQuery, Page
from salescopilot.mail.message import answer_threading
from salescopilot.mail.sanitize import clean_email_html, text_from_html
from salescopilot.mailboxes.repository import MailboxPoolRepository, MailboxRepository
from salescopilot.mailboxes.service import MailboxNotFound, PoolNotFound
from salescopilot.outbox.repository import OutboxRepository
from salescopilot.outbox.service import NewMessage, OutboxService
from salescopilot.outbox.tables import OutboxMessage
from salescopilot.settings import OutboxSettings
from salescopilot.suppression.service import SuppressionService
from salescopilot.templates.renderer import check_syntax, render_template

#: Recipients of one composed email (more is a campaign's job).
MAX_RECIPIENTS = 500
MAX_HTML = 40_000
MAX_TEXT = 20_000
#: A scheduled time may be this far in the past (a clock a little behind) or the future.
SCHEDULE_SKEW = dt.timedelta(minutes=5)
SCHEDULE_HORIZON = dt.timedelta(days=366)
#: Lead statuses that never receive a composed email.
UNREACHABLE_STATUSES = frozenset({"unsubscribed", "bounced"})
#: Outbox states a cancel can still stop.
WAITING_STATES = ("queued", "retry", "paused")
STATUSES = ("draft", "scheduled", "sent")


class ComposerDraftNotFound(NotFound):
    code = "COMPOSER_DRAFT_NOT_FOUND"
    default_message = "No such draft."


class ComposerAiDraftNotFound(ValidationFailed):
    code = "COMPOSER_AI_DRAFT_NOT_FOUND"
    status_code = 422
    default_message = "The AI suggestion this email says it came from does not exist."


class ComposerAnsweredMessageInvalid(ValidationFailed):
    code = "COMPOSER_ANSWERED_MESSAGE_INVALID"
    status_code = 422
    default_message = "The message this email answers is not in your inbox."


class ComposerDraftNotEditable(Conflict):
    code = "COMPOSER_DRAFT_NOT_EDITABLE"
    default_message = "This email was sent or scheduled already; cancel a scheduled one to edit it."


class ComposerIncomplete(ValidationFailed):
    code = "COMPOSER_INCOMPLETE"
    default_message = "The email is not ready to send."


class ComposerVariableProblems(ValidationFailed):
    code = "COMPOSER_VARIABLE_PROBLEMS"
    status_code = 422
    default_message = "Some variables are unknown or empty for some leads: nothing was sent."


class ComposerNoRecipients(ValidationFailed):
    code = "COMPOSER_NO_RECIPIENTS"
    status_code = 422
    default_message = "Every lead is suppressed, unsubscribed or bounced: nothing was sent."


class ComposerSendTimeInvalid(ValidationFailed):
    code = "COMPOSER_SEND_AT_INVALID"
    default_message = "Choose a send time from now to a year ahead."


class ComposerNotCancellable(Conflict):
    code = "COMPOSER_NOT_CANCELLABLE"
    default_message = "Only a scheduled email whose messages have not gone yet can be cancelled."


@dataclass(slots=True)
class SendReport:
    draft: ComposerDraft
    messages: list[OutboxMessage] = field(default_factory=list)
    #: [{"leadId", "email", "reason"}]: leads not sent to.
    skipped: list[dict[str, str]] = field(default_factory=list)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def draft_json(row: ComposerDraft | Mapping[str, Any]) -> dict[str, Any]:
    get = row.get if isinstance(row, Mapping) else lambda name: getattr(row, name)
    return {
        "id": str(get("id")),
        "status": get("status"),
        "subject": get("subject"),
        "html": get("html_body"),
        "text": get("text_body"),
        "leadIds": [str(i) for i in json_list(get("leads"))],
        "mailboxId": str(get("mailbox")) if get("mailbox") else None,
        "poolId": str(get("pool")) if get("pool") else None,
        "templateId": str(get("template")) if get("template") else None,
        "aiDraftId": str(get("ai_draft")) if get("ai_draft") else None,
        "inReplyToId": str(get("in_reply_to")) if get("in_reply_to") else None,
        "trackOpens": bool(get("track_opens")),
        "trackClicks": bool(get("track_clicks")),
        "sendAt": _iso(get("send_at")),
        "queued": get("queued"),
        "skipped": json_list(get("skipped")),
        "createdAt": _iso(get("created_at")),
        "updatedAt": _iso(get("updated_at")),
    }


def _uuid_or_none(value: Any, field_name: str) -> uuid.UUID | None:
    if value in (None, ""):
        return None
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed(f"{field_name} is not an id.", details={"field": field_name}) from None


def clean_content(values: Mapping[str, Any]) -> dict[str, Any]:
    """A draft's columns from what a person wrote: HTML cleaned to the allow-list, the text
    alternative derived from it when not written, recipients deduplicated, tags checked."""
    subject = " ".join(str(values.get("subject", "")).split())[:500]
    html_body = str(values.get("html", "") or "")
    text_body = str(values.get("text", "") or "")
    if len(html_body) > MAX_HTML or len(text_body) > MAX_TEXT:
        raise ValidationFailed("The HTML body may have 40,000 characters, the text body 20,000.",
                               details={"field": "html" if len(html_body) > MAX_HTML else "text"})
    html_body = clean_email_html(html_body)
    if html_body and not text_body.strip():
        text_body = text_from_html(html_body)
    check_syntax(subject=subject, html=html_body, text=text_body)
    leads = list(dict.fromkeys(_uuid_or_none(v, "leadIds") for v in values.get("lead_ids") or []))
    if len(leads) > MAX_RECIPIENTS:
        raise ValidationFailed(f"One email may go to at most {MAX_RECIPIENTS} leads; use a campaign for more.",
                               details={"field": "leadIds", "max": MAX_RECIPIENTS})
    mailbox = _uuid_or_none(values.get("mailbox_id"), "mailboxId")
    pool = _uuid_or_none(values.get("pool_id"), "poolId")
    if mailbox and pool:
        raise ValidationFailed("Send from a mailbox or from a pool, not both.", details={"field": "poolId"})
    return {
        "subject": subject, "html_body": html_body, "text_body": text_body,
        "leads": [str(lead) for lead in leads if lead is not None],
        "mailbox": mailbox, "pool": pool, "template": _uuid_or_none(values.get("template_id"), "templateId"),
        "ai_draft": _uuid_or_none(values.get("ai_draft_id"), "aiDraftId"),
        "in_reply_to": _uuid_or_none(values.get("in_reply_to_id"), "inReplyToId"),
        "track_opens": bool(values.get("track_opens", False)),
        "track_clicks": bool(values.get("track_clicks", False)),
    }


def sender_of(mailbox: Any | None, fallback: Mapping[str, Any]) -> dict[str, str]:
    """What `{{sender.*}}` shows: the sending mailbox's name and address, else `fallback` (the
    person writing)."""
    if mailbox is None:
        return {k: str(v or "") for k, v in fallback.items()}
    name = mailbox.from_name or ""
    return {"firstName": name.split(" ")[0] if name else "", "fullName": name, "email": mailbox.email}


class ComposerService:
    SORTABLE = ComposerDraftRepository.sortable

    def __init__(self, *, clock: Clock, outbox: OutboxSettings) -> None:
        self.clock = clock
        self.outbox_settings = outbox
        self.drafts = ComposerDraftRepository()
        self.audit = AuditService(clock)

    async def get(self, draft_id: uuid.UUID) -> ComposerDraft:
        row = await self.drafts.get(draft_id)
        if row is None:
            raise ComposerDraftNotFound()
        return row

    async def page(self, query: ListQuery) -> Page[dict]:
        return await self.drafts.page(query)

    async def create(self, values: Mapping[str, Any], *, author: uuid.UUID | None) -> ComposerDraft:
        now = self.clock.now()
        cleaned = clean_content(values)
        await self._check_ai_draft(cleaned["ai_draft"])
        await self._answered(cleaned["in_reply_to"])
        row = ComposerDraft(**cleaned, status="draft", created_by=author, created_at=now, updated_at=now)
        await self.drafts.add(row)
        await self.audit.record("composer.draft_created", target_type="composer_draft", target_id=str(row.id),
                                after={"subject": row.subject, "recipients": len(json_list(row.leads)),
                                       "aiDraft": str(row.ai_draft) if row.ai_draft else None})
        return row

    async def update(self, draft_id: uuid.UUID, values: Mapping[str, Any]) -> ComposerDraft:
        row = await self.get(draft_id)
        cleaned = clean_content(values)
        if row.status != "draft":
            raise ComposerDraftNotEditable(details={"status": row.status})
        if cleaned["ai_draft"] is None:
            # Provenance is a record, not a setting: a save without a new AI suggestion keeps it.
            del cleaned["ai_draft"]
        else:
            await self._check_ai_draft(cleaned["ai_draft"])
        if cleaned["in_reply_to"] is None:
            # What the email answers is where it came from: a save without it keeps it.
            del cleaned["in_reply_to"]
        else:
            await self._answered(cleaned["in_reply_to"])
        changes = {**cleaned, "updated_at": self.clock.now()}
        if not await self.drafts.change_if(row.id, "draft", changes):
            raise ComposerDraftNotEditable()
        await self.audit.record("composer.draft_saved", target_type="composer_draft", target_id=str(row.id),
                                after={"aiDraft": str(cleaned["ai_draft"])} if cleaned.get("ai_draft") else None)
        return await self.get(draft_id)

    async def _check_ai_draft(self, ai_draft: uuid.UUID | None) -> None:
        """An AI draft id given with the content must be one of this tenant's AI drafts."""
        await require_ai_draft(ai_draft, ComposerAiDraftNotFound)

    async def _answered(self, received: uuid.UUID | None) -> ReceivedMessage | None:
        """The received message a draft answers: one of this tenant's, matched to a lead."""
        if received is None:
            return None
        row = await ReceivedMessageRepository().get(received)
        if row is None:
            raise ComposerAnsweredMessageInvalid(details={"field": "inReplyToId"})
        if row.lead is None:
            raise ComposerAnsweredMessageInvalid(
                "That message is not matched to a lead: answer it from your mail client.",
                details={"field": "inReplyToId"})
        return row

    async def answered(self, row: ComposerDraft) -> dict[str, Any] | None:
        """What the draft answers, for its page: the received message's sender, subject and date
        (None when it answers nothing, or the message was erased since)."""
        if row.in_reply_to is None:
            return None
        received = await ReceivedMessageRepository().get(row.in_reply_to)
        if received is None:
            return None
        return {"id": str(received.id), "from": received.from_name or received.from_address,
                "subject": received.subject, "receivedAt": _iso(received.received_at)}

    async def ai_provenance(self, row: ComposerDraft) -> dict[str, Any] | None:
        """Which model and prompt version wrote the draft's AI content, with the tokens it took."""
        return await ai_provenance(row.ai_draft)

    async def delete(self, draft_id: uuid.UUID) -> None:
        """Delete a draft (a scheduled one must be cancelled first; a sent one stays as the
        record of what was sent)."""
        row = await self.get(draft_id)
        if row.status != "draft":
            raise ComposerDraftNotEditable("Only a draft can be deleted.", details={"status": row.status})
        await self.drafts.delete_where(ComposerDraft.id == row.id, ComposerDraft.status == "draft")
        await self.audit.record("composer.draft_deleted", target_type="composer_draft", target_id=str(row.id),
                                before={"subject": row.subject})

    async def send(self, draft_id: uuid.UUID, *, send_at: dt.datetime | None,
                   sender: Mapping[str, Any]) -> SendReport:
        """Queue the draft in the outbox for each of its leads, due now or at `send_at` (see the
        module docstring). Nothing is written unless every message can be queued."""
        row = await self.get(draft_id)
        if row.status != "draft":
            raise ComposerDraftNotEditable(details={"status": row.status})
        now = self.clock.now()
        due = now if send_at is None else send_at
        if due.tzinfo is None:
            raise ComposerSendTimeInvalid("Give the send time with its UTC offset.", details={"field": "sendAt"})
        if due < now - SCHEDULE_SKEW or due > now + SCHEDULE_HORIZON:
            raise ComposerSendTimeInvalid(details={"field": "sendAt"})
        due = max(due, now)
        missing = [name for name, present in (
            ("subject", row.subject.strip()), ("text", (row.text_body or row.html_body).strip()),
            ("leadIds", json_list(row.leads)), ("mailboxId", row.mailbox or row.pool),
        ) if not present]
        if missing:
            raise ComposerIncomplete(f"Add {', '.join(missing)} before sending.", details={"missing": missing})
        mailbox = await self._sending_mailbox(row)
        leads = await self._leads([uuid.UUID(i) for i in json_list(row.leads)])
        values_of_sender = sender_of(mailbox, sender)

        blocked = await SuppressionService(self.clock).blocked(lead.email for lead in leads)
        skipped: list[dict[str, str]] = []
        problems: list[dict[str, Any]] = []
        ready = []
        for lead in leads:
            reason = ("suppressed" if lead.email.lower() in blocked
                      else lead.status if lead.status in UNREACHABLE_STATUSES else "")
            if reason:
                skipped.append({"leadId": str(lead.id), "email": lead.email, "reason": reason})
                continue
            rendered = render_template(row.subject, row.html_body, row.text_body,
                                       {**lead_values(lead), "sender": values_of_sender})
            if rendered.problems:
                problems.append({"leadId": str(lead.id), "email": lead.email,
                                 "problems": [p.to_dict() for p in rendered.problems]})
            else:
                ready.append((lead, rendered))
        if problems:
            raise ComposerVariableProblems(details={"recipients": problems})
        if not ready:
            raise ComposerNoRecipients(details={"skipped": skipped})

        hand_off = row.sends + 1
        status = "scheduled" if due > now else "sent"
        if not await self.drafts.change_if(row.id, "draft", {
            "status": status, "send_at": due, "sends": hand_off, "queued": len(ready),
            "skipped": skipped, "updated_at": now,
        }):
            raise ComposerDraftNotEditable()
        outbox = OutboxService(self.outbox_settings, self.clock)
        answered = await ReceivedMessageRepository().get(row.in_reply_to) if row.in_reply_to else None
        messages = []
        for lead, rendered in ready:
            in_reply_to, references = "", ""
            if answered is not None and answered.lead == lead.id:
                in_reply_to, references = answer_threading(answered.message_id, answered.in_reply_to,
                                                           answered.references)
            # Lead values are escaped by the renderer; cleaning again removes what a value could
            # still carry into an attribute (a `javascript:` website in an href).
            html = clean_email_html(rendered.html) if rendered.html else ""
            messages.append(await outbox.enqueue(NewMessage(
                enrollment=_enrollment(row.id, lead.id, hand_off), step=0,
                recipient_email=lead.email, recipient_name=" ".join(p for p in (lead.first_name, lead.last_name) if p),
                subject=rendered.subject, text=rendered.text or text_from_html(html), html=html,
                mailbox=row.mailbox, pool=row.pool, lead=lead.id,
                timezone=lead.timezone or "", country=(lead.country or "")[:2],
                due_at=due, track_opens=bool(row.track_opens), track_clicks=bool(row.track_clicks),
                in_reply_to=in_reply_to, references=references,
            )))
        await self.audit.record(f"composer.{status}", target_type="composer_draft", target_id=str(row.id),
                                after={"recipients": len(messages), "skipped": len(skipped), "sendAt": due.isoformat()})
        return SendReport(draft=await self.get(row.id), messages=messages, skipped=skipped)

    async def cancel(self, draft_id: uuid.UUID) -> ComposerDraft:
        """Stop a scheduled email: its waiting messages are cancelled and it is a draft again.
        Refused once any of its messages has left the queue."""
        row = await self.get(draft_id)
        if row.status != "scheduled":
            raise ComposerNotCancellable(details={"status": row.status})
        messages = await self.messages_of(row)
        gone = [m for m in messages if m.state not in WAITING_STATES]
        if gone:
            raise ComposerNotCancellable(details={"notWaiting": [str(m.id) for m in gone]})
        outbox = OutboxService(self.outbox_settings, self.clock)
        for message in messages:
            await outbox.cancel(message.id)
        if not await self.drafts.change_if(row.id, "scheduled", {
            "status": "draft", "queued": 0, "skipped": [], "updated_at": self.clock.now(),
        }):
            raise ComposerNotCancellable()
        await self.audit.record("composer.cancelled", target_type="composer_draft", target_id=str(row.id),
                                after={"cancelled": len(messages)})
        return await self.get(row.id)

    async def messages_of(self, row: ComposerDraft) -> list[OutboxMessage]:
        """The outbox messages of the draft's latest hand-off."""
        if not row.sends:
            return []
        enrollments = [_enrollment(row.id, uuid.UUID(i), row.sends) for i in json_list(row.leads)]
        return await OutboxRepository().find(OutboxMessage.enrollment.is_in(enrollments)) if enrollments else []

    async def _sending_mailbox(self, row: ComposerDraft) -> Any | None:
        if row.mailbox is not None:
            mailbox = await MailboxRepository().get(row.mailbox)
            if mailbox is None:
                raise MailboxNotFound(details={"mailboxId": str(row.mailbox)})
            return mailbox
        if await MailboxPoolRepository().get(row.pool) is None:  # type: ignore[arg-type]
            raise PoolNotFound(details={"poolId": str(row.pool)})
        return None

    async def _leads(self, ids: list[uuid.UUID]) -> list[Lead]:
        found = {lead.id: lead for lead in await LeadRepository().find(Lead.id.is_in(ids))}
        missing = [str(i) for i in ids if i not in found]
        if missing:
            raise LeadNotFound("Some leads do not exist.", details={"leadIds": missing})
        return [found[i] for i in ids]


def _enrollment(draft: uuid.UUID, lead: uuid.UUID, hand_off: int) -> uuid.UUID:
    """The recipient's enrollment id for one hand-off: the same inputs always give the same id,
    which the outbox keeps unique (one message per enrollment and step)."""
    return uuid.uuid5(draft, f"{lead}/{hand_off}")
