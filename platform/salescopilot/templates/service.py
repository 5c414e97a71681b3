"""The rules for email templates: save (each save a new version), restore, categories, preview
for a real lead, and installing templates from the library."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from salescopilot.ai.provenance import ai_provenances, require_ai_draft
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.errors import NotFound, ValidationFailed
from salescopilot.leads.service import LeadService, lead_values
from salescopilot.listing import ListQuery, Page
from salescopilot.mail.sanitize import clean_email_html, text_from_html
from salescopilot.templates.library import LIBRARY, library_template
from salescopilot.templates.renderer import Rendered, check_syntax, render_template, variables_in
from salescopilot.templates.repository import EmailTemplateRepository, EmailTemplateVersionRepository
from salescopilot.templates.tables import EmailTemplate, EmailTemplateVersion

#: Offered in the editor; any other short category is allowed too.
SUGGESTED_CATEGORIES = (
    "Cold outreach", "Follow-up", "Meetings", "Events", "Referrals", "Re-engagement",
    "Nurture", "Customers",
)
#: What the variable picker offers (custom fields come from the lead).
LEAD_VARIABLES = (
    "firstName", "lastName", "fullName", "email", "company", "title", "phone", "website",
    "linkedinUrl", "country", "timezone",
)
MAX_HTML = 40_000
MAX_TEXT = 20_000


class TemplateNotFound(NotFound):
    code = "TEMPLATE_NOT_FOUND"
    default_message = "No such template."


class TemplateAiDraftNotFound(ValidationFailed):
    code = "TEMPLATE_AI_DRAFT_NOT_FOUND"
    status_code = 422
    default_message = "The AI suggestion this template says it came from does not exist."


class TemplateVersionNotFound(NotFound):
    code = "TEMPLATE_VERSION_NOT_FOUND"
    default_message = "No such version of this template."


def template_json(row: EmailTemplate | Mapping[str, Any]) -> dict[str, Any]:
    get = row.get if isinstance(row, Mapping) else lambda name: getattr(row, name)
    return {
        "id": str(get("id")),
        "name": get("name"),
        "category": get("category"),
        "subject": get("subject"),
        "html": get("html_body"),
        "text": get("text_body"),
        "version": get("version"),
        "librarySlug": get("library_slug") or None,
        "aiDraftId": str(get("ai_draft")) if get("ai_draft") else None,
        "createdAt": get("created_at").isoformat() if get("created_at") else None,
        "updatedAt": get("updated_at").isoformat() if get("updated_at") else None,
    }


def version_json(row: EmailTemplateVersion) -> dict[str, Any]:
    return {
        "version": row.version, "name": row.name, "category": row.category, "subject": row.subject,
        "html": row.html_body, "text": row.text_body,
        "aiDraftId": str(row.ai_draft) if row.ai_draft else None,
        "savedBy": str(row.saved_by) if row.saved_by else None,
        "createdAt": row.created_at.isoformat() if row.created_at else None,
    }


def _ai_draft(values: Mapping[str, Any]) -> uuid.UUID | None:
    value = values.get("ai_draft_id")
    if value is None or value == "":
        return None
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value)[:64])
    except ValueError:
        raise ValidationFailed("aiDraftId is not a valid id.", details={"field": "aiDraftId"}) from None


def _clean(values: Mapping[str, Any]) -> dict[str, Any]:
    name = str(values.get("name", "")).strip()[:200]
    if not name:
        raise ValidationFailed("A template needs a name.", details={"field": "name"})
    subject = " ".join(str(values.get("subject", "")).split())[:500]
    html_body = str(values.get("html", ""))
    text_body = str(values.get("text", ""))
    if len(html_body) > MAX_HTML or len(text_body) > MAX_TEXT:
        raise ValidationFailed("The HTML body may have 40,000 characters, the text body 20,000.",
                               details={"field": "html" if len(html_body) > MAX_HTML else "text"})
    # Editor HTML is cleaned to the allow-list before it is stored; without a text body of its
    # own the message's text alternative is derived from it.
    html_body = clean_email_html(html_body)
    if not text_body.strip() and html_body:
        text_body = text_from_html(html_body)
    if not (html_body.strip() or text_body.strip()):
        raise ValidationFailed("Write an HTML or a text body.", details={"field": "text"})
    check_syntax(subject=subject, html=html_body, text=text_body)
    return {
        "name": name,
        "category": " ".join(str(values.get("category", "")).split())[:50],
        "subject": subject,
        "html_body": html_body,
        "text_body": text_body,
    }


class TemplateService:
    SORTABLE = EmailTemplateRepository.sortable

    def __init__(self, *, clock: Clock) -> None:
        self.clock = clock
        self.templates = EmailTemplateRepository()
        self.versions = EmailTemplateVersionRepository()
        self.audit = AuditService(clock)

    async def get(self, template_id: uuid.UUID) -> EmailTemplate:
        row = await self.templates.get(template_id)
        if row is None:
            raise TemplateNotFound()
        return row

    async def page(self, query: ListQuery, q: str | None = None) -> Page[dict]:
        return await self.templates.page(query, (q or "").strip()[:100] or None)

    async def categories(self) -> list[str]:
        return sorted(set(SUGGESTED_CATEGORIES) | set(await self.templates.categories()))

    async def create(self, values: Mapping[str, Any], *, author: uuid.UUID | None,
                     library_slug: str = "") -> EmailTemplate:
        cleaned = _clean(values)
        ai_draft = _ai_draft(values)
        await require_ai_draft(ai_draft, TemplateAiDraftNotFound)
        now = self.clock.now()
        row = EmailTemplate(**cleaned, version=1, library_slug=library_slug, ai_draft=ai_draft, created_by=author,
                            created_at=now, updated_at=now)
        await self.templates.add(row)
        await self._snapshot(row, author)
        await self.audit.record("template.created", target_type="email_template", target_id=str(row.id),
                                after={"name": row.name, "version": 1, "aiDraft": str(ai_draft) if ai_draft else None})
        return row

    async def update(self, template_id: uuid.UUID, values: Mapping[str, Any], *,
                     author: uuid.UUID | None, restoring: bool = False) -> EmailTemplate:
        """Save new content as the next version (an unchanged save makes no version). With an AI
        draft id (a used AI suggestion) the new version records it; without one it keeps the
        previous version's, as the content is still the AI's, edited. Restoring an old version
        (`restoring`) brings back its content with the AI draft that version recorded, or none."""
        row = await self.get(template_id)
        cleaned = _clean(values)
        ai_draft = _ai_draft(values)
        if not restoring:
            await require_ai_draft(ai_draft, TemplateAiDraftNotFound)
        if all(getattr(row, k) == v for k, v in cleaned.items()):
            return row
        for name, value in cleaned.items():
            setattr(row, name, value)
        if ai_draft is not None or restoring:
            row.ai_draft = ai_draft
        row.version += 1
        row.updated_at = self.clock.now()
        await self.templates.save(row)
        await self._snapshot(row, author)
        await self.audit.record("template.saved", target_type="email_template", target_id=str(row.id),
                                after={"version": row.version, "aiDraft": str(ai_draft)} if ai_draft
                                else {"version": row.version})
        return row

    async def versions_provenance(self, versions: list[EmailTemplateVersion]) -> dict[str, dict[str, Any]]:
        """The provenance of each version's AI draft, keyed by the AI draft id."""
        return await ai_provenances(v.ai_draft for v in versions)

    async def restore(self, template_id: uuid.UUID, version: int, *, author: uuid.UUID | None) -> EmailTemplate:
        old = await self.versions.one(template_id, version)
        if old is None:
            await self.get(template_id)
            raise TemplateVersionNotFound()
        return await self.update(
            template_id,
            {"name": old.name, "category": old.category, "subject": old.subject,
             "html": old.html_body, "text": old.text_body, "ai_draft_id": old.ai_draft},
            author=author, restoring=True,
        )

    async def delete(self, template_id: uuid.UUID) -> None:
        row = await self.get(template_id)
        await self.versions.remove_all(row.id)
        await self.templates.delete_where(EmailTemplate.id == row.id)
        await self.audit.record("template.deleted", target_type="email_template", target_id=str(row.id),
                                before={"name": row.name})

    async def history(self, template_id: uuid.UUID) -> list[EmailTemplateVersion]:
        await self.get(template_id)
        return await self.versions.of(template_id)

    async def preview(self, subject: str, html: str, text: str, *, lead_id: uuid.UUID | None,
                      extra: Mapping[str, Any] | None = None) -> tuple[Rendered, dict[str, Any]]:
        """The content rendered for a real lead (or with no values, which lists every variable
        as a problem), and the values used."""
        values: dict[str, Any] = {}
        if lead_id is not None:
            values = lead_values(await LeadService(clock=self.clock).get(lead_id))
        values.update(extra or {})
        return render_template(subject, html, text, values), values

    async def library(self) -> list[dict[str, Any]]:
        installed = await self.templates.installed_slugs()
        return [
            {"slug": item.slug, "name": item.name, "category": item.category,
             "subject": item.subject, "text": item.text, "html": item.html,
             "installed": item.slug in installed}
            for item in LIBRARY
        ]

    async def install(self, slug: str, *, author: uuid.UUID | None) -> EmailTemplate:
        """Add a library template to the tenant's templates ("Add to my library")."""
        item = library_template(slug)
        return await self.create(
            {"name": item.name, "category": item.category, "subject": item.subject,
             "html": item.html, "text": item.text},
            author=author, library_slug=item.slug,
        )

    async def _snapshot(self, row: EmailTemplate, author: uuid.UUID | None) -> None:
        await self.versions.add(EmailTemplateVersion(
            template=row.id, version=row.version, name=row.name, category=row.category,
            subject=row.subject, html_body=row.html_body, text_body=row.text_body,
            ai_draft=row.ai_draft, saved_by=author, created_at=self.clock.now(),
        ))


def used_variables(row: EmailTemplate) -> list[str]:
    return sorted(variables_in(row.subject) | variables_in(row.html_body) | variables_in(row.text_body))
