"""The admin audit console: entries, filters, the verification status and the exports."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_dashboard, sign_in
from tests.integration.audit.audit_support import Tamper

pytestmark = pytest.mark.browser


def create_key(page, base: str, name: str) -> None:
    page.goto(base + "/settings/api-keys")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-api-key")).to_be_visible()


@pytest.fixture
def busy_workspace(workspace, new_page):
    """A workspace with a little history: an admin, Ann, signed in and made an API key."""
    workspace.add_member(f"ann@{workspace.slug}.test", "admin")
    ann = new_page()
    sign_in(ann, workspace.url("/login"), f"ann@{workspace.slug}.test")
    expect_dashboard(ann, workspace.base)
    create_key(ann, workspace.base, "Ann's key")
    ann.context.close()
    return workspace


def results(page):
    return page.locator("#audit-results")


def actions_shown(page) -> list[str]:
    return [text.strip() for text in results(page).locator("tbody tr td:nth-child(4)").all_inner_texts()]


def download_text(page, link_name: str) -> tuple[str, str]:
    """Click an export link; the downloaded file's suggested name and its text."""
    with page.expect_download() as started:
        page.get_by_role("link", name=link_name, exact=True).click()
    download = started.value
    return download.suggested_filename, open(download.path(), encoding="utf-8").read()


def test_the_console_filters_verifies_and_exports(page, busy_workspace, check):
    space = busy_workspace
    sign_in(page, space.url("/login"), space.owner_email)
    expect_dashboard(page, space.base)
    create_key(page, space.base, "Audit probe")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    expect(page.locator("#audit-verify")).to_contain_text("Chain intact")
    expect(results(page).get_by_role("row").filter(has_text="api_key.created")).to_have_count(2)
    check(page, "audit log")

    # Filter by action: only key creations, the address and the export links carry the filter.
    page.get_by_label("Action").fill("api_key.created")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"/audit\?.*action=api_key\.created"))
    expect(results(page).locator("tbody tr")).to_have_count(2)
    assert actions_shown(page) == ["api_key.created", "api_key.created"]
    expect(results(page)).to_contain_text("Audit probe")
    csv_link = page.get_by_role("link", name="CSV", exact=True)
    expect(csv_link).to_have_attribute("href", re.compile(r"action=api_key\.created"))
    check(page, "audit log filtered by action")

    # Filter by actor (and an action prefix): Ann's key only.
    page.get_by_label("Action").fill("api_key.*")
    page.get_by_label("Actor").fill(f"ann@{space.slug}")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"actor=ann"))
    expect(results(page).locator("tbody tr")).to_have_count(1)
    assert actions_shown(page) == ["api_key.created"]
    expect(results(page)).to_contain_text("Ann's key")

    # The exports hold what the filter shows.
    ann = f"ann@{space.slug}.test"
    name, text = download_text(page, "JSON Lines")
    assert name.startswith(f"audit-{space.slug}-") and name.endswith(".jsonl")
    entries = [json.loads(line) for line in text.splitlines() if line]
    assert [(e["action"], e["actor_label"]) for e in entries] == [("api_key.created", ann)]
    name, text = download_text(page, "CSV")
    assert name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["action"], r["actor_label"]) for r in rows] == [("api_key.created", ann)]

    # A time window with nothing in it.
    page.get_by_role("link", name="Clear").click()
    expect(page).to_have_url(space.url("/audit"))
    page.get_by_label("To (UTC)").fill("2000-01-01T00:00")
    page.get_by_role("button", name="Apply filters").click()
    expect(results(page)).to_contain_text("No entries match")

    # A filter the server refuses is explained (in place, and on a page of its own), and the
    # unfiltered log shown.
    page.get_by_label("To (UTC)").fill("")
    page.get_by_label("Action").fill("DROP TABLE")
    page.get_by_role("button", name="Apply filters").click()
    expect(results(page).get_by_role("alert")).to_contain_text("action")
    expect(results(page).locator("tbody tr").first).to_be_visible()
    page.goto(space.url("/audit?action=DROP%20TABLE"))
    expect(page.get_by_role("alert")).to_contain_text("action")
    expect(results(page).locator("tbody tr").first).to_be_visible()
    check(page, "audit log with a refused filter")


def test_the_console_names_the_first_broken_entry(page, busy_workspace, check):
    space = busy_workspace
    tamper = Tamper(space.database.template)
    forge = "UPDATE audit_entry SET target_id = ? WHERE tenant = ? AND seq = ?"
    space.database.run(lambda: tamper.execute((forge, ("forged", space.tenant.id, 2))))
    sign_in(page, space.url("/login"), space.owner_email)
    expect_dashboard(page, space.base)
    page.goto(space.url("/audit"))
    expect(page.locator("#audit-verify").get_by_role("alert")).to_contain_text("Chain broken at entry 2")
    check(page, "audit log with a broken chain")

    page.goto(space.url("/audit/verify"))
    expect(page.get_by_role("alert")).to_contain_text("Chain broken at entry 2")
    check(page, "audit verification page")


def test_members_do_not_see_the_audit_log(page, workspace, check):
    workspace.add_member(f"mo@{workspace.slug}.test", "member")
    sign_in(page, workspace.url("/login"), f"mo@{workspace.slug}.test")
    expect_dashboard(page, workspace.base)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)
    response = page.goto(workspace.url("/audit"))
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    check(page, "audit log refused to a member")
