"""The sequence builder and the campaign pages without JavaScript: steps move, are added and
removed by the form's buttons; saving a running sequence shows the leads in flight first; the
wizard creates a draft; the campaign page launches it; the dry run and the timeline render."""

from __future__ import annotations

import re

from salescopilot.leads.service import LeadService
from salescopilot.clock import system_clock
from salescopilot.tenancy.context import tenant_scope
from tests.integration.campaigns.test_campaigns_api import _pool
from tests.integration.mailboxes.conftest import signed_in
from tests.support import csrf_from


def as_form(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Repeated fields as httpx sends them: each name with its values in order."""
    form: dict[str, list[str]] = {}
    for name, value in fields:
        form.setdefault(name, []).append(value)
    return form


def builder_form(csrf: str, steps: list[tuple[str, str, str]], op: str, name: str = "Outbound") -> dict[str, list[str]]:
    fields = [("_csrf_token", csrf), ("name", name), ("description", ""), ("rule_reply", "on"), ("op", op)]
    for key, step_name, condition in steps:
        fields += [("step_key", key), ("step_name", step_name), ("step_delay", "2"), ("step_unit", "days"),
                   ("step_business", "yes"), ("step_condition", condition), ("step_thread", "new"),
                   ("step_template", ""), ("step_subject", f"About {step_name}"), ("step_text", "Hi {{firstName|there}}"),
                   ("step_b_template", ""), ("step_b_weight", "50")]
    return as_form(fields)


def names_in(html: str) -> list[str]:
    return re.findall(r'name="step_name" maxlength="200" value="([^"]*)"', html)


async def test_builder_without_javascript_then_wizard_launch_dry_run_and_timeline(client_a, tenant_a, no_scheduler):
    await signed_in(client_a, tenant_a)
    page = await client_a.get("/sequences/new")
    assert page.status_code == 200 and "Sortable.min.js" in page.text
    csrf = csrf_from(page.text)
    steps = [("a", "Intro", "always"), ("b", "Nudge", "no_reply"), ("c", "Last", "not_opened")]
    moved = await client_a.post("/sequences", data=builder_form(csrf, steps, "up:2"))
    assert names_in(moved.text) == ["Intro", "Last", "Nudge"]
    added = await client_a.post("/sequences", data=builder_form(csrf, steps, "add"))
    assert len(names_in(added.text)) == 4
    removed = await client_a.post("/sequences", data=builder_form(csrf, steps, "remove:0"))
    assert names_in(removed.text) == ["Nudge", "Last"]
    invalid = await client_a.post("/sequences", data=builder_form(csrf, [("a", "Intro", "always")], "save", name=""))
    assert invalid.status_code == 400 and "alert-error" in invalid.text
    saved = await client_a.post("/sequences", data=builder_form(csrf, steps, "save"), follow_redirects=False)
    assert saved.status_code in (302, 303)
    sequence_url = saved.headers["location"].split("?")[0]
    assert (await client_a.get("/sequences")).status_code == 200

    pool = await _pool(tenant_a)
    async with tenant_scope(tenant_a):
        service = LeadService(clock=system_clock)
        lead = await service.create({"email": "ana@customer.example.com", "first_name": "Ana", "timezone": "Europe/Madrid"})
        leads_list = await service.create_list("Spain")
        await service.bulk("add_to_list", [lead.id], str(leads_list.id))
    wizard = await client_a.get("/campaigns/new")
    assert wizard.status_code == 200
    created = await client_a.post("/campaigns", data=as_form([
        ("_csrf_token", csrf_from(wizard.text)), ("name", "Spain Q3"), ("sequence", sequence_url.rsplit("/", 1)[1]),
        ("source", "list"), ("list", str(leads_list.id)), ("pool", pool), ("days", "0"), ("days", "1"), ("days", "2"),
        ("days", "3"), ("days", "4"), ("window_start", "09:00"), ("window_end", "17:00"), ("holidays", "lead"),
    ]), follow_redirects=False)
    assert created.status_code in (302, 303), created.text
    campaign_url = created.headers["location"].split("?")[0]
    detail = await client_a.get(campaign_url)
    assert "ana@customer.example.com" in detail.text and "Launch" in detail.text
    plan = await client_a.get(campaign_url + "/dry-run?days=14")
    assert plan.status_code == 200 and "About Intro" in plan.text
    launched = await client_a.post(campaign_url + "/launch", data={"_csrf_token": csrf_from(detail.text)},
                                   follow_redirects=False)
    assert launched.status_code in (302, 303)
    detail = await client_a.get(campaign_url)
    enrollment = re.search(r'href="(/campaigns/[^"]+/leads/[^"]+)"', detail.text).group(1)
    timeline = await client_a.get(enrollment)
    assert timeline.status_code == 200 and "Steps" in timeline.text

    # Saving the running sequence shows the leads in flight before it applies.
    editor = await client_a.get(sequence_url)
    stored = re.findall(r'name="step_key" value="([^"]+)"', editor.text)
    held = await client_a.post(sequence_url, data=builder_form(csrf_from(editor.text),
                                                               list(zip(stored, ["Intro", "Nudge"], ["always", "no_reply"])), "save"))
    assert held.status_code == 409 and "Leads in flight" in held.text and "Apply to the running campaigns" in held.text
    applied = await client_a.post(sequence_url, data=builder_form(csrf_from(editor.text),
                                                                  list(zip(stored, ["Intro", "Nudge"], ["always", "no_reply"])), "confirm"),
                                  follow_redirects=False)
    assert applied.status_code in (302, 303)
    assert "v2" in (await client_a.get(sequence_url)).text
    assert (await client_a.get("/campaigns?status=active")).status_code == 200
