"""Credentials that must not work: forged session cookies, wrong CSRF tokens, revoked, expired
and malformed API keys, expired or spent invitations, wrong TOTP codes. Each is refused with the
documented answer (the envelope on the API; the page with its status, or the sign-in redirect,
for pages), never a 500, and nothing is written (but the audit entry of a refused sign-in)."""

from __future__ import annotations

import datetime as dt
import secrets

import pyotp
import pytest

from salescopilot.accounts.repository import UserRepository
from salescopilot.accounts.service import AccountService
from salescopilot.tenancy.context import tenant_scope
from tests.integration.web.web_support import Ledger, assert_error, make_caller
from tests.support import add_member, session_csrf, sign_in

REFUSED_SIGN_INS = {"auth.sign_in_failed", "auth.second_factor_failed"}
FORGED_COOKIES = [
    "forged",
    secrets.token_urlsafe(32),
    "x" * 5000,
    '"\\x00;;; ="',
    "../../etc/passwd",
]


@pytest.fixture
async def owner(app, client_a, tenant_a):
    return await make_caller(app, tenant_a, "owner@acme.test")


async def audit_actions(ledger: Ledger) -> list[str]:
    rows = await ledger.database.fetch(
        "SELECT action FROM audit_entry WHERE tenant = {} ORDER BY seq", ledger.tenant.id
    )
    return [row[0] for row in rows]


def without_audit(state: dict) -> dict:
    return {
        "counts": {k: v for k, v in state["counts"].items() if k != "audit_entry"},
        "rows": {k: v for k, v in state["rows"].items() if k != "audit_entry"},
    }


@pytest.mark.parametrize("cookie", FORGED_COOKIES, ids=range(len(FORGED_COOKIES)))
async def test_a_forged_session_cookie_is_nobody(client_a, owner, settings, cookie):
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    jar = {"Cookie": f"sc_session={cookie}"}
    assert_error(await client_a.get("/api/v1/me", headers=jar), 401, "NOT_AUTHENTICATED")
    page = await client_a.get("/", headers={**jar, "Accept": "text/html"})
    assert page.status_code in (302, 303) and page.headers["location"].startswith("/login")
    write = await client_a.post(
        "/api/v1/invites", json={"role": "member"}, headers={**jar, "X-CSRF-Token": "anything"}
    )
    assert_error(write, 401, "NOT_AUTHENTICATED")
    assert await ledger.take() == before


async def test_a_session_api_write_without_its_csrf_token_is_refused(client_a, owner, settings):
    await sign_in(client_a, owner.email)
    token = await session_csrf(client_a)
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    for header in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": token[:-1]}):
        response = await client_a.post("/api/v1/invites", json={"role": "member"}, headers=header)
        assert_error(response, 403, "PERMISSION_DENIED")
    assert await ledger.take() == before
    ok = await client_a.post(
        "/api/v1/invites", json={"role": "member"}, headers={"X-CSRF-Token": token}
    )
    assert ok.status_code == 201, ok.text


async def test_a_revoked_api_key_is_refused(client_a, owner, settings):
    created = await client_a.post(
        "/api/v1/api-keys", json={"name": "temp", "role": "admin"}, headers=owner.headers
    )
    key = created.json()["data"]
    assert (await client_a.get("/api/v1/me", headers={"X-API-Key": key["key"]})).status_code == 200
    revoked = await client_a.delete(f"/api/v1/api-keys/{key['id']}", headers=owner.headers)
    assert revoked.status_code == 204
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    for headers in ({"Authorization": f"Bearer {key['key']}"}, {"X-API-Key": key["key"]}):
        assert_error(await client_a.get("/api/v1/me", headers=headers), 401, "NOT_AUTHENTICATED")
        response = await client_a.post("/api/v1/invites", json={"role": "member"}, headers=headers)
        assert_error(response, 401, "NOT_AUTHENTICATED")
        response = await client_a.delete(f"/api/v1/api-keys/{owner.api_key_id}", headers=headers)
        assert_error(response, 401, "NOT_AUTHENTICATED")
    assert await ledger.take() == before


async def test_an_expired_api_key_is_refused(app, client_a, owner, settings):
    clock = app.state.services.clock
    created = await client_a.post(
        "/api/v1/api-keys",
        json={"name": "short-lived", "role": "viewer", "expiresAt": clock.now().isoformat()},
        headers=owner.headers,
    )
    assert_error(created, 400, "VALIDATION_ERROR")  # an expiry that is not in the future
    later = (clock.now() + dt.timedelta(minutes=5)).isoformat()
    created = await client_a.post(
        "/api/v1/api-keys",
        json={"name": "short-lived", "role": "viewer", "expiresAt": later},
        headers=owner.headers,
    )
    key = created.json()["data"]["key"]
    assert (await client_a.get("/api/v1/me", headers={"X-API-Key": key})).status_code == 200
    clock.advance(minutes=6)
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    assert_error(
        await client_a.get("/api/v1/me", headers={"X-API-Key": key}), 401, "NOT_AUTHENTICATED"
    )
    assert await ledger.take() == before


async def test_malformed_and_guessed_api_keys_are_refused(client_a, owner, settings):
    prefix = owner.api_key.split("_")[1]
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    for key in (
        "sc_short",
        "sc_",
        "nonsense",
        "x" * 5000,
        f"sc_{prefix}_{secrets.token_urlsafe(32)}",
        owner.api_key[:-1],
        owner.api_key + "x",
        owner.api_key.upper(),
        f"sc_{prefix}_",
    ):
        for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
            assert_error(
                await client_a.get("/api/v1/members", headers=headers), 401, "NOT_AUTHENTICATED"
            )
    assert await ledger.take() == before


