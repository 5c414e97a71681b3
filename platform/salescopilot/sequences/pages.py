"""Pages: the tenant's sequences, the pre-built library, and the sequence builder.

The builder is one form of ordered step fieldsets. With JavaScript the steps are dragged into
order (SortableJS) and the up/down buttons move them in place; without it every button submits
the form and the page comes back with the steps moved, added or removed, nothing saved until
"Save". Saving a sequence that running campaigns use first shows what happens to their leads
in flight, with a button that applies it.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from salescopilot.errors import DomainError, ValidationFailed
from salescopilot.listing import ListQuery
from salescopilot.sequences.service import SequenceEditNeedsConfirmation, sequence_json
from salescopilot.sequences.steps import CONDITION_LABELS, MAX_STEPS, RECOMMENDED_STEPS, to_json
from salescopilot.templates.service import template_json
from salescopilot.web.deps import sequence_service, template_service
from salescopilot.web.guards import principal_of

FIELDS = ("key", "name", "delay", "unit", "business", "condition", "thread", "template", "subject", "text",
          "b_template", "b_weight")


def blank_step(number: int) -> dict[str, Any]:
    return {"key": "", "name": f"Step {number}", "delay": 0 if number == 1 else 3, "unit": "days",
            "business": "yes", "condition": "always" if number == 1 else "no_reply",
            "thread": "new" if number == 1 else "reply", "template": "", "subject": "", "text": "",
            "b_template": "", "b_weight": 50}


def form_steps(form) -> list[dict[str, Any]]:
    """The builder's steps as submitted, in the order of the form."""
    columns = {name: form.getall(f"step_{name}", []) for name in FIELDS}
    count = len(columns["key"])
    steps = []
    for index in range(count):
        row = {name: (values[index] if index < len(values) else "") for name, values in columns.items()}
        steps.append(row)
    return steps


def _int(value: Any, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(str(value).strip() or default)))
    except ValueError:
        return default


def to_api_steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for row in steps:
        variant_a: dict[str, Any] = {"key": "A", "weight": 100}
        if row["template"]:
            variant_a["template"] = row["template"]
        else:
            variant_a.update(subject=str(row["subject"])[:500], text=str(row["text"])[:20_000])
        variants = [variant_a]
        if row.get("b_template"):
            weight = _int(row.get("b_weight"), 50, 1, 99)
            variant_a["weight"] = 100 - weight
            variants.append({"key": "B", "weight": weight, "template": row["b_template"]})
        result.append({
            "key": str(row["key"])[:40], "name": str(row["name"])[:200], "delay": _int(row["delay"], 0, 0, 8760),
            "unit": "hours" if row["unit"] == "hours" else "days", "business_days": row["business"] == "yes",
            "condition": row["condition"] if row["condition"] in CONDITION_LABELS else "always",
            "thread": "reply" if row["thread"] == "reply" else "new", "variants": variants,
        })
    return result


