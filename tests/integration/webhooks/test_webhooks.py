"""Outbound webhooks against a real receiver on loopback: signed deliveries, a receiver that
fails, times out and answers slowly, retries with backoff, the dead-letter list and replay,
SSRF refusals, and the events the platform emits."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json

import pytest

from salescopilot.clock import FakeClock
from salescopilot.settings import WebhookSettings
from salescopilot.tenancy.context import tenant_context, tenant_scope
from salescopilot.webhooks.delivery import is_public, verify_signature
from salescopilot.webhooks.repository import WebhookDeliveryRepository
from salescopilot.webhooks.service import WebhookService, emit_event
from tests.integration.webhooks.receiver import Receiver
from tests.support import add_member, session_csrf, sign_in


@pytest.fixture
async def receiver():
    server = await Receiver().start()
    yield server
    await server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC))


def hook_settings(settings, **values):
    values.setdefault("allow_private", True)  # the receiver is on loopback
    values.setdefault("max_attempts", 3)
    return settings.model_copy(update={"webhooks": WebhookSettings(**values)})


class Hooks:
    def __init__(self, tenant, settings, clock) -> None:
        self.tenant, self.settings, self.clock = tenant, settings, clock

    def service(self) -> WebhookService:
        return WebhookService(self.clock, settings=self.settings)

    async def endpoint(self, url: str, events=("*",)):
        async with tenant_scope(self.tenant):
            return await self.service().create(url, list(events))

    async def emit(self, kind: str = "email.opened", payload: dict | None = None) -> int:
        async with tenant_scope(self.tenant):
            return await emit_event(kind, payload or {"emailId": "e-1"}, clock=self.clock)

    async def deliver(self) -> int:
        with tenant_context(self.tenant):
            return await self.service().deliver_due()

    async def deliveries(self):
        async with tenant_scope(self.tenant, write=False):
            return sorted(await WebhookDeliveryRepository().find(), key=lambda d: d.created_at)


@pytest.fixture
def hooks(settings, db, tenant_a, clock):
    return Hooks(tenant_a, hook_settings(settings, timeout=1.0), clock)


async def test_a_delivery_is_signed_and_recorded(hooks, receiver):
    _, secret = await hooks.endpoint(receiver.url, ["email.opened"])
    assert await hooks.emit("email.opened", {"emailId": "e-1", "human": True}) == 1
    assert await hooks.emit("email.clicked") == 0  # not subscribed
    assert await hooks.deliver() == 1
    [request] = receiver.received
    assert request.method == "POST" and request.path == "/hooks"
    assert request.headers["x-salescopilot-event"] == "email.opened"
    assert verify_signature(secret, request.headers["x-salescopilot-timestamp"], request.body,
                            request.headers["x-salescopilot-signature"])
    assert not verify_signature("whsec_wrong", request.headers["x-salescopilot-timestamp"], request.body,
                                request.headers["x-salescopilot-signature"])
    body = json.loads(request.body)
    assert body["event"] == "email.opened" and body["tenant"] == "acme"
    assert body["data"] == {"emailId": "e-1", "human": True}
    [delivery] = await hooks.deliveries()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)
    assert body["id"] == str(delivery.event_id)
    assert await hooks.deliver() == 0  # nothing left


async def test_an_old_signature_is_refused_by_the_check_receivers_use():
    import time

    from salescopilot.webhooks.delivery import signature

    now = int(time.time())
    assert verify_signature("s", str(now), b"{}", signature("s", now, b"{}"))
    assert not verify_signature("s", str(now - 3600), b"{}", signature("s", now - 3600, b"{}"))
    assert not verify_signature("s", str(now), b"{} ", signature("s", now, b"{}"))
    assert not verify_signature("s", "soon", b"{}", signature("s", now, b"{}"))


async def test_a_failing_receiver_is_retried_with_backoff_then_dead_lettered_then_replayed(hooks, receiver):
    receiver.default = "500"
    await hooks.endpoint(receiver.url)
    await hooks.emit()
    assert await hooks.deliver() == 1
    [delivery] = await hooks.deliveries()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
    assert delivery.next_attempt_at == hooks.clock.now() + dt.timedelta(seconds=30)
    assert await hooks.deliver() == 0  # not due yet
    hooks.clock.advance(seconds=30)
    assert await hooks.deliver() == 1
    [delivery] = await hooks.deliveries()
    assert delivery.attempts == 2
    assert delivery.next_attempt_at == hooks.clock.now() + dt.timedelta(seconds=120)  # x4 each time
    hooks.clock.advance(seconds=120)
    assert await hooks.deliver() == 1
    [delivery] = await hooks.deliveries()
    assert (delivery.state, delivery.attempts) == ("dead", 3)
    assert len(receiver.received) == 3
    assert len({r.headers["x-salescopilot-delivery"] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1  # the same event every time
    async with tenant_scope(hooks.tenant, write=False):
        dead, total = await hooks.service().dead_letters(page=1, limit=10)
    assert total == 1 and dead[0].id == delivery.id
    receiver.default = "ok"
    async with tenant_scope(hooks.tenant):
        await hooks.service().replay(delivery.id)
    assert await hooks.deliver() == 1
    [delivery] = await hooks.deliveries()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)


async def test_a_receiver_that_never_answers_times_out_and_is_retried(settings, db, tenant_a, clock, receiver):
    hooks = Hooks(tenant_a, hook_settings(settings, timeout=0.5), clock)
    receiver.script = ["hang"]
    await hooks.endpoint(receiver.url)
    await hooks.emit()
    assert await hooks.deliver() == 1
    [delivery] = await hooks.deliveries()
    assert delivery.state == "pending" and delivery.last_status is None
    assert "no answer within" in delivery.last_error
    hooks.clock.advance(seconds=30)
    assert await hooks.deliver() == 1
    [delivery] = await hooks.deliveries()
    assert delivery.state == "delivered"


async def test_a_slow_receiver_within_the_timeout_is_delivered(settings, db, tenant_a, clock, receiver):
    hooks = Hooks(tenant_a, hook_settings(settings, timeout=3.0), clock)
    receiver.script = ["slow:0.4"]
    await hooks.endpoint(receiver.url)
    await hooks.emit()
    await hooks.deliver()
    [delivery] = await hooks.deliveries()
    assert delivery.state == "delivered" and delivery.duration_ms >= 400


async def test_redirects_are_never_followed(hooks, receiver):
    other = await Receiver().start()
    try:
        receiver.script = ["redirect:" + other.url, "redirect:http://169.254.169.254/latest/meta-data/"]
        await hooks.endpoint(receiver.url)
        await hooks.emit()
        await hooks.emit()
        await hooks.deliver()
        assert other.received == []
        for delivery in await hooks.deliveries():
            assert delivery.state == "pending" and delivery.last_status == 302
            assert "not followed" in delivery.last_error
    finally:
        await other.stop()


# -- SSRF ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://10.1.2.3/hook", "http://192.168.1.1/", "http://172.16.0.1/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook", "http://[fe80::1]/hook",
    "http://[::ffff:127.0.0.1]/hook", "http://0.0.0.0/", "http://100.64.0.1/",
])
async def test_private_addresses_are_refused_at_creation(settings, db, tenant_a, clock, url):
    hooks = Hooks(tenant_a, hook_settings(settings, allow_private=False), clock)
    with pytest.raises(Exception) as refused:
        await hooks.endpoint(url)
    assert refused.value.code == "INVALID_WEBHOOK_URL"


@pytest.mark.parametrize("url", ["ftp://example.com/", "https://user:pw@example.com/", "example.com/hook",
                                 "http://exa mple.com/", "http:///nohost"])
async def test_malformed_urls_are_refused(hooks, url):
    with pytest.raises(Exception) as refused:
        await hooks.endpoint(url)
    assert refused.value.code == "INVALID_WEBHOOK_URL"


async def test_a_hostname_resolving_to_a_private_address_is_refused_at_delivery(
    settings, db, tenant_a, clock, receiver
):
    hooks = Hooks(tenant_a, hook_settings(settings, allow_private=False), clock)
    await hooks.endpoint(f"http://localhost:{receiver.port}/hooks")  # a name: checked when used
    await hooks.emit()
    await hooks.deliver()
    [delivery] = await hooks.deliveries()
    assert receiver.received == []
    assert delivery.state == "pending" and delivery.last_error.startswith("refused:")
    assert "private" in delivery.last_error


def test_public_and_private_addresses():
    public = ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"]
    private = ["127.0.0.1", "10.0.0.1", "172.31.255.255", "192.168.0.1", "169.254.1.1", "::1", "fe80::1",
               "fc00::1", "::ffff:10.0.0.1", "2002:a00:1::1", "224.0.0.1", "0.0.0.0", "100.64.0.1",
               "198.18.0.1"]
    assert all(is_public(ipaddress.ip_address(a)) for a in public)
    assert not any(is_public(ipaddress.ip_address(a)) for a in private)


# -- the API and the events the platform emits ---------------------------------------------------------


async def test_the_api_shows_the_secret_once_and_keeps_a_delivery_log(app, client_a, tenant_a):
    await add_member(tenant_a, "owner@acme.example", "owner")
    await sign_in(client_a, "owner@acme.example")
    csrf = {"X-CSRF-Token": await session_csrf(client_a)}
    created = await client_a.post("/api/v1/webhooks/", headers=csrf,
                                  json={"url": "https://hooks.example.com/in", "events": ["email.sent", "lead.unsubscribed"]})
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["secret"].startswith("whsec_")
    shown = await client_a.get(f"/api/v1/webhooks/{data['id']}")
    assert "secret" not in shown.json()["data"] and data["secret"] not in shown.text
    bad = await client_a.post("/api/v1/webhooks/", headers=csrf,
                              json={"url": "http://127.0.0.1/x", "events": ["email.sent"]})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_WEBHOOK_URL"
    bad = await client_a.post("/api/v1/webhooks/", headers=csrf,
                              json={"url": "https://hooks.example.com/in", "events": ["email.teleported"]})
    assert bad.json()["error"]["code"] == "UNKNOWN_WEBHOOK_EVENT"
    async with tenant_scope(tenant_a):
        await emit_event("lead.unsubscribed", {"leadId": "l-1"})
    log = await client_a.get(f"/api/v1/webhooks/{data['id']}/deliveries")
    assert log.json()["pagination"]["total"] == 1
    assert log.json()["data"][0]["event"] == "lead.unsubscribed"
    page = await client_a.get("/settings/webhooks")
    assert page.status_code == 200 and "hooks.example.com" in page.text


async def test_the_sender_and_tracking_emit_their_events(no_scheduler, app, client_a, settings, db, tenant_a):
    from tests.integration.outbox.conftest import Desk
    from tests.integration.outbox import scripted_provider
    from salescopilot.plugin_system.manager import get_plugin_manager

    pm = get_plugin_manager()
    pm.register(scripted_provider, name="tests.scripted_provider")
    try:
        clock = FakeClock(dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC))
        hooks = Hooks(tenant_a, hook_settings(settings), clock)
        await hooks.endpoint("https://hooks.example.com/in")
        desk = Desk(tenant_a, settings, clock)
        from tests.integration.tracking.conftest import send_one

        sent = await send_one(desk, scripted_provider.SCRIPT)
        await client_a.get(sent.pixel, headers={"user-agent": "Mozilla/5.0"})
        await client_a.get(sent.clicks[0], headers={"user-agent": "curl/8"}, follow_redirects=False)
        await app.state.tracking_buffer.flush()
        await client_a.post(sent.unsubscribe, content=b"List-Unsubscribe=One-Click",
                            headers={"content-type": "application/x-www-form-urlencoded"})
        kinds = sorted(d.kind for d in await hooks.deliveries())
        assert kinds == ["email.clicked", "email.opened", "email.sent", "lead.unsubscribed"]
        bodies = {d.kind: json.loads(d.body)["data"] for d in await hooks.deliveries()}
        assert bodies["email.opened"]["human"] is False and bodies["email.opened"]["reason"] == "apple_mpp"
        assert bodies["email.sent"]["emailId"] == str(sent.id)
    finally:
        pm.unregister(name="tests.scripted_provider")
        from salescopilot.mailboxes.providers import provider_instances

        await provider_instances.close_all()
