"""Shared by `tracking_pixel.py` and `click_redirect.py`: the production app serving a tracking
URL of a really stored, sent message vs a bare Litestar route returning the same GIF, served by
the same uvicorn configuration in its own process, rounds alternating (ABBA), one load generator.

After the rounds the app server is stopped (SIGTERM: uvicorn's graceful shutdown runs the app's
shutdown hooks, which write the events still buffered) and the stored events are counted against
every request the load generator made (warm-ups included): `events_lost` must be 0.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import uuid

from litestar import Litestar, Response, get

from _harness import bench_environment, cpu_count, database_kind, emit, load_average, percentile, seed_tenant, summary_ms
from _http_load import LOOPBACK, LoadGenerator, RoundResult, free_port, process_cpu_seconds, serve, server_process

SLUG = "bench"
BROWSER = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
           "Version/17.4 Safari/605.1.15")
BODY = ('<html><body><p>Hello</p><a href="https://example.com/pricing">pricing</a> '
        '<a href="https://example.com/demo">demo</a></body></html>')


def gif_app():
    from salescopilot.tracking.controllers import PIXEL

    @get("/gif")
    async def gif() -> Response:
        return Response(PIXEL, media_type="image/gif", headers={"Cache-Control": "no-store"})

    return Litestar(route_handlers=[gif])


async def seed(kind: str) -> tuple[str, uuid.UUID]:
    """A tenant with one sent message (opens and clicks tracked); returns the path of its open
    pixel or first click, and the tenant id."""
    from salescopilot.db.engine import connected
    from salescopilot.mail.tracking import TrackingTokens
    from salescopilot.outbox.building import CLICK_PATH, OPEN_PATH
    from salescopilot.outbox.repository import OutboxRepository
    from salescopilot.outbox.tables import OutboxMessage
    from salescopilot.settings import get_settings
    from salescopilot.tenancy.context import tenant_scope

    settings = get_settings()
    async with connected(settings):
        tenant, _ = await seed_tenant(SLUG, "owner@bench.example")
        sent_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
        row = OutboxMessage(
            id=uuid.uuid4(), enrollment=uuid.uuid4(), step=0, message_id=f"<{uuid.uuid4().hex}@bench.example>",
            recipient_email="lead@customer.example", recipient_domain="customer.example", subject="Hello",
            body_text="Hello", body_html=BODY, track_opens=True, track_clicks=True, state="sent",
            sent_at=sent_at, created_at=sent_at, updated_at=sent_at, due_at=sent_at,
        )
        async with tenant_scope(tenant):
            await OutboxRepository().add(row)
    tokens = TrackingTokens.from_settings(settings)
    if kind == "open":
        return OPEN_PATH + tokens.make("open", row.id), tenant.id
    return CLICK_PATH + tokens.make("click", row.id, 0), tenant.id


async def count_events(tenant_id: uuid.UUID) -> int:
    from salescopilot.db.engine import connected
    from salescopilot.settings import get_settings
    from salescopilot.tenancy.context import TenantRef, tenant_scope
    from salescopilot.tracking.repository import TrackingEventRepository

    async with connected(get_settings()):
        async with tenant_scope(TenantRef(id=tenant_id, slug=SLUG), write=False):
            return await TrackingEventRepository().count()


def main(name: str, kind: str, goal: float, script: str, doc: str) -> None:
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version, < 60 s")
    parser.add_argument("--rounds", type=int, help="rounds per side (default 10, quick 4)")
    parser.add_argument("--seconds", type=float, help="duration of one round (default 5, quick 2.5)")
    parser.add_argument("--max-requests", type=int, default=100_000, help="cap per round")
    parser.add_argument("--concurrency", type=int, default=8, help="in-flight requests per client")
    parser.add_argument("--clients", type=int, default=1, help="load-generator processes")
    parser.add_argument("--serve", choices=("app", "gif"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "gif":
        serve(gif_app(), args.port)
        return
    if args.serve == "app":
        from salescopilot.web.app import create_app

        serve(create_app(server_process=True), args.port)
        return

    load_before = load_average()
    rounds = args.rounds or (4 if args.quick else 10)
    seconds = args.seconds or (2.5 if args.quick else 5.0)
    ok_status = 200 if kind == "open" else 302
    with bench_environment(name) as env:
        path, tenant_id = asyncio.run(seed(kind))
        app_port, gif_port = free_port(), free_port()
        sides = {
            "tracking": {"url": f"http://{LOOPBACK}:{app_port}{path}", "ok": ok_status,
                         "headers": {"host": f"{SLUG}.localhost", "user-agent": BROWSER}},
            "bare_gif": {"url": f"http://{LOOPBACK}:{gif_port}/gif", "ok": 200,
                         "headers": {"host": f"{SLUG}.localhost", "user-agent": BROWSER}},
        }
        made = 0
        with server_process([script, "--serve", "gif", "--port", str(gif_port)], gif_port, "/gif", env) as gif_proc:
            with server_process([script, "--serve", "app", "--port", str(app_port)], app_port, "/healthz",
                                env) as app_proc:
                pids = {"tracking": app_proc.pid, "bare_gif": gif_proc.pid}
                load = LoadGenerator(args.clients, args.concurrency)
                try:
                    totals, per_round, made = _run(load, sides, pids, rounds, seconds, args.max_requests)
                finally:
                    load.close()
            # The app server has stopped: its shutdown wrote every buffered event.
        stored = asyncio.run(count_events(tenant_id))
    _report(name, kind, goal, totals, per_round, rounds, seconds, args, load_before, made, stored)


def _run(load, sides, pids, rounds, seconds, max_requests):
    totals = {name: RoundResult() for name in sides}
    per_round = []
    made = 0
    warm_per_run = load.clients * load.concurrency

    def run(name: str, count: int, duration: float) -> RoundResult:
        nonlocal made
        side = sides[name]
        result = load.run(side["url"], side["headers"], count, duration, side["ok"])
        if name == "tracking":
            made += result.requests + warm_per_run
        return result

    for name in sides:  # unmeasured: imports, caches, connection pools warm up
        run(name, 2_000, 1.0)
    for index in range(rounds):
        order = list(sides) if index % 2 == 0 else list(reversed(sides))
        rps = {}
        for name in order:
            before = process_cpu_seconds(pids[name])
            result = run(name, max_requests, seconds)
            after = process_cpu_seconds(pids[name])
            if before is not None and after is not None:
                result.server_cpu_s = after - before
            totals[name].add_round(result)
            rps[name] = result.requests / result.elapsed
        per_round.append(rps)
        print(f"round {index + 1}/{rounds}: tracking {rps['tracking']:.0f} req/s, bare GIF "
              f"{rps['bare_gif']:.0f} req/s, ratio {rps['tracking'] / rps['bare_gif']:.3f}", flush=True)
    return totals, per_round, made


def _report(name, kind, goal, totals, per_round, rounds, seconds, args, load_before, made, stored) -> None:
    figures = {}
    for side, total in totals.items():
        figures[side] = {
            "requests_per_s": round(total.requests / total.busy, 1),
            **summary_ms(total.latencies),
            "p99_ms": round(percentile(total.latencies, 99) * 1000, 3),
            "requests": total.requests,
            "errors": total.errors,
            "server_cpu_us_per_request": (
                round(total.server_cpu_s / total.requests * 1e6, 1) if total.requests else None),
        }
    ratio = statistics.median(r["tracking"] / r["bare_gif"] for r in per_round)
    overall = figures["tracking"]["requests_per_s"] / figures["bare_gif"]["requests_per_s"]
    errors = sum(t.errors for t in totals.values())
    lost = made - stored
    p99 = figures["tracking"]["p99_ms"]
    ok = ratio >= goal and errors == 0 and lost == 0 and (kind != "open" or p99 <= 50)
    for side, f in figures.items():
        print(f"{side}: {f['requests_per_s']} req/s, p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, "
              f"p99 {f['p99_ms']} ms, server {f['server_cpu_us_per_request']} us CPU/request")
    print(f"ratio {ratio:.3f} (median of rounds; overall {overall:.3f}; goal >= {goal}); errors {errors}; "
          f"requests {made}, events stored {stored}, lost {lost}")
    emit({
        "name": name, "ratio": round(ratio, 3), "goal": goal, "ok": ok, "ratio_overall": round(overall, 3),
        "p99_ms": p99, **({"goal_p99_ms": 50} if kind == "open" else {}),
        "events_expected": made, "events_stored": stored, "events_lost": lost,
        "tracking": figures["tracking"], "bare_gif": figures["bare_gif"],
        "round_ratios": [round(r["tracking"] / r["bare_gif"], 3) for r in per_round],
        "database": database_kind(), "rounds": rounds, "round_seconds": seconds,
        "concurrency": args.concurrency, "clients": args.clients,
        "server": "uvicorn (h11, asyncio loop, 1 worker) on loopback", "quick": args.quick,
        "cpu_count": cpu_count(), "load_average_1m": {"start": load_before, "end": load_average()},
    })
