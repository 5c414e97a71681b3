"""The mailboxes' JSON API: connecting (secrets sealed and never shown), changing (secrets left
out are kept), status actions and bulk, health, warmup, the connection verdict, pools; bad input
answers a clear 400, a viewer reads but cannot change, and one tenant never sees another's."""

from __future__ import annotations

import uuid

from salescopilot.mailboxes.service import MailboxService
from salescopilot.tenancy.context import tenant_scope
from tests.integration.mailboxes.conftest import VIEWER, signed_in, vaulted_body
from tests.integration.mailboxes.vaulted_provider import RIGHT_PASSWORD, UNREACHABLE

SECRETS = (RIGHT_PASSWORD, "tok-very-private-123")


async def _create(client, headers, **changes) -> dict:
    response = await client.post("/api/v1/mailboxes", json=vaulted_body(**changes), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def _no_secret_in(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


async def test_a_connected_mailbox_never_shows_its_secrets_and_keeps_them_sealed(client_a, tenant_a, vaulted, app):
    headers = await signed_in(client_a, tenant_a)
    response = await client_a.post("/api/v1/mailboxes", json=vaulted_body(), headers=headers)
    assert response.status_code == 201, response.text
    _no_secret_in(response.text)
    created = response.json()["data"]
    assert created["email"] == "ann@sender.example.com" and created["status"] == "active"
    assert created["account"] == {"address": "ann@sender.example.com", "host": "smtp.sender.example.com",
                                  "port": 587, "security": "starttls", "keep_copy": False}
    for path in ("/api/v1/mailboxes", f"/api/v1/mailboxes/{created['id']}"):
        answer = await client_a.get(path)
        assert answer.status_code == 200
        _no_secret_in(answer.text)
    async with tenant_scope(tenant_a, write=False):
        row = await MailboxService(box=app.state.services.secret_box).get(uuid.UUID(created["id"]))
    _no_secret_in(row.secrets + str(row.account))
    assert row.secrets, "the secrets are stored, encrypted"


async def test_a_create_with_an_idempotency_key_happens_once(client_a, tenant_a, vaulted):
    headers = await signed_in(client_a, tenant_a)
    twice = [
        await client_a.post("/api/v1/mailboxes", json=vaulted_body(), headers={**headers, "Idempotency-Key": "mb-1"})
        for _ in range(2)
    ]
    assert [r.status_code for r in twice] == [201, 201]
    assert twice[0].json()["data"]["id"] == twice[1].json()["data"]["id"]
    assert twice[1].headers.get("Idempotent-Replayed") == "true"
    assert (await client_a.get("/api/v1/mailboxes")).json()["pagination"]["total"] == 1
    other = await client_a.post("/api/v1/mailboxes", json=vaulted_body("bob@sender.example.com"),
                                headers={**headers, "Idempotency-Key": "mb-1"})
    assert other.status_code == 422 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_changes_that_leave_secrets_out_keep_them(client_a, tenant_a, vaulted):
    headers = await signed_in(client_a, tenant_a)
    created = await _create(client_a, headers)
    path = f"/api/v1/mailboxes/{created['id']}"
    response = await client_a.patch(path, json={"from_name": "Ann E.", "account": {"port": 2525}}, headers=headers)
    assert response.status_code == 200, response.text
    changed = response.json()["data"]
    assert changed["from_name"] == "Ann E." and changed["account"]["port"] == 2525
    assert changed["account"]["host"] == "smtp.sender.example.com" and changed["daily_cap"] == 40
    check = (await client_a.post(f"{path}/check", headers=headers)).json()["data"]
    assert check == {"ok": True, "message": "Logged in to smtp.sender.example.com:2525 as ann@sender.example.com.",
                     "problems": []}
    # A full replacement without the secrets keeps them too...
    body = vaulted_body(daily_cap=None)
    body["account"] = {"address": "ann@sender.example.com", "host": "smtp2.sender.example.com"}
    response = await client_a.put(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["daily_cap"] is None
    assert (await client_a.post(f"{path}/check", headers=headers)).json()["data"]["ok"] is True
    # ...and a new password replaces the stored one.
    await client_a.patch(path, json={"account": {"password": "wrong-one"}}, headers=headers)
    check = (await client_a.post(f"{path}/check", headers=headers)).json()["data"]
    assert check["ok"] is False and check["message"] == "Login refused."
    assert check["problems"] == ["SMTP: 535 5.7.8 authentication failed for ann@sender.example.com"]


async def test_the_connection_check_names_each_problem(client_a, tenant_a, vaulted):
    headers = await signed_in(client_a, tenant_a)
    created = await _create(client_a, headers, account={"address": "x@sender.example.com", "host": UNREACHABLE,
                                                        "password": RIGHT_PASSWORD}, email="x@sender.example.com")
    response = await client_a.post(f"/api/v1/mailboxes/{created['id']}/check", headers=headers)
    assert response.status_code == 200
    assert response.json()["data"] == {
        "ok": False, "message": f"Cannot reach {UNREACHABLE}.",
        "problems": [f"DNS: {UNREACHABLE} has no address", "SMTP: not tried"],
    }


async def test_bad_input_gets_a_clear_400_and_stores_nothing(client_a, tenant_a, vaulted):
    headers = await signed_in(client_a, tenant_a)
    cases = [
        (vaulted_body(email="not-an-address"), "VALIDATION_ERROR"),
        (vaulted_body(daily_cap=-1), "VALIDATION_ERROR"),
        (vaulted_body(window={"start": "18:00", "end": "08:00"}), "VALIDATION_ERROR"),
        (vaulted_body(window={"timezone": "Mars/Olympus"}), "VALIDATION_ERROR"),
        (vaulted_body(surprise=True), "VALIDATION_ERROR"),
        (vaulted_body(account={"address": "ann@sender.example.com", "password": RIGHT_PASSWORD}), "PLUGIN_SETTINGS_INVALID"),
        (vaulted_body(account={"address": "a@b.c", "host": "h", "password": RIGHT_PASSWORD, "port": 99999}), "PLUGIN_SETTINGS_INVALID"),
        (vaulted_body(account={"address": "a@b.c", "host": "h", "password": RIGHT_PASSWORD, "nope": 1}), "PLUGIN_SETTINGS_INVALID"),
    ]
    for body, code in cases:
        response = await client_a.post("/api/v1/mailboxes", json=body, headers=headers)
        assert response.status_code == 400, (body, response.text)
        error = response.json()["error"]
        assert error["code"] == code, (body, error)
        assert error["message"] and error["requestId"]
        _no_secret_in(response.text)
    unknown = await client_a.post("/api/v1/mailboxes", json=vaulted_body(provider="carrier-pigeon"), headers=headers)
    assert unknown.status_code == 409 and unknown.json()["error"]["code"] == "MAIL_PROVIDER_UNAVAILABLE"
    broken = await client_a.post("/api/v1/mailboxes", content=b'{"email": ', headers={**headers, "Content-Type": "application/json"})
    assert broken.status_code == 400
    assert (await client_a.get("/api/v1/mailboxes")).json()["pagination"]["total"] == 0
    created = await _create(client_a, headers)
    path = f"/api/v1/mailboxes/{created['id']}"
    for body in ({"colour": "red"}, {"daily_cap": "many"}, {"provider": "scripted"}, []):
        response = await client_a.patch(path, json=body, headers=headers)
        assert response.status_code == 400, (body, response.text)
    duplicate = await client_a.post("/api/v1/mailboxes", json=vaulted_body(email="ANN@sender.example.com"), headers=headers)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "MAILBOX_EXISTS"
    sort = await client_a.get("/api/v1/mailboxes?sort=secrets")
    assert sort.status_code == 400 and sort.json()["error"]["details"]["allowed"] == ["created_at", "email", "status"]


async def test_status_actions_filters_and_an_all_or_nothing_bulk(client_a, tenant_a, vaulted):
    headers = await signed_in(client_a, tenant_a)
    ids = [(await _create(client_a, headers, email=f"{name}@sender.example.com",
                          account={"address": f"{name}@sender.example.com", "host": "h.example.com",
                                   "password": RIGHT_PASSWORD}))["id"] for name in ("ann", "bob", "cat")]
    paused = await client_a.post(f"/api/v1/mailboxes/{ids[0]}/pause", headers=headers)
    assert paused.status_code == 200 and paused.json()["data"]["status"] == "paused"
    listed = (await client_a.get("/api/v1/mailboxes?status=paused")).json()
    assert [m["id"] for m in listed["data"]] == [ids[0]]
    by_email = (await client_a.get("/api/v1/mailboxes?sort=email&order=desc&provider=vaulted")).json()["data"]
    assert [m["email"].split("@")[0] for m in by_email] == ["cat", "bob", "ann"]
    assert by_email[0]["load"] == {"sent24h": 0, "sent1h": 0, "dailyCapToday": 40, "remaining": 40, "nextSendAt": None}
    refused = await client_a.post("/api/v1/mailboxes/bulk", json={"action": "disable", "ids": [ids[1], str(uuid.uuid4())]},
                                  headers=headers)
    assert refused.status_code == 404
    assert (await client_a.get(f"/api/v1/mailboxes/{ids[1]}")).json()["data"]["status"] == "active"
    done = await client_a.post("/api/v1/mailboxes/bulk", json={"action": "disable", "ids": ids[1:]}, headers=headers)
    assert done.json()["data"] == {"action": "disable", "processed": 2}
    assert (await client_a.get("/api/v1/mailboxes?status=disabled")).json()["pagination"]["total"] == 2
    resumed = await client_a.post(f"/api/v1/mailboxes/{ids[1]}/resume", headers=headers)
    assert resumed.json()["data"]["status"] == "active"
    bad = await client_a.post("/api/v1/mailboxes/bulk", json={"action": "explode", "ids": ids}, headers=headers)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_health_counts_rates_and_a_quarantine_that_resume_ends(client_a, tenant_a, vaulted, app):
    headers = await signed_in(client_a, tenant_a)
    created = await _create(client_a, headers)
    mailbox = uuid.UUID(created["id"])
    async with tenant_scope(tenant_a):
        service = MailboxService(app.state.services.clock, app.state.services.secret_box)
        for n in range(20):
            await service.record_outcome(mailbox, uuid.uuid4(), "bounced" if n >= 15 else "sent")
    health = (await client_a.get(f"/api/v1/mailboxes/{mailbox}/health")).json()["data"]
    assert health["counts"] == {"bounced": 5, "sent": 15}
    assert health["attempts"] == 20 and health["rates"]["bounce"] == 0.25
    assert health["status"] == "quarantined" and "bounce rate 25.0%" in health["statusReason"]
    assert health["thresholds"] == {"bounce": 0.03, "complaint": 0.001, "error": 0.2}
    assert health["quarantinedAt"] and health["probeAt"]
    resumed = await client_a.post(f"/api/v1/mailboxes/{mailbox}/resume", headers=headers)
    assert resumed.json()["data"]["status"] == "active" and resumed.json()["data"]["status_reason"] == ""


async def test_the_warmup_curve(client_a, tenant_a, vaulted):
    headers = await signed_in(client_a, tenant_a)
    created = await _create(client_a, headers, warmup={"enabled": True, "started_on": "2026-01-05",
                                                       "start_per_day": 5, "daily_increase": 10, "target": 30})
    curve = (await client_a.get(f"/api/v1/mailboxes/{created['id']}/warmup?days=5")).json()["data"]
    assert curve["enabled"] is True
    assert curve["curve"] == [{"date": f"2026-01-0{d}", "cap": cap} for d, cap in zip((5, 6, 7, 8, 9), (5, 15, 25, 30, 30))]
    off = await _create(client_a, headers, email="cold@sender.example.com")
    assert (await client_a.get(f"/api/v1/mailboxes/{off['id']}/warmup")).json()["data"]["curve"] == []
    assert (await client_a.get(f"/api/v1/mailboxes/{off['id']}/warmup?days=0")).status_code == 400


async def test_pools_are_created_listed_and_their_members_replaced(client_a, tenant_a, vaulted):
    headers = await signed_in(client_a, tenant_a)
    ann = (await _create(client_a, headers))["id"]
    bob = (await _create(client_a, headers, email="bob@sender.example.com"))["id"]
    response = await client_a.post("/api/v1/mailbox-pools", json={"name": "Outbound", "mailboxes": [ann]}, headers=headers)
    assert response.status_code == 201, response.text
    pool = response.json()["data"]
    assert pool["name"] == "Outbound" and pool["mailboxes"] == [ann]
    changed = await client_a.put(f"/api/v1/mailbox-pools/{pool['id']}/members", json={"mailboxes": [bob, ann]}, headers=headers)
    assert sorted(changed.json()["data"]["mailboxes"]) == sorted([ann, bob])
    listed = (await client_a.get("/api/v1/mailbox-pools")).json()["data"]
    assert [(p["name"], sorted(p["mailboxes"])) for p in listed] == [("Outbound", sorted([ann, bob]))]
    unknown = await client_a.put(f"/api/v1/mailbox-pools/{pool['id']}/members", json={"mailboxes": [str(uuid.uuid4())]},
                                 headers=headers)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "MAILBOX_NOT_FOUND"
    assert (await client_a.get(f"/api/v1/mailbox-pools/{pool['id']}")).json()["data"]["mailboxes"] != []
    twice = await client_a.post("/api/v1/mailbox-pools", json={"name": "Outbound"}, headers=headers)
    assert twice.status_code == 409
    empty = await client_a.post("/api/v1/mailbox-pools", json={"name": ""}, headers=headers)
    assert empty.status_code == 400


async def test_a_viewer_reads_but_cannot_change_anything(client_a, tenant_a, vaulted, app):
    headers = await signed_in(client_a, tenant_a)
    created = await _create(client_a, headers)
    client_a.cookies.clear()
    headers = await signed_in(client_a, tenant_a, VIEWER, "viewer")
    path = f"/api/v1/mailboxes/{created['id']}"
    assert (await client_a.get(path)).status_code == 200
    assert (await client_a.get(f"{path}/health")).status_code == 200
    for method, url, body in (
        ("POST", "/api/v1/mailboxes", vaulted_body(email="new@sender.example.com")),
        ("PATCH", path, {"from_name": "x"}),
        ("PUT", path, vaulted_body()),
        ("POST", f"{path}/pause", None),
        ("POST", f"{path}/check", None),
        ("POST", "/api/v1/mailboxes/bulk", {"action": "pause", "ids": [created["id"]]}),
        ("POST", "/api/v1/mailbox-pools", {"name": "Mine"}),
    ):
        response = await client_a.request(method, url, json=body, headers=headers)
        assert response.status_code == 403, (method, url, response.text)
        assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert (await client_a.get(path)).json()["data"]["status"] == "active"


async def test_another_tenant_sees_none_of_the_mailboxes(client_a, client_b, tenant_a, tenant_b, vaulted):
    headers = await signed_in(client_a, tenant_a)
    created = await _create(client_a, headers)
    headers_b = await signed_in(client_b, tenant_b, "owen@globex.test")
    assert (await client_b.get("/api/v1/mailboxes")).json()["data"] == []
    for method, suffix in (("GET", ""), ("GET", "/health"), ("POST", "/pause"), ("POST", "/check"), ("PATCH", "")):
        response = await client_b.request(method, f"/api/v1/mailboxes/{created['id']}{suffix}",
                                          json={} if method == "PATCH" else None, headers=headers_b)
        assert response.status_code == 404, (method, suffix, response.text)
    # B may use the same address: mailboxes are unique per tenant.
    assert (await client_b.post("/api/v1/mailboxes", json=vaulted_body(), headers=headers_b)).status_code == 201


async def test_a_sending_domain_gets_a_dkim_key_whose_record_verifies_its_signatures(client_a, tenant_a, app):
    import dkim

    from salescopilot.mail.dkim import sign_message
    from salescopilot.mail.message import DkimKey
    from salescopilot.mailboxes.domains import SendingDomainService

    headers = await signed_in(client_a, tenant_a)
    response = await client_a.post("/api/v1/sending-domains", json={"domain": "Sender.Example.com."}, headers=headers)
    assert response.status_code == 201, response.text
    assert "PRIVATE KEY" not in response.text
    created = response.json()["data"]
    assert (created["domain"], created["selector"], created["dkimEnabled"]) == ("sender.example.com", "sc1", False)
    record = created["dnsRecord"]
    assert record["name"] == "sc1._domainkey.sender.example.com" and record["type"] == "TXT"
    assert record["value"].startswith("v=DKIM1; k=rsa; p=")
    async with tenant_scope(tenant_a, write=False):
        service = SendingDomainService(app.state.services.clock, app.state.services.secret_box)
        row = await service.get(uuid.UUID(created["id"]))
        pem = app.state.services.secret_box.decrypt(row.dkim_private_key).encode()
    assert b"PRIVATE KEY" not in row.dkim_private_key.encode(), "stored encrypted"
    raw = (b"From: ann@sender.example.com\r\nTo: lead@customer.example.com\r\nSubject: Hi\r\n"
           b"Message-ID: <1@sender.example.com>\r\n\r\nHello\r\n")
    signed = sign_message(raw, DkimKey("sender.example.com", "sc1", pem))
    published = {b"sc1._domainkey.sender.example.com.": record["value"].encode()}
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: published.get(name))

    enabled = await client_a.post(f"/api/v1/sending-domains/{created['id']}/enable", headers=headers)
    assert enabled.json()["data"]["dkimEnabled"] is True
    same = await client_a.post(f"/api/v1/sending-domains/{created['id']}/rotate", json={"selector": "sc1"}, headers=headers)
    assert same.status_code == 400
    rotated = await client_a.post(f"/api/v1/sending-domains/{created['id']}/rotate",
                                  json={"selector": "sc2", "algorithm": "ed25519"}, headers=headers)
    data = rotated.json()["data"]
    assert data["selector"] == "sc2" and data["dkimEnabled"] is False
    assert data["dnsRecord"]["value"].startswith("v=DKIM1; k=ed25519; p=")
    listed = (await client_a.get("/api/v1/sending-domains")).json()["data"]
    assert [d["domain"] for d in listed] == ["sender.example.com"]


async def test_sending_domain_input_is_checked(client_a, tenant_a):
    headers = await signed_in(client_a, tenant_a)
    idn = await client_a.post("/api/v1/sending-domains", json={"domain": "bücher.example"}, headers=headers)
    assert idn.status_code == 201 and idn.json()["data"]["domain"] == "xn--bcher-kva.example"
    for body in ({"domain": "no spaces.example"}, {"domain": "localhost"}, {"domain": "-bad.example"},
                 {"domain": "ok.example", "selector": "two.labels"}, {"domain": "ok.example", "algorithm": "dsa"},
                 {"domain": "ok.example", "private_key": "x"}):
        response = await client_a.post("/api/v1/sending-domains", json=body, headers=headers)
        assert response.status_code == 400, (body, response.text)
    twice = await client_a.post("/api/v1/sending-domains", json={"domain": "BÜCHER.example"}, headers=headers)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "SENDING_DOMAIN_EXISTS"
    missing = await client_a.post(f"/api/v1/sending-domains/{uuid.uuid4()}/enable", headers=headers)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "SENDING_DOMAIN_NOT_FOUND"
    client_a.cookies.clear()
    viewer = await signed_in(client_a, tenant_a, VIEWER, "viewer")
    assert (await client_a.get("/api/v1/sending-domains")).status_code == 200
    refused = await client_a.post("/api/v1/sending-domains", json={"domain": "other.example"}, headers=viewer)
    assert refused.status_code == 403
