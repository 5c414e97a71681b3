"""tracking_cpu: the CPU one tracking request costs inside the app, measured in-process (no
server, no sockets, no load generator), so a busy machine moves it far less than the rates of
`tracking_pixel.py` / `click_redirect.py`.

The production app (`create_app()`, started) and a bare `Litestar([gif])` are called directly as
ASGI apps in one loop, sides alternating in chunks; `time.process_time()` per request of each
side. Writing the buffered hits (the batch writer) is measured apart, per event: it is the same
whichever way a hit reached the buffer.

    python benchmarks/tracking_cpu.py            # 20,000 requests per side
    python benchmarks/tracking_cpu.py --quick    # 4,000

The last line printed is one JSON object (see README.md).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import bench_environment, cpu_count, database_kind, emit, load_average  # noqa: E402
from _tracking_load import BROWSER, SLUG, gif_app, seed  # noqa: E402


def _scope(method: str, path: str, host: str) -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "client": ("203.0.113.7", 51000), "server": ("127.0.0.1", 8000),
        "headers": [(b"host", host.encode()), (b"user-agent", BROWSER.encode()), (b"accept", b"*/*")],
    }


async def _call(app, method: str, path: str, host: str) -> int:
    status = 0

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(_scope(method, path, host), receive, send)
    return status


async def _measure(sides: dict, requests: int, chunk: int, buffer) -> dict[str, dict]:
    cpu = {name: 0.0 for name in sides}
    done = {name: 0 for name in sides}
    write_cpu, written = 0.0, 0
    for name, (app, method, path, ok) in sides.items():  # warm-up (caches, imports, the link cache)
        for _ in range(200):
            assert await _call(app, method, path, f"{SLUG}.localhost") == ok, name
    await buffer.flush()
    gc.collect()
    rounds = max(1, requests // chunk)
    for index in range(rounds):
        order = list(sides) if index % 2 == 0 else list(reversed(sides))
        for name in order:
            app, method, path, ok = sides[name]
            started = time.process_time()
            for _ in range(chunk):
                await _call(app, method, path, f"{SLUG}.localhost")
            cpu[name] += time.process_time() - started
            done[name] += chunk
        pending = len(buffer)
        started = time.process_time()
        await buffer.flush()
        write_cpu += time.process_time() - started
        written += pending
    figures = {name: {"cpu_us_per_request": round(cpu[name] / done[name] * 1e6, 1), "requests": done[name]}
               for name in sides}
    figures["batch_writer"] = {"cpu_us_per_event": round(write_cpu / written * 1e6, 1) if written else None,
                               "events": written}
    return figures


async def _run(requests: int, chunk: int) -> dict:
    from salescopilot.mail.tracking import TrackingTokens
    from salescopilot.outbox.building import CLICK_PATH
    from salescopilot.settings import get_settings
    from salescopilot.web.app import create_app

    open_path, _ = await seed("open")
    tokens = TrackingTokens.from_settings(get_settings())
    message = tokens.read(open_path.rsplit("/", 1)[1]).message_key
    click_path = CLICK_PATH + tokens.make("click", message, 0)
    app = create_app()
    for hook in app.on_startup:
        await hook(app)
    try:
        sides = {
            "bare_gif": (gif_app(), "GET", "/gif", 200),
            "pixel": (app, "GET", open_path, 200),
            "pixel_head": (app, "HEAD", open_path, 200),
            "click": (app, "GET", click_path, 302),
        }
        return await _measure(sides, requests, chunk, app.state.tracking_buffer)
    finally:
        for hook in app.on_shutdown:
            await hook(app)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version, < 60 s")
    parser.add_argument("--requests", type=int, help="requests per side (default 20,000, quick 4,000)")
    parser.add_argument("--chunk", type=int, default=500, help="requests per side between switches")
    args = parser.parse_args()
    requests = args.requests or (4_000 if args.quick else 20_000)
    load_before = load_average()
    with bench_environment("tracking_cpu"):
        figures = asyncio.run(_run(requests, args.chunk))
        database = database_kind()
    bare = figures["bare_gif"]["cpu_us_per_request"]
    for name, f in figures.items():
        if "cpu_us_per_request" in f:
            print(f"{name}: {f['cpu_us_per_request']} us CPU/request ({f['cpu_us_per_request'] / bare:.2f}x bare)")
    print(f"batch writer: {figures['batch_writer']['cpu_us_per_event']} us CPU/event")
    emit({
        # ratio: the bare route's CPU per request over the pixel's (1.0 = the pixel costs no more);
        # no goal: this is a diagnosis for tracking_pixel and click_redirect.
        "name": "tracking_cpu", "ratio": round(bare / figures["pixel"]["cpu_us_per_request"], 3),
        "goal": None, "ok": None, "in_process": True,
        "pixel_vs_bare": round(figures["pixel"]["cpu_us_per_request"] / bare, 3),
        "click_vs_bare": round(figures["click"]["cpu_us_per_request"] / bare, 3),
        **figures, "database": database, "cpu_count": cpu_count(),
        "load_average_1m": {"start": load_before, "end": load_average()},
    })


if __name__ == "__main__":
    main()
