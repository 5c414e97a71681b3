"""Leads, the import wizard, the suppression list and the template editor in a real browser,
each page checked with axe-core and at phone width."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_dashboard, open_nav, sign_in, wait_for_htmx

pytestmark = pytest.mark.browser


def test_a_seller_imports_leads_writes_a_template_and_previews_it(page, workspace, check, tmp_path):
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    open_nav(page, "Leads", "/leads", workspace.base)
    check(page, "leads (empty)")

    page.get_by_role("link", name="Add a lead").click()
    page.get_by_label("Email").fill("lena@example.com")
    page.get_by_label("First name").fill("Lena")
    page.get_by_label("Company").fill("Acme")
    page.get_by_label("Country").fill("Germany")
    check(page, "new lead")
    page.get_by_role("button", name="Add lead").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lena")
    expect(page.get_by_label("Timezone")).to_have_value("Europe/Berlin")
    check(page, "lead")

    csv_file = tmp_path / "people.csv"
    csv_file.write_text("Email;First name;Industry\nmo@example.com;Mo;Retail\nbroken;X;\n", encoding="utf-8")
    page.goto(workspace.url("/leads/imports"))
    check(page, "imports")
    page.get_by_label("CSV file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Upload and map columns").click()
    expect(page.get_by_role("heading", name="Step 2 of 3: map the columns")).to_be_visible()
    expect(page.get_by_label("Field for Industry")).to_have_value("custom")
    check(page, "import mapping")
    page.get_by_role("button", name="Start import").click()
    expect(page.get_by_text("1 imported")).to_be_visible(timeout=15_000)
    expect(page.get_by_role("link", name="Download the skipped rows (CSV)")).to_be_visible()
    check(page, "import finished")

    open_nav(page, "Leads", "/leads", workspace.base)
    expect(page.get_by_role("link", name="mo@example.com")).to_be_visible()
    check(page, "leads")

    open_nav(page, "Suppression list", "/suppressions", workspace.base)
    page.get_by_label("Address or domain").fill("competitor.example")
    page.get_by_role("button", name="Suppress").click()
    expect(page.get_by_role("cell", name="competitor.example", exact=True)).to_be_visible()
    check(page, "suppression list")

    open_nav(page, "Templates", "/templates", workspace.base)
    check(page, "templates")
    page.get_by_role("button", name=re.compile(r"^Add to my library\s*: Cold intro$")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cold intro")
    wait_for_htmx(page)
    page.get_by_label("For lead").select_option(label="lena@example.com · Acme")
    preview = page.frame_locator("iframe[title='Desktop preview']")
    expect(preview.get_by_text("Hi Lena,")).to_be_visible()
    expect(page.get_by_text("Every variable has a value.")).to_be_visible()
    check(page, "template editor with preview")
