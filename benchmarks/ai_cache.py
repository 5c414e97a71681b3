"""ai_cache: a repeated generation served from the cache, through the API. Goal: p95 <= 5 ms.

`POST /api/v1/ai/generate` with the same brief, tone and length against the production app from
`create_app()` served by uvicorn on loopback (as `api_list` serves it): the first call goes to the
local OpenAI-compatible server (the tests' `tests/ai_server.py`, in this process); every measured
call must come from the tenant's cache (checked: `provenance.cached`, and the server saw one
request). Measured per request from the client: HTTP, tenant resolution, API-key authentication,
the permission guard, body validation, the provider settings read (key decrypted), the cache
lookup and the JSON answer. One request at a time, so the figure is latency, not throughput. The
server process's CPU per request (from /proc) is printed next to it: on a loaded machine it moves
much less than the latency.

    python benchmarks/ai_cache.py            # full size: 2,000 requests
    python benchmarks/ai_cache.py --quick    # 300 requests
    SALESCOPILOT_DATABASE__URL=postgresql://postgres@127.0.0.1:5432/test python benchmarks/ai_cache.py

The last line printed is one JSON object (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _ai_setup import SLUG, seed_ai_tenant  # noqa: E402
from _harness import bench_environment, cpu_count, database_kind, emit, load_average, summary_ms  # noqa: E402
from _http_load import LOOPBACK, free_port, process_cpu_seconds, serve, server_process  # noqa: E402

NAME = "ai_cache"
GOAL_MS = 5.0
BODY = {"brief": "We cut customs clearance from days to hours for mid-size importers.", "tone": "friendly",
        "length": "short"}
ANSWER = json.dumps({"subject": "Customs in hours", "body": "Hi {{firstName}},\n\nA short note.\n\nBest"})


async def measure(env: dict, requests: int, warmup: int) -> dict:
    import httpx

    from salescopilot.db.engine import connected
    from salescopilot.settings import get_settings
    from tests.ai_server import FakeOpenAI, Reply

    async with FakeOpenAI(default=lambda request: Reply(content=ANSWER)) as server:
        async with connected(get_settings()):
            _, token = await seed_ai_tenant(server.base_url)
        port = free_port()
        script = str(Path(__file__).resolve())
        with server_process([script, "--serve", "--port", str(port)], port, "/healthz", env) as process:
            headers = {"host": f"{SLUG}.localhost", "authorization": f"Bearer {token}"}
            url = f"http://{LOOPBACK}:{port}/api/v1/ai/generate"
            # TCP_NODELAY: a POST is written as headers then body; without it Nagle's algorithm
            # and the server's delayed ACK add up to tens of milliseconds to each request.
            transport = httpx.AsyncHTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
            async with httpx.AsyncClient(timeout=60, transport=transport) as client:
                first = await client.post(url, json=BODY, headers=headers)
                if first.status_code != 200:
                    raise SystemExit(f"generation failed: {first.text[:300]}")
                latencies = []
                cpu_started = None
                for index in range(warmup + requests):
                    if index == warmup:
                        cpu_started = process_cpu_seconds(process.pid)
                    started = time.perf_counter()
                    response = await client.post(url, json=BODY, headers=headers)
                    elapsed = time.perf_counter() - started
                    if response.status_code != 200 or not response.json()["data"]["provenance"]["cached"]:
                        raise SystemExit(f"not served from the cache: {response.text[:300]}")
                    if index >= warmup:
                        latencies.append(elapsed)
                server_cpu = _per_request_us(cpu_started, process_cpu_seconds(process.pid), requests)
                # References on the same server and connection, for reading the figure on a
                # loaded machine: the bare health check, and an authenticated read.
                references = {}
                for name, method, path in (("healthz", "GET", "/healthz"), ("ai_status", "GET", "/api/v1/ai/status")):
                    times = []
                    count = max(50, requests // 3)
                    cpu_before = process_cpu_seconds(process.pid)
                    for _ in range(count):
                        started = time.perf_counter()
                        reference = await client.request(method, f"http://{LOOPBACK}:{port}{path}", headers=headers)
                        times.append(time.perf_counter() - started)
                        if reference.status_code != 200:
                            raise SystemExit(f"{path}: {reference.status_code}")
                    references[name] = {**summary_ms(times), "server_cpu_us_per_request": _per_request_us(
                        cpu_before, process_cpu_seconds(process.pid), count)}
        if len(server.received) != 1:
            raise SystemExit(f"the model was called {len(server.received)} times")
    return {**summary_ms(latencies), "server_cpu_us_per_request": server_cpu, "references": references}


def _per_request_us(before: float | None, after: float | None, requests: int) -> float | None:
    """The server process's CPU (user + system, clock-tick resolution) per request, in µs."""
    if before is None or after is None:
        return None
    return round((after - before) / requests * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version, < 60 s")
    parser.add_argument("--requests", type=int, help="measured requests (default 2000, quick 300)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        from salescopilot.web.app import create_app

        serve(create_app(), args.port)
        return
    requests = args.requests or (300 if args.quick else 2000)
    load_before = load_average()
    with bench_environment(NAME) as env:
        kind = database_kind()
        figures = asyncio.run(measure(env, requests, warmup=max(20, requests // 20)))
    print(f"{NAME}: cache hits through the API, p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, "
          f"server {figures['server_cpu_us_per_request']} us CPU/request ({requests} requests, {kind}); "
          f"/healthz p50 {figures['references']['healthz']['p50_ms']} ms, "
          f"server {figures['references']['healthz']['server_cpu_us_per_request']} us CPU/request")
    emit({"name": NAME, "p95_ms": figures["p95_ms"], "goal_ms": GOAL_MS, "ok": figures["p95_ms"] <= GOAL_MS,
          **figures, "requests": requests, "database": kind, "server": "uvicorn, loopback",
          "cpus": cpu_count(), "load_before": load_before, "load_after": load_average()})


if __name__ == "__main__":
    main()
