"""The rules for leads: manual create and edit, lists, bulk actions, export and GDPR erasure.
CSV import lives in `imports.py`."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from salescopilot.accounts.repository import MembershipRepository
from salescopilot.analytics.counters import counting
from salescopilot.addresses import require_address
from salescopilot.audit.export import defuse_formula
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.db.json_column import json_dict
from salescopilot.errors import Conflict, NotFound, ValidationFailed
from salescopilot.leads.fields import (
    TEXT_FIELDS,
    clean_custom,
    clean_tags,
    clean_text,
    clean_url,
    country_code,
    infer_timezone,
    valid_zone,
)
from salescopilot.leads.repository import (
    LeadListItemRepository,
    LeadListRepository,
    LeadRepository,
)
from salescopilot.leads.tables import STATUSES, Lead, LeadList
from salescopilot.listing import ListQuery, Page
from salescopilot.suppression.service import SuppressionService
from salescopilot.tenancy.context import current_tenant

BULK_ACTIONS = ("tag", "untag", "add_to_list", "remove_from_list", "set_status", "delete")
EXPORT_COLUMNS = (
    "email", "firstName", "lastName", "company", "title", "phone", "website", "linkedinUrl",
    "timezone", "country", "status", "tags", "customFields", "createdAt",
)


class LeadNotFound(NotFound):
    code = "LEAD_NOT_FOUND"
    default_message = "No such lead."


class LeadExists(Conflict):
    code = "LEAD_EXISTS"
    default_message = "A lead with this email address exists already."


class LeadSuppressed(Conflict):
    code = "LEAD_SUPPRESSED"
    default_message = "This address is on the suppression list."


class LeadListNotFound(NotFound):
    code = "LEAD_LIST_NOT_FOUND"
    default_message = "No such list."


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise ValidationFailed(
            f"Unknown status. Choose one of: {', '.join(STATUSES)}.", details={"field": "status"}
        )
    return status


def tags_text(tags: list[str]) -> str:
    return "," + ",".join(tags) + "," if tags else ""


def tags_list(text: str | None) -> list[str]:
    return [t for t in (text or "").split(",") if t]


def clean_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Column values from given fields (column names; absent ones untouched), cleaned; the
    timezone is checked against the IANA database."""
    cleaned: dict[str, Any] = {}
    for name, (api_name, limit) in TEXT_FIELDS.items():
        if name not in values:
            continue
        value = values[name]
        if name in ("website", "linkedin_url"):
            cleaned[name] = clean_url(value, limit)
        elif name == "country":
            cleaned[name] = country_code(clean_text(value, limit)) if value else ""
        elif name == "timezone":
            zone = clean_text(value, limit)
            if zone and not valid_zone(zone):
                raise ValidationFailed("Unknown timezone (use an IANA name such as Europe/Berlin).",
                                       details={"field": api_name})
            cleaned[name] = zone
        else:
            cleaned[name] = clean_text(value, limit)
    if "email" in values:
        cleaned["email"] = str(values["email"]).strip()
        cleaned["email_normalised"] = require_address(cleaned["email"])
    if "custom_fields" in values:
        cleaned["custom_fields"] = json.dumps(clean_custom(values["custom_fields"] or {}))
    if "tags" in values:
        cleaned["tags"] = tags_text(clean_tags(values["tags"]))
    if "status" in values:
        cleaned["status"] = check_status(values["status"])
    if "owner" in values:
        cleaned["owner"] = values["owner"]
    return cleaned


def lead_json(row: Lead | Mapping[str, Any]) -> dict[str, Any]:
    get = row.get if isinstance(row, Mapping) else lambda name: getattr(row, name)
    data = {"id": str(get("id")), "email": get("email")}
    for name, (api_name, _) in TEXT_FIELDS.items():
        data[api_name] = get(name) or ""
    owner = get("owner")
    data.update(
        customFields=json_dict(get("custom_fields")),
        tags=tags_list(get("tags")),
        owner=str(owner) if owner else None,
        status=get("status"),
        createdAt=get("created_at").isoformat() if get("created_at") else None,
        updatedAt=get("updated_at").isoformat() if get("updated_at") else None,
    )
    return data


