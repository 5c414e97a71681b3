"""Hostile request bodies: malformed JSON, wrong types, unknown fields, oversized bodies, SQL-ish
strings. Each gets the documented error envelope and status, never a 500, and writes nothing."""

from __future__ import annotations

import json

import pytest

from tests.integration.web.web_support import Ledger, assert_error, make_caller

JSON = {"content-type": "application/json"}
SQLISH = "member'; DROP TABLE invite; --"

#: (method, path, raw body, status, code)
BAD_BODIES = [
    ("POST", "/api/v1/invites", b'{"role":', 400, "BAD_REQUEST"),
    ("POST", "/api/v1/invites", b"{role: member}", 400, "BAD_REQUEST"),
    ("POST", "/api/v1/invites", b"", 400, "VALIDATION_ERROR"),
    ("POST", "/api/v1/invites", b"[]", 400, "VALIDATION_ERROR"),
    ("POST", "/api/v1/invites", b'"member"', 400, "VALIDATION_ERROR"),
    ("POST", "/api/v1/invites", b'{"role": 5}', 400, "VALIDATION_ERROR"),
    ("POST", "/api/v1/invites", b'{"role": null}', 400, "VALIDATION_ERROR"),
    ("POST", "/api/v1/invites", b'{"role": "superuser"}', 400, "VALIDATION_ERROR"),
    ("POST", "/api/v1/invites", b'{"role": "member", "admin": true}', 400, "VALIDATION_ERROR"),
    ("POST", "/api/v1/invites", b'{"role": "member", "email": 12}', 400, "VALIDATION_ERROR"),
    ("POST", "/api/v1/invites", b'{"role": 1e999}', 400, "BAD_REQUEST"),
    ("POST", "/api/v1/invites", b'{"role": "mem\xffber"}', 400, "BAD_REQUEST"),
    ("POST", "/api/v1/invites", b'{"role": "member", "email": "a\x00@b.test"}', 400, "BAD_REQUEST"),
    (
        "POST",
        "/api/v1/invites",
        b'{"role": ' + b"[" * 50_000 + b"]" * 50_000 + b"}",
        400,
        "BAD_REQUEST",
    ),
    ("POST", "/api/v1/invites", json.dumps({"role": SQLISH}).encode(), 400, "VALIDATION_ERROR"),
    (
        "POST",
        "/api/v1/invites",
        json.dumps({"role": "member", "email": "x@y.test' OR '1'='1"}).encode(),
        400,
        "VALIDATION_ERROR",
    ),
    ("POST", "/api/v1/api-keys", b'{"name": 7, "role": "viewer"}', 400, "VALIDATION_ERROR"),
    ("POST", "/api/v1/api-keys", b'{"name": "", "role": "viewer"}', 400, "VALIDATION_ERROR"),
    (
        "POST",
        "/api/v1/api-keys",
        b'{"name": "k", "role": "viewer", "isAdmin": true}',
        400,
        "VALIDATION_ERROR",
    ),
    (
        "POST",
        "/api/v1/api-keys",
        b'{"name": "k", "role": "viewer", "expiresAt": "tomorrow"}',
        400,
        "VALIDATION_ERROR",
    ),
    (
        "POST",
        "/api/v1/api-keys",
        b'{"name": "k", "role": "viewer", "expiresAt": "2030-01-01T00:00:00"}',
        400,
        "VALIDATION_ERROR",
    ),
    (
        "POST",
        "/api/v1/api-keys",
        b'{"name": "k", "role": "viewer", "expiresAt": "2001-01-01T00:00:00Z"}',
        400,
        "VALIDATION_ERROR",
    ),
    (
        "POST",
        "/api/v1/members/bulk",
        b'{"action": "remove", "ids": "all"}',
        400,
        "VALIDATION_ERROR",
    ),
    ("POST", "/api/v1/members/bulk", b'{"action": "remove", "ids": []}', 400, "VALIDATION_ERROR"),
    (
        "POST",
        "/api/v1/members/bulk",
        b'{"action": "remove", "ids": ["1 OR 1=1"]}',
        400,
        "VALIDATION_ERROR",
    ),
    (
        "POST",
        "/api/v1/members/bulk",
        b'{"action": "drop", "ids": ["7a0c1e36-4b4b-4b8e-9d55-0d5e1f3f4a10"]}',
        400,
        "VALIDATION_ERROR",
    ),
    (
        "POST",
        "/api/v1/members/bulk",
        b'{"action": "set_role", "ids": ["7a0c1e36-4b4b-4b8e-9d55-0d5e1f3f4a10"]}',
        400,
        "VALIDATION_ERROR",
    ),
    (
        "POST",
        "/api/v1/api-keys/bulk",
        b'{"action": "revoke", "ids": ["x"], "force": true}',
        400,
        "VALIDATION_ERROR",
    ),
]


