"""The real `openai` SDK against a local OpenAI-compatible server: normal answers, 429 with
Retry-After, 500s, timeouts, a circuit breaker, truncated streams, invalid JSON in structured
output (one corrective retry, then a clear error), the cache and provenance, PII redaction."""

from __future__ import annotations

import json

import pytest

from salescopilot.ai.client import CallPolicy, ModelClient
from salescopilot.ai.errors import (
    AiCircuitOpen,
    AiInvalidOutput,
    AiNotConfigured,
    AiProviderError,
    AiProviderRateLimited,
    AiStreamTruncated,
    AiTimeout,
)
from salescopilot.ai.repository import AiDraftRepository, AiMeterRepository, AiUsageRepository
from salescopilot.tenancy.context import tenant_context, tenant_scope
from tests.ai_server import Reply
from tests.integration.ai.conftest import configure, service_for

EMAIL = json.dumps({"subject": "Faster customs for Acme", "body": "Hi {{firstName}},\n\nShort note about your imports.\n\nBest"})


async def _usage(tenant):
    async with tenant_scope(tenant):
        return await AiUsageRepository().find(), await AiMeterRepository().of_month("2026-11"), await AiDraftRepository().find()


async def test_a_normal_answer_is_validated_metered_and_kept_with_provenance(ai_a, tenant_a, openai_server):
    openai_server.script(Reply(content=EMAIL, prompt_tokens=120, completion_tokens=40))
    with tenant_context(tenant_a):
        result = await ai_a.generate(brief="We speed up customs clearance.", lead_id=None,
                                     enrichment={"industry": "Logistics"}, tone="friendly", length="short", language=None)
    assert result.output == json.loads(EMAIL)
    assert (result.model, result.prompt_tokens, result.completion_tokens, result.cached) == ("test-model", 120, 40, False)
    assert result.prompt_version == "generate.v1+rules.v1"
    sent = openai_server.received[0]
    assert sent.headers["authorization"] == "Bearer sk-acme-secret"
    assert sent.body["model"] == "test-model"
    assert sent.body["response_format"]["type"] == "json_schema"
    assert set(sent.body["response_format"]["json_schema"]["schema"]["properties"]) == {"subject", "body"}
    # Enrichment is data, fenced; the system prompt says not to obey it.
    assert "industry: Logistics" in sent.text_of("user") and "Logistics" not in sent.text_of("system")
    usage, meter, drafts = await _usage(tenant_a)
    assert [(u.feature, u.prompt_tokens, u.completion_tokens, u.outcome) for u in usage] == [("generate", 120, 40, "ok")]
    assert usage[0].cost_micros == round(120 * 0.15 + 40 * 0.60)
    assert (meter.tokens_used, meter.tokens_reserved) == (160, 0)
    assert [(d.id, d.model, d.prompt_tokens) for d in drafts] == [(result.draft_id, "test-model", 120)]


async def test_the_same_input_is_served_from_the_cache(ai_a, tenant_a, openai_server):
    openai_server.script(Reply(content=EMAIL))
    kwargs = dict(brief="Same brief", lead_id=None, enrichment={}, tone="direct", length="short", language=None)
    with tenant_context(tenant_a):
        first = await ai_a.generate(**kwargs)
        second = await ai_a.generate(**kwargs)
        other = ai_a.generate(**{**kwargs, "tone": "formal"})
        openai_server.script(Reply(content=EMAIL))
        await other
    assert len(openai_server.received) == 2
    # A hit answers with the provenance of the draft that wrote it, and writes nothing.
    assert second.cached and second.output == first.output and second.draft_id == first.draft_id
    assert (second.prompt_tokens, second.model) == (first.prompt_tokens, first.model)
    usage, meter, drafts = await _usage(tenant_a)
    assert len(usage) == 2 and not any(u.cached for u in usage)
    assert len(drafts) == 2
    # A new model setting empties the cache: answers of another model are not served again.
    with tenant_context(tenant_a):
        await ai_a.update_settings({"model": "other-model"})
        openai_server.script(Reply(content=EMAIL))
        again = await ai_a.generate(**kwargs)
    assert not again.cached and openai_server.received[-1].body["model"] == "other-model"


async def test_429_waits_as_long_as_retry_after_says(ai_a, tenant_a, openai_server, sleeps):
    openai_server.script(Reply(kind="status", status=429, headers={"retry-after": "2"}), Reply(content=EMAIL))
    with tenant_context(tenant_a):
        result = await ai_a.generate(brief="x", lead_id=None, enrichment={}, tone="friendly", length="short", language=None)
    assert result.output["subject"] == "Faster customs for Acme"
    assert sleeps == [2.0] and len(openai_server.received) == 2