class LeadService:
    SORTABLE = (*LeadRepository.sortable,)

    def __init__(self, *, clock: Clock, plugin_manager: Any = None) -> None:
        self.clock = clock
        #: When given, `on_lead_status_changed` is fired for every status a person changes
        #: (imports set statuses in bulk and fire nothing).
        self.plugin_manager = plugin_manager
        self.leads = LeadRepository()
        self.lists = LeadListRepository()
        self.items = LeadListItemRepository()
        self.audit = AuditService(clock)

    async def get(self, lead_id: uuid.UUID) -> Lead:
        lead = await self.leads.get(lead_id)
        if lead is None:
            raise LeadNotFound()
        return lead

    async def by_address(self, address: str) -> Lead:
        lead = await self.leads.by_email(require_address(address))
        if lead is None:
            raise LeadNotFound()
        return lead

    async def page(self, query: ListQuery, filters: dict[str, Any]) -> Page[dict]:
        if filters.get("status") is not None:
            check_status(filters["status"])
        return await self.leads.page(query, filters)

    async def _check_owner(self, cleaned: dict[str, Any]) -> None:
        """A lead's owner is a member of the tenant."""
        owner = cleaned.get("owner")
        if owner is not None and await MembershipRepository().for_user(owner) is None:
            raise ValidationFailed("The owner is not a member of this workspace.", details={"field": "owner"})

    async def create(self, values: Mapping[str, Any]) -> Lead:
        if "email" not in values:
            raise ValidationFailed("email is required.", details={"field": "email"})
        cleaned = clean_values(values)
        await self._check_owner(cleaned)
        if await self.leads.by_email(cleaned["email_normalised"]) is not None:
            raise LeadExists(details={"field": "email"})
        if await SuppressionService(self.clock).blocked([cleaned["email_normalised"]]):
            raise LeadSuppressed(details={"field": "email"})
        if not cleaned.get("timezone"):
            cleaned["timezone"] = infer_timezone(cleaned.get("country", ""), cleaned.get("phone", ""))
        now = self.clock.now()
        lead = Lead(**cleaned, created_at=now, updated_at=now)
        await self.leads.add(lead)
        await self.audit.record("lead.created", target_type="lead", target_id=str(lead.id))
        return lead

    async def update(self, lead_id: uuid.UUID, values: Mapping[str, Any]) -> Lead:
        lead = await self.get(lead_id)
        cleaned = clean_values(values)
        await self._check_owner(cleaned)
        if cleaned.get("email_normalised", lead.email_normalised) != lead.email_normalised:
            if await self.leads.by_email(cleaned["email_normalised"]) is not None:
                raise LeadExists(details={"field": "email"})
        if ("country" in cleaned or "phone" in cleaned) and "timezone" not in cleaned and not lead.timezone:
            cleaned["timezone"] = infer_timezone(
                cleaned.get("country", lead.country), cleaned.get("phone", lead.phone)
            )
        changed = sorted(k for k, v in cleaned.items() if getattr(lead, k) != v)
        old_status = lead.status
        for name, value in cleaned.items():
            setattr(lead, name, value)
        lead.updated_at = self.clock.now()
        # Analytics counts the lead's messages under its owner, and its meeting by its status.
        async with counting(leads=[lead.id] if {"owner", "status"} & set(changed) else []):
            await self.leads.save(lead)
        if changed:
            await self.audit.record(
                "lead.updated", target_type="lead", target_id=str(lead.id), after={"fields": changed}
            )
        if lead.status != old_status:
            await self._status_changed([(lead.id, old_status, lead.status)])
        return lead

    async def _status_changed(self, changes: list[tuple[uuid.UUID, str, str]]) -> None:
        if self.plugin_manager is None:
            return
        from salescopilot.actor import current_actor
        from salescopilot.plugin_system.manager import fire_event

        for lead_id, old, new in changes:
            await fire_event(self.plugin_manager, "on_lead_status_changed", tenant=current_tenant(),
                             lead_id=lead_id, old_status=old, new_status=new, actor=current_actor())

    async def bulk(self, action: str, ids: list[uuid.UUID], value: str | None = None) -> int:
        """Apply `action` to the leads among `ids` (ids of other tenants or of no lead are left
        out); returns how many leads it applied to."""
        if action not in BULK_ACTIONS:
            raise ValidationFailed(f"Unknown action. Choose one of: {', '.join(BULK_ACTIONS)}.",
                                   details={"field": "action"})
        chosen = await self.leads.by_ids(list(dict.fromkeys(ids)))
        found = [lead.id for lead in chosen]
        now = self.clock.now()
        if action == "set_status":
            status = check_status(value or "")
            async with counting(leads=found):
                await self.leads.set_status(found, status, now)
            await self._status_changed([(lead.id, lead.status, status) for lead in chosen if lead.status != status])
        elif action in ("tag", "untag"):
            tags = clean_tags(value or "")
            if not tags:
                raise ValidationFailed("Give the tag to apply.", details={"field": "value"})
            for lead in await self.leads.by_ids(found):
                current = tags_list(lead.tags)
                new = [t for t in current if t not in tags] if action == "untag" else clean_tags(current + tags)
                await self.leads.update_fields(lead.id, {"tags": tags_text(new), "updated_at": now})
        elif action in ("add_to_list", "remove_from_list"):
            lead_list = await self._list(value)
            if action == "add_to_list":
                await self.items.add_leads(lead_list.id, found, now)
            else:
                await self.items.remove_from_list(lead_list.id, found)
        else:
            await self.items.remove_leads(found)
            async with counting(leads=found):
                await self.leads.delete_ids(found)
        await self.audit.record(
            f"lead.bulk_{action}", target_type="lead", target_id="",
            after={"count": len(found), "value": value if action != "delete" else None},
        )
        return len(found)

    async def delete(self, lead_id: uuid.UUID) -> None:
        """Delete one lead (404 when there is none); its address is not suppressed."""
        lead = await self.get(lead_id)
        await self.items.remove_leads([lead.id])
        async with counting(leads=[lead.id]):
            await self.leads.delete_ids([lead.id])
        await self.audit.record("lead.deleted", target_type="lead", target_id=str(lead.id))

    async def erase(self, lead_id: uuid.UUID) -> None:
        """GDPR erasure: the lead and its list memberships go; its address stays suppressed as
        a hash only, so it is never mailed again yet cannot be read back."""
        lead = await self.get(lead_id)
        await SuppressionService(self.clock).erase_address(lead.email_normalised, source="erasure")
        await self.items.remove_leads([lead.id])
        async with counting(leads=[lead.id]):
            await self.leads.delete_ids([lead.id])
        await self.audit.record("lead.erased", target_type="lead", target_id=str(lead.id))

    async def export_csv(self, filters: dict[str, Any]) -> AsyncIterator[str]:
        """The leads matching `filters` as CSV chunks, every cell safe to open in a spreadsheet."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        async for rows in self.leads.stream(filters):
            for row in rows:
                data = lead_json(row)
                cells = []
                for name in EXPORT_COLUMNS:
                    value = data[name]
                    if name == "tags":
                        value = ", ".join(value)
                    elif name == "customFields":
                        value = json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
                    cells.append(defuse_formula("" if value is None else str(value)))
                writer.writerow(cells)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        if buffer.getvalue():
            yield buffer.getvalue()

    # -- lists -------------------------------------------------------------------------------

    async def all_lists(self) -> list[dict]:
        sizes = await self.lists.sizes()
        return [
            {"id": str(row.id), "name": row.name, "size": sizes.get(row.id, 0),
             "createdAt": row.created_at.isoformat()}
            for row in await self.lists.all()
        ]

    async def create_list(self, name: str) -> LeadList:
        name = clean_text(name, 200)
        if not name:
            raise ValidationFailed("A list needs a name.", details={"field": "name"})
        lead_list = await self.lists.add(LeadList(name=name, created_at=self.clock.now()))
        await self.audit.record("lead_list.created", target_type="lead_list", target_id=str(lead_list.id),
                                after={"name": name})
        return lead_list

    async def delete_list(self, list_id: uuid.UUID) -> None:
        lead_list = await self._list(str(list_id))
        await self.items.remove_list(lead_list.id)
        await self.lists.delete_where(LeadList.id == lead_list.id)
        await self.audit.record("lead_list.deleted", target_type="lead_list", target_id=str(lead_list.id))

    async def lists_of(self, lead_id: uuid.UUID) -> list[uuid.UUID]:
        return await self.items.lists_of(lead_id)

    async def _list(self, list_id: str | None) -> LeadList:
        try:
            key = uuid.UUID(str(list_id))
        except ValueError:
            raise LeadListNotFound(details={"field": "value"}) from None
        lead_list = await self.lists.get(key)
        if lead_list is None:
            raise LeadListNotFound(details={"field": "value"})
        return lead_list


def lead_values(lead: Lead | Mapping[str, Any]) -> dict[str, Any]:
    """What a template may use for a lead: every field by its API name, `fullName`, and the
    custom fields under `custom` (`{{custom.industry}}`)."""
    # The fields of `lead_json` a template may use, built directly: a scheduler pass calls this
    # for a thousand leads.
    get = lead.get if isinstance(lead, Mapping) else lambda name: getattr(lead, name)
    values: dict[str, Any] = {"email": get("email")}
    for name, api_name in _TEMPLATE_FIELDS:
        values[api_name] = get(name) or ""
    values["tags"] = tags_list(get("tags"))
    values["status"] = get("status")
    values["fullName"] = " ".join(p for p in (values["firstName"], values["lastName"]) if p)
    values["custom"] = json_dict(get("custom_fields"))
    return values


_TEMPLATE_FIELDS = tuple((name, api_name) for name, (api_name, _) in TEXT_FIELDS.items())
