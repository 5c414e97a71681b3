"""ai_overhead: the AI service path vs a bare SDK call to the same local server. Goal: the
service adds <= 10% to the bare call's latency at p50.

Both sides send the same chat completion (the generate prompt, JSON-schema response format)
through the real `openai` SDK (`AsyncOpenAI`) to the tests' local OpenAI-compatible server, which
answers after a simulated model latency (`--model-ms`, default 250 ms: a fast hosted small model;
a real provider is slower, which only lowers the ratio). The service side is
`AiService.generate` with a different brief each call (no cache hits): provider settings read,
prompt build with fenced data, budget + rate reservation, the call, schema validation, the output
checks, settlement, usage line, provenance draft and cache store. Calls alternate between the
sides; the overhead is p50(service) / p50(bare) - 1, and the absolute difference is printed too.

    python benchmarks/ai_overhead.py            # full size: 200 calls per side
    python benchmarks/ai_overhead.py --quick    # 40 calls per side
    SALESCOPILOT_DATABASE__URL=postgresql://postgres@127.0.0.1:5432/test python benchmarks/ai_overhead.py

The last line printed is one JSON object (see BENCHMARKS.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _ai_setup import seed_ai_tenant  # noqa: E402
from _harness import bench_environment, cpu_count, database_kind, emit, load_average, percentile  # noqa: E402

NAME = "ai_overhead"
GOAL = 0.10


async def measure(calls: int, model_seconds: float) -> dict:
    from openai import AsyncOpenAI

    from salescopilot.ai.schemas import GeneratedEmail
    from salescopilot.ai.service import AiService
    from salescopilot.tenancy.context import tenant_context
    from tests.ai_server import FakeOpenAI, Reply

    from salescopilot.ai.client import CallPolicy, ModelClient
    from salescopilot.ai.safety import Redactor
    from salescopilot.clock import system_clock
    from salescopilot.crypto import SecretBox
    from salescopilot.db.engine import connected
    from salescopilot.settings import get_settings

    settings = get_settings()
    answer = json.dumps({"subject": "Customs in hours", "body": "Hi {{firstName}},\n\nA short note.\n\nBest"})
    async with FakeOpenAI(default=lambda request: Reply(content=answer, delay=model_seconds)) as server:
        async with connected(settings):
            tenant, _ = await seed_ai_tenant(server.base_url)
            client = ModelClient(CallPolicy.from_settings(settings.ai))
            service = AiService(clock=system_clock, operator=settings.ai, secret_box=SecretBox.from_settings(settings),
                                client=client)
            bare = AsyncOpenAI(api_key="sk-bench", base_url=server.base_url, max_retries=0, timeout=30)
            with tenant_context(tenant):
                request = await service.generate_request(brief="warm-up", lead_id=None, enrichment={}, tone="friendly",
                                                         length="short", language=None)
                await service.engine._add_late(request)
                messages, _ = service.engine._messages(request, await service.tenant_ai(), Redactor())
                schema = GeneratedEmail.model_json_schema()

                async def bare_call() -> None:
                    response = await bare.chat.completions.create(
                        model="bench-model", messages=messages, max_tokens=800, temperature=0.6,
                        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
                    )
                    json.loads(response.choices[0].message.content)

                async def service_call(number: int) -> None:
                    result = await service.generate(brief=f"We cut customs clearance to hours ({number}).", lead_id=None,
                                                    enrichment={}, tone="friendly", length="short", language=None)
                    assert not result.cached

                await bare_call()
                await service_call(-1)
                times: dict[str, list[float]] = {"service": [], "bare": []}
                for number in range(calls):
                    for side in (("bare", "service") if number % 2 else ("service", "bare")):
                        started = time.perf_counter()
                        await (service_call(number) if side == "service" else bare_call())
                        times[side].append(time.perf_counter() - started)
            await bare.close()
            await client.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small version, < 60 s")
    parser.add_argument("--calls", type=int, help="calls per side (default 200, quick 40)")
    parser.add_argument("--model-ms", type=float, default=250.0, help="simulated model latency of the local server")
    args = parser.parse_args()
    calls = args.calls or (40 if args.quick else 200)
    load_before = load_average()
    with bench_environment(NAME):
        kind = database_kind()
        times = asyncio.run(measure(calls, args.model_ms / 1000))
    p50 = {side: percentile(values, 50) for side, values in times.items()}
    p95 = {side: percentile(values, 95) for side, values in times.items()}
    overhead = p50["service"] / p50["bare"] - 1
    print(f"{NAME}: p50 service {p50['service'] * 1000:.2f} ms vs bare SDK {p50['bare'] * 1000:.2f} ms "
          f"(+{(p50['service'] - p50['bare']) * 1000:.2f} ms, {overhead:.1%}); model latency {args.model_ms} ms, {kind}")
    emit({"name": NAME, "ratio": round(overhead, 4), "goal": GOAL, "ok": overhead <= GOAL,
          "overhead_ms_p50": round((p50["service"] - p50["bare"]) * 1000, 3),
          "service_p50_ms": round(p50["service"] * 1000, 3), "bare_p50_ms": round(p50["bare"] * 1000, 3),
          "service_p95_ms": round(p95["service"] * 1000, 3), "bare_p95_ms": round(p95["bare"] * 1000, 3),
          "model_ms": args.model_ms, "calls_per_side": calls, "database": kind, "cpus": cpu_count(),
          "load_before": load_before, "load_after": load_average()})


if __name__ == "__main__":
    main()
