"""What a person does in the browser, step by step, shared by the browser tests."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.support import PASSWORD


def sign_in(page: Page, url: str, email: str, password: str = PASSWORD) -> None:
    """Fill in and submit the sign-in form at `url` (a tenant's /login)."""
    page.goto(url)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def expect_dashboard(page: Page, base: str) -> None:
    expect(page).to_have_url(base + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")


def open_nav(page: Page, name: str, path: str, base: str) -> None:
    """Follow a link of the main navigation (htmx-boosted: the URL changes without a reload)."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()
    expect(page).to_have_url(base + path)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    wait_for_htmx(page)


def wait_for_htmx(page: Page) -> None:
    """Wait until htmx has finished a boosted navigation or swap. The new content is visible
    before htmx has processed it (its `hx-*` attributes bind in the settle step), so acting on it
    at once can race: a `change` that fires before the bindings exist is lost."""
    page.wait_for_function(
        "() => window.htmx !== undefined && !document.querySelector("
        "'.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )
