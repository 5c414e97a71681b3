"""`Idempotency-Key` on the creating POSTs: a retry with the same key and body replays the first
answer (`Idempotent-Replayed: true`) without a second effect; the same key with another body is
refused (422); keys of different principals never collide; a refused request stores no key."""

from __future__ import annotations

import pytest

from tests.integration.web.web_support import Ledger, assert_error, make_caller
from tests.support import session_csrf, sign_in

CREATES = [
    (
        "/api/v1/invites",
        {"role": "member", "email": "new@acme.test"},
        {"role": "viewer", "email": "new@acme.test"},
        "invite",
    ),
    (
        "/api/v1/api-keys",
        {"name": "ci", "role": "viewer"},
        {"name": "ci", "role": "admin"},
        "api_key",
    ),
]


@pytest.fixture
async def owner(app, client_a, tenant_a):
    return await make_caller(app, tenant_a, "owner@acme.test")


@pytest.mark.parametrize(
    ("path", "body", "other_body", "table"), CREATES, ids=["invites", "api-keys"]
)
async def test_the_same_key_and_body_replay_the_first_answer(
    client_a, owner, settings, path, body, other_body, table
):
    ledger = Ledger(settings, owner.tenant)
    headers = {**owner.headers, "Idempotency-Key": "create-1"}
    first = await client_a.post(path, json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    after_first = await ledger.take()
    again = await client_a.post(path, json=body, headers=headers)
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await ledger.take() == after_first, "a replay writes nothing"
    assert await ledger.count(table) == after_first["counts"][table]


@pytest.mark.parametrize(
    ("path", "body", "other_body", "table"), CREATES, ids=["invites", "api-keys"]
)
async def test_the_same_key_with_another_body_is_refused(
    client_a, owner, settings, path, body, other_body, table
):
    ledger = Ledger(settings, owner.tenant)
    headers = {**owner.headers, "Idempotency-Key": "create-2"}
    assert (await client_a.post(path, json=body, headers=headers)).status_code == 201
    before = await ledger.take()
    response = await client_a.post(path, json=other_body, headers=headers)
    assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")
    assert await ledger.take() == before


async def test_a_key_is_bound_to_its_endpoint(client_a, owner, settings):
    headers = {**owner.headers, "Idempotency-Key": "shared"}
    assert (
        await client_a.post("/api/v1/invites", json={"role": "member"}, headers=headers)
    ).status_code == 201
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    response = await client_a.post(
        "/api/v1/api-keys", json={"name": "x", "role": "viewer"}, headers=headers
    )
    assert_error(response, 422, "IDEMPOTENCY_KEY_REUSED")
    assert await ledger.take() == before


async def test_different_principals_do_not_collide(app, client_a, tenant_a, owner, settings):
    admin = await make_caller(app, tenant_a, "admin@acme.test", "admin")
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.count("invite")
    body = {"role": "member", "email": "same@acme.test"}
    answers = []
    for caller in (owner, admin):
        response = await client_a.post(
            "/api/v1/invites", json=body, headers={**caller.headers, "Idempotency-Key": "same-key"}
        )
        assert response.status_code == 201 and "idempotent-replayed" not in response.headers
        answers.append(response.json()["data"]["id"])
    # The owner signed in (a session, not a key) is yet another principal.
    await sign_in(client_a, owner.email)
    response = await client_a.post(
        "/api/v1/invites",
        json=body,
        headers={"Idempotency-Key": "same-key", "X-CSRF-Token": await session_csrf(client_a)},
    )
    assert response.status_code == 201 and "idempotent-replayed" not in response.headers
    answers.append(response.json()["data"]["id"])
    assert len(set(answers)) == 3
    assert await ledger.count("invite") == before + 3


async def test_tenants_do_not_collide(app, client_a, client_b, tenant_a, tenant_b, owner):
    other = await make_caller(app, tenant_b, "owner@globex.test")
    body = {"role": "member"}
    a = await client_a.post(
        "/api/v1/invites", json=body, headers={**owner.headers, "Idempotency-Key": "k"}
    )
    b = await client_b.post(
        "/api/v1/invites", json=body, headers={**other.headers, "Idempotency-Key": "k"}
    )
    assert a.status_code == b.status_code == 201
    assert "idempotent-replayed" not in b.headers and a.json() != b.json()


async def test_a_refused_request_stores_no_key(client_a, owner, settings):
    """A failed create keeps nothing, so the corrected retry with the same key goes through."""
    ledger = Ledger(settings, owner.tenant)
    headers = {**owner.headers, "Idempotency-Key": "fix-and-retry"}
    before = await ledger.take()
    refused = await client_a.post(
        "/api/v1/invites", json={"role": "member", "email": "not an email"}, headers=headers
    )
    assert_error(refused, 400, "VALIDATION_ERROR")
    assert await ledger.take() == before
    fixed = await client_a.post(
        "/api/v1/invites", json={"role": "member", "email": "ok@acme.test"}, headers=headers
    )
    assert fixed.status_code == 201 and "idempotent-replayed" not in fixed.headers


@pytest.mark.parametrize("key", ["", " ", "a" * 256, "tab\there", "line\nbreak"])
async def test_a_malformed_key_is_refused(client_a, owner, settings, key):
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    response = await client_a.post(
        "/api/v1/invites",
        json={"role": "member"},
        headers={**owner.headers, "Idempotency-Key": key},
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    assert await ledger.take() == before
