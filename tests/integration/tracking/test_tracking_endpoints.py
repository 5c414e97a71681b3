"""The public tracking endpoints against messages really sent through the outbox: pixel, click
redirect, unsubscribe page and one-click POST; forged, truncated, replayed and cross-tenant
tokens; open-redirect attempts; switches; events written in batches and flushed on shutdown."""

from __future__ import annotations

import uuid

import httpx

from salescopilot.leads.repository import LeadRepository
from salescopilot.mail.tracking import TrackingTokens
from salescopilot.suppression.service import SuppressionService
from salescopilot.tenancy.context import tenant_scope
from salescopilot.tracking.controllers import PIXEL
from salescopilot.tracking.repository import TrackingEventRepository
from salescopilot.tracking.service import TrackingService
from tests.conftest import app_client
from tests.integration.tracking.conftest import LINKS, make_lead, send_one

BROWSER = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/124.0 Safari/537.36")


async def flush(app) -> None:
    await app.state.tracking_buffer.flush()


async def events(tenant, message: uuid.UUID | None = None):
    async with tenant_scope(tenant, write=False):
        repo = TrackingEventRepository()
        return await (repo.of_message(message) if message else repo.find())


def altered(token: str) -> str:
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]


async def test_the_pixel_answers_a_gif_and_records_the_open(app, client_a, desk, script, tenant_a):
    sent = await send_one(desk, script)
    assert sent.pixel and len(sent.clicks) == 3
    response = await client_a.get(sent.pixel, headers={"user-agent": BROWSER})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content == PIXEL
    assert "no-store" in response.headers["cache-control"]
    await flush(app)
    [event] = await events(tenant_a, sent.id)
    assert (event.kind, event.machine, event.reason) == ("open", False, "human")
    assert event.ip == "203.0.113.7" and event.user_agent == BROWSER


async def test_forged_truncated_and_wrong_kind_tokens_get_the_gif_and_record_nothing(app, client_a, desk, script, tenant_a):
    sent = await send_one(desk, script)
    token = sent.pixel.rsplit("/", 1)[1]
    click_token = sent.clicks[0].rsplit("/", 1)[1]
    for path in (f"/t/o/{altered(token)}", f"/t/o/{token[:-3]}", f"/t/o/{token}AAAA", f"/t/o/{click_token}",
                 "/t/o/not-a-token", f"/t/o/{'A' * len(token)}"):
        response = await client_a.get(path, headers={"user-agent": BROWSER})
        assert response.status_code == 200 and response.content == PIXEL, path
    await flush(app)
    assert await events(tenant_a) == []


async def test_a_click_redirects_to_its_own_link_and_is_recorded(app, client_a, desk, script, tenant_a):
    sent = await send_one(desk, script)
    assert "mailto:sales@example.com" in sent.html  # other schemes are never rewritten
    for index, path in enumerate(sent.clicks):
        response = await client_a.get(path, headers={"user-agent": BROWSER}, follow_redirects=False)
        assert response.status_code == 302
        assert response.headers["location"] == LINKS[index]
    await flush(app)
    clicks = [e for e in await events(tenant_a, sent.id) if e.kind == "click"]
    assert sorted((e.link_index, e.url) for e in clicks) == list(enumerate(LINKS))


async def test_a_replayed_click_token_still_goes_only_to_its_link(app, client_a, desk, script, tenant_a):
    sent = await send_one(desk, script)
    for _ in range(3):
        response = await client_a.get(sent.clicks[1], headers={"user-agent": BROWSER}, follow_redirects=False)
        assert response.headers["location"] == LINKS[1]
    await flush(app)
    assert [e.link_index for e in await events(tenant_a, sent.id)] == [1, 1, 1]


async def test_forged_and_open_redirect_attempts_never_redirect(app, client_a, desk, script, tenant_a, settings):
    sent = await send_one(desk, script)
    token = sent.clicks[0].rsplit("/", 1)[1]
    tokens = TrackingTokens.from_settings(settings)
    attempts = [
        f"/t/c/{altered(token)}", f"/t/c/{token[:-1]}", f"/t/c/{token[:20]}",
        "/t/c/https://evil.example/", "/t/c/%2F%2Fevil.example", "/t/c//evil.example",
        f"/t/c/{tokens.make('open', sent.id)}",          # a valid token of another kind
        f"/t/c/{tokens.make('click', sent.id, 7)}",      # signed, but the message has no link 7
        f"/t/c/{tokens.make('click', uuid.uuid4(), 0)}",  # signed, but no such message
        f"/t/c/{TrackingTokens(b'another installation key!').make('click', sent.id, 0)}",
    ]
    for path in attempts:
        response = await client_a.get(path, follow_redirects=False)
        assert response.status_code == 404, path
        assert "location" not in response.headers, path
    # Query parameters never choose the destination.
    response = await client_a.get(sent.clicks[0] + "?url=https://evil.example/&next=//evil.example",
                                  follow_redirects=False)
    assert response.headers["location"] == LINKS[0]
    await flush(app)
    assert len(await events(tenant_a, sent.id)) == 1


