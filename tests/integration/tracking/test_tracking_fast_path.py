"""The fast path in front of Litestar (`tracking.fast_path`) answers the open pixel and the click
redirect exactly as the Litestar handlers behind the full middleware stack do: same status, body
and headers, the same hits recorded and scored; what it does not answer reaches Litestar
untouched; its hits survive the shutdown and are counted on /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid

import httpx
from prometheus_client import REGISTRY

from salescopilot.mail.tracking import TrackingTokens
from salescopilot.tenancy.context import tenant_scope
from salescopilot.tracking.fast_path import TrackingFastPath
from salescopilot.tracking.hits import PIXEL
from salescopilot.tracking.service import TrackingService
from tests.integration.tracking.conftest import LINKS, send_one
from tests.integration.tracking.test_tracking_endpoints import BROWSER, altered, events, flush

REQUEST_ID = "fast-path-test-0001"


def answered_by_fast_path(kind: str, method: str, status: int) -> float:
    return REGISTRY.get_sample_value(
        "salescopilot_tracking_requests_total", {"kind": kind, "method": method, "status_code": str(status)}
    ) or 0.0


@contextlib.contextmanager
def full_stack(app):
    """The app without its fast path: every request through Litestar's router and middleware."""
    fast_path = app.asgi_handler
    assert isinstance(fast_path, TrackingFastPath)
    app.asgi_handler = fast_path.app
    try:
        yield
    finally:
        app.asgi_handler = fast_path


def on_host(host: str, app) -> httpx.AsyncClient:
    """Another client of an app already started (by the `client_a` fixture)."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51000))
    return httpx.AsyncClient(transport=transport, base_url=f"http://{host}")


def snapshot(response: httpx.Response) -> tuple:
    body = response.content
    if body and response.headers.get("content-type") == "application/json":
        envelope = json.loads(body)
        envelope["error"]["timestamp"] = "(now)"
        body = json.dumps(envelope)
    return response.status_code, sorted(response.headers.multi_items()), body


async def both_ways(app, client, method: str, path: str, kind: str, **headers) -> httpx.Response:
    """The request through the fast path, then through the full stack; asserts the answers are
    the same and that the first really was the fast path's."""
    headers = {"user-agent": BROWSER, "x-request-id": REQUEST_ID, **headers}
    before = {status: answered_by_fast_path(kind, method, status) for status in (200, 302, 404)}
    fast = await client.request(method, path, headers=headers, follow_redirects=False)
    assert answered_by_fast_path(kind, method, fast.status_code) == before[fast.status_code] + 1, path
    with full_stack(app):
        full = await client.request(method, path, headers=headers, follow_redirects=False)
    assert {s: answered_by_fast_path(kind, method, s) for s in before} == {
        s: before[s] + (s == fast.status_code) for s in before}, "the full stack was not taken"
    assert snapshot(fast) == snapshot(full), (method, path)
    assert fast.headers["x-request-id"] == REQUEST_ID
    return fast


def recorded(stored) -> list[tuple]:
    return sorted((e.kind, e.link_index, e.url, e.method, e.machine, e.reason, e.ip, e.user_agent) for e in stored)


async def test_valid_tokens_are_answered_and_recorded_as_by_the_full_stack(app, client_a, desk, script, tenant_a):
    sent = await send_one(desk, script)
    for method in ("GET", "HEAD"):
        pixel = await both_ways(app, client_a, method, sent.pixel, "open")
        click = await both_ways(app, client_a, method, sent.clicks[1], "click")
        assert pixel.status_code == 200 and pixel.headers["content-type"] == "image/gif"
        assert pixel.headers["content-length"] == str(len(PIXEL))
        # A HEAD gets the GET's answer without its body: where the link goes, too.
        assert (click.status_code, click.headers.get("location")) == (302, LINKS[1])
    await flush(app)
    stored = recorded(await events(tenant_a, sent.id))
    # Each request twice (fast path, full stack), scored alike: HEAD is a machine, as before.
    assert stored[0::2] == stored[1::2] and len(stored) == 8
    assert {(kind, method, machine, reason) for kind, _, _, method, machine, reason, _, _ in stored} == {
        ("open", "GET", False, "human"), ("open", "HEAD", True, "head_request"),
        ("click", "GET", False, "human"), ("click", "HEAD", True, "head_request"),
    }
    assert {ip for *_, ip, _ in stored} == {"203.0.113.7"}


async def test_forged_and_unknown_tokens_get_the_same_neutral_answers(app, client_a, desk, script, tenant_a, settings):
    sent = await send_one(desk, script)
    token = sent.pixel.rsplit("/", 1)[1]
    tokens = TrackingTokens.from_settings(settings)
    for method in ("GET", "HEAD"):
        for path in (f"/t/o/{altered(token)}", f"/t/o/{token[:-3]}", "/t/o/not-a-token",
                     f"/t/o/{tokens.make('click', sent.id, 0)}"):
            assert (await both_ways(app, client_a, method, path, "open")).status_code == 200
        for path in (f"/t/c/{altered(token)}", f"/t/c/{tokens.make('open', sent.id)}",
                     f"/t/c/{tokens.make('click', sent.id, 7)}", f"/t/c/{tokens.make('click', uuid.uuid4(), 0)}",
                     "/t/c/https:", "/t/c/%3Fnext=evil.example"):
            response = await both_ways(app, client_a, method, path, "click")
            assert response.status_code == 404 and "location" not in response.headers
    await flush(app)
    assert await events(tenant_a) == []


