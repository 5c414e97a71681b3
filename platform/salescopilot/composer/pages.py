"""Pages of the composer: the list of drafts, scheduled and sent emails, and the editor (rich
text, variable picker, live preview for a real lead at desktop and phone widths, spam score),
with save, send now and schedule. The spam-score partial is shared with the template editor."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from salescopilot.ai.pages import panel_context
from salescopilot.composer.service import ComposerService, draft_json
from salescopilot.errors import DomainError, ValidationFailed
from salescopilot.leads.service import lead_json
from salescopilot.listing import ListQuery
from salescopilot.templates.controllers import sender_values
from salescopilot.templates.service import LEAD_VARIABLES
from salescopilot.web.deps import composer_service, lead_service, template_service
from salescopilot.web.guards import principal_of

TABS = (("draft", "Drafts"), ("scheduled", "Scheduled"), ("sent", "Sent"))


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def custom_fields_of(leads: list[dict[str, Any]]) -> list[str]:
    """The custom field names the listed leads use, for the variable picker."""
    return sorted({name for lead in leads for name in (lead.get("customFields") or {})})[:30]


def _form_content(form) -> dict[str, Any]:
    """The service's content fields from the editor's form (`sender` is "mailbox:ID" or "pool:ID")."""
    kind, _, sender_id = str(form.get("sender", "")).partition(":")
    return {
        "subject": str(form.get("subject", ""))[:2000],
        "html": str(form.get("html", ""))[:100_000],
        "text": str(form.get("text", ""))[:50_000],
        "lead_ids": [v for v in form.getall("leads", []) if _uuid(v)] if hasattr(form, "getall") else [],
        "mailbox_id": sender_id if kind == "mailbox" and _uuid(sender_id) else None,
        "pool_id": sender_id if kind == "pool" and _uuid(sender_id) else None,
        "template_id": str(form.get("template_id", "")) or None,
        "ai_draft_id": str(form.get("ai_draft_id", "")) if _uuid(form.get("ai_draft_id")) else None,
        "track_opens": form.get("track") == "on",
        "track_clicks": form.get("track") == "on",
    }


def _send_at(form) -> dt.datetime:
    """The schedule field (a local date and time) with the browser's UTC offset in minutes
    (`Date.getTimezoneOffset()`, filled in by the page's script; UTC without it)."""
    raw = str(form.get("send_at", "")).strip()
    try:
        local = dt.datetime.fromisoformat(raw)
        offset = int(str(form.get("tz_offset", "0") or "0"))
    except ValueError:
        raise ValidationFailed("Choose the date and time to send at.", details={"field": "sendAt"}) from None
    if not -14 * 60 <= offset <= 14 * 60:
        offset = 0
    return local.replace(tzinfo=dt.UTC) + dt.timedelta(minutes=offset)


class ComposerPages(Controller):
    path = "/composer"
    include_in_schema = False

    @get("/", opt={"permission": "composer.read"})
    async def index(self, request: Request) -> Template:
        status = request.query_params.get("status", "draft")
        status = status if status in dict(TABS) else "draft"
        page = await composer_service(request).page(
            ListQuery(limit=100, sort="updated_at", descending=True, filters={"status": status})
        )
        return Template("composer/index.html", context={
            "drafts": [draft_json(row) for row in page.items], "total": page.total,
            "tabs": TABS, "status": status, "principal": principal_of(request),
            "notice": request.query_params.get("notice"),
        })

    @get("/new", opt={"permission": "composer.send"})
    async def new(self, request: Request) -> Template:
        form: dict[str, Any] = {"lead_ids": [str(v) for v in request.query_params.getall("lead", []) if _uuid(v)]}
        template_id = _uuid(request.query_params.get("template"))
        if template_id:
            template = await template_service(request).get(template_id)
            form.update(subject=template.subject, html=template.html_body, text=template.text_body,
                        template_id=str(template.id))
        return await self._editor(request, None, form=form)

    @post("/", opt={"permission": "composer.send"})
    async def create(self, request: Request) -> Response:
        form = await request.form()
        content = _form_content(form)
        service = composer_service(request)
        try:
            row = await service.create(content, author=principal_of(request).user_id)
        except DomainError as error:
            return await self._editor(request, None, form=content, error=error, status_code=error.status_code)
        return await self._after_save(request, service, row.id, form)

    @post("/preview", opt={"permission": "composer.read"})
    async def preview(self, request: Request) -> Template:
        form = await request.form()
        content = _form_content(form)
        try:
            rendered, _ = await template_service(request).preview(
                content["subject"][:500], content["html"][:40_000], content["text"][:20_000],
                lead_id=_uuid(form.get("lead")), extra=await sender_values(request),
            )
        except DomainError as error:
            return Template("email_template_preview.html", context={"rendered": None, "error": error.message})
        return Template("email_template_preview.html", context={"rendered": rendered, "error": None})

    @post("/spam-check", opt={"permission": "composer.read"})
    async def spam_check(self, request: Request) -> Template:
        """The spam score partial (composer and template editor)."""
        from salescopilot.composer.spam import content_spam_verdict

        form = await request.form()
        content = _form_content(form)
        services = request.app.state.services
        try:
            verdict = await content_spam_verdict(
                subject=content["subject"][:500], html=content["html"][:40_000], text=content["text"][:20_000],
                lead_id=_uuid(form.get("lead")), mailbox_id=_uuid(content["mailbox_id"]),
                sender=(await sender_values(request))["sender"], track=content["track_opens"],
                settings=request.app.state.settings, clock=services.clock, box=services.secret_box,
            )
        except DomainError as error:  # SpamAssassin missing or failed, nothing to check, unknown lead
            return Template("composer/spam_score.html", context={"verdict": None, "error": error.message})
        return Template("composer/spam_score.html", context={"verdict": verdict.to_dict(), "error": None})

    @get("/{draft_id:uuid}", opt={"permission": "composer.read"})
    async def edit(self, request: Request, draft_id: uuid.UUID) -> Template:
        return await self._editor(request, draft_id)

    @post("/{draft_id:uuid}", opt={"permission": "composer.send"})
    async def save(self, request: Request, draft_id: uuid.UUID) -> Response:
        form = await request.form()
        content = _form_content(form)
        service = composer_service(request)
        try:
            await service.update(draft_id, content)
        except DomainError as error:
            if error.status_code == 404:
                raise
            return await self._editor(request, draft_id, form=content, error=error, status_code=error.status_code)
        return await self._after_save(request, service, draft_id, form)

    @post("/{draft_id:uuid}/delete", opt={"permission": "composer.send"})
    async def delete(self, request: Request, draft_id: uuid.UUID) -> Response:
        await composer_service(request).delete(draft_id)
        return Redirect(path="/composer?" + urlencode({"notice": "Draft deleted."}))

    @post("/{draft_id:uuid}/cancel", opt={"permission": "composer.send"})
    async def cancel(self, request: Request, draft_id: uuid.UUID) -> Response:
        await composer_service(request).cancel(draft_id)
        return Redirect(path=f"/composer/{draft_id}?" + urlencode({"notice": "Cancelled: it is a draft again."}))

    async def _after_save(self, request: Request, service: ComposerService, draft_id: uuid.UUID, form) -> Response:
        """Saved; then send or schedule it when that button was pressed. A refusal (variables,
        suppression, missing fields) shows the editor with the reasons, the draft kept."""
        action = str(form.get("action", "save"))
        if action not in ("send", "schedule"):
            return Redirect(path=f"/composer/{draft_id}?" + urlencode({"notice": "Draft saved."}))
        from salescopilot.composer.controllers import send_and_wake

        try:
            send_at = _send_at(form) if action == "schedule" else None
            report = await send_and_wake(request, service, draft_id, send_at)
        except DomainError as error:
            if error.status_code == 404 and error.code == "COMPOSER_DRAFT_NOT_FOUND":
                raise
            return await self._editor(request, draft_id, error=error, status_code=error.status_code)
        count = len(report.messages)
        notice = (f"Scheduled for {count} lead{'s' if count != 1 else ''}." if report.draft.status == "scheduled"
                  else f"Queued for {count} lead{'s' if count != 1 else ''}: it goes out within the mailbox's limits.")
        if report.skipped:
            notice += f" Skipped {len(report.skipped)} (suppressed, unsubscribed or bounced)."
        return Redirect(path=f"/composer/{draft_id}?" + urlencode({"notice": notice}))

    async def _editor(self, request: Request, draft_id: uuid.UUID | None, *, form: dict | None = None,
                      error: DomainError | None = None, status_code: int = 200) -> Template:
        from salescopilot.mailboxes.repository import MailboxPoolRepository, MailboxRepository

        service = composer_service(request)
        row = await service.get(draft_id) if draft_id else None
        draft = draft_json(row) if row else None
        provenance = await service.ai_provenance(row) if row else None
        answered = await service.answered(row) if row else None
        messages = []
        if draft and draft["status"] != "draft":
            from salescopilot.composer.controllers import message_json

            messages = [message_json(m) for m in await service.messages_of(await service.get(draft_id))]
        if form is None and draft:
            form = {"subject": draft["subject"], "html": draft["html"], "text": draft["text"],
                    "lead_ids": draft["leadIds"], "mailbox_id": draft["mailboxId"], "pool_id": draft["poolId"],
                    "template_id": draft["templateId"], "track_opens": draft["trackOpens"]}
        form = form or {}
        chosen = {str(i) for i in form.get("lead_ids") or []}
        leads = [lead_json(row) for row in (await lead_service(request).page(
            ListQuery(limit=200, sort="updated_at", descending=True), {})).items]
        known = {lead["id"] for lead in leads}
        for lead_id in chosen - known:  # chosen leads beyond the latest 200 still show
            try:
                leads.append(lead_json(await lead_service(request).get(uuid.UUID(lead_id))))
            except DomainError:
                continue
        details = (error.details or {}) if error else {}
        return Template("composer/edit.html", status_code=status_code, context={
            "draft": draft, "form": form, "chosen": chosen, "leads": leads, "messages": messages,
            "mailboxes": await MailboxRepository().find(), "pools": await MailboxPoolRepository().all(),
            "variables": LEAD_VARIABLES, "custom_fields": custom_fields_of(leads), "principal": principal_of(request),
            "error": error.message if error else None,
            "problems": details.get("problems", []), "recipient_problems": details.get("recipients", []),
            "skipped": details.get("skipped", []),
            "notice": request.query_params.get("notice"),
            "ai": await panel_context(request), "ai_provenance": provenance, "answered": answered,
        })