async def test_a_retry_after_beyond_the_limit_fails_at_once(ai_a, tenant_a, openai_server, sleeps):
    openai_server.script(Reply(kind="status", status=429, headers={"retry-after": "600"}))
    with tenant_context(tenant_a), pytest.raises(AiProviderRateLimited) as caught:
        await ai_a.generate(brief="x", lead_id=None, enrichment={}, tone="friendly", length="short", language=None)
    assert caught.value.details["retryAfter"] == 600 and sleeps == [] and len(openai_server.received) == 1
    usage, meter, drafts = await _usage(tenant_a)
    assert [u.outcome for u in usage] == ["failed"] and meter.tokens_reserved == 0 and drafts == []


async def test_500s_are_retried_with_backoff_then_fail_clearly(ai_a, tenant_a, openai_server, sleeps):
    openai_server.script(Reply(kind="status", status=500), Reply(kind="status", status=503), Reply(content=EMAIL))
    with tenant_context(tenant_a):
        await ai_a.generate(brief="a", lead_id=None, enrichment={}, tone="friendly", length="short", language=None)
    assert len(sleeps) == 2 and 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0
    openai_server.script(*[Reply(kind="status", status=500)] * 3)
    with tenant_context(tenant_a), pytest.raises(AiProviderError) as caught:
        await ai_a.generate(brief="b", lead_id=None, enrichment={}, tone="friendly", length="short", language=None)
    assert caught.value.status_code == 502 and len(openai_server.received) == 6
    _, meter, _ = await _usage(tenant_a)
    assert meter.tokens_reserved == 0


async def test_a_timeout_is_retried_then_reported(ai_a, tenant_a, openai_server):
    openai_server.script(Reply(kind="hang", delay=2), Reply(content=EMAIL))
    with tenant_context(tenant_a):
        result = await ai_a.generate(brief="t", lead_id=None, enrichment={}, tone="friendly", length="short", language=None)
    assert result.output["body"].startswith("Hi")
    openai_server.script(*[Reply(kind="hang", delay=2)] * 3)
    with tenant_context(tenant_a), pytest.raises(AiTimeout):
        await ai_a.generate(brief="u", lead_id=None, enrichment={}, tone="friendly", length="short", language=None)


async def test_the_circuit_opens_after_repeated_failures(settings, tenant_a, clock, operator, openai_server):
    client = ModelClient(CallPolicy(timeout=0.5, max_retries=0, breaker_failures=2, breaker_open_seconds=60),
                         sleep=lambda s: __import__("asyncio").sleep(0))
    service = service_for(settings, clock, operator, client)
    await configure(service, tenant_a, openai_server)
    openai_server.script(Reply(kind="status", status=500), Reply(kind="status", status=500))
    with tenant_context(tenant_a):
        for brief in ("1", "2"):
            with pytest.raises(AiProviderError):
                await service.generate(brief=brief, lead_id=None, enrichment={}, tone="friendly", length="short", language=None)
        with pytest.raises(AiCircuitOpen) as caught:
            await service.generate(brief="3", lead_id=None, enrichment={}, tone="friendly", length="short", language=None)
    assert caught.value.status_code == 503 and len(openai_server.received) == 2
    await client.close()


async def test_invalid_json_is_retried_once_with_the_reason_then_refused(ai_a, tenant_a, openai_server):
    openai_server.script(Reply(content="Sure! Here is your email: Subject..."), Reply(content=EMAIL))
    with tenant_context(tenant_a):
        result = await ai_a.generate(brief="j", lead_id=None, enrichment={}, tone="friendly", length="short", language=None)
    assert result.output["subject"] == "Faster customs for Acme"
    retry = openai_server.received[1]
    assert "previous answer was refused" in retry.messages[-1]["content"]
    openai_server.script(Reply(content='{"subject": ""}'), Reply(content="{not json"))
    with tenant_context(tenant_a), pytest.raises(AiInvalidOutput) as caught:
        await ai_a.generate(brief="k", lead_id=None, enrichment={}, tone="friendly", length="short", language=None)
    assert caught.value.code == "AI_INVALID_OUTPUT" and caught.value.status_code == 502
    usage, meter, drafts = await _usage(tenant_a)
    assert [u.outcome for u in usage][-1] == "invalid" and len(drafts) == 1 and meter.tokens_reserved == 0


async def test_a_stream_arrives_in_pieces_and_is_kept_once_complete(ai_a, tenant_a, openai_server):
    openai_server.script(Reply(kind="stream", chunks=["Subject: Hello", " there\n\nHi {{firstName}},", " quick note.\n\nBest"]))
    with tenant_context(tenant_a):
        events = [event async for event in ai_a.generate_stream(
            brief="s", lead_id=None, enrichment={}, tone="friendly", length="short", language=None)]
    deltas = [value for kind, value in events if kind == "delta"]
    assert len(deltas) == 3 and events[-1][0] == "done"
    done = events[-1][1]
    assert done.output["subject"] == "Hello there" and done.output["body"].startswith("Hi {{firstName}}")
    assert openai_server.received[0].body["stream"] is True
    assert done.completion_tokens == 20 and done.draft_id is not None