async def test_a_host_that_is_no_tenants_gets_the_pipelines_not_found(app, client_a, desk, script, tenant_a):
    sent = await send_one(desk, script)
    async with on_host("nobody.localhost", app) as stranger:
        for method in ("GET", "HEAD"):
            for path, kind in ((sent.pixel, "open"), (sent.clicks[0], "click")):
                response = await both_ways(app, stranger, method, path, kind)
                assert response.status_code == 404 and "location" not in response.headers
                if method == "GET":
                    assert response.json()["error"]["requestId"] == REQUEST_ID
    await flush(app)
    assert await events(tenant_a) == []


async def test_switched_off_tracking_and_the_tenants_own_domain_answer_as_before(app, client_a, desk, script, tenant_a):
    async with tenant_scope(tenant_a):
        await TrackingService().update_switches(tracking_domain="t.acme-mail.example")
    sent = await send_one(desk, script)
    async with tenant_scope(tenant_a):
        # Switches decide what the next messages carry; links already sent keep working.
        await TrackingService().update_switches(opens_enabled=False, clicks_enabled=False)
    async with on_host("t.acme-mail.example", app) as own_domain:
        for client in (client_a, own_domain):
            assert (await both_ways(app, client, "GET", sent.pixel, "open")).status_code == 200
            response = await both_ways(app, client, "GET", sent.clicks[2], "click")
            assert response.headers["location"] == LINKS[2]
    await flush(app)
    assert len(await events(tenant_a, sent.id)) == 8


async def test_what_the_fast_path_does_not_answer_reaches_litestar(app, client_a, desk, script, tenant_a):
    sent = await send_one(desk, script)
    before = answered_by_fast_path("open", "GET", 200)
    # An API key takes the full path, which refuses a wrong one.
    response = await client_a.get(sent.pixel, headers={"authorization": "Bearer sc_wrong"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "NOT_AUTHENTICATED"
    response = await client_a.get(sent.pixel, headers={"x-api-key": "sc_wrong"})
    assert response.status_code == 401
    # Other methods, and paths Litestar normalises (a trailing slash) are its own.
    assert (await client_a.post(sent.pixel)).status_code == 405
    response = await client_a.get(sent.pixel + "/", headers={"user-agent": BROWSER})
    assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
    assert answered_by_fast_path("open", "GET", 200) == before
    await flush(app)
    assert [(e.kind, e.method) for e in await events(tenant_a, sent.id)] == [("open", "GET")]


async def test_an_error_before_answering_is_left_to_the_full_stack(app, client_a, desk, script, tenant_a, monkeypatch):
    sent = await send_one(desk, script)

    async def unreachable(host: str):
        raise OSError("database unreachable")

    monkeypatch.setattr(app.state.tenant_resolver, "resolve", unreachable)
    response = await client_a.get(sent.clicks[0], headers={"x-request-id": REQUEST_ID}, follow_redirects=False)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "INTERNAL_ERROR"
    assert "location" not in response.headers
    assert len(app.state.tracking_buffer) == 0


async def test_metrics_count_the_fast_paths_hits(app, client_a, desk, script, tenant_a):
    sent = await send_one(desk, script)
    before = answered_by_fast_path("open", "GET", 200)
    clicks_before = answered_by_fast_path("click", "GET", 302)
    for _ in range(3):
        await client_a.get(sent.pixel)
    await client_a.get(sent.clicks[0], follow_redirects=False)
    metrics = (await client_a.get("/metrics")).text
    line = next(line for line in metrics.splitlines() if line.startswith("salescopilot_tracking_requests_total{")
                and 'kind="open"' in line and 'method="GET"' in line and 'status_code="200"' in line)
    assert float(line.rsplit(" ", 1)[1]) == before + 3
    assert answered_by_fast_path("click", "GET", 302) == clicks_before + 1


async def test_fast_path_hits_are_written_on_shutdown(settings, db, desk, script, tenant_a):
    from salescopilot.settings import TrackingSettings
    from salescopilot.web.app import create_app

    sent = await send_one(desk, script)
    # A flush interval longer than the test: only the shutdown can write these events.
    app = create_app(settings.model_copy(update={"tracking": TrackingSettings(buffer_interval=3600, buffer_batch=10_000)}))
    for hook in app.on_startup:
        await hook(app)
    before = answered_by_fast_path("open", "GET", 200) + answered_by_fast_path("open", "HEAD", 200)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://acme.localhost") as client:
        requests = [client.request(method, sent.pixel, headers={"user-agent": BROWSER})
                    for method in ("GET", "HEAD") for _ in range(30)]
        requests += [client.get(path, follow_redirects=False) for path in sent.clicks * 4]
        answers = await asyncio.gather(*requests)
    assert sorted({r.status_code for r in answers}) == [200, 302]
    assert answered_by_fast_path("open", "GET", 200) + answered_by_fast_path("open", "HEAD", 200) == before + 60
    assert len(app.state.tracking_buffer) == 72
    for hook in app.on_shutdown:
        await hook(app)
    stored = await events(tenant_a, sent.id)
    assert sorted((e.kind, e.method) for e in stored) == (
        [("click", "GET")] * 12 + [("open", "GET")] * 30 + [("open", "HEAD")] * 30)
