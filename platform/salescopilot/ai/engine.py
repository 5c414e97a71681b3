"""One AI call from the features' point of view: resolve the tenant's provider, look in the
cache, reserve tokens and a call from the tenant's budget and rate, call the model, validate the
structured answer against its schema (one corrective retry), check it against the safety rules,
then settle the meter, meter the usage and store the draft's provenance.

Database work happens in short `tenant_scope`s of its own (joined to the caller's when there is
one), never across the model call: a slow provider holds no transaction or lock."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from salescopilot.ai.client import Completion, ModelClient, Provider, StreamEnd
from salescopilot.ai.errors import (
    AiBudgetExceeded,
    AiInvalidOutput,
    AiNotConfigured,
    AiOutputRejected,
    AiRateLimited,
)
from salescopilot.ai.packs import pack_text
from salescopilot.ai.prompts import Prompt, prompt
from salescopilot.ai.repository import (
    AiCacheRepository,
    AiDraftRepository,
    AiMeterRepository,
    AiSettingsRepository,
    AiUsageRepository,
)
from salescopilot.ai.safety import OutputRules, Redactor, Violation, check_output, delimit, new_boundary
from salescopilot.ai.tables import AiCacheEntry, AiDraft, AiUsage
from salescopilot.clock import Clock
from salescopilot.crypto import SecretBox
from salescopilot.settings import AiSettings as OperatorAi
from salescopilot.tenancy.context import current_tenant, tenant_scope


@dataclass(frozen=True, slots=True)
class TenantAi:
    """The AI configuration in force for the current tenant."""

    provider: Provider | None
    redact_pii: bool
    style_guide: str
    industry_pack: str
    monthly_token_budget: int
    requests_per_minute: int


@dataclass(slots=True)
class AiResult:
    output: dict[str, Any]
    draft_id: uuid.UUID | None
    model: str
    prompt_version: str
    prompt_tokens: int
    completion_tokens: int
    cached: bool
    #: Instruction-like sentences found in the data (shown to the user as a warning).
    injection_suspected: list[str] = field(default_factory=list)

    def provenance(self) -> dict[str, Any]:
        return {
            "draftId": str(self.draft_id) if self.draft_id else None, "model": self.model,
            "promptVersion": self.prompt_version, "promptTokens": self.prompt_tokens,
            "completionTokens": self.completion_tokens, "cached": self.cached,
        }


@dataclass
class AiRequest:
    """What a feature asks for."""

    feature: str
    #: Trusted values for the prompt's placeholders (brief, draft, tone...).
    values: dict[str, str]
    #: Untrusted data: placeholder -> (label, value), each fenced by the boundary.
    data: dict[str, tuple[str, Any]] = field(default_factory=dict)
    schema: type[pydantic.BaseModel] | None = None
    rules: OutputRules = field(default_factory=OutputRules)
    #: Which output fields are text for the safety checks.
    checked_fields: tuple[str, ...] = ()
    user_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None
    max_tokens: int | None = None
    temperature: float = 0.4
    #: Further checks on the parsed output (raise ValueError with a reason).
    validate: Callable[[dict[str, Any]], None] | None = None
    use_cache: bool = True
    #: Context fetched only on a cache miss (e.g. the best-performing emails): returns more
    #: prompt values and more text whose links are "given". Not part of the cache key.
    late: Callable[[], Awaitable[tuple[dict[str, str], list[str]]]] | None = None
    #: The tenant's configuration, when the feature already read it.
    config: TenantAi | None = None
    #: Set once `lookup` found no cached answer (run then does not look again).
    cache_checked: bool = False


def month_of(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m")


def estimate_tokens(messages: list[dict[str, str]]) -> int:
    """A cautious token estimate for a prompt (about four characters a token, plus framing)."""
    return sum(len(m["content"]) for m in messages) // 3 + 8 * len(messages)


async def resolve_tenant_ai(operator: OperatorAi, secret_box: SecretBox) -> TenantAi:
    """The current tenant's AI configuration: its own provider, else the operator's default."""
    async with tenant_scope(current_tenant(), write=False):
        row = await AiSettingsRepository().current_values() or {}
    op = operator
    provider = None
    if row.get("api_key_encrypted") or row.get("base_url"):
        key = secret_box.decrypt(row["api_key_encrypted"]) if row.get("api_key_encrypted") else ""
        provider = Provider(row.get("base_url") or op.base_url, key, row.get("model") or op.model, "tenant")
    elif op.api_key is not None and op.api_key.get_secret_value():
        provider = Provider(op.base_url, op.api_key.get_secret_value(), op.model, "operator")
    return TenantAi(
        provider=provider,
        redact_pii=bool(row.get("redact_pii")),
        style_guide=row.get("style_guide") or "",
        industry_pack=row.get("industry_pack") or "",
        monthly_token_budget=int(row.get("monthly_token_budget") or op.monthly_token_budget),
        requests_per_minute=int(row.get("requests_per_minute") or op.requests_per_minute),
    )


class AiEngine:
    def __init__(self, *, clock: Clock, operator: OperatorAi, secret_box: SecretBox, client: ModelClient) -> None:
        self.clock = clock
        self.operator = operator
        self.secret_box = secret_box
        self.client = client

    # --- configuration -------------------------------------------------------------------------

    async def tenant_ai(self) -> TenantAi:
        return await resolve_tenant_ai(self.operator, self.secret_box)

    # --- the call ---------------------------------------------------------------------------------

    def _messages(self, request: AiRequest, config: TenantAi, redactor: Redactor, retry_note: str = "") -> tuple[list[dict[str, str]], str]:
        boundary = new_boundary()
        canary = "SC-" + secrets.token_hex(6)
        values = {k: redactor.redact(v) for k, v in request.values.items()}
        for name, (label, value) in request.data.items():
            values[name] = delimit(label, redactor.redact_value(value), boundary)
        values.update({
            "boundary": boundary, "canary": canary,
            "variables": ", ".join(sorted(request.rules.allowed_variables)) or "(none)",
            "style_guide": redactor.redact(config.style_guide) or "(none)",
            "pack": pack_text(config.industry_pack),
        })
        messages = prompt(request.feature).messages(**values)
        if retry_note:
            messages.append({"role": "user", "content": retry_note})
        return messages, canary

    def cache_key(self, request: AiRequest, config: TenantAi, provider: Provider) -> str:
        material = json.dumps({
            "base": provider.base_url, "model": provider.model, "prompt": prompt(request.feature).name,
            "values": request.values, "data": {k: v[1] for k, v in request.data.items()},
            "style": config.style_guide, "pack": config.industry_pack, "redact": config.redact_pii,
            "variables": sorted(request.rules.allowed_variables),
        }, sort_keys=True, default=str)
        return hashlib.sha256(material.encode()).hexdigest()

    async def run(self, request: AiRequest) -> AiResult:
        """The validated, checked answer of one feature call (see the module docstring)."""
        config = request.config or await self.tenant_ai()
        provider = config.provider
        if provider is None:
            raise AiNotConfigured()
        the_prompt = prompt(request.feature)
        key = self.cache_key(request, config, provider)
        if request.use_cache and not request.cache_checked:
            hit = await self._cached(key, request, provider, the_prompt)
            if hit is not None:
                return hit
        await self._add_late(request)
        redactor = Redactor(config.redact_pii)
        messages, canary = self._messages(request, config, redactor)
        max_tokens = request.max_tokens or self.operator.max_output_tokens
        reserved = estimate_tokens(messages) + max_tokens
        await self._reserve(config, reserved)
        used = [0, 0]
        outcome = "failed"
        try:
            output, violations = await self._ask(request, provider, messages, canary, redactor, max_tokens, used)
            if output is None or violations:
                # One corrective retry: tell the model what was wrong, then give up clearly.
                problem = "; ".join(v.kind + ": " + v.detail for v in violations) if violations else self._last_error
                messages2, canary2 = self._messages(request, config, redactor, retry_note=(
                    "Your previous answer was refused: " + problem[:500] +
                    ". Answer again following every rule" + (", with JSON only matching the schema." if request.schema else ".")
                ))
                output, violations = await self._ask(request, provider, messages2, canary2, redactor, max_tokens, used)
            if output is None:
                outcome = "invalid"
                raise AiInvalidOutput(details={"reason": self._last_error[:300]})
            if violations:
                outcome = "rejected"
                raise AiOutputRejected(details={"violations": [v.to_dict() for v in violations]})
            outcome = "ok"
        finally:
            if outcome != "ok":
                await self._settle(request, provider, the_prompt, reserved, used, outcome)
        return await self._settle_and_keep(request, provider, the_prompt, reserved, key, output, used)

    _last_error = ""

    async def lookup(self, request: AiRequest) -> AiResult | None:
        """The cached answer for `request`, or None (then `run` asks the model without looking
        again). Raises `AiNotConfigured` like `run`."""
        config = request.config or await self.tenant_ai()
        if config.provider is None:
            raise AiNotConfigured()
        request.config = config
        hit = await self._cached(self.cache_key(request, config, config.provider), request, config.provider,
                                 prompt(request.feature)) if request.use_cache else None
        request.cache_checked = hit is None
        return hit

    @staticmethod
    async def _add_late(request: AiRequest) -> None:
        if request.late is not None:
            values, given = await request.late()
            request.values.update(values)
            request.rules.given_text.extend(given)
            request.late = None

    async def _ask(self, request: AiRequest, provider: Provider, messages, canary: str, redactor: Redactor,
                   max_tokens: int, used: list[int]) -> tuple[dict[str, Any] | None, list[Violation]]:
        schema = request.schema.model_json_schema() if request.schema else None
        completion: Completion = await self.client.complete(
            provider, messages, json_schema=schema, max_tokens=max_tokens, temperature=request.temperature,
        )
        used[0] += completion.prompt_tokens or estimate_tokens(messages)
        used[1] += completion.completion_tokens or max(1, len(completion.text) // 4)
        output = self._parse(request, completion.text)
        if output is None:
            return None, []
        output = redactor.restore_value(output)
        rules = request.rules
        rules.canary = canary
        texts = []
        for name in request.checked_fields:
            value = output.get(name)
            texts += value if isinstance(value, list) else [value] if isinstance(value, str) else []
        return output, check_output(texts, rules)

    def _parse(self, request: AiRequest, text: str) -> dict[str, Any] | None:
        if request.schema is None:
            return {"text": text.strip()}
        raw = text.strip()
        if raw.startswith("```"):
            raw = raw.strip("`").removeprefix("json").strip()
        try:
            parsed = request.schema.model_validate_json(raw)
            output = parsed.model_dump(by_alias=True)
            if request.validate is not None:
                request.validate(output)
        except (pydantic.ValidationError, ValueError) as error:
            self._last_error = f"not valid: {str(error).splitlines()[0]}"
            return None
        return output

    async def _cached(self, key: str, request: AiRequest, provider: Provider, the_prompt: Prompt) -> AiResult | None:
        """A fresh cached answer, with the provenance of the draft that wrote it (model, prompt
        version and the tokens it took). A hit writes nothing and uses no tokens."""
        async with tenant_scope(current_tenant(), write=False):
            entry = await AiCacheRepository().lookup(key)
        if entry is None:
            return None
        created = entry["created_at"]
        if isinstance(created, str):
            created = dt.datetime.fromisoformat(created)
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.UTC)
        if (self.clock.now() - created).total_seconds() > self.operator.cache_ttl:
            return None
        output = json.loads(entry["output"]) if isinstance(entry["output"], str) else entry["output"]
        draft = entry["draft"]
        draft = draft if draft is None or isinstance(draft, uuid.UUID) else uuid.UUID(str(draft))
        return AiResult(output, draft, provider.model, the_prompt.name, entry["prompt_tokens"],
                        entry["completion_tokens"], True, list(request.rules.injected))

    async def _reserve(self, config: TenantAi, tokens: int) -> None:
        now = self.clock.now()
        month = month_of(now)
        minute = int(now.timestamp() // 60)
        async with tenant_scope(current_tenant()):
            meter = AiMeterRepository()
            await meter.ensure(month)
            if await meter.reserve(month, tokens, config.monthly_token_budget, minute, config.requests_per_minute):
                return
            row = await meter.of_month(month)
        if row is not None and config.monthly_token_budget > 0 and (
            row.tokens_used + row.tokens_reserved + tokens > config.monthly_token_budget
        ):
            raise AiBudgetExceeded(details={
                "budget": config.monthly_token_budget, "used": row.tokens_used,
                "reserved": row.tokens_reserved, "needed": tokens,
            })
        raise AiRateLimited(details={"perMinute": config.requests_per_minute, "retryAfter": 60 - now.second})

    def cost_micros(self, prompt_tokens: int, completion_tokens: int) -> int:
        return round(prompt_tokens * self.operator.input_price_per_million
                     + completion_tokens * self.operator.output_price_per_million)

    async def _settle(self, request: AiRequest, provider: Provider, the_prompt: Prompt, reserved: int,
                      used: list[int], outcome: str) -> None:
        """Give back the reservation, count what was used and write the usage line."""
        async with tenant_scope(current_tenant()):
            await self._settle_in_scope(request, provider, the_prompt, reserved, used, outcome)

    async def _settle_in_scope(self, request: AiRequest, provider: Provider, the_prompt: Prompt, reserved: int,
                               used: list[int], outcome: str) -> None:
        cost = self.cost_micros(used[0], used[1])
        await AiMeterRepository().settle(month_of(self.clock.now()), reserved, used[0] + used[1], cost)
        await AiUsageRepository().add(AiUsage(
            user=request.user_id, feature=request.feature, model=provider.model,
            prompt_version=the_prompt.name, prompt_tokens=used[0], completion_tokens=used[1],
            cost_micros=cost, cached=False, outcome=outcome, created_at=self.clock.now(),
        ))

    async def _settle_and_keep(self, request: AiRequest, provider: Provider, the_prompt: Prompt, reserved: int,
                               key: str, output: dict[str, Any], used: list[int]) -> AiResult:
        """Settle a successful call and keep its draft (provenance) and cache entry, in one
        transaction; if that fails, the reservation is still given back."""
        try:
            async with tenant_scope(current_tenant()):
                await self._settle_in_scope(request, provider, the_prompt, reserved, used, "ok")
                return await self._keep(request, provider, the_prompt, key, output, used)
        except Exception:
            await self._settle(request, provider, the_prompt, reserved, used, "failed")
            raise

    async def _keep(self, request: AiRequest, provider: Provider, the_prompt: Prompt, key: str,
                    output: dict[str, Any], used: list[int]) -> AiResult:
        now = self.clock.now()
        encoded = json.dumps(output)  # once, for the draft and the cache entry
        async with tenant_scope(current_tenant()):
            draft = AiDraft(
                user=request.user_id, feature=request.feature, model=provider.model,
                prompt_version=the_prompt.name, prompt_tokens=used[0], completion_tokens=used[1],
                cached=False, lead=request.lead_id, output=encoded, created_at=now,
            )
            await AiDraftRepository().add(draft)
            if request.use_cache:
                await AiCacheRepository().store(AiCacheEntry(
                    key=key, feature=request.feature, draft=draft.id, output=encoded, prompt_tokens=used[0],
                    completion_tokens=used[1], created_at=now,
                ))
        return AiResult(output, draft.id, provider.model, the_prompt.name, used[0], used[1], False,
                        list(request.rules.injected))

    # --- streaming --------------------------------------------------------------------------------

    async def stream(self, request: AiRequest, parse: Callable[[str], dict[str, Any]]) -> AsyncIterator[tuple[str, Any]]:
        """("delta", text) events as the model writes, then ("done", AiResult); errors raise
        (after what was streamed, which the caller discards). The full text is checked like any
        answer before it is kept; a refused one raises `AiOutputRejected`."""
        config = request.config or await self.tenant_ai()
        provider = config.provider
        if provider is None:
            raise AiNotConfigured()
        the_prompt = prompt(request.feature)
        key = self.cache_key(request, config, provider)
        hit = await self._cached(key, request, provider, the_prompt) if request.use_cache else None
        if hit is not None:
            yield "delta", hit.output.get("text", "")
            yield "done", hit
            return
        await self._add_late(request)
        redactor = Redactor(config.redact_pii)
        messages, canary = self._messages(request, config, redactor)
        max_tokens = request.max_tokens or self.operator.max_output_tokens
        reserved = estimate_tokens(messages) + max_tokens
        await self._reserve(config, reserved)
        used = [0, 0]
        outcome = "failed"
        end = StreamEnd()
        try:
            async for delta in self.client.stream(provider, messages, end, max_tokens=max_tokens,
                                                  temperature=request.temperature):
                yield "delta", redactor.restore(delta)
            used[0] = end.prompt_tokens or estimate_tokens(messages)
            used[1] = end.completion_tokens
            text = redactor.restore(end.text)
            output = parse(text)
            rules = request.rules
            rules.canary = canary
            texts = [output.get(name) for name in request.checked_fields if isinstance(output.get(name), str)]
            violations = check_output(texts, rules)
            if violations:
                outcome = "rejected"
                raise AiOutputRejected(details={"violations": [v.to_dict() for v in violations]})
            outcome = "ok"
        finally:
            if not used[0]:
                used[0] = estimate_tokens(messages)
            if outcome != "ok":
                await self._settle(request, provider, the_prompt, reserved, used, outcome)
        yield "done", await self._settle_and_keep(request, provider, the_prompt, reserved, key, output, used)


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