def from_stored(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for step in steps:
        a = step["variants"][0]
        b = step["variants"][1] if len(step["variants"]) > 1 else None
        rows.append({
            "key": step["key"], "name": step["name"], "delay": step["delay"], "unit": step["unit"],
            "business": "yes" if step["business_days"] else "no", "condition": step["condition"],
            "thread": step["thread"], "template": str(a.get("template") or ""), "subject": a.get("subject", ""),
            "text": a.get("text", ""), "b_template": str(b.get("template") or "") if b else "",
            "b_weight": b["weight"] if b else 50,
        })
    return rows


def apply_op(steps: list[dict[str, Any]], op: str) -> list[dict[str, Any]]:
    """Move, add or remove a step as a builder button asks ("up:2", "down:0", "remove:1", "add")."""
    kind, _, where = op.partition(":")
    index = _int(where, -1, -1, len(steps))
    if kind == "add" and len(steps) < MAX_STEPS:
        steps.append(blank_step(len(steps) + 1))
    elif kind == "remove" and 0 <= index < len(steps) and len(steps) > 1:
        steps.pop(index)
    elif kind == "up" and 0 < index < len(steps):
        steps[index - 1], steps[index] = steps[index], steps[index - 1]
    elif kind == "down" and 0 <= index < len(steps) - 1:
        steps[index + 1], steps[index] = steps[index], steps[index + 1]
    return steps


class SequencePages(Controller):
    path = "/sequences"
    include_in_schema = False

    @get("/", opt={"permission": "sequences.read"})
    async def index(self, request: Request) -> Template:
        service = sequence_service(request)
        page = await service.page(ListQuery(limit=200, sort="updated_at", descending=True))
        return Template("sequences/list.html", context={
            "sequences": [sequence_json(row) for row in page.items], "library": await service.library(),
            "principal": principal_of(request), "notice": request.query_params.get("notice"),
        })

    @post("/library/{slug:str}/install", opt={"permission": "sequences.write"})
    async def install(self, request: Request, slug: str) -> Response:
        row = await sequence_service(request).install(slug[:63], author=principal_of(request).user_id)
        return Redirect(path=f"/sequences/{row.id}?" + urlencode({"notice": "Added to your sequences."}))

    @get("/new", opt={"permission": "sequences.write"})
    async def new(self, request: Request) -> Template:
        return await self._builder(request, None, {"name": "", "description": "", "rules": {}},
                                   [blank_step(1), blank_step(2), blank_step(3)])

    @get("/{sequence_id:uuid}", opt={"permission": "sequences.read"})
    async def edit(self, request: Request, sequence_id: uuid.UUID) -> Template:
        service = sequence_service(request)
        data = sequence_json(await service.get(sequence_id), await service.version(sequence_id))
        return await self._builder(request, data, {"name": data["name"], "description": data["description"],
                                                   "rules": data["stopRules"]}, from_stored(data["steps"]))

    @post("/", opt={"permission": "sequences.write"})
    async def create(self, request: Request) -> Response:
        return await self._submit(request, None)

    @post("/{sequence_id:uuid}", opt={"permission": "sequences.write"})
    async def save(self, request: Request, sequence_id: uuid.UUID) -> Response:
        return await self._submit(request, sequence_id)

    async def _submit(self, request: Request, sequence_id: uuid.UUID | None) -> Response:
        form = await request.form()
        steps = form_steps(form)
        op = str(form.get("op", "save"))
        meta = {"name": str(form.get("name", ""))[:200], "description": str(form.get("description", ""))[:2000],
                "rules": {r: form.get(f"rule_{r}") == "on" for r in ("reply", "meeting_booked", "out_of_office")}}
        service = sequence_service(request)
        current = sequence_json(await service.get(sequence_id), await service.version(sequence_id)) if sequence_id else None
        if op not in ("save", "confirm"):
            return await self._builder(request, current, meta, apply_op(steps, op))
        values = {"name": meta["name"], "description": meta["description"], "steps": to_api_steps(steps),
                  "stop_rules": meta["rules"]}
        try:
            if sequence_id is None:
                row = await service.create(values, author=principal_of(request).user_id)
                return Redirect(path=f"/sequences/{row.id}?" + urlencode({"notice": "Sequence created."}))
            await service.update(sequence_id, values, author=principal_of(request).user_id, confirm=op == "confirm")
        except SequenceEditNeedsConfirmation as error:
            return await self._builder(request, current, meta, steps, preview=error.details["preview"], status_code=409)
        except (ValidationFailed, DomainError) as error:
            if error.status_code == 404:
                raise
            return await self._builder(request, current, meta, steps, error=error, status_code=400)
        return Redirect(path=f"/sequences/{sequence_id}?" + urlencode({"notice": "Saved as a new version."}))

    async def _builder(self, request: Request, sequence: dict | None, meta: dict, steps: list[dict], *,
                       error: DomainError | None = None, preview: dict | None = None, status_code: int = 200) -> Template:
        templates = await template_service(request).page(ListQuery(limit=200, sort="name"))
        return Template("sequences/builder.html", status_code=status_code, context={
            "sequence": sequence, "meta": meta, "steps": steps, "conditions": CONDITION_LABELS,
            "templates": [template_json(row) for row in templates.items], "recommended": RECOMMENDED_STEPS,
            "max_steps": MAX_STEPS, "error": error.message if error else None,
            "problems": (error.details or {}).get("problems", []) if error else [], "preview": preview,
            "principal": principal_of(request), "notice": request.query_params.get("notice"),
            "to_json": to_json,
        })
