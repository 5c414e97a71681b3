"""Leads over the API: manual create and edit, uniqueness by address whatever its case,
timezone inference, filters, sorting, paging, bulk actions, lists, export, erasure."""

from __future__ import annotations

import csv
import io

from tests.integration.web.web_support import assert_error, make_caller


async def _create(client, owner, **fields):
    response = await client.post("/api/v1/leads", json=fields, headers=owner.headers)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_a_lead_is_created_with_every_field_and_read_back(client_a, owner):
    lead = await _create(
        client_a, owner, email="Ana.Lima@Example.com", firstName="Ana", lastName="Lima",
        company="Acme GmbH", title="Head of Sales", phone="+49 30 1234567", website="acme.example",
        linkedinUrl="https://www.linkedin.com/in/ana", country="Germany",
        customFields={"Industry": "Logistics"}, tags=["VIP", "q4", "vip"], status="active",
    )
    assert lead["email"] == "Ana.Lima@Example.com"
    assert lead["country"] == "DE" and lead["timezone"] == "Europe/Berlin"
    assert lead["website"] == "https://acme.example"
    assert lead["customFields"] == {"industry": "Logistics"}
    assert lead["tags"] == ["vip", "q4"]
    fetched = (await client_a.get(f"/api/v1/leads/{lead['id']}", headers=owner.headers)).json()["data"]
    assert fetched["firstName"] == "Ana" and fetched["lists"] == []


async def test_the_address_is_unique_per_tenant_whatever_its_case(client_a, owner):
    await _create(client_a, owner, email="bo@example.com")
    response = await client_a.post("/api/v1/leads", json={"email": "BO@Example.COM"}, headers=owner.headers)
    assert_error(response, 409, "LEAD_EXISTS")


async def test_invalid_input_is_refused_with_a_clear_error(client_a, owner):
    assert_error(await client_a.post("/api/v1/leads", json={"email": "not-an-address"}, headers=owner.headers),
                 400, "INVALID_EMAIL")
    assert_error(await client_a.post("/api/v1/leads", json={"firstName": "x"}, headers=owner.headers), 400)
    assert_error(await client_a.post("/api/v1/leads", json={"email": "a@example.com", "timezone": "Mars/Base"},
                                     headers=owner.headers), 400)
    assert_error(await client_a.post("/api/v1/leads", json={"email": "a@example.com", "status": "won"},
                                     headers=owner.headers), 400)


async def test_timezone_comes_from_the_phone_when_the_country_has_several(client_a, owner):
    lead = await _create(client_a, owner, email="ny@example.com", country="US", phone="+1 212 555 0100")
    assert lead["timezone"] == "America/New_York"
    given = await _create(client_a, owner, email="given@example.com", country="US", timezone="America/Denver")
    assert given["timezone"] == "America/Denver"


async def test_update_changes_fields_and_keeps_the_address_unique(client_a, owner):
    first = await _create(client_a, owner, email="one@example.com")
    await _create(client_a, owner, email="two@example.com")
    response = await client_a.patch(f"/api/v1/leads/{first['id']}", json={"company": "Initech", "status": "replied"},
                                    headers=owner.headers)
    assert response.status_code == 200 and response.json()["data"]["company"] == "Initech"
    clash = await client_a.patch(f"/api/v1/leads/{first['id']}", json={"email": "TWO@example.com"}, headers=owner.headers)
    assert_error(clash, 409, "LEAD_EXISTS")


async def test_list_filters_sorts_and_pages(client_a, owner):
    for index, (company, status, tags) in enumerate(
        [("Zeta", "new", ["a"]), ("Alpha", "active", ["a", "b"]), ("Mid", "active", []), ("Beta", "new", ["b"])]
    ):
        await _create(client_a, owner, email=f"p{index}@example.com", company=company, status=status, tags=tags)
    listed = (await client_a.get("/api/v1/leads?status=active&sort=company&order=asc", headers=owner.headers)).json()
    assert [row["company"] for row in listed["data"]] == ["Alpha", "Mid"]
    assert listed["pagination"] == {"page": 1, "limit": 20, "total": 2, "totalPages": 1}
    tagged = (await client_a.get("/api/v1/leads?tag=b&sort=company&order=asc", headers=owner.headers)).json()
    assert [row["company"] for row in tagged["data"]] == ["Alpha", "Beta"]
    found = (await client_a.get("/api/v1/leads?q=zet", headers=owner.headers)).json()
    assert [row["company"] for row in found["data"]] == ["Zeta"]
    paged = (await client_a.get("/api/v1/leads?limit=3&page=2&sort=company&order=asc", headers=owner.headers)).json()
    assert [row["company"] for row in paged["data"]] == ["Zeta"] and paged["pagination"]["totalPages"] == 2
    assert_error(await client_a.get("/api/v1/leads?sort=password", headers=owner.headers), 400)


async def test_bulk_actions_tag_list_status_and_delete(client_a, owner):
    ids = [(await _create(client_a, owner, email=f"b{i}@example.com"))["id"] for i in range(3)]
    lead_list = (await client_a.post("/api/v1/lead-lists", json={"name": "Q4 targets"}, headers=owner.headers)).json()["data"]

    async def bulk(action, value=None, chosen=ids):
        response = await client_a.post("/api/v1/leads/bulk", json={"action": action, "ids": chosen, "value": value},
                                       headers=owner.headers)
        assert response.status_code == 200, response.text
        return response.json()["data"]["processed"]

    assert await bulk("tag", "hot") == 3
    assert await bulk("add_to_list", lead_list["id"]) == 3
    assert await bulk("set_status", "paused", ids[:2]) == 2
    in_list = (await client_a.get(f"/api/v1/leads?list={lead_list['id']}&tag=hot&status=paused", headers=owner.headers)).json()
    assert sorted(row["id"] for row in in_list["data"]) == sorted(ids[:2])
    lists = (await client_a.get("/api/v1/lead-lists", headers=owner.headers)).json()["data"]
    assert lists == [{**lists[0], "name": "Q4 targets", "size": 3}]
    assert await bulk("delete", chosen=ids[:1]) == 1
    remaining = (await client_a.get("/api/v1/leads", headers=owner.headers)).json()["pagination"]["total"]
    assert remaining == 2
    bad = await client_a.post("/api/v1/leads/bulk", json={"action": "set_status", "ids": ids, "value": "won"},
                              headers=owner.headers)
    assert_error(bad, 400)