async def test_tokens_of_another_tenant_reach_nothing(app, client_a, client_b, desk, script, tenant_a, tenant_b):
    sent = await send_one(desk, script)
    response = await client_b.get(sent.clicks[0], follow_redirects=False)
    assert response.status_code == 404 and "location" not in response.headers
    response = await client_b.get(sent.pixel)
    assert response.content == PIXEL
    await flush(app)
    assert await events(tenant_a) == [] and await events(tenant_b) == []
    # A host that is no tenant's is not found, as for every route.
    async with app_client(app, "nobody.localhost") as stranger:
        for path in (sent.clicks[0], sent.pixel):
            response = await stranger.get(path, follow_redirects=False)
            assert response.status_code == 404 and "location" not in response.headers


async def test_head_requests_get_the_gets_answer_without_a_body_and_are_recorded_as_machines(
        app, client_a, desk, script, tenant_a):
    sent = await send_one(desk, script)
    pixel = await client_a.head(sent.pixel, headers={"user-agent": BROWSER})
    assert (pixel.status_code, pixel.headers["content-type"], pixel.content) == (200, "image/gif", b"")
    assert pixel.headers["content-length"] == str(len(PIXEL))
    response = await client_a.head(sent.clicks[0], headers={"user-agent": BROWSER})
    assert (response.status_code, response.headers["location"], response.content) == (302, LINKS[0], b"")
    await flush(app)
    assert {(e.kind, e.machine, e.reason) for e in await events(tenant_a, sent.id)} == {
        ("open", True, "head_request"), ("click", True, "head_request")}


async def test_scanner_sweeping_every_link_is_scored_machine(app, client_a, desk, script, tenant_a):
    sent = await send_one(desk, script)
    for path in sent.clicks:
        await client_a.get(path, headers={"user-agent": BROWSER}, follow_redirects=False)
    await flush(app)
    verdicts = {(e.machine, e.reason) for e in await events(tenant_a, sent.id)}
    assert verdicts == {(True, "all_links_clicked")}


async def test_a_sweep_across_two_batches_is_scored_machine(app, client_a, desk, script, tenant_a):
    sent = await send_one(desk, script)
    other = await send_one(desk, script)
    for path in sent.clicks[:2] + other.clicks[:1] * 5:
        await client_a.get(path, headers={"user-agent": BROWSER}, follow_redirects=False)
    await flush(app)
    await client_a.get(sent.clicks[2], headers={"user-agent": BROWSER}, follow_redirects=False)
    await client_a.get(other.clicks[0], headers={"user-agent": BROWSER}, follow_redirects=False)
    await flush(app)
    verdicts = sorted((e.link_index, e.machine, e.reason) for e in await events(tenant_a, sent.id))
    # The third link's click completes the sweep; the two stored before keep their verdicts.
    assert verdicts == [(0, False, "human"), (1, False, "human"), (2, True, "all_links_clicked")]
    # One link clicked again and again is no sweep.
    assert {(e.machine, e.reason) for e in await events(tenant_a, other.id)} == {(False, "human")}


# -- unsubscribe ------------------------------------------------------------------------------------


async def test_the_unsubscribe_page_changes_nothing_until_confirmed(app, client_a, desk, script, tenant_a):
    lead = await make_lead(tenant_a, "lee@customer.example.com")
    sent = await send_one(desk, script, address="lee@customer.example.com", lead=lead)
    page = await client_a.get(sent.unsubscribe)
    assert page.status_code == 200 and 'method="post"' in page.text
    async with tenant_scope(tenant_a, write=False):
        assert not await SuppressionService().blocked(["lee@customer.example.com"])
    response = await client_a.post(sent.unsubscribe, data={})
    assert response.status_code == 200 and "You are unsubscribed" in response.text
    async with tenant_scope(tenant_a, write=False):
        assert await SuppressionService().blocked(["lee@customer.example.com"])
        assert (await LeadRepository().get(lead)).status == "unsubscribed"