@pytest.fixture
async def owner(app, client_a, tenant_a):
    return await make_caller(app, tenant_a, "owner@acme.test")


async def test_bad_bodies_are_refused_with_the_envelope_and_write_nothing(
    client_a, owner, settings
):
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    for method, path, body, status, code in BAD_BODIES:
        response = await client_a.request(
            method, path, content=body, headers={**owner.headers, **JSON}
        )
        try:
            assert_error(response, status, code)
        except AssertionError as error:
            raise AssertionError(f"{method} {path} {body[:60]!r}: {error}") from None
    assert await ledger.take() == before


async def test_a_bad_role_change_is_refused(client_a, owner, settings):
    ledger = Ledger(settings, owner.tenant)
    members = (await client_a.get("/api/v1/members", headers=owner.headers)).json()["data"]
    before = await ledger.take()
    for body in ({"role": "admin' --"}, {"role": ["owner"]}, {"role": "viewer", "user": "x"}, {}):
        response = await client_a.patch(
            f"/api/v1/members/{members[0]['id']}", json=body, headers=owner.headers
        )
        assert_error(response, 400, "VALIDATION_ERROR")
    assert await ledger.take() == before


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_limit_gets_413_and_writes_nothing(
    client_a, owner, settings, chunked
):
    limit = settings.max_request_body
    padding = b"x" * (limit + 1)
    body = b'{"role": "member", "email": "' + padding + b'"}'

    async def pieces():
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    response = await client_a.post(
        "/api/v1/invites", content=pieces() if chunked else body, headers={**owner.headers, **JSON}
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert await ledger.take() == before


async def test_a_page_form_over_the_limit_gets_413_and_writes_nothing(client_a, owner, settings):
    await client_a.get("/team", headers=owner.headers)  # the CSRF cookie
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    response = await client_a.post(
        "/team/invites",
        content=b"role=member&email=" + b"a" * (settings.max_request_body + 1),
        headers={
            **owner.headers,
            "content-type": "application/x-www-form-urlencoded",
            "x-csrftoken": client_a.cookies.get("sc_csrf") or "",
        },
    )
    assert response.status_code == 413
    assert await ledger.take() == before


async def test_sql_in_free_text_is_stored_as_text(client_a, owner, settings):
    """Free text that looks like SQL is just text: kept verbatim, every table intact."""
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    name = "Robert'); DROP TABLE api_key;--"
    response = await client_a.post(
        "/api/v1/api-keys", json={"name": name, "role": "viewer"}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    listed = (await client_a.get("/api/v1/api-keys", headers=owner.headers)).json()["data"]
    assert name in [key["name"] for key in listed]
    after = await ledger.take()
    changed = {t for t in before["counts"] if before["counts"][t] != after["counts"][t]}
    assert changed == {"api_key", "audit_entry"}, changed
    assert after["counts"]["api_key"] == before["counts"]["api_key"] + 1


@pytest.mark.parametrize(
    "form", [b"email=\xff\xfe&password=\xff", b"email=%ff%fe&password=%ff", b"=&&==%%"]
)
async def test_an_unreadable_sign_in_form_is_refused_not_a_server_error(
    client_a, owner, settings, form
):
    await client_a.get("/login")  # the CSRF cookie
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    response = await client_a.post(
        "/login",
        content=form,
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "x-csrftoken": client_a.cookies.get("sc_csrf") or "",
        },
    )
    assert 400 <= response.status_code < 500, response.text[:300]
    after = await ledger.take()
    # A refused sign-in is audited (by design); nothing else may change.
    assert {k: v for k, v in after["counts"].items() if k != "audit_entry"} == {
        k: v for k, v in before["counts"].items() if k != "audit_entry"
    }
