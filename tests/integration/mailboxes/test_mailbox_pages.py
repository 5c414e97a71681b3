"""The mailbox pages: the list, the connect/edit form built from the provider's account model
(secrets as password inputs, never echoed back), the htmx connection test, the warmup chart with
its table, the health panel and quarantine with its resume action; a viewer only reads."""

from __future__ import annotations

import re
import uuid

from salescopilot.mailboxes.service import MailboxService
from salescopilot.tenancy.context import tenant_scope
from tests.integration.mailboxes.conftest import VIEWER, signed_in, vaulted_body
from tests.integration.mailboxes.vaulted_provider import RIGHT_PASSWORD, UNREACHABLE
from tests.support import csrf_from, form_post

FORM = {
    "provider": "vaulted",
    "email": "ann@sender.example.com",
    "from_name": "Ann Example",
    "profile": "custom",
    "daily_cap": "40",
    "min_gap_seconds": "90",
    "jitter_seconds": "30",
    "account.address": "ann@sender.example.com",
    "account.host": "smtp.sender.example.com",
    "account.port": "587",
    "account.security": "ssl",
    "account.password": RIGHT_PASSWORD,
    "window_enabled": "on",
    "window_days": ["0", "1", "2"],
    "window_start": "09:00",
    "window_end": "17:30",
    "window_timezone": "Europe/Berlin",
    "warmup_enabled": "on",
    "warmup_start_per_day": "5",
    "warmup_daily_increase": "5",
    "warmup_target": "40",
}