async def test_one_click_post_in_a_mail_providers_format_is_effective_at_once_and_idempotent(
    app, client_a, desk, script, tenant_a
):
    lead = await make_lead(tenant_a, "lee@customer.example.com")
    sent = await send_one(desk, script, address="lee@customer.example.com", lead=lead)
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in sent.raw.decode()
    # What Gmail and Yahoo send (RFC 8058 section 3.1): a form POST, no cookie, no CSRF token.
    bare = {"content-type": "application/x-www-form-urlencoded", "user-agent": "Mozilla/5.0"}
    for _ in range(2):
        response = await client_a.post(sent.unsubscribe, content=b"List-Unsubscribe=One-Click", headers=bare)
        assert response.status_code == 200
    # Some send it as multipart/form-data.
    response = await client_a.post(sent.unsubscribe, files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200
    async with tenant_scope(tenant_a, write=False):
        assert await SuppressionService().blocked(["lee@customer.example.com"])
        assert (await LeadRepository().get(lead)).status == "unsubscribed"
    unsubscribes = [e for e in await events(tenant_a, sent.id) if e.kind == "unsubscribe"]
    assert [(e.reason, e.machine) for e in unsubscribes] == [("one_click", False)]
    # The next message to that address is never sent.
    before = len(script.accepted)
    await desk.enqueue(mailbox=(await desk.messages())[0].mailbox, recipient_email="lee@customer.example.com")
    await desk.run_pass()
    assert len(script.accepted) == before


async def test_unsubscribe_tokens_are_checked_like_the_others(app, client_a, desk, script, tenant_a):
    sent = await send_one(desk, script)
    token = sent.unsubscribe.rsplit("/", 1)[1]
    for path in (f"/u/{altered(token)}", f"/u/{token[:-2]}", sent.clicks[0].replace("/t/c/", "/u/")):
        assert (await client_a.get(path)).status_code == 404
        assert (await client_a.post(path, content=b"List-Unsubscribe=One-Click")).status_code == 404
    async with tenant_scope(tenant_a, write=False):
        assert not await SuppressionService().blocked([sent.raw and "lead@customer.example.com"])


async def test_unsubscribing_from_a_lead_of_another_tenant_changes_nothing(
    app, client_a, client_b, desk, script, tenant_a, tenant_b
):
    lead = await make_lead(tenant_a, "lee@customer.example.com")
    await make_lead(tenant_b, "lee@customer.example.com")
    sent = await send_one(desk, script, address="lee@customer.example.com", lead=lead)
    assert (await client_b.get(sent.unsubscribe)).status_code == 404
    response = await client_b.post(sent.unsubscribe, content=b"List-Unsubscribe=One-Click",
                                   headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 404
    for tenant in (tenant_a, tenant_b):
        async with tenant_scope(tenant, write=False):
            assert not await SuppressionService().blocked(["lee@customer.example.com"])
            assert all(lead.status != "unsubscribed" for lead in await LeadRepository().find())


# -- switches -------------------------------------------------------------------------------------


async def test_tenant_and_mailbox_switches_turn_tracking_off(desk, script, tenant_a):
    quiet = await desk.mailbox("quiet@seller.example.com")
    async with tenant_scope(tenant_a):
        await TrackingService().update_switches(opens_enabled=False, mailboxes_off=[quiet])
    sent = await send_one(desk, script)
    assert sent.pixel is None and len(sent.clicks) == 3
    sent = await send_one(desk, script, mailbox=quiet)
    assert sent.pixel is None and sent.clicks == []
    assert LINKS[0].replace("&", "&amp;") in sent.html
    # A campaign that does not ask for tracking gets none, whatever the tenant allows.
    async with tenant_scope(tenant_a):
        await TrackingService().update_switches(opens_enabled=True)
    sent = await send_one(desk, script, track_opens=False, track_clicks=False)
    assert sent.pixel is None and sent.clicks == []


async def test_the_tenant_serves_tracking_from_its_own_domain(app, desk, script, tenant_a, tenant_b):
    async with tenant_scope(tenant_a):
        await TrackingService().update_switches(tracking_domain="T.Acme-Mail.example")
    sent = await send_one(desk, script)
    assert "https://t.acme-mail.example/t/o/" in sent.html
    assert "<https://t.acme-mail.example/u/" in sent.raw.decode()
    async with app_client(app, "t.acme-mail.example") as own_domain:
        response = await own_domain.get(sent.clicks[0], follow_redirects=False)
        assert response.headers["location"] == LINKS[0]
    # Another tenant cannot claim the same hostname.
    async with tenant_scope(tenant_b):
        try:
            await TrackingService().update_switches(tracking_domain="t.acme-mail.example")
        except Exception as error:  # noqa: BLE001
            assert getattr(error, "code", "") == "TRACKING_DOMAIN_TAKEN"
        else:
            raise AssertionError("a second tenant took the tracking domain")


# -- the buffer ---------------------------------------------------------------------------------------


async def test_buffered_events_are_written_on_shutdown(settings, db, desk, script, tenant_a):
    from salescopilot.settings import TrackingSettings
    from salescopilot.web.app import create_app

    sent = await send_one(desk, script)
    # A flush interval longer than the test: only the shutdown can write these events.
    app = create_app(settings.model_copy(update={"tracking": TrackingSettings(buffer_interval=3600, buffer_batch=10_000)}))
    for hook in app.on_startup:
        await hook(app)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://acme.localhost") as client:
        for _ in range(40):
            await client.get(sent.pixel, headers={"user-agent": BROWSER})
        for path in sent.clicks[:1] * 5:
            await client.get(path, headers={"user-agent": BROWSER}, follow_redirects=False)
    assert len(app.state.tracking_buffer) == 45
    assert await events(tenant_a) == []
    for hook in app.on_shutdown:
        await hook(app)
    # (The database stays up: the test's own `db` fixture holds it.)
    stored = await events(tenant_a, sent.id)
    assert sorted(e.kind for e in stored) == ["click"] * 5 + ["open"] * 40