async def test_a_viewer_reads_but_cannot_write(app, client_a, tenant_a, owner):
    viewer = await make_caller(app, tenant_a, "vic@acme.test", "viewer")
    await _create(client_a, owner, email="x@example.com")
    assert (await client_a.get("/api/v1/leads", headers=viewer.headers)).status_code == 200
    assert_error(await client_a.post("/api/v1/leads", json={"email": "y@example.com"}, headers=viewer.headers), 403)
    assert_error(await client_a.get("/api/v1/leads/export", headers=viewer.headers), 403)


async def test_export_is_csv_with_formulas_defused(client_a, owner):
    await _create(client_a, owner, email="f@example.com", firstName="=HYPERLINK(\"http://x\")", company="+cmd",
                  customFields={"note": "@SUM(A1)"})
    response = await client_a.get("/api/v1/leads/export", headers=owner.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["email", "firstName", "lastName"]
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["firstName"] == "'=HYPERLINK(\"http://x\")" and record["company"] == "'+cmd"
    for cell in rows[1]:
        assert not cell.startswith(("=", "+", "-", "@")), cell


async def test_a_suppressed_address_cannot_be_added(client_a, owner):
    await client_a.post("/api/v1/suppressions", json={"value": "blocked.example"}, headers=owner.headers)
    response = await client_a.post("/api/v1/leads", json={"email": "who@sub.blocked.example"}, headers=owner.headers)
    assert_error(response, 409, "LEAD_SUPPRESSED")


async def test_erasure_keeps_only_a_hash_that_still_blocks(client_a, owner, settings):
    from tests.tenancy.isolation_seed import OwnerDatabase

    lead = await _create(client_a, owner, email="Erase.Me@Example.com", firstName="Erin")
    await client_a.post("/api/v1/suppressions", json={"value": "erase.me@example.com", "reason": "unsubscribe"},
                        headers=owner.headers)
    assert (await client_a.post(f"/api/v1/leads/{lead['id']}/erase", headers=owner.headers)).status_code == 204
    assert (await client_a.get(f"/api/v1/leads/{lead['id']}", headers=owner.headers)).status_code == 404
    database = OwnerDatabase(settings)
    for table in ("lead", "suppression", "audit_entry"):
        rows = await database.fetch(f"SELECT * FROM {table} WHERE tenant = {{}}", owner.tenant.id)
        assert "erase.me" not in repr(rows).lower(), table
    rows = await database.fetch("SELECT kind, reason FROM suppression WHERE tenant = {}", owner.tenant.id)
    assert rows == [("hash", "erasure")]
    check = await client_a.post("/api/v1/suppressions/check", json={"addresses": ["ERASE.me@example.com", "other@example.com"]},
                                headers=owner.headers)
    assert check.json()["data"]["blocked"] == ["erase.me@example.com"]
    again = await client_a.post("/api/v1/leads", json={"email": "erase.me@example.com"}, headers=owner.headers)
    assert_error(again, 409, "LEAD_SUPPRESSED")


async def test_create_honours_idempotency_key(client_a, owner):
    headers = {**owner.headers, "Idempotency-Key": "lead-1"}
    first = await client_a.post("/api/v1/leads", json={"email": "idem@example.com"}, headers=headers)
    second = await client_a.post("/api/v1/leads", json={"email": "idem@example.com"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers.get("idempotent-replayed") == "true"
    assert first.json() == second.json()


async def test_the_owner_must_be_a_member(client_a, owner):
    import uuid

    response = await client_a.post("/api/v1/leads", json={"email": "owned@example.com", "owner": str(owner.user_id)},
                                   headers=owner.headers)
    mine = response.json()["data"]
    assert mine["owner"] == str(owner.user_id)
    stranger = await client_a.post("/api/v1/leads", json={"email": "x@example.com", "owner": str(uuid.uuid4())},
                                   headers=owner.headers)
    assert_error(stranger, 400)
    by_owner = (await client_a.get(f"/api/v1/leads?owner={owner.user_id}", headers=owner.headers)).json()
    assert [row["email"] for row in by_owner["data"]] == ["owned@example.com"]


async def test_delete_removes_one_lead_and_its_list_memberships(client_a, owner):
    lead = await _create(client_a, owner, email="del@example.com")
    lead_list = (await client_a.post("/api/v1/lead-lists", json={"name": "L"}, headers=owner.headers)).json()["data"]
    await client_a.post("/api/v1/leads/bulk", json={"action": "add_to_list", "ids": [lead["id"]], "value": lead_list["id"]},
                        headers=owner.headers)
    assert (await client_a.delete(f"/api/v1/leads/{lead['id']}", headers=owner.headers)).status_code == 204
    assert_error(await client_a.delete(f"/api/v1/leads/{lead['id']}", headers=owner.headers), 404, "LEAD_NOT_FOUND")
    lists = (await client_a.get("/api/v1/lead-lists", headers=owner.headers)).json()["data"]
    assert lists[0]["size"] == 0
