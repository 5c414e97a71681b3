"""Two-factor sign-in: enrol with the key shown on the security page, then sign in with a code."""

from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import expect

from tests.browser.flows import expect_dashboard, sign_in

pytestmark = pytest.mark.browser


def test_turning_on_two_factor_then_signing_in_with_a_code(page, workspace, check):
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect_dashboard(page, workspace.base)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Security").click()
    expect(page.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()
    check(page, "security")

    page.get_by_role("button", name="Set up two-factor").click()
    secret_box = page.locator("code.secret").first
    expect(secret_box).to_be_visible()
    check(page, "two-factor enrolment")
    totp = pyotp.TOTP(secret_box.inner_text().strip().replace(" ", ""))

    page.get_by_label("Code").fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="Turn on two-factor").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page).to_have_url(workspace.url("/account/security"))
    check(page, "two-factor wrong code")

    # The mistyped code keeps the key being enrolled: the one already scanned still works.
    assert page.locator("code.secret").first.inner_text().strip().replace(" ", "") == totp.secret
    used = totp.now()
    page.get_by_label("Code").fill(used)
    page.get_by_role("button", name="Turn on two-factor").click()
    expect(page.get_by_text("Two-factor sign-in is on")).to_be_visible()
    check(page, "two-factor on")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(workspace.url("/login"))
    sign_in(page, workspace.url("/login"), workspace.owner_email)
    expect(page).to_have_url(workspace.url("/login/2fa?next=%2F"))
    check(page, "two-factor code", navigation=False)

    # The code that turned two-factor on cannot be replayed; the next one is accepted.
    page.get_by_label("Code").fill(used)
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_label("Code").fill(totp.at(time.time() + totp.interval))
    page.get_by_role("button", name="Verify").click()
    expect_dashboard(page, workspace.base)