async def test_a_truncated_stream_is_an_error_and_nothing_is_kept(ai_a, tenant_a, openai_server):
    openai_server.script(Reply(kind="stream", chunks=["Subject: Hel", "lo\n\nHi"], truncate=True))
    seen = []
    with tenant_context(tenant_a), pytest.raises(AiStreamTruncated):
        async for event in ai_a.generate_stream(brief="t", lead_id=None, enrichment={}, tone="friendly",
                                                length="short", language=None):
            seen.append(event)
    assert seen and all(kind == "delta" for kind, _ in seen)
    usage, meter, drafts = await _usage(tenant_a)
    assert drafts == [] and [u.outcome for u in usage] == ["failed"] and meter.tokens_reserved == 0


async def test_pii_is_redacted_before_it_leaves_and_restored_after(ai_a, tenant_a, openai_server):
    with tenant_context(tenant_a):
        await ai_a.update_settings({"redactPii": True})
    openai_server.script(Reply(content=json.dumps({"body": "Call me at [PHONE_1] or write to [EMAIL_1]. Thanks"})))
    with tenant_context(tenant_a):
        result, _ = await ai_a.change_tone(body="Reach me at +44 20 7946 0958 or ana.lopez@example.com, thanks", tone="formal")
    sent = openai_server.received[0].text_of("user")
    assert "ana.lopez@example.com" not in sent and "7946" not in sent and "[EMAIL_1]" in sent
    assert result.output["body"] == "Call me at +44 20 7946 0958 or write to ana.lopez@example.com. Thanks"


async def test_without_a_provider_ai_actions_say_so(settings, db, tenant_a, clock, operator, model_client):
    service = service_for(settings, clock, operator, model_client)
    with tenant_context(tenant_a):
        with pytest.raises(AiNotConfigured) as caught:
            await service.generate(brief="x", lead_id=None, enrichment={}, tone="friendly", length="short", language=None)
        # What needs no model keeps working.
        report = await service.grammar(text="i think this is is fine", language="en", use_model=False)
        coached = await service.coach(subject="Hi", body="Hello, would a call help?", lead_id=None, language="en",
                                      use_model=False)
    assert caught.value.status_code == 409 and "/settings/ai" in caught.value.message
    assert {i["kind"] for i in report["grammar"]} >= {"repeated_word", "capital"}
    assert [i["aspect"] for i in coached["items"]] == ["personalisation", "clarity", "call_to_action", "length", "spam_risk"]


async def test_the_operator_default_provider_serves_tenants_without_their_own(
    settings, db, tenant_a, clock, model_client, openai_server
):
    from salescopilot.settings import AiSettings as OperatorAi

    operator = OperatorAi(api_key="sk-operator", base_url=openai_server.base_url, model="op-model")
    service = service_for(settings, clock, operator, model_client)
    openai_server.script(Reply(content=json.dumps({"subjects": ["One", "Two"]})))
    with tenant_context(tenant_a):
        result = await service.subject_lines(body="Body text", count=2, lead_id=None)
        view = await service.settings_view()
    assert result.output["subjects"] == ["One", "Two"] and result.model == "op-model"
    assert openai_server.received[0].headers["authorization"] == "Bearer sk-operator"
    assert view["source"] == "operator" and not view["apiKeySet"]


async def test_icebreaker_coaching_grammar_and_recommendations_with_a_model(ai_a, tenant_a, openai_server):
    openai_server.script(
        Reply(content=json.dumps({"icebreaker": "Congrats on the new Rotterdam hub.",
                                  "painPoints": ["Customs delays", "Manual paperwork"]})),
        Reply(content=json.dumps({"items": [{"aspect": "clarity", "score": 4, "suggestion": "Cut “in order to”."}],
                                  "summary": "Tighten it."})),
        Reply(content=json.dumps({"corrected": "I think this is fine.",
                                  "corrections": [{"original": "i", "replacement": "I", "reason": "capital"}]})),
    )
    with tenant_context(tenant_a):
        ice = await ai_a.icebreaker(lead_id=None, enrichment={"news": "Opened a Rotterdam hub"}, brief="Customs software",
                                    language="fr")
        coached = await ai_a.coach(subject="Hi", body="Hello, in order to help you, would a call work?", lead_id=None,
                                   language="en", use_model=True)
        grammar = await ai_a.grammar(text="i think this is fine.", language="en", use_model=True)
        advice = await ai_a.recommendations(use_model=False)
    assert ice.output["painPoints"] == ["Customs delays", "Manual paperwork"]
    assert "Write in French" in openai_server.received[0].text_of("system")
    assert "news: Opened a Rotterdam hub" in openai_server.received[0].text_of("user")
    by_aspect = {item["aspect"]: item for item in coached["items"]}
    assert by_aspect["clarity"]["suggestion"] == "Cut “in order to”." and len(by_aspect) == 5
    assert coached["source"] == "model" and coached["summary"] == "Tighten it."
    assert grammar["model"]["corrected"] == "I think this is fine." and grammar["spelling"] == []
    assert advice["source"] == "offline" and advice["recommendations"][0]["title"] == "Send your first campaign"