async def test_an_expired_invitation_cannot_be_opened_or_accepted(app, client_a, owner, settings):
    created = await client_a.post(
        "/api/v1/invites", json={"role": "admin", "email": "late@acme.test"}, headers=owner.headers
    )
    link = created.json()["data"]["link"]
    path = link[link.index("/invite/") :]
    app.state.services.clock.advance(days=8)
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    page = await client_a.get(path)
    assert page.status_code == 410 and "expired" in page.text
    await client_a.get("/login")  # a CSRF cookie, so the form is judged on its merits
    accepted = await client_a.post(
        path,
        data={"email": "late@acme.test", "name": "Late", "password": "correct-horse-battery"},
        headers={"x-csrftoken": client_a.cookies.get("sc_csrf") or ""},
        follow_redirects=False,
    )
    assert accepted.status_code == 410, accepted.text[:300]
    assert client_a.cookies.get("sc_session") is None
    assert await ledger.take() == before


async def test_a_revoked_or_used_invitation_cannot_be_accepted(app, client_a, owner, settings):
    invites = []
    for email in ("gone@acme.test", "used@acme.test"):
        data = (
            await client_a.post(
                "/api/v1/invites", json={"role": "member", "email": email}, headers=owner.headers
            )
        ).json()["data"]
        invites.append((data["id"], data["link"][data["link"].index("/invite/") :], email))
    assert (
        await client_a.delete(f"/api/v1/invites/{invites[0][0]}", headers=owner.headers)
    ).status_code == 204
    await client_a.get("/login")
    csrf = {"x-csrftoken": client_a.cookies.get("sc_csrf") or ""}
    form = {"email": "used@acme.test", "name": "Used", "password": "correct-horse-battery"}
    first = await client_a.post(invites[1][1], data=form, headers=csrf, follow_redirects=False)
    assert first.status_code in (302, 303), first.text[:300]
    client_a.cookies.clear()
    await client_a.get("/login")
    csrf = {"x-csrftoken": client_a.cookies.get("sc_csrf") or ""}
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    for _, path, email in invites:
        again = await client_a.post(
            path, data={**form, "email": email}, headers=csrf, follow_redirects=False
        )
        assert again.status_code == 410, again.text[:300]
    assert await ledger.take() == before


async def _enable_totp(app, tenant, email: str) -> str:
    services = app.state.services
    service = AccountService(
        clock=services.clock,
        secret_box=services.secret_box,
        permissions=services.permissions,
        throttle=services.throttle,
    )
    async with tenant_scope(tenant):
        user = await UserRepository().by_email(email)
        secret, _ = await service.begin_totp_enrolment(user)
        await service.confirm_totp(user, pyotp.TOTP(secret).at(services.clock.now()))
    return secret


async def test_a_wrong_totp_code_is_refused_and_only_audited(
    app, client_a, tenant_a, owner, settings
):
    await add_member(tenant_a, "tina@acme.test", "member")
    secret = await _enable_totp(app, tenant_a, "tina@acme.test")
    clock = app.state.services.clock
    used_code = pyotp.TOTP(secret).at(clock.now())
    clock.advance(seconds=30)
    started = await sign_in(client_a, "tina@acme.test")
    assert started.headers["location"].startswith("/login/2fa")
    right = pyotp.TOTP(secret).at(clock.now())
    wrong = next(c for c in ("000000", "111111", "222222") if c not in (right, used_code))
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    actions_before = await audit_actions(ledger)
    page = await client_a.get("/login/2fa")
    csrf = {"x-csrftoken": client_a.cookies.get("sc_csrf") or ""}
    # Four refusals: a fifth would throttle the account (and the right code after it).
    for code in (wrong, "abcdef", "1" * 20, used_code):
        response = await client_a.post(
            "/login/2fa", data={"code": code, "next": "/"}, headers=csrf, follow_redirects=False
        )
        assert response.status_code == 401, (code, response.status_code)
        assert "not right" in response.text
        assert client_a.cookies.get("sc_session") is None
    assert page.status_code == 200
    assert_error(await client_a.get("/api/v1/me"), 401, "NOT_AUTHENTICATED")
    after = await ledger.take()
    assert without_audit(after) == without_audit(before)
    new_actions = (await audit_actions(ledger))[len(actions_before) :]
    assert new_actions and set(new_actions) == {"auth.second_factor_failed"}, new_actions
    # The right code still works afterwards.
    response = await client_a.post(
        "/login/2fa", data={"code": right, "next": "/"}, headers=csrf, follow_redirects=False
    )
    assert response.status_code in (302, 303), response.text[:300]
    assert (await client_a.get("/api/v1/me")).status_code == 200


async def test_a_wrong_totp_code_does_not_switch_two_factor_on(
    app, client_a, tenant_a, owner, settings
):
    await add_member(tenant_a, "sam@acme.test", "member")
    await sign_in(client_a, "sam@acme.test")
    page = await client_a.get("/account/security")
    csrf = {"x-csrftoken": client_a.cookies.get("sc_csrf") or ""}
    begun = await client_a.post("/account/security/totp/begin", headers=csrf)
    assert begun.status_code in (200, 201), begun.text[:300]
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    for code in ("000000", "12345", "abcdef"):
        response = await client_a.post(
            "/account/security/totp/confirm", data={"code": code}, headers=csrf
        )
        assert response.status_code == 400 and "not right" in response.text, response.text[:300]
    assert page.status_code == 200
    assert await ledger.take() == before
    async with tenant_scope(tenant_a):
        assert not (await UserRepository().by_email("sam@acme.test")).totp_enabled