async def _api_mailbox(client, headers, **changes) -> dict:
    response = await client.post("/api/v1/mailboxes", json=vaulted_body(**changes), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["data"]


async def test_the_connect_form_is_built_from_the_provider_account_model(client_a, tenant_a, vaulted):
    await signed_in(client_a, tenant_a)
    page = (await client_a.get("/mailboxes/new?provider=vaulted")).text
    assert '<option value="vaulted" selected>Vaulted (tests)</option>' in page
    assert re.search(r'name="account.password" type="password"', page)
    assert re.search(r'name="account.api_token" type="password"', page)
    assert re.search(r'<select id="f-account-security" name="account.security"', page)
    assert 'name="account.keep_copy" value="on"' in page
    assert re.search(r'name="account.port" type="number" value="587"', page)
    nav = (await client_a.get("/")).text
    assert 'href="/mailboxes"' in nav and 'href="/outbox"' in nav


async def test_a_mailbox_connected_through_the_form_is_stored_with_its_secret_sealed(client_a, tenant_a, vaulted, app):
    await signed_in(client_a, tenant_a)
    response = await form_post(client_a, "/mailboxes/new?provider=vaulted", "/mailboxes", FORM)
    assert response.status_code in (302, 303), response.text
    mailbox_id = response.headers["location"].rsplit("/", 1)[-1]
    data = (await client_a.get(f"/api/v1/mailboxes/{mailbox_id}")).json()["data"]
    assert (data["email"], data["daily_cap"], data["min_gap_seconds"], data["account"]["security"]) == (
        "ann@sender.example.com", 40, 90, "ssl")
    assert data["window"] == {"days": [0, 1, 2], "start": "09:00:00", "end": "17:30:00",
                              "timezone": "Europe/Berlin", "holidays": None}
    assert data["warmup"]["enabled"] is True and data["warmup"]["target"] == 40
    assert RIGHT_PASSWORD not in str(data)
    listing = (await client_a.get("/mailboxes")).text
    assert "ann@sender.example.com" in listing and "Active" in listing
    assert "0 sent, 5 left" in listing, "today's use against the warmup's cap of the first day"


async def test_a_refused_form_names_the_problem_and_never_echoes_the_password(client_a, tenant_a, vaulted):
    await signed_in(client_a, tenant_a)
    fields = {**FORM, "account.host": "", "daily_cap": "-3"}
    response = await form_post(client_a, "/mailboxes/new?provider=vaulted", "/mailboxes", fields)
    assert response.status_code == 400
    assert "The mailbox was not saved" in response.text and "daily cap" in response.text
    assert 'aria-invalid="true" aria-describedby="error-daily_cap"' in response.text
    assert RIGHT_PASSWORD not in response.text
    assert 'value="Ann Example"' in response.text, "the other values are kept"
    fields = {**FORM, "account.host": ""}
    response = await form_post(client_a, "/mailboxes/new?provider=vaulted", "/mailboxes", fields)
    assert response.status_code == 400 and 'id="error-account-host"' in response.text
    assert RIGHT_PASSWORD not in response.text
    unknown = await form_post(client_a, "/mailboxes/new", "/mailboxes", {**FORM, "provider": "carrier-pigeon"})
    assert unknown.status_code == 409 and "carrier-pigeon" in unknown.text
    assert (await client_a.get("/api/v1/mailboxes")).json()["data"] == []


async def test_editing_shows_no_secret_and_an_empty_password_keeps_the_stored_one(client_a, tenant_a, vaulted):
    headers = await signed_in(client_a, tenant_a)
    created = await _api_mailbox(client_a, headers)
    page = (await client_a.get(f"/mailboxes/{created['id']}/edit")).text
    assert RIGHT_PASSWORD not in page and "tok-very-private-123" not in page
    assert "Stored; leave empty to keep it." in page
    assert 'value="smtp.sender.example.com"' in page
    fields = {**FORM, "account.password": "", "from_name": "Ann Renamed", "account.host": "smtp2.sender.example.com"}
    response = await form_post(client_a, f"/mailboxes/{created['id']}/edit", f"/mailboxes/{created['id']}", fields)
    assert response.status_code in (302, 303), response.text
    check = (await client_a.post(f"/api/v1/mailboxes/{created['id']}/check", headers=headers)).json()["data"]
    assert check["ok"] is True and "smtp2.sender.example.com" in check["message"]


async def test_the_connection_test_answers_htmx_with_the_verdict(client_a, tenant_a, vaulted):
    headers = await signed_in(client_a, tenant_a)
    bad = await _api_mailbox(client_a, headers, email="bad@sender.example.com",
                             account={"address": "bad@sender.example.com", "host": UNREACHABLE, "password": "x"})
    detail = (await client_a.get(f"/mailboxes/{bad['id']}")).text
    token = csrf_from(detail)
    response = await client_a.post(f"/mailboxes/{bad['id']}/check", data={"_csrf_token": token},
                                   headers={"HX-Request": "true", "x-csrftoken": token})
    assert response.status_code == 200
    assert "<html" not in response.text, "a fragment for htmx"
    assert "Connection failed." in response.text and f"DNS: {UNREACHABLE} has no address" in response.text
    # Without htmx: the whole page, with the verdict in it.
    full = await client_a.post(f"/mailboxes/{bad['id']}/check", data={"_csrf_token": token})
    assert "<html" in full.text and "Connection failed." in full.text


async def test_the_detail_page_draws_the_warmup_curve_with_a_table_and_the_health_panel(client_a, tenant_a, vaulted, app):
    headers = await signed_in(client_a, tenant_a)
    today = app.state.services.clock.now().date()
    created = await _api_mailbox(client_a, headers, warmup={"enabled": True, "started_on": today.isoformat(),
                                                            "start_per_day": 10, "daily_increase": 5, "target": 50})
    page = (await client_a.get(f"/mailboxes/{created['id']}")).text
    svg = re.search(r"<svg[^>]*>(.*?)</svg>", page, re.S)
    assert svg and 'role="img"' in page and 'aria-labelledby="warmup-title warmup-desc"' in page
    assert '<title id="warmup-title">Warmup daily cap, 45 days</title>' in svg.group(1)
    assert f"rises from 10 on {today.isoformat()} to 50" in svg.group(1)
    points = re.search(r'<polyline points="([^"]+)"', svg.group(1)).group(1).split()
    assert len(points) == 45
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[0] > ys[8] == ys[-1], "the line rises to the target and stays there"
    assert f"<td>{today.isoformat()} (today)</td><td>10</td>" in page
    assert "Bounces" in page and "No sends" not in page
    cold = await _api_mailbox(client_a, headers, email="cold@sender.example.com")
    assert "Warmup is off" in (await client_a.get(f"/mailboxes/{cold['id']}")).text


async def test_a_quarantined_mailbox_shows_why_and_can_be_resumed(client_a, tenant_a, vaulted, app):
    headers = await signed_in(client_a, tenant_a)
    created = await _api_mailbox(client_a, headers)
    async with tenant_scope(tenant_a):
        service = MailboxService(app.state.services.clock, app.state.services.secret_box)
        for n in range(20):
            await service.record_outcome(uuid.UUID(created["id"]), uuid.uuid4(), "sent" if n < 10 else "bounced")
    listing = (await client_a.get("/mailboxes")).text
    assert "Quarantined" in listing and "bounce rate 50.0%" in listing
    assert 'aria-label="Resume ann@sender.example.com"' in listing
    detail = (await client_a.get(f"/mailboxes/{created['id']}")).text
    assert "three in a row reopen it" in detail
    response = await form_post(client_a, "/mailboxes", f"/mailboxes/{created['id']}/resume", {})
    assert response.status_code in (302, 303) and response.headers["location"] == "/mailboxes"
    assert (await client_a.get(f"/api/v1/mailboxes/{created['id']}")).json()["data"]["status"] == "active"
    response = await form_post(client_a, f"/mailboxes/{created['id']}", f"/mailboxes/{created['id']}/pause",
                               {"back": "detail"})
    assert response.headers["location"] == f"/mailboxes/{created['id']}"


async def test_a_viewer_sees_the_pages_without_actions_and_cannot_post(client_a, tenant_a, vaulted):
    headers = await signed_in(client_a, tenant_a)
    created = await _api_mailbox(client_a, headers)
    client_a.cookies.clear()
    await signed_in(client_a, tenant_a, VIEWER, "viewer")
    listing = (await client_a.get("/mailboxes")).text
    assert "ann@sender.example.com" in listing
    assert "Connect a mailbox" not in listing and "Pause" not in listing
    detail = (await client_a.get(f"/mailboxes/{created['id']}")).text
    assert "Test connection" not in detail and "Edit settings" not in detail
    assert (await client_a.get("/mailboxes/new", headers={"Accept": "text/html"})).status_code == 403
    token = csrf_from(listing) if "_csrf_token" in listing else None
    if token is None:
        await client_a.get("/account/security")
        token = client_a.cookies.get("sc_csrf")
    response = await client_a.post(f"/mailboxes/{created['id']}/pause", data={"_csrf_token": token},
                                   headers={"x-csrftoken": token})
    assert response.status_code == 403


async def test_sending_domains_are_added_and_signed_from_the_mailboxes_page(client_a, tenant_a, vaulted):
    await signed_in(client_a, tenant_a)
    response = await form_post(client_a, "/mailboxes", "/mailboxes/domains", {"domain": "mail.example.com", "selector": "s1"})
    assert response.status_code in (302, 303), response.text
    page = (await client_a.get("/mailboxes")).text
    assert "<code>s1._domainkey.mail.example.com</code>" in page and "v=DKIM1; k=rsa; p=" in page
    assert "PRIVATE KEY" not in page
    domain_id = (await client_a.get("/api/v1/sending-domains")).json()["data"][0]["id"]
    await form_post(client_a, "/mailboxes", f"/mailboxes/domains/{domain_id}/enable", {})
    assert (await client_a.get(f"/api/v1/sending-domains/{domain_id}")).json()["data"]["dkimEnabled"] is True
    refused = await form_post(client_a, "/mailboxes", "/mailboxes/domains", {"domain": "not a domain"})
    assert refused.status_code == 400 and "Not a domain name" in refused.text
