"""The suppression list: by address, by domain (with subdomains) and by erased-address hash;
`blocked()` in one query for a batch, `add()` idempotent; the API to list, add, import, check and
remove."""

from __future__ import annotations

from salescopilot.suppression.service import SuppressionService
from salescopilot.tenancy.context import tenant_scope
from tests.integration.web.web_support import assert_error, make_caller


async def test_blocked_matches_addresses_domains_and_hashes_in_one_query(tenant_a, db):

    async with tenant_scope(tenant_a):
        service = SuppressionService()
        await service.add("Gone@Example.com", reason="unsubscribe", source="link")
        await service.add("@bounce.example", reason="hard_bounce", source="inbound")
        await service.erase_address("erased@example.org", source="gdpr")
        queries = []
        original = service.entries.matching

        async def counting(values):
            queries.append(values)
            return await original(values)

        service.entries.matching = counting
        blocked = await service.blocked([
            "gone@example.com", "GONE@EXAMPLE.COM", "a@bounce.example", "b@mx.bounce.example",
            "Erased@Example.org", "fine@example.com", "x@example.bounce", "",
        ])
    assert blocked == {"gone@example.com", "a@bounce.example", "b@mx.bounce.example", "erased@example.org"}
    assert len(queries) == 1


async def test_add_is_idempotent_and_refuses_nonsense(tenant_a, db):
    from salescopilot.errors import ValidationFailed

    async with tenant_scope(tenant_a):
        service = SuppressionService()
        await service.add("a@example.com", reason="manual", source="t")
        await service.add("A@example.com ", reason="complaint", source="t")
        rows, total = await service.search("", page=1, limit=10)
        assert total == 1 and rows[0].reason == "manual"
        for bad in ("", "not a domain", "a@", "@", "com", "a@b@c"):
            try:
                await service.add(bad, reason="manual", source="t")
            except ValidationFailed:
                continue
            raise AssertionError(f"{bad!r} was accepted")


async def test_the_api_lists_adds_imports_checks_and_removes(app, client_a, tenant_a, owner):
    headers = owner.headers
    created = await client_a.post("/api/v1/suppressions", json={"value": "x@example.com", "reason": "unsubscribe"},
                                  headers=headers)
    assert created.status_code == 201
    imported = await client_a.post("/api/v1/suppressions/import",
                                   json={"values": ["y@example.com", "competitor.example", "garbage", "x@example.com"]},
                                   headers=headers)
    assert imported.json()["data"] == {"added": 2, "alreadySuppressed": 1, "invalid": ["garbage"]}
    listed = (await client_a.get("/api/v1/suppressions?q=example.com", headers=headers)).json()
    assert listed["pagination"]["total"] == 2
    assert {row["value"] for row in listed["data"]} == {"x@example.com", "y@example.com"}
    check = await client_a.post("/api/v1/suppressions/check", json={"addresses": ["z@competitor.example", "ok@ok.example"]},
                                headers=headers)
    assert check.json()["data"]["blocked"] == ["z@competitor.example"]
    member = await make_caller(app, tenant_a, "mo@acme.test", "member")
    entry = listed["data"][0]["id"]
    assert_error(await client_a.delete(f"/api/v1/suppressions/{entry}", headers=member.headers), 403)
    assert (await client_a.delete(f"/api/v1/suppressions/{entry}", headers=headers)).status_code == 204
    assert_error(await client_a.delete(f"/api/v1/suppressions/{entry}", headers=headers), 404, "SUPPRESSION_NOT_FOUND")
    bad = await client_a.post("/api/v1/suppressions", json={"value": "nonsense"}, headers=headers)
    assert_error(bad, 400, "INVALID_SUPPRESSION")


async def test_concurrent_adds_of_one_address_both_succeed(settings, tenant_a, db):
    """Two bounces of the same address handled at once: neither fails on the unique index."""
    import asyncio

    async def add(reason):
        async with tenant_scope(tenant_a):
            await SuppressionService().add("twice@example.com", reason=reason, source="inbound")

    await asyncio.gather(add("hard_bounce"), add("complaint"))
    async with tenant_scope(tenant_a):
        rows, total = await SuppressionService().search("twice", page=1, limit=10)
    assert total == 1
