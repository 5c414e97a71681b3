"""The rules for sequences: create, edit (every save is a new version), the in-flight preview of
an edit, applying it to running campaigns, and the library of pre-built sequences.

Editing a sequence that running campaigns use is a two-step act: the save is refused with
`SEQUENCE_EDIT_NEEDS_CONFIRMATION` and the preview of what happens to the leads in flight; the
same save with `confirm` makes the new version and moves those campaigns onto it. A lead in
flight keeps its place by step key: it continues after the last step it received if the new
version still has it, else at the same position; a lead past the new last step finishes.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from salescopilot.audit.service import AuditService
from salescopilot.campaigns.repository import CampaignRepository, EnrollmentEventRepository, EnrollmentRepository
from salescopilot.campaigns.tables import EnrollmentEvent
from salescopilot.clock import Clock
from salescopilot.errors import Conflict, NotFound, ValidationFailed
from salescopilot.listing import ListQuery, Page
from salescopilot.sequences.library import LIBRARY, library_sequence
from salescopilot.sequences.repository import SequenceRepository, SequenceVersionRepository
from salescopilot.sequences.steps import (
    CONDITION_LABELS,
    RECOMMENDED_STEPS,
    Step,
    StopRules,
    Variant,
    describe_delay,
    parse_steps,
    parse_stop_rules,
    steps_of,
    stop_rules_of,
    to_json,
)
from salescopilot.sequences.tables import Sequence, SequenceVersion
from salescopilot.templates.repository import EmailTemplateRepository
from salescopilot.templates.service import TemplateService
from salescopilot.templates.tables import EmailTemplate

#: Campaigns whose enrollments are in flight.
RUNNING = ("scheduled", "active", "paused")


class SequenceNotFound(NotFound):
    code = "SEQUENCE_NOT_FOUND"
    default_message = "No such sequence."


class SequenceVersionNotFound(NotFound):
    code = "SEQUENCE_VERSION_NOT_FOUND"
    default_message = "No such version of this sequence."


class SequenceEditNeedsConfirmation(Conflict):
    code = "SEQUENCE_EDIT_NEEDS_CONFIRMATION"
    default_message = (
        "Running campaigns use this sequence. Review what happens to the leads in flight "
        "(details.preview), then save again with confirm."
    )


class SequenceInUse(Conflict):
    code = "SEQUENCE_IN_USE"
    default_message = "Campaigns use this sequence; archive them first."


def version_json(row: SequenceVersion) -> dict[str, Any]:
    return {
        "version": row.version, "steps": row.steps if isinstance(row.steps, list) else to_json(steps_of(row.steps)),
        "stopRules": to_json(stop_rules_of(row.stop_rules)), "createdAt": row.created_at.isoformat(),
    }


def sequence_json(row: Sequence | Mapping[str, Any], version: SequenceVersion | None = None) -> dict[str, Any]:
    get = row.get if isinstance(row, Mapping) else lambda name: getattr(row, name)
    data = {
        "id": str(get("id")), "name": get("name"), "description": get("description"),
        "version": get("version"), "librarySlug": get("library_slug") or None,
        "createdAt": get("created_at").isoformat(), "updatedAt": get("updated_at").isoformat(),
    }
    if version is not None:
        steps = steps_of(version.steps)
        data["steps"] = to_json(steps)
        data["stopRules"] = to_json(stop_rules_of(version.stop_rules))
        data["recommendedSteps"] = list(RECOMMENDED_STEPS)
        data["summary"] = [step_summary(n, s) for n, s in enumerate(steps, 1)]
    return data


def step_summary(number: int, step: Step) -> str:
    variants = f", {len(step.variants)} variants" if len(step.variants) > 1 else ""
    thread = "in the same thread" if step.thread == "reply" else "as a new email"
    return f"{number}. {step.name}: {describe_delay(step)}, {CONDITION_LABELS[step.condition]}, {thread}{variants}"


def map_position(old_steps: list[Step], new_steps: list[Step], next_step: int, last_key: str) -> int:
    """Where an enrollment about to evaluate `old_steps[next_step]` continues in `new_steps`."""
    if next_step == 0 and not last_key:
        return 0
    keys = [s.key for s in new_steps]
    if last_key and last_key in keys:
        return keys.index(last_key) + 1
    if next_step < len(old_steps) and old_steps[next_step].key in keys:
        return keys.index(old_steps[next_step].key)
    return min(next_step, len(new_steps))


class SequenceService:
    SORTABLE = SequenceRepository.sortable

    def __init__(self, *, clock: Clock) -> None:
        self.clock = clock
        self.sequences = SequenceRepository()
        self.versions = SequenceVersionRepository()
        self.audit = AuditService(clock)

    async def get(self, sequence_id: uuid.UUID) -> Sequence:
        row = await self.sequences.get(sequence_id)
        if row is None:
            raise SequenceNotFound()
        return row

    async def version(self, sequence_id: uuid.UUID, version: int | None = None) -> SequenceVersion:
        row = await self.get(sequence_id)
        found = await self.versions.one(row.id, version or row.version)
        if found is None:
            raise SequenceVersionNotFound()
        return found

    async def page(self, query: ListQuery, q: str | None = None) -> Page[dict]:
        return await self.sequences.page(query, q)

    async def history(self, sequence_id: uuid.UUID) -> list[SequenceVersion]:
        await self.get(sequence_id)
        return await self.versions.of(sequence_id)

    async def _check_templates(self, steps: list[Step]) -> None:
        wanted = {v.template for s in steps for v in s.variants if v.template is not None}
        if not wanted:
            return
        found = {row.id for row in await EmailTemplateRepository().find(EmailTemplate.id.is_in(list(wanted)))}
        missing = sorted(str(t) for t in wanted - found)
        if missing:
            raise ValidationFailed("Some steps use templates that do not exist.",
                                   details={"field": "steps", "templates": missing})

    async def create(self, values: Mapping[str, Any], *, author: uuid.UUID | None, library_slug: str = "") -> Sequence:
        name = str(values.get("name") or "").strip()[:200]
        if not name:
            raise ValidationFailed("A sequence needs a name.", details={"field": "name"})
        steps = parse_steps(values.get("steps"))
        rules = parse_stop_rules(values.get("stop_rules"))
        await self._check_templates(steps)
        now = self.clock.now()
        row = Sequence(name=name, description=str(values.get("description") or "")[:2000], version=1,
                       library_slug=library_slug, created_by=author, created_at=now, updated_at=now)
        await self.sequences.add(row)
        await self.versions.add(SequenceVersion(sequence=row.id, version=1, steps=to_json(steps),
                                                stop_rules=to_json(rules), saved_by=author, created_at=now))
        await self.audit.record("sequence.created", target_type="sequence", target_id=str(row.id),
                                after={"name": name, "steps": len(steps)})
        return row

    async def preview_edit(self, sequence_id: uuid.UUID, raw_steps: Any) -> dict[str, Any]:
        """What saving these steps would do to the leads in flight, per running campaign."""
        current = await self.version(sequence_id)
        return await self._preview(current, parse_steps(raw_steps))

    async def _preview(self, current: SequenceVersion, new_steps: list[Step]) -> dict[str, Any]:
        campaigns = await CampaignRepository().using_sequence(current.sequence, RUNNING)
        old_versions: dict[int, list[Step]] = {}
        for campaign in campaigns:
            if campaign.sequence_version not in old_versions:
                found = await self.versions.one(current.sequence, campaign.sequence_version)
                old_versions[campaign.sequence_version] = steps_of(found.steps) if found else []
        groups = await EnrollmentRepository().in_flight([c.id for c in campaigns])
        names = {c.id: c for c in campaigns}
        moves = []
        for group in groups:
            campaign = names[group["campaign"]]
            old = old_versions[campaign.sequence_version]
            position = map_position(old, new_steps, group["next_step"], group["last_step_key"])
            now_at = (f"before step {group['next_step'] + 1} ({old[group['next_step']].name})"
                      if group["next_step"] < len(old) else "after the last step")
            then = (f"continues with step {position + 1} ({new_steps[position].name})"
                    if position < len(new_steps) else "finishes: the new version has no later step")
            moves.append({"campaign": str(campaign.id), "campaignName": campaign.name, "leads": group["n"],
                          "fromStep": group["next_step"], "toStep": position, "now": now_at, "then": then})
        return {
            "runningCampaigns": [{"id": str(c.id), "name": c.name, "status": c.status} for c in campaigns],
            "leadsInFlight": sum(g["n"] for g in groups),
            "moves": moves,
        }

    async def update(self, sequence_id: uuid.UUID, values: Mapping[str, Any], *, author: uuid.UUID | None,
                     confirm: bool = False) -> tuple[Sequence, dict[str, Any] | None]:
        """Save a new version. With running campaigns, refused (with the preview) unless
        `confirm`; confirmed, the running campaigns and their leads in flight move onto it."""
        row = await self.get(sequence_id)
        current = await self.version(sequence_id)
        steps = parse_steps(values.get("steps")) if "steps" in values else steps_of(current.steps)
        rules = parse_stop_rules(values["stop_rules"]) if "stop_rules" in values else stop_rules_of(current.stop_rules)
        await self._check_templates(steps)
        preview = await self._preview(current, steps)
        if preview["runningCampaigns"] and not confirm:
            raise SequenceEditNeedsConfirmation(details={"preview": preview})
        now = self.clock.now()
        name = str(values.get("name") or row.name).strip()[:200] or row.name
        description = str(values["description"])[:2000] if values.get("description") is not None else row.description
        version = row.version + 1
        await self.versions.add(SequenceVersion(sequence=row.id, version=version, steps=to_json(steps),
                                                stop_rules=to_json(rules), saved_by=author, created_at=now))
        await self.sequences.change(row.id, {"name": name, "description": description, "version": version,
                                             "updated_at": now})
        if preview["runningCampaigns"]:
            await self._move_in_flight(row.id, steps, version, now)
        await self.audit.record("sequence.updated", target_type="sequence", target_id=str(row.id),
                                after={"version": version, "steps": len(steps),
                                       "leads_moved": preview["leadsInFlight"]})
        return await self.get(sequence_id), (preview if preview["runningCampaigns"] else None)

    async def _move_in_flight(self, sequence_id: uuid.UUID, steps: list[Step], version: int, now) -> None:
        campaigns = await CampaignRepository().using_sequence(sequence_id, RUNNING)
        enrollments = EnrollmentRepository()
        events: list[EnrollmentEvent] = []
        old_cache: dict[int, list[Step]] = {}
        for campaign in campaigns:
            if campaign.sequence_version not in old_cache:
                found = await self.versions.one(sequence_id, campaign.sequence_version)
                old_cache[campaign.sequence_version] = steps_of(found.steps) if found else []
            old = old_cache[campaign.sequence_version]
            changes = []
            for row in await enrollments.live_of_campaigns([campaign.id]):
                position = map_position(old, steps, row["next_step"], row["last_step_key"])
                changes.append((row["id"], {"next_step": position, "updated_at": now}))
                events.append(EnrollmentEvent(enrollment=row["id"], at=now, kind="version", step=position,
                                              detail=f"moved to version {version}, next: step {position + 1}"))
            await enrollments.apply(changes)
            await CampaignRepository().change(campaign.id, {"sequence_version": version, "updated_at": now})
        await EnrollmentEventRepository().insert_many(events)

    async def delete(self, sequence_id: uuid.UUID) -> None:
        row = await self.get(sequence_id)
        if await CampaignRepository().using_sequence(row.id, ("draft", *RUNNING, "completed")):
            raise SequenceInUse()
        await self.versions.remove_all(row.id)
        await self.sequences.delete_where(Sequence.id == row.id)
        await self.audit.record("sequence.deleted", target_type="sequence", target_id=str(row.id))

    # -- the library ----------------------------------------------------------------------------

    async def library(self) -> list[dict[str, Any]]:
        installed = await self.sequences.installed_slugs()
        return [
            {"slug": item.slug, "name": item.name, "description": item.description,
             "steps": [{"template": s.template, "delay": s.delay, "unit": s.unit, "businessDays": s.business_days,
                        "condition": s.condition, "thread": s.thread, "variantB": s.variant_b or None}
                       for s in item.steps],
             "installed": item.slug in installed}
            for item in LIBRARY
        ]

    async def install(self, slug: str, *, author: uuid.UUID | None) -> Sequence:
        """Add a pre-built sequence, with the library templates it uses that the tenant has not
        added yet."""
        item = library_sequence(slug)
        templates = TemplateService(clock=self.clock)
        repository = EmailTemplateRepository()
        ids: dict[str, uuid.UUID] = {}
        for template_slug in sorted({s.template for s in item.steps} | {s.variant_b for s in item.steps if s.variant_b}):
            found = await repository.find_one(EmailTemplate.library_slug == template_slug)
            ids[template_slug] = found.id if found else (await templates.install(template_slug, author=author)).id
        steps = []
        for number, s in enumerate(item.steps, 1):
            variants = [Variant(key="A", weight=50 if s.variant_b else 100, template=ids[s.template])]
            if s.variant_b:
                variants.append(Variant(key="B", weight=50, template=ids[s.variant_b]))
            steps.append(to_json(Step(key=f"s{number}", name=f"Step {number}", delay=s.delay, unit=s.unit,
                                      business_days=s.business_days, condition=s.condition, thread=s.thread,
                                      variants=variants)))
        return await self.create({"name": item.name, "description": item.description, "steps": steps,
                                  "stop_rules": to_json(StopRules())}, author=author, library_slug=item.slug)
