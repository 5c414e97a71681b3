"""The leads pages as a browser uses them: table with filters, add and edit a lead, bulk action,
erase, and the import wizard (upload -> mapping -> progress -> report)."""

from __future__ import annotations

import asyncio
import re

from tests.support import add_member, csrf_from, form_post, sign_in


async def _signed_in(client, tenant, role="owner"):
    await add_member(tenant, f"{role}@acme.test", role)
    await sign_in(client, f"{role}@acme.test")


async def test_add_edit_filter_and_erase_a_lead(client_a, tenant_a):
    await _signed_in(client_a, tenant_a)
    response = await form_post(client_a, "/leads/new", "/leads", {
        "email": "Page.Lead@example.com", "firstName": "Paula", "company": "Acme <b>", "country": "FR",
        "tags": "warm, expo", "status": "new", "customFields": "industry=Retail\nsize=50",
    })
    assert response.status_code in (302, 303), response.text[:500]
    lead_url = response.headers["location"]
    page = await client_a.get(lead_url)
    assert page.status_code == 200 and "Paula" in page.text and "Europe/Paris" in page.text
    assert "Acme &lt;b&gt;" in page.text and "industry=Retail" in page.text
    again = await form_post(client_a, "/leads/new", "/leads", {"email": "page.lead@EXAMPLE.com"})
    assert again.headers["location"].startswith(lead_url)
    edited = await form_post(client_a, lead_url, lead_url, {"email": "page.lead@example.com", "firstName": "Pauline",
                                                            "status": "interested"})
    assert edited.status_code in (302, 303)
    table = await client_a.get("/leads?status=interested&q=paul")
    assert "page.lead@example.com" in table.text.lower() and "Pauline" in table.text
    assert "No leads" in (await client_a.get("/leads?status=bounced")).text
    bad = await form_post(client_a, "/leads/new", "/leads", {"email": "nope"})
    assert bad.status_code == 400 and "not a valid email" in bad.text
    erased = await form_post(client_a, lead_url, lead_url + "/erase", {})
    assert erased.status_code in (302, 303)
    assert (await client_a.get(lead_url)).status_code == 404


async def test_bulk_action_from_the_table(client_a, tenant_a):
    await _signed_in(client_a, tenant_a)
    for email in ("b1@example.com", "b2@example.com"):
        await form_post(client_a, "/leads/new", "/leads", {"email": email})
    table = await client_a.get("/leads")
    ids = re.findall(r'name="ids" value="([^"]+)"', table.text)
    assert len(ids) == 2
    response = await client_a.post("/leads/bulk", data={"_csrf_token": csrf_from(table.text), "action": "tag",
                                                        "value": "hot", "ids": ids}, follow_redirects=False)
    assert response.status_code in (302, 303)
    assert "hot" in (await client_a.get("/leads?tag=hot")).text


async def test_a_viewer_sees_leads_without_forms_to_change_them(client_a, tenant_a):
    await _signed_in(client_a, tenant_a, "viewer")
    page = await client_a.get("/leads")
    assert page.status_code == 200 and "Add a lead" not in page.text and "Import CSV" not in page.text
    assert (await client_a.get("/leads/new")).status_code == 403


async def test_the_import_wizard(client_a, tenant_a):
    await _signed_in(client_a, tenant_a)
    start = await client_a.get("/leads/imports")
    data = "Email;Vorname;Firma;Branche\nw1@example.com;Wim;Acme;Retail\nkaputt;X;;\n".encode("latin-1")
    response = await client_a.post(
        "/leads/imports", data={"_csrf_token": csrf_from(start.text)},
        files={"file": ("kunden.csv", data, "text/csv")}, follow_redirects=False,
    )
    assert response.status_code in (302, 303), response.text[:500]
    wizard_url = response.headers["location"]
    wizard = await client_a.get(wizard_url)
    assert "map the columns" in wizard.text and "Branche" in wizard.text
    fields = {"_csrf_token": csrf_from(wizard.text), "map-0": "email", "map-1": "first_name", "map-2": "company",
              "map-3": "custom", "custom-3": "industry", "on_duplicate": "update", "tags": "fair"}
    started = await client_a.post(wizard_url + "/start", data=fields, follow_redirects=False)
    assert started.status_code in (302, 303), started.text[:500]
    for _ in range(200):
        progress = await client_a.get(wizard_url + "/progress")
        if "completed" in progress.text:
            break
        await asyncio.sleep(0.05)
    assert "1 imported" in progress.text and "1 skipped" in progress.text, progress.text
    assert "/report" in progress.text
    lead_table = await client_a.get("/leads?tag=fair")
    assert "w1@example.com" in lead_table.text


async def test_the_wizard_refuses_a_missing_file(client_a, tenant_a):
    await _signed_in(client_a, tenant_a)
    response = await form_post(client_a, "/leads/imports", "/leads/imports", {})
    assert response.status_code == 400 and "Choose a CSV file" in response.text
