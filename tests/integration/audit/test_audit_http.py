"""The audit log through the JSON API and the console page."""

import csv
import io
import json

from tests.support import add_member, sign_in


async def _signed_in_admin(client, tenant):
    await add_member(tenant, "ann@acme.test", "admin")
    await sign_in(client, "ann@acme.test")


async def test_sign_in_is_listed_and_filterable(client_a, tenant_a):
    await _signed_in_admin(client_a, tenant_a)
    body = (await client_a.get("/api/v1/audit", params={"action": "auth.*"})).json()
    assert body["pagination"]["total"] >= 1
    assert {e["action"] for e in body["data"]} <= {"auth.sign_in", "auth.sign_in_failed"}
    entry = body["data"][0]
    assert entry["actor_kind"] in ("user", "anonymous") and entry["ip"] == "203.0.113.7"
    one = (await client_a.get(f"/api/v1/audit/{entry['id']}")).json()["data"]
    assert one["hash"] == entry["hash"]


async def test_bad_filters_get_a_400_envelope(client_a, tenant_a):
    await _signed_in_admin(client_a, tenant_a)
    response = await client_a.get("/api/v1/audit", params={"action": "DROP TABLE x;"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    response = await client_a.get("/api/v1/audit", params={"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"})
    assert response.status_code == 400


async def test_verify_reports_an_intact_chain(client_a, tenant_a):
    await _signed_in_admin(client_a, tenant_a)
    result = (await client_a.get("/api/v1/audit/verify")).json()["data"]
    assert result["ok"] is True and result["checked"] >= 2


async def test_exports_stream_jsonl_and_safe_csv(client_a, tenant_a):
    await _signed_in_admin(client_a, tenant_a)
    jsonl = await client_a.get("/api/v1/audit/export", params={"format": "jsonl"})
    assert jsonl.status_code == 200 and "attachment" in jsonl.headers["content-disposition"]
    lines = [json.loads(line) for line in jsonl.text.splitlines() if line]
    assert [e["seq"] for e in lines] == sorted(e["seq"] for e in lines)
    exported = await client_a.get("/api/v1/audit/export", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == len(lines)


async def test_the_console_shows_entries_and_verification(client_a, tenant_a):
    await _signed_in_admin(client_a, tenant_a)
    page = await client_a.get("/audit", params={"action": "auth.sign_in"})
    assert page.status_code == 200
    assert "auth.sign_in" in page.text and "Apply filters" in page.text
    verify = await client_a.get("/audit/verify", headers={"HX-Request": "true"})
    assert "Chain intact" in verify.text


async def test_members_cannot_read_the_audit_log(client_a, tenant_a):
    await add_member(tenant_a, "mo@acme.test", "member")
    await sign_in(client_a, "mo@acme.test")
    assert (await client_a.get("/api/v1/audit")).status_code == 403
    assert (await client_a.get("/audit", headers={"accept": "text/html"})).status_code == 403
