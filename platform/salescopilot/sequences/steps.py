"""A sequence's steps and stop rules as typed values: parsed from (hostile) input, checked, and
turned back into the JSON a version stores.

A step waits `delay` days or hours after the previous step's message was sent (business days
skip weekends and, when the campaign skips holidays, holidays), then is sent only when its
condition holds on what the lead did so far; otherwise it is skipped and the next step counts
its delay from then. Each step has one or more A/B variants; a lead always gets the same variant
of a step (chosen from the lead and the step's key), in proportion to the variants' weights.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Annotated, Any, Literal

import msgspec

from salescopilot.errors import ValidationFailed
from salescopilot.mailboxes.limits import is_holiday, zone
from salescopilot.templates.renderer import parse

CONDITIONS = ("always", "no_reply", "opened", "not_opened", "clicked", "not_clicked")
CONDITION_LABELS = {
    "always": "always", "no_reply": "if no reply", "opened": "if opened", "not_opened": "if not opened",
    "clicked": "if clicked", "not_clicked": "if not clicked",
}
STOP_RULES = ("reply", "meeting_booked", "bounce", "unsubscribe", "out_of_office")
#: Builders may add many steps; the UI recommends 3 to 5.
MAX_STEPS = 20
RECOMMENDED_STEPS = (3, 5)
Key = Annotated[str, msgspec.Meta(max_length=40, pattern=r"^[A-Za-z0-9_-]*$")]


class Variant(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    key: Key = ""
    weight: Annotated[int, msgspec.Meta(ge=0, le=100)] = 100
    #: Use this template's current content; else the variant's own subject and bodies.
    template: uuid.UUID | None = None
    subject: Annotated[str, msgspec.Meta(max_length=500)] = ""
    html: Annotated[str, msgspec.Meta(max_length=40_000)] = ""
    text: Annotated[str, msgspec.Meta(max_length=20_000)] = ""


class Step(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    #: Stable across versions: how leads in flight are matched to the steps of a new version.
    key: Key = ""
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    delay: Annotated[int, msgspec.Meta(ge=0, le=8760)] = 0
    unit: Literal["days", "hours"] = "days"
    business_days: bool = False
    condition: Literal["always", "no_reply", "opened", "not_opened", "clicked", "not_clicked"] = "always"
    thread: Literal["new", "reply"] = "new"
    variants: Annotated[list[Variant], msgspec.Meta(min_length=1, max_length=5)] = msgspec.field(
        default_factory=lambda: [Variant()]
    )


class StopRules(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    reply: bool = True
    meeting_booked: bool = True
    #: Bounces and unsubscribes always stop the lead's messages (the address is suppressed);
    #: these two only say so in the sequence, and cannot be turned off.
    bounce: bool = True
    unsubscribe: bool = True
    out_of_office: bool = True


def parse_steps(raw: Any) -> list[Step]:
    """Steps from JSON-like input, checked; keys are filled in where missing and made unique."""
    try:
        steps = msgspec.convert(raw, list[Step])
    except msgspec.ValidationError as error:
        raise ValidationFailed(f"The steps are not valid: {error}", details={"field": "steps"}) from None
    if not steps:
        raise ValidationFailed("A sequence needs at least one step.", details={"field": "steps"})
    if len(steps) > MAX_STEPS:
        raise ValidationFailed(f"A sequence has at most {MAX_STEPS} steps.", details={"field": "steps"})
    seen: set[str] = set()
    problems = []
    for number, step in enumerate(steps, 1):
        if not step.key or step.key in seen:
            step.key = uuid.uuid4().hex[:12]
        seen.add(step.key)
        if not step.name:
            step.name = f"Step {number}"
        if number == 1:
            step.condition, step.thread = "always", "new"
        variant_keys: set[str] = set()
        for index, variant in enumerate(step.variants):
            if not variant.key or variant.key in variant_keys:
                variant.key = "ABCDE"[index]
            variant_keys.add(variant.key)
            if variant.template is None and not variant.subject.strip() and step.thread == "new":
                problems.append({"step": number, "variant": variant.key, "message": "needs a template or a subject"})
            if variant.template is None and not (variant.text.strip() or variant.html.strip()):
                problems.append({"step": number, "variant": variant.key, "message": "needs a template or a body"})
            for part in ("subject", "html", "text"):
                for tag, message in parse(getattr(variant, part))[1]:
                    problems.append({"step": number, "variant": variant.key, "message": f"{part}: {tag} {message}"})
        if sum(v.weight for v in step.variants) <= 0:
            problems.append({"step": number, "message": "the variants' weights add up to 0"})
    if problems:
        raise ValidationFailed("Some steps are not complete.", details={"field": "steps", "problems": problems})
    return steps


def steps_of(stored: Any) -> list[Step]:
    """Steps as a version stores them (trusted: checked when saved)."""
    if isinstance(stored, str):
        stored = msgspec.json.decode(stored or "[]")
    return msgspec.convert(stored or [], list[Step])


def parse_stop_rules(raw: Any) -> StopRules:
    try:
        rules = msgspec.convert(raw or {}, StopRules)
    except msgspec.ValidationError as error:
        raise ValidationFailed(f"The stop rules are not valid: {error}", details={"field": "stopRules"}) from None
    rules.bounce = rules.unsubscribe = True
    return rules


def stop_rules_of(stored: Any) -> StopRules:
    if isinstance(stored, str):
        stored = msgspec.json.decode(stored or "{}")
    return msgspec.convert(stored or {}, StopRules)


def to_json(value: Any) -> Any:
    return msgspec.to_builtins(value)


def choose_variant(step: Step, lead: uuid.UUID) -> Variant:
    """The lead's variant of the step: the same every time, shares in proportion to weights."""
    total = sum(v.weight for v in step.variants)
    if len(step.variants) == 1 or total <= 0:
        return step.variants[0]
    digest = hashlib.blake2b(f"{lead}:{step.key}".encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") % total
    for variant in step.variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    return step.variants[-1]  # pragma: no cover - the weights add up to total


def condition_holds(condition: str, *, opened: bool, clicked: bool, replied: bool) -> bool:
    return {
        "always": True,
        "no_reply": not replied,
        "opened": opened,
        "not_opened": not opened,
        "clicked": clicked,
        "not_clicked": not clicked,
    }[condition]


def delay_after(
    base: dt.datetime, step: Step, *, timezone: str | None = None, holidays: str | None = None
) -> dt.datetime:
    """When `step` is due if the previous one went out at `base`. Business days are counted in
    the lead's timezone, skipping Saturdays, Sundays and (with `holidays`) public holidays."""
    if step.unit == "hours":
        return base + dt.timedelta(hours=step.delay)
    if not step.business_days:
        return base + dt.timedelta(days=step.delay)
    tz = zone(timezone)
    local = base.astimezone(tz)
    day = local.date()
    left = step.delay
    while left > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5 and not is_holiday(holidays, day):
            left -= 1
    return dt.datetime.combine(day, local.timetz().replace(tzinfo=None), tz).astimezone(dt.UTC)


def describe_delay(step: Step) -> str:
    if step.delay == 0:
        return "right away"
    unit = ("business day" if step.business_days else "day") if step.unit == "days" else "hour"
    return f"{step.delay} {unit}{'s' if step.delay != 1 else ''} later"
