"""A small HTTP load generator and server runner for the benchmarks (loopback only).

Servers run in their own processes (`serve`), both through the same uvicorn configuration, so the
two sides of a comparison differ only in the application. The load comes from `clients` worker
processes, each an asyncio loop with one `httpx.AsyncClient` and `concurrency` workers; every
round is bounded by a request count and a duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def serve(app, port: int) -> None:
    """Serve an ASGI app on loopback as `salescopilot serve` does (uvicorn, one process, no
    access log, no proxy headers; the h11 parser and asyncio loop, since the project does not
    install httptools or uvloop). Blocks."""
    import uvicorn

    config = uvicorn.Config(
        app, host=LOOPBACK, port=port, log_level="warning", access_log=False, log_config=None,
        proxy_headers=False, lifespan="on", loop="asyncio", http="h11", workers=1,
    )
    uvicorn.Server(config).run()


@contextlib.contextmanager
def server_process(
    args: list[str], port: int, ready_path: str, env: dict[str, str]
) -> Iterator[subprocess.Popen]:
    """Start `python <args>` (which must serve on `port`) and wait until `ready_path` answers."""
    import httpx

    process = subprocess.Popen([sys.executable, *args], env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server {args} exited with {process.returncode}")
            try:
                if httpx.get(f"http://{LOOPBACK}:{port}{ready_path}", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server {args} did not start within 60 s")
            time.sleep(0.1)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far, from /proc (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class RoundResult:
    requests: int = 0
    errors: int = 0
    started: float = float("inf")
    ended: float = 0.0
    latencies: list[float] = field(default_factory=list)
    response_bytes: int = 0
    client_cpu_s: float = 0.0
    #: Sum of the elapsed times of rounds added with `add_round` (rounds never overlap).
    busy: float = 0.0
    #: CPU seconds the server process used during the round(s) (filled in by the caller).
    server_cpu_s: float = 0.0

    def merge(self, other: RoundResult) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.started = min(self.started, other.started)
        self.ended = max(self.ended, other.ended)
        self.latencies.extend(other.latencies)
        self.response_bytes = self.response_bytes or other.response_bytes
        self.client_cpu_s += other.client_cpu_s

    def add_round(self, other: RoundResult) -> None:
        """Sum a later, non-overlapping round into this total."""
        self.requests += other.requests
        self.errors += other.errors
        self.latencies.extend(other.latencies)
        self.response_bytes = other.response_bytes
        self.client_cpu_s += other.client_cpu_s
        self.server_cpu_s += other.server_cpu_s
        self.busy += other.elapsed

    @property
    def elapsed(self) -> float:
        return max(self.ended - self.started, 1e-9)


def _client_round(job: tuple) -> RoundResult:
    url, headers, concurrency, max_requests, duration, *rest = job
    return asyncio.run(_run_round(url, headers, concurrency, max_requests, duration, *rest))


async def _run_round(
    url: str, headers: dict, concurrency: int, max_requests: int, duration: float, ok_status: int = 200
) -> RoundResult:
    import httpx

    result = RoundResult()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as client:
        # Warm-up: open every connection before the clock starts.
        warm = await asyncio.gather(*(client.get(url) for _ in range(concurrency)))
        result.response_bytes = len(warm[0].content)
        remaining = max_requests
        cpu_before = time.process_time()
        result.started = time.monotonic()  # CLOCK_MONOTONIC: comparable across processes on Linux
        deadline = result.started + duration

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                t0 = time.perf_counter()
                try:
                    response = await client.get(url)
                    ok = response.status_code == ok_status
                except httpx.HTTPError:
                    ok = False
                result.latencies.append(time.perf_counter() - t0)
                result.requests += 1
                result.errors += 0 if ok else 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.ended = time.monotonic()
        result.client_cpu_s = time.process_time() - cpu_before
    return result


class LoadGenerator:
    """`clients` persistent worker processes; `run` drives one bounded round against a URL."""

    def __init__(self, clients: int, concurrency: int) -> None:
        self.clients = clients
        self.concurrency = concurrency
        self.pool = multiprocessing.get_context("spawn").Pool(clients)

    def run(
        self, url: str, headers: dict, max_requests: int, duration: float, ok_status: int = 200
    ) -> RoundResult:
        """One round; a request counts as an error unless it answers `ok_status` (a redirect
        benchmark expects 302: redirects are never followed)."""
        share = max(1, max_requests // self.clients)
        jobs = [(url, headers, self.concurrency, share, duration, ok_status)] * self.clients
        total = RoundResult()
        for part in self.pool.map(_client_round, jobs):
            total.merge(part)
        return total

    def close(self) -> None:
        self.pool.close()
        self.pool.join()
