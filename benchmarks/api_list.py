"""api_list: `GET /api/v1/api-keys` (a tenant with 1,000 keys, default page of 20) through the
full stack vs a bare Litestar JSON hello-world. Goal: ratio of requests/s >= 0.5.

Full stack means the production app from `create_app()` served by uvicorn on loopback: Host ->
tenant resolution, API-key authentication (`Authorization: Bearer sc_...`), one read-only tenant
scope (transaction; on PostgreSQL `app.tenant_id` + row-level security, app connected as a
non-owner role), the permission guard, query parameters, the page query plus its count, JSON
encoding; no audit entry on reads. The peer is `Litestar([hello])` returning `{"hello": "world"}`,
served by the same uvicorn configuration in its own process. Rounds alternate between the two
(ABBA order) with the same load generator (httpx.AsyncClient workers, loopback only); the ratio
is the median of the rounds' ratios (the overall one is printed too).

    python benchmarks/api_list.py            # full size (~2.5 min)
    python benchmarks/api_list.py --quick    # < 60 s
    SALESCOPILOT_DATABASE__URL=postgresql://postgres@127.0.0.1:5432/test \
        python benchmarks/api_list.py

The last line printed is one JSON object (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    bench_environment, cpu_count, database_kind, emit, load_average, seed_tenant, summary_ms,
)
from _http_load import (  # noqa: E402
    LOOPBACK, LoadGenerator, RoundResult, free_port, process_cpu_seconds, serve, server_process,
)

NAME = "api_list"
GOAL = 0.5
ROWS = 1_000
SLUG = "bench"
LIST_PATH = "/api/v1/api-keys"


def hello_app():
    from litestar import Litestar, get

    @get("/")
    async def hello() -> dict[str, str]:
        return {"hello": "world"}

    return Litestar(route_handlers=[hello])


async def seed() -> str:
    """A tenant with ROWS API keys (made through the service, as users would); returns the key
    the load generator authenticates with (itself one of the ROWS)."""
    from salescopilot.accounts.api_keys import ApiKeyService
    from salescopilot.accounts.permissions import build_catalogue
    from salescopilot.accounts.principal import Principal
    from salescopilot.actor import Actor, acting_as
    from salescopilot.clock import system_clock
    from salescopilot.db.engine import connected
    from salescopilot.settings import get_settings
    from salescopilot.tenancy.context import tenant_scope

    async with connected(get_settings()):
        tenant, owner_id = await seed_tenant(SLUG, "owner@bench.example")
        permissions = build_catalogue()
        owner = Principal(
            user_id=owner_id, label="owner", role="owner",
            permissions=permissions.for_role("owner"), via="session",
        )
        with acting_as(Actor(kind="system", label="benchmark")):
            async with tenant_scope(tenant):
                service = ApiKeyService(clock=system_clock, permissions=permissions)
                for index in range(ROWS - 1):
                    role = ("admin", "member", "viewer")[index % 3]
                    await service.create(owner, f"key {index:04d}", role)
                _, token = await service.create(owner, "load generator", "admin")
    return token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version, < 60 s")
    parser.add_argument("--rounds", type=int, help="rounds per side (default 12, quick 4)")
    parser.add_argument(
        "--seconds", type=float, help="duration of one round (default 5, quick 2.5)"
    )
    parser.add_argument("--max-requests", type=int, default=100_000, help="cap per round")
    parser.add_argument("--concurrency", type=int, default=8, help="in-flight requests per client")
    parser.add_argument("--clients", type=int, default=1, help="load-generator processes")
    parser.add_argument("--serve", choices=("app", "hello"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve == "hello":
        serve(hello_app(), args.port)
        return
    if args.serve == "app":
        from salescopilot.web.app import create_app

        serve(create_app(), args.port)
        return

    load_before = load_average()
    rounds = args.rounds or (4 if args.quick else 12)
    seconds = args.seconds or (2.5 if args.quick else 5.0)
    script = str(Path(__file__).resolve())
    with bench_environment(NAME) as env:
        token = asyncio.run(seed())
        app_port, hello_port = free_port(), free_port()
        sides = {
            "full_stack": {
                "url": f"http://{LOOPBACK}:{app_port}{LIST_PATH}",
                "headers": {"host": f"{SLUG}.localhost", "authorization": f"Bearer {token}"},
            },
            "hello_world": {
                "url": f"http://{LOOPBACK}:{hello_port}/",
                "headers": {"host": f"{SLUG}.localhost"},
            },
        }
        with (
            server_process(
                [script, "--serve", "app", "--port", str(app_port)], app_port, "/healthz", env
            ) as app_proc,
            server_process(
                [script, "--serve", "hello", "--port", str(hello_port)], hello_port, "/", env
            ) as hello_proc,
        ):
            pids = {"full_stack": app_proc.pid, "hello_world": hello_proc.pid}
            _check_page(sides["full_stack"])
            load = LoadGenerator(args.clients, args.concurrency)
            try:
                totals, per_round = _run(load, sides, pids, rounds, seconds, args.max_requests)
            finally:
                load.close()
    _report(totals, per_round, rounds, seconds, args, load_before)


def _check_page(side: dict) -> None:
    """The measured request must really return a full page of the 1,000 rows."""
    import httpx

    response = httpx.get(side["url"], headers=side["headers"], timeout=30)
    body = response.json()
    full = response.status_code == 200 and len(body.get("data", [])) == 20
    if not full or body["pagination"]["total"] != ROWS:
        raise SystemExit(f"unexpected list response {response.status_code}: {response.text[:300]}")


def _run(load, sides, pids, rounds, seconds, max_requests):
    totals = {name: RoundResult() for name in sides}
    per_round = []
    # One short unmeasured round each: imports, caches and connection pools warm up.
    for side in sides.values():
        load.run(side["url"], side["headers"], 2_000, 1.0)
    for index in range(rounds):
        order = list(sides) if index % 2 == 0 else list(reversed(sides))
        rps = {}
        for name in order:
            before = process_cpu_seconds(pids[name])
            result = load.run(sides[name]["url"], sides[name]["headers"], max_requests, seconds)
            after = process_cpu_seconds(pids[name])
            if before is not None and after is not None:
                result.server_cpu_s = after - before
            totals[name].add_round(result)
            rps[name] = result.requests / result.elapsed
        per_round.append(rps)
        print(
            f"round {index + 1}/{rounds}: full stack {rps['full_stack']:.0f} req/s, "
            f"hello world {rps['hello_world']:.0f} req/s, "
            f"ratio {rps['full_stack'] / rps['hello_world']:.3f}",
            flush=True,
        )
    return totals, per_round


def _report(totals, per_round, rounds, seconds, args, load_before) -> None:
    figures = {}
    for name, total in totals.items():
        rps = total.requests / total.busy
        figures[name] = {
            "requests_per_s": round(rps, 1),
            **summary_ms(total.latencies),
            "requests": total.requests,
            "errors": total.errors,
            "response_bytes": total.response_bytes,
            "server_cpu_us_per_request": (
                round(total.server_cpu_s / total.requests * 1e6, 1) if total.requests else None
            ),
            "client_cpu_us_per_request": round(total.client_cpu_s / total.requests * 1e6, 1),
        }
    overall = figures["full_stack"]["requests_per_s"] / figures["hello_world"]["requests_per_s"]
    round_ratios = [r["full_stack"] / r["hello_world"] for r in per_round]
    # The median of the paired rounds: a burst of load from other processes on a shared machine
    # during one round moves it less than the overall sums.
    ratio = statistics.median(round_ratios)
    errors = sum(t.errors for t in totals.values())
    for name, f in figures.items():
        print(f"{name}: {f['requests_per_s']} req/s, p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, "
              f"{f['response_bytes']} bytes, "
              f"server {f['server_cpu_us_per_request']} us CPU/request")
    print(f"ratio {ratio:.3f} (median of rounds; overall {overall:.3f}; goal >= {GOAL}); "
          f"errors {errors}")
    emit({
        "name": NAME,
        "ratio": round(ratio, 3),
        "goal": GOAL,
        "ok": ratio >= GOAL and errors == 0,
        "ratio_overall": round(overall, 3),
        "full_stack": figures["full_stack"],
        "hello_world": figures["hello_world"],
        "round_ratios": [round(r, 3) for r in round_ratios],
        "path": f"GET {LIST_PATH}",
        "rows_in_tenant": ROWS,
        "page_size": 20,
        "database": database_kind(),
        "rounds": rounds,
        "round_seconds": seconds,
        "concurrency": args.concurrency,
        "clients": args.clients,
        "server": "uvicorn (h11, asyncio loop, 1 worker) on loopback",
        "quick": args.quick,
        "cpu_count": cpu_count(),
        "load_average_1m": {"start": load_before, "end": load_average()},
    })


if __name__ == "__main__":
    main()
