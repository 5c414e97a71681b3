"""Hostile query strings and paths on the list endpoints: bad pagination, unknown sort columns,
impossible orders, SQL-ish filter values and ids. The documented envelope and status every time,
never a 500, nothing written; filter text that looks like SQL matches only itself."""

from __future__ import annotations

import pytest

from tests.integration.web.web_support import Ledger, assert_error, make_caller

LISTS = ["/api/v1/members", "/api/v1/api-keys", "/api/v1/audit"]
SQLISH = "' OR '1'='1' --"
BAD_PAGINATION = [
    "page=0",
    "page=-1",
    "page=abc",
    "page=1.5",
    "page=99999999999999999999",
    "page=",
    "limit=0",
    "limit=-5",
    "limit=10000",
    "limit=201",
    "limit=abc",
    "sort=unknown",
    "sort=id",
    f"sort={SQLISH}",
    "sort=created_at;DROP TABLE membership",
    "order=sideways",
    "order=DESC;--",
    "order=",
]


@pytest.fixture
async def owner(app, client_a, tenant_a):
    return await make_caller(app, tenant_a, "owner@acme.test")


@pytest.mark.parametrize("path", LISTS)
async def test_bad_pagination_is_refused_with_the_envelope(client_a, owner, settings, path):
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    for query in BAD_PAGINATION:
        response = await client_a.get(f"{path}?{query}", headers=owner.headers)
        error = assert_error(response, 400, "VALIDATION_ERROR")
        assert error["details"], f"{query}: the error names what is wrong"
    # Not even the key's last-used time: a refused request writes nothing.
    assert await ledger.take() == before


@pytest.mark.parametrize("path", ["/api/v1/members", "/api/v1/api-keys"])
async def test_sqlish_enum_filters_are_refused(client_a, owner, settings, path):
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    response = await client_a.get(path, params={"role": SQLISH}, headers=owner.headers)
    assert_error(response, 400, "VALIDATION_ERROR")
    assert await ledger.take() == before


@pytest.mark.parametrize("name", ["actor", "action", "target_type", "target_id", "actor_id"])
async def test_sqlish_free_text_filters_match_only_themselves(client_a, owner, settings, name):
    everything = (await client_a.get("/api/v1/audit", headers=owner.headers)).json()
    assert everything["pagination"]["total"] >= 2, (
        "the tenant has entries a broken filter would show"
    )
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    for value in (SQLISH, "%", "_", "*", "\\", "x'); DELETE FROM audit_entry; --"):
        response = await client_a.get("/api/v1/audit", params={name: value}, headers=owner.headers)
        if response.status_code == 400:
            assert_error(response, 400, "VALIDATION_ERROR")
        else:
            assert response.status_code == 200, (value, response.text)
            assert response.json()["data"] == [] and response.json()["pagination"]["total"] == 0, (
                value
            )
    assert await ledger.take() == before


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/members/' OR 1=1 --",
        "/api/v1/members/1;DROP TABLE membership",
        "/api/v1/api-keys/00000000-0000-0000-0000-00000000000g",
        "/api/v1/audit/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/invites/%00",
    ],
)
async def test_malformed_ids_in_paths_are_refused(client_a, owner, settings, path):
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    for method in ("GET", "PATCH", "DELETE"):
        response = await client_a.request(
            method, path, json={"role": "viewer"}, headers=owner.headers
        )
        assert response.status_code in (400, 404, 405), (
            method,
            response.status_code,
            response.text[:200],
        )
        assert_error(response, response.status_code)
    assert await ledger.take() == before


async def test_a_valid_id_of_nothing_is_404_with_the_envelope(client_a, owner, settings):
    ledger = Ledger(settings, owner.tenant)
    before = await ledger.take()
    missing = "7a0c1e36-4b4b-4b8e-9d55-0d5e1f3f4a10"
    for method, path, code in [
        ("PATCH", f"/api/v1/members/{missing}", "MEMBER_NOT_FOUND"),
        ("DELETE", f"/api/v1/members/{missing}", "MEMBER_NOT_FOUND"),
        ("DELETE", f"/api/v1/invites/{missing}", "INVITE_NOT_FOUND"),
        ("DELETE", f"/api/v1/api-keys/{missing}", "API_KEY_NOT_FOUND"),
        ("GET", f"/api/v1/audit/{missing}", None),
    ]:
        response = await client_a.request(
            method, path, json={"role": "viewer"}, headers=owner.headers
        )
        assert_error(response, 404, code)
    assert await ledger.take() == before
