"""The API's error envelope is the same wherever an error is met: in a handler, in the guard, in
the request pipeline (unknown host, bad key), or before any route matched; and its requestId is
always the X-Request-Id the response carries (the caller's own, when it sent a sane one)."""

from __future__ import annotations

import pytest

from tests.conftest import app_client
from tests.integration.web.web_support import assert_error, make_caller


@pytest.fixture
async def owner(app, client_a, tenant_a):
    return await make_caller(app, tenant_a, "owner@acme.test")


async def test_errors_from_every_layer_share_the_envelope(app, client_a, owner, tenant_a):
    viewer = await make_caller(app, tenant_a, "viewer@acme.test", "viewer")
    cases = [
        (client_a.get("/api/v1/nowhere", headers=owner.headers), 404, "NOT_FOUND"),
        (client_a.put("/api/v1/me", headers=owner.headers), 405, "METHOD_NOT_ALLOWED"),
        (client_a.get("/api/v1/me"), 401, "NOT_AUTHENTICATED"),
        (client_a.get("/api/v1/me", headers={"X-API-Key": "sc_nothing"}), 401, "NOT_AUTHENTICATED"),
        (client_a.get("/api/v1/api-keys", headers=viewer.headers), 403, "PERMISSION_DENIED"),
        (client_a.get("/api/v1/members?limit=0", headers=owner.headers), 400, "VALIDATION_ERROR"),
        (
            client_a.post(
                "/api/v1/invites",
                content=b"{",
                headers={**owner.headers, "content-type": "application/json"},
            ),
            400,
            "BAD_REQUEST",
        ),
    ]
    for request, status, code in cases:
        assert_error(await request, status, code)


async def test_an_unknown_host_gets_the_envelope(app, db):
    async with app_client(app, "nobody.localhost") as client:
        for method, path in (
            ("GET", "/api/v1/me"),
            ("GET", "/login"),
            ("DELETE", "/api/v1/members/7a0c1e36-4b4b-4b8e-9d55-0d5e1f3f4a10"),
        ):
            assert_error(await client.request(method, path), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("client-request-0001", True),
        ("short", False),
        ("bad id with spaces", False),
        ("x" * 65, False),
    ],
)
async def test_a_sane_request_id_is_kept_and_any_other_replaced(client_a, owner, sent, kept):
    for path, headers, status in (
        ("/api/v1/me", {}, 401),  # the guard
        ("/api/v1/me", {"X-API-Key": "sc_forged"}, 401),  # the request pipeline
        ("/api/v1/members?page=0", owner.headers, 400),  # parameter validation
    ):
        response = await client_a.get(path, headers={"X-Request-Id": sent, **headers})
        error = assert_error(response, status)
        assert (error["requestId"] == sent) is kept, error["requestId"]


async def test_a_successful_answer_carries_a_request_id_too(client_a, owner):
    response = await client_a.get(
        "/api/v1/me", headers={**owner.headers, "X-Request-Id": "trace-12345678"}
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-12345678"
