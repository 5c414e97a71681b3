"""The copilot's features: generate, improve (with a diff), change tone, subject lines,
icebreaker and pain points, grammar, reply intent (`classify_reply_intent`) and answer drafts
(`suggest_reply`) for the inbox, coaching and recommendations; plus the tenant's AI settings and usage report.

Runs in the current tenant's context (inside or outside a transaction: each step opens its own
short scope, joined to the caller's if there is one)."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from salescopilot.ai import offline
from salescopilot.ai.client import ModelClient
from salescopilot.ai.engine import AiEngine, AiRequest, AiResult, TenantAi, month_of
from salescopilot.ai.errors import AiNotConfigured, InvalidAiSettings
from salescopilot.ai.packs import PACKS
from salescopilot.ai.repository import (
    AiAnalyticsRepository,
    AiCacheRepository,
    AiMeterRepository,
    AiSettingsRepository,
    AiUsageRepository,
)
from salescopilot.ai.safety import OutputRules, instruction_sentences
from salescopilot.ai.schemas import (
    ASPECTS,
    Coaching,
    GeneratedEmail,
    GrammarFix,
    Icebreaker,
    ImprovedEmail,
    Recommendations,
    ReplyIntent,
    SubjectLines,
    SuggestedReply,
    ToneRewrite,
)
from salescopilot.ai.tables import AiSettings
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock
from salescopilot.crypto import SecretBox
from salescopilot.errors import ValidationFailed
from salescopilot.settings import AiSettings as OperatorAi
from salescopilot.templates.service import LEAD_VARIABLES
from salescopilot.tenancy.context import current_tenant, tenant_scope

TONES = ("friendly", "professional", "casual", "direct", "enthusiastic", "empathetic", "formal")
LENGTHS = {"short": "50-80 words", "medium": "80-125 words", "long": "125-200 words"}
GOALS = ("clarity", "brevity", "persuasion")
SENDER_VARIABLES = ("sender.firstName", "sender.fullName", "sender.email")
#: Country (ISO 3166-1 alpha-2) -> the language a first email is written in.
COUNTRY_LANGUAGE = {
    "DE": "German", "AT": "German", "CH": "German", "FR": "French", "BE": "French", "LU": "French",
    "ES": "Spanish", "MX": "Spanish", "AR": "Spanish", "CO": "Spanish", "CL": "Spanish", "PE": "Spanish",
    "IT": "Italian", "PT": "Portuguese", "BR": "Portuguese", "NL": "Dutch", "SE": "Swedish",
    "NO": "Norwegian", "DK": "Danish", "FI": "Finnish", "PL": "Polish", "CZ": "Czech", "JP": "Japanese",
}
LANGUAGE_CODES = {"English": "en", "German": "de", "French": "fr", "Spanish": "es", "Italian": "it",
                  "Portuguese": "pt", "Dutch": "nl", "Russian": "ru"}
_LANG_NAMES = {code: name for name, code in LANGUAGE_CODES.items()}
_URL_OK = re.compile(r"^https?://[^\s/$.?#].[^\s]*$", re.IGNORECASE)


def lead_language(values: Mapping[str, Any], explicit: str | None = None) -> str:
    """The language to write to a lead in: given, the lead's `language` field, or its country's."""
    if explicit:
        return _LANG_NAMES.get(explicit.lower(), explicit)[:40]
    custom = values.get("custom") or {}
    for key in ("language", "lang", "locale"):
        value = str(custom.get(key) or "").strip()
        if value:
            return _LANG_NAMES.get(value.lower()[:2], value)[:40]
    return COUNTRY_LANGUAGE.get(str(values.get("country") or "").upper(), "English")


def word_diff(before: str, after: str) -> list[dict[str, str]]:
    """A word-level diff: runs of {"op": "equal"|"insert"|"delete", "text"}."""
    a, b = re.findall(r"\s+|[^\s]+", before), re.findall(r"\s+|[^\s]+", after)
    runs: list[dict[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op == "equal":
            runs.append({"op": "equal", "text": "".join(a[i1:i2])})
            continue
        if i2 > i1:
            runs.append({"op": "delete", "text": "".join(a[i1:i2])})
        if j2 > j1:
            runs.append({"op": "insert", "text": "".join(b[j1:j2])})
    return runs


def _parse_subject_body(text: str) -> dict[str, Any]:
    """"Subject: ...\\n\\nbody" (the streamed generation's plain format)."""
    text = text.strip()
    match = re.match(r"(?is)^\**subject\**\s*:\s*(.+?)\n(.*)$", text)
    if match:
        return {"subject": match.group(1).strip()[:300], "body": match.group(2).strip(), "text": text}
    return {"subject": "", "body": text, "text": text}


class AiService:
    def __init__(self, *, clock: Clock, operator: OperatorAi, secret_box: SecretBox, client: ModelClient,
                 user_id: uuid.UUID | None = None) -> None:
        self.clock = clock
        self.operator = operator
        self.secret_box = secret_box
        self.user_id = user_id
        self.engine = AiEngine(clock=clock, operator=operator, secret_box=secret_box, client=client)

    # --- settings -------------------------------------------------------------------------------

    async def settings_view(self) -> dict[str, Any]:
        """The settings as the page and API show them (the key only as "set")."""
        async with tenant_scope(current_tenant(), write=False):
            row = await AiSettingsRepository().current()
        config = await self.engine.tenant_ai()
        return {
            "configured": config.provider is not None,
            "source": config.provider.source if config.provider else None,
            "baseUrl": (row.base_url if row else "") or "",
            "model": (row.model if row else "") or "",
            "apiKeySet": bool(row and row.api_key_encrypted),
            "effectiveBaseUrl": config.provider.base_url if config.provider else None,
            "effectiveModel": config.provider.model if config.provider else None,
            "redactPii": config.redact_pii,
            "styleGuide": config.style_guide,
            "industryPack": config.industry_pack,
            "monthlyTokenBudget": config.monthly_token_budget,
            "requestsPerMinute": config.requests_per_minute,
            "operatorDefault": {"available": bool(self.operator.api_key and self.operator.api_key.get_secret_value()),
                                "model": self.operator.model},
            "packs": [{"slug": slug, "name": name} for slug, (name, _) in PACKS.items()],
        }

    async def update_settings(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Change the tenant's AI settings. `apiKey`: a new key, "" to remove it, absent to keep."""
        changes: dict[str, Any] = {}
        if "baseUrl" in values:
            base = str(values["baseUrl"] or "").strip()
            if base and (not _URL_OK.match(base) or len(base) > 500):
                raise InvalidAiSettings("The base URL must be an http(s) URL.", details={"field": "baseUrl"})
            changes["base_url"] = base.rstrip("/")
        if "model" in values:
            model = str(values["model"] or "").strip()
            if len(model) > 200 or any(c.isspace() for c in model):
                raise InvalidAiSettings("The model name is not valid.", details={"field": "model"})
            changes["model"] = model
        if "apiKey" in values and values["apiKey"] is not None:
            key = str(values["apiKey"]).strip()
            if len(key) > 1000 or any(c.isspace() for c in key):
                raise InvalidAiSettings("The API key is not valid.", details={"field": "apiKey"})
            changes["api_key_encrypted"] = self.secret_box.encrypt(key) if key else ""
        if "redactPii" in values:
            changes["redact_pii"] = bool(values["redactPii"])
        if "styleGuide" in values:
            guide = str(values["styleGuide"] or "")
            if len(guide) > 5000:
                raise InvalidAiSettings("The style guide may have 5,000 characters.", details={"field": "styleGuide"})
            changes["style_guide"] = guide.strip()
        if "industryPack" in values:
            pack = str(values["industryPack"] or "")
            if pack and pack not in PACKS:
                raise InvalidAiSettings("Unknown industry pack.", details={"field": "industryPack", "choices": list(PACKS)})
            changes["industry_pack"] = pack
        for field, column, top in (("monthlyTokenBudget", "monthly_token_budget", 10**12),
                                   ("requestsPerMinute", "requests_per_minute", 100_000)):
            if field in values:
                try:
                    number = int(values[field] or 0)
                except (TypeError, ValueError):
                    number = -1
                if not 0 <= number <= top:
                    raise InvalidAiSettings(f"{field} must be a whole number from 0 to {top:,}.", details={"field": field})
                changes[column] = number
        async with tenant_scope(current_tenant()):
            repository = AiSettingsRepository()
            row = await repository.current()
            if row is None:
                row = AiSettings(**changes, updated_at=self.clock.now())
                await repository.add(row)
            else:
                for name, value in changes.items():
                    setattr(row, name, value)
                row.updated_at = self.clock.now()
                await repository.save(row)
            if {"base_url", "model", "api_key_encrypted", "style_guide", "industry_pack", "redact_pii"} & set(changes):
                # Answers from another model or context must not be served again.
                await AiCacheRepository().purge()
            await AuditService(self.clock).record(
                "ai.settings_changed", target_type="ai_settings", target_id=str(row.id),
                after={k: ("(changed)" if k == "api_key_encrypted" else v) for k, v in changes.items()},
            )
        return await self.settings_view()

    async def usage(self, days: int = 31) -> dict[str, Any]:
        """This month's meter and the usage by user and by feature over `days` days."""
        since = self.clock.now() - dt.timedelta(days=days)
        month = month_of(self.clock.now())
        async with tenant_scope(current_tenant(), write=False):
            rows = await AiUsageRepository().summary(since)
            meter = await AiMeterRepository().of_month(month)
        config = await self.engine.tenant_ai()
        by_user: dict[str, dict[str, int]] = {}
        by_feature: dict[str, dict[str, int]] = {}
        for row in rows:
            for table, name in ((by_user, str(row["user"]) if row["user"] else "api"), (by_feature, row["feature"])):
                line = table.setdefault(name, {"calls": 0, "failed": 0, "promptTokens": 0,
                                               "completionTokens": 0, "costMicros": 0})
                line["calls"] += 1
                line["failed"] += 0 if row["outcome"] == "ok" else 1
                line["promptTokens"] += row["p"] or 0
                line["completionTokens"] += row["c"] or 0
                line["costMicros"] += row["cost"] or 0
        return {
            "month": month,
            "tokensUsed": meter.tokens_used if meter else 0,
            "tokensReserved": meter.tokens_reserved if meter else 0,
            "estimatedCostUsd": round((meter.cost_micros if meter else 0) / 1_000_000, 4),
            "monthlyTokenBudget": config.monthly_token_budget,
            "byUser": [{"user": k, **v} for k, v in sorted(by_user.items())],
            "byFeature": [{"feature": k, **v} for k, v in sorted(by_feature.items())],
            "days": days,
        }

    async def tenant_ai(self) -> TenantAi:
        return await self.engine.tenant_ai()

    # --- context ----------------------------------------------------------------------------------

    async def _lead(self, lead_id: uuid.UUID | None) -> dict[str, Any]:
        if lead_id is None:
            return {}
        from salescopilot.leads.service import LeadService, lead_values

        async with tenant_scope(current_tenant(), write=False):
            return lead_values(await LeadService(clock=self.clock).get(lead_id))

    def _variables(self, lead: Mapping[str, Any], *drafts: str) -> set[str]:
        from salescopilot.ai.safety import tags_in

        allowed = {*LEAD_VARIABLES, "fullName", *SENDER_VARIABLES}
        allowed |= {f"custom.{k}" for k in (lead.get("custom") or {})}
        for draft in drafts:
            allowed |= tags_in(draft)
        return allowed

    async def best_examples(self, limit: int = 2) -> str:
        """The tenant's best-performing emails (most delivered, fewest failures, last 90 days)."""
        since = self.clock.now() - dt.timedelta(days=90)
        async with tenant_scope(current_tenant(), write=False):
            rows = await AiAnalyticsRepository().subject_results(since)
        ranked = sorted((r for r in rows if (r["sent"] or 0) > 0),
                        key=lambda r: ((r["sent"] or 0) - 3 * (r["failed"] or 0)), reverse=True)[:limit]
        if not ranked:
            return "(none yet)"
        return "\n\n".join(f"Subject: {r['subject']}\n{(r['sample'] or '')[:1200]}" for r in ranked)

    @staticmethod
    def _lead_data(lead: Mapping[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in lead.items() if k not in ("custom", "status", "tags") and v}

    # --- features ---------------------------------------------------------------------------------

    async def generate_request(self, *, brief: str, lead_id: uuid.UUID | None, enrichment: Mapping[str, Any],
                               tone: str, length: str, language: str | None, stream: bool = False) -> AiRequest:
        if tone not in TONES:
            raise ValidationFailed(f"Choose a tone: {', '.join(TONES)}.", details={"field": "tone"})
        if length not in LENGTHS:
            raise ValidationFailed(f"Choose a length: {', '.join(LENGTHS)}.", details={"field": "length"})
        lead = await self._lead(lead_id)
        data_enrichment = {**(lead.get("custom") or {}), **dict(enrichment or {})}
        config = await self.engine.tenant_ai()
        lead_data = self._lead_data(lead)
        untrusted = [json.dumps(lead_data, default=str), json.dumps(data_enrichment, default=str)]

        async def examples() -> tuple[dict[str, str], list[str]]:
            text = await self.best_examples()
            return {"examples": text}, [text]

        return AiRequest(
            feature="generate_stream" if stream else "generate",
            late=examples, config=config,
            values={"brief": brief or "(none)", "tone": tone, "length": LENGTHS[length],
                    "language": lead_language(lead, language)},
            data={"lead": ("LEAD", lead_data or "(no lead)"), "enrichment": ("ENRICHMENT", data_enrichment or "(none)")},
            schema=None if stream else GeneratedEmail,
            rules=OutputRules(
                allowed_variables=self._variables(lead),
                given_text=[brief, config.style_guide, *untrusted],
                injected=instruction_sentences(_strings(lead_data, data_enrichment)),
            ),
            checked_fields=("subject", "body"), user_id=self.user_id, lead_id=lead_id, temperature=0.6,
        )

    async def generate(self, **kwargs: Any) -> AiResult:
        # The lead, the settings and the cache are read in one read transaction: a repeated
        # generation is answered from it alone.
        async with tenant_scope(current_tenant(), write=False):
            request = await self.generate_request(**kwargs)
            hit = await self.engine.lookup(request)
        return hit or await self.engine.run(request)

    async def generate_stream(self, **kwargs: Any) -> AsyncIterator[tuple[str, Any]]:
        request = await self.generate_request(stream=True, **kwargs)
        async for event in self.engine.stream(request, _parse_subject_body):
            yield event

    async def improve(self, *, subject: str, body: str, goal: str) -> tuple[AiResult, dict[str, Any]]:
        if goal not in GOALS:
            raise ValidationFailed(f"Choose a goal: {', '.join(GOALS)}.", details={"field": "goal"})
        _require_text(body)
        result = await self.engine.run(AiRequest(
            feature="improve", values={"goal": goal, "subject": subject or "(none)", "draft": body},
            schema=ImprovedEmail,
            rules=OutputRules(allowed_variables=self._variables({}, subject, body), given_text=[subject, body]),
            checked_fields=("subject", "body"), user_id=self.user_id,
        ))
        diff = {"subject": word_diff(subject, result.output.get("subject") or subject),
                "body": word_diff(body, result.output["body"])}
        return result, diff

    async def change_tone(self, *, body: str, tone: str) -> tuple[AiResult, list[dict[str, str]]]:
        if tone not in TONES:
            raise ValidationFailed(f"Choose a tone: {', '.join(TONES)}.", details={"field": "tone"})
        _require_text(body)
        result = await self.engine.run(AiRequest(
            feature="tone", values={"tone": tone, "draft": body}, schema=ToneRewrite,
            rules=OutputRules(allowed_variables=self._variables({}, body), given_text=[body]),
            checked_fields=("body",), user_id=self.user_id,
        ))
        return result, word_diff(body, result.output["body"])

    async def subject_lines(self, *, body: str, count: int, lead_id: uuid.UUID | None) -> AiResult:
        _require_text(body)
        if not 1 <= count <= 10:
            raise ValidationFailed("Ask for 1 to 10 subject lines.", details={"field": "count"})
        lead = await self._lead(lead_id)
        since = self.clock.now() - dt.timedelta(days=90)
        async with tenant_scope(current_tenant(), write=False):
            rows = await AiAnalyticsRepository().subject_results(since, limit=10)
        winners = "\n".join(f"- {r['subject']} ({r['sent']} sent)" for r in rows if r["sent"]) or "(none yet)"
        lead_data = self._lead_data(lead)
        return await self.engine.run(AiRequest(
            feature="subjects", values={"count": str(count), "draft": body, "examples": winners},
            data={"lead": ("LEAD", lead_data or "(no lead)")}, schema=SubjectLines,
            rules=OutputRules(allowed_variables=self._variables(lead, body), given_text=[body],
                              injected=instruction_sentences(_strings(lead_data))),
            checked_fields=("subjects",), user_id=self.user_id, lead_id=lead_id, temperature=0.8,
        ))

    async def icebreaker(self, *, lead_id: uuid.UUID | None, enrichment: Mapping[str, Any], brief: str,
                         language: str | None) -> AiResult:
        lead = await self._lead(lead_id)
        data_enrichment = {**(lead.get("custom") or {}), **dict(enrichment or {})}
        if not lead and not data_enrichment:
            raise ValidationFailed("Give a lead or enrichment data.", details={"field": "leadId"})
        lead_data = self._lead_data(lead)
        untrusted = [json.dumps(lead_data, default=str), json.dumps(data_enrichment, default=str)]
        return await self.engine.run(AiRequest(
            feature="icebreaker", values={"brief": brief or "(not given)", "language": lead_language(lead, language)},
            data={"lead": ("LEAD", self._lead_data(lead) or "(no lead)"),
                  "enrichment": ("ENRICHMENT", data_enrichment or "(none)")},
            schema=Icebreaker,
            rules=OutputRules(allowed_variables=self._variables(lead), given_text=[brief, *untrusted],
                              injected=instruction_sentences(_strings(lead_data, data_enrichment))),
            checked_fields=("icebreaker", "painPoints"), user_id=self.user_id, lead_id=lead_id,
        ))

    async def grammar(self, *, text: str, language: str, use_model: bool) -> dict[str, Any]:
        """Offline spelling and grammar always; the model's corrections too when asked and set up."""
        _require_text(text)
        code = language if language in offline.SPELLING_LANGUAGES else "en"
        plain = offline.plain_text(text)
        report: dict[str, Any] = {
            "spelling": [i.to_dict() for i in offline.spelling_issues(plain, code)],
            "grammar": [i.to_dict() for i in offline.grammar_issues(plain, code)],
            "model": None,
        }
        if use_model:
            result = await self.engine.run(AiRequest(
                feature="grammar", values={"draft": text}, schema=GrammarFix,
                rules=OutputRules(allowed_variables=self._variables({}, text), given_text=[text]),
                checked_fields=("corrected",), user_id=self.user_id, temperature=0.0,
            ))
            report["model"] = {**result.output, "diff": word_diff(text, result.output["corrected"]),
                               "provenance": result.provenance()}
        return report

    async def classify_reply_intent(self, text: str, *, today: dt.date | None = None) -> dict[str, Any]:
        """The intent of an inbound reply (see `schemas.INTENTS`) with a suggested answer.
        Unsubscribe requests and out-of-office notices are recognised offline (no tokens, no
        model needed); the rest needs the model. The reply is untrusted data."""
        from salescopilot.mail.classify_cues import AWAY_BODY, unsubscribe_requested
        from salescopilot.mail.classify_dates import return_date

        _require_text(text)
        text = text[:20_000]
        today = today or self.clock.now().date()
        if unsubscribe_requested("", text):
            return {"intent": "unsubscribe", "confidence": 0.95, "returnDate": None, "referral": None,
                    "summary": "The sender asks to stop receiving emails.",
                    "suggestedReply": "", "source": "offline", "provenance": None}
        back = return_date(text, today)
        if _AWAY.search(text[:600]) or (AWAY_BODY.search(text[:600].lower()) and back is not None and "?" not in text):
            return {"intent": "out_of_office", "confidence": 0.9,
                    "returnDate": back.isoformat() if back else None, "referral": None,
                    "summary": "An automatic out-of-office notice.", "suggestedReply": "",
                    "source": "offline", "provenance": None}

        def valid_date(output: dict[str, Any]) -> None:
            if output.get("returnDate"):
                dt.date.fromisoformat(output["returnDate"])

        result = await self.engine.run(AiRequest(
            feature="classify_reply", values={"today": today.isoformat()},
            data={"reply": ("INBOUND REPLY", text)}, schema=ReplyIntent,
            rules=OutputRules(allowed_variables=self._variables({}), given_text=[],
                              injected=instruction_sentences([text])),
            checked_fields=("suggestedReply", "summary"), user_id=self.user_id, temperature=0.0,
            validate=valid_date,
        ))
        return {**result.output, "source": "model", "provenance": result.provenance(),
                "injectionSuspected": result.injection_suspected}

    async def suggest_reply(self, *, reply: str, thread: list[Mapping[str, Any]], lead_id: uuid.UUID | None,
                            intent: str | None = None) -> AiResult:
        """A draft answer to an inbound reply, in the reply's language, from the thread so far
        (`thread`: {"direction": "out"|"in", "subject", "text"}, oldest first, the reply not in
        it). The reply, the earlier messages and the lead are fenced as data; links only from
        what the sender wrote."""
        _require_text(reply)
        lead = await self._lead(lead_id)
        lead_data = self._lead_data(lead)
        earlier = "\n\n".join(
            f"{'We sent' if item.get('direction') == 'out' else 'They wrote'}: {item.get('subject') or ''}\n"
            f"{(item.get('text') or '')[:2000]}" for item in thread[-6:]
        ) or "(none)"
        ours = [str(item.get("text") or "") for item in thread if item.get("direction") == "out"]
        return await self.engine.run(AiRequest(
            feature="suggest_reply", values={"intent": intent or "unknown"},
            data={"lead": ("LEAD", lead_data or "(no lead)"), "thread": ("EARLIER MESSAGES", earlier[:12_000]),
                  "reply": ("INBOUND REPLY", reply[:20_000])},
            schema=SuggestedReply,
            rules=OutputRules(allowed_variables=self._variables(lead), given_text=ours,
                              injected=instruction_sentences([reply, *_strings(lead_data)])),
            checked_fields=("body",), user_id=self.user_id, lead_id=lead_id, temperature=0.4,
        ))

    async def coach(self, *, subject: str, body: str, lead_id: uuid.UUID | None, language: str,
                    use_model: bool) -> dict[str, Any]:
        """Scores and a concrete suggestion for personalisation, clarity, call to action, length and
        spam risk: measured offline, refined by the model when asked and set up."""
        _require_text(body)
        lead = await self._lead(lead_id)
        report = offline.check_draft(subject, body, language=language if language in offline.SPELLING_LANGUAGES else "en",
                                     known_variables=self._variables(lead), values=lead or None)
        items = offline_coaching(subject, body, report, lead)
        result_out: dict[str, Any] = {"items": items, "summary": "", "checks": report, "source": "offline",
                                      "provenance": None}
        if use_model:
            measurements = json.dumps({"readability": report["readability"], "length": report["length"],
                                       "spam": {"score": report["spam"]["score"]}}, separators=(",", ":"))
            lead_data = self._lead_data(lead)
            result = await self.engine.run(AiRequest(
                feature="coach", values={"subject": subject or "(none)", "draft": body, "measurements": measurements},
                data={"lead": ("LEAD", lead_data or "(no lead)")}, schema=Coaching,
                rules=OutputRules(allowed_variables=self._variables(lead, subject, body), given_text=[subject, body],
                                  injected=instruction_sentences(_strings(lead_data))),
                checked_fields=("summary",), user_id=self.user_id, lead_id=lead_id, temperature=0.2,
            ))
            by_aspect = {item["aspect"]: item for item in result.output["items"]}
            result_out["items"] = [by_aspect.get(i["aspect"], i) for i in items]
            result_out.update({"summary": result.output.get("summary", ""), "source": "model",
                               "provenance": result.provenance()})
        return result_out

    async def offline_check(self, *, subject: str, body: str, lead_id: uuid.UUID | None, language: str) -> dict[str, Any]:
        """Every check that needs no model, for a draft (and a lead's values when given)."""
        _require_text(body)
        lead = await self._lead(lead_id)
        code = language if language in offline.SPELLING_LANGUAGES else "en"
        report = offline.check_draft(subject, body, language=code, known_variables=self._variables(lead),
                                     values=lead or None)
        report["spamScoreSource"] = "content rules (salescopilot.ai.offline.spam_score)"
        return report

    async def analytics(self) -> dict[str, Any]:
        since = self.clock.now() - dt.timedelta(days=90)
        async with tenant_scope(current_tenant(), write=False):
            repository = AiAnalyticsRepository()
            subjects = await repository.subject_results(since, limit=20)
            templates = await repository.templates(limit=20)
            drafts = await repository.drafts_by_feature(since)
        return {
            "subjects": [{"subject": r["subject"], "sent": int(r["sent"] or 0), "failed": int(r["failed"] or 0),
                          "bounced": int(r["bounced"] or 0), "total": int(r["total"] or 0)} for r in subjects],
            "templates": [{"name": r["name"], "category": r["category"], "subject": r["subject"],
                           "version": r["version"]} for r in templates],
            "aiDrafts": [{"feature": r["feature"], "drafts": int(r["drafts"])} for r in drafts],
        }

    async def recommendations(self, *, use_model: bool) -> dict[str, Any]:
        """What to do next, from the tenant's own sending results (rules offline; the model's
        reading of the same figures when asked and set up)."""
        data = await self.analytics()
        items = offline_recommendations(data)
        out: dict[str, Any] = {"recommendations": items, "analytics": data, "source": "offline", "provenance": None}
        if use_model and (data["subjects"] or data["templates"]):
            result = await self.engine.run(AiRequest(
                feature="recommend", values={"analytics": json.dumps(data, separators=(",", ":"))[:12_000]},
                data={}, schema=Recommendations,
                rules=OutputRules(allowed_variables=set(), given_text=[json.dumps(data)]),
                checked_fields=(), user_id=self.user_id, temperature=0.2,
            ))
            out.update({"recommendations": result.output["recommendations"], "source": "model",
                        "provenance": result.provenance()})
        return out

    async def drafts(self, limit: int = 20) -> list[dict[str, Any]]:
        from salescopilot.ai.repository import AiDraftRepository
        from salescopilot.listing import ListQuery

        async with tenant_scope(current_tenant(), write=False):
            page = await AiDraftRepository().list_page(ListQuery(limit=limit, sort="created_at", descending=True))
        return [draft_json(row) for row in page.items]


def draft_json(row: Mapping[str, Any]) -> dict[str, Any]:
    output = row.get("output")
    if isinstance(output, str):
        output = json.loads(output or "{}")
    created = row.get("created_at")
    return {
        "id": str(row.get("id")), "feature": row.get("feature"), "model": row.get("model"),
        "promptVersion": row.get("prompt_version"), "promptTokens": row.get("prompt_tokens"),
        "completionTokens": row.get("completion_tokens"), "cached": bool(row.get("cached")),
        "user": str(row["user"]) if row.get("user") else None, "lead": str(row["lead"]) if row.get("lead") else None,
        "output": output, "createdAt": created.isoformat() if hasattr(created, "isoformat") else created,
    }


def _strings(*values: Any) -> list[str]:
    """Every string inside `values` (mappings and lists walked), each checked on its own."""
    found: list[str] = []
    for value in values:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, Mapping):
            found += _strings(*value.values())
        elif isinstance(value, list | tuple):
            found += _strings(*value)
    return found


def _require_text(text: str) -> None:
    if not (text or "").strip():
        raise ValidationFailed("Write some text first.", details={"field": "body"})


#: An automatic absence notice, as its first lines say it (English, German, French, Spanish, Dutch).
_AWAY = re.compile(
    r"(?i)\b(out of (the )?office|on (annual |parental )?leave|on (vacation|holiday)|away from (the |my )?office"
    r"|automatic reply|auto-?reply|abwesend|nicht im büro|außer haus|absente? du bureau|en congés?"
    r"|fuera de (la )?oficina|de vacaciones|buiten kantoor|afwezig)\b"
)
_CTA = re.compile(r"(?i)\?|\b(call|chat|meet|meeting|demo|reply|let me know|would you|are you open|worth a|"
                  r"book|schedule|15 minutes|20 minutes|calendar)\b")


def offline_coaching(subject: str, body: str, report: Mapping[str, Any], lead: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A score and a concrete suggestion per aspect, from the offline measurements alone."""
    text = offline.plain_text(body)
    used = set(report["variables"]["used"])
    personal_facts = [str(lead.get(k)) for k in ("company", "title") if lead.get(k)]
    mentions = sum(1 for fact in personal_facts if fact.lower() in text.lower())
    personal = min(10, 3 * len(used & {"firstName", "company", "title"}) + 2 * len([u for u in used if u.startswith("custom.")]) + 3 * mentions)
    words = report["length"]["words"]
    ease = report["readability"]["fleschReadingEase"] or 0
    per_sentence = report["readability"]["wordsPerSentence"]
    clarity = max(0, min(10, round(ease / 10) - (2 if per_sentence > 22 else 0)))
    questions = text.count("?")
    cta_found = bool(_CTA.search(text[-400:]))
    cta = 8 if cta_found and questions <= 2 else 5 if cta_found else 2
    length_score = {"good": 9, "long": 6, "too_long": 3, "too_short": 4}[report["length"]["verdict"]]
    spam = report["spam"]
    items = [
        {"aspect": "personalisation", "score": personal, "suggestion":
            "Open with something specific to them: use {{firstName}} and mention {{company}} or a recent fact "
            "about their business instead of a generic opener." if personal < 6 else
            "Good personal detail; keep one specific fact in the first sentence."},
        {"aspect": "clarity", "score": clarity, "suggestion":
            f"Sentences average {per_sentence} words: split the longest ones and cut filler words." if clarity < 6 else
            "Clear and easy to read."},
        {"aspect": "call_to_action", "score": cta, "suggestion":
            "End with one low-effort question, e.g. “Would a 15-minute call next Tuesday be useful?”" if cta < 6 else
            ("Ask only one question: several dilute the call to action." if questions > 2 else "One clear ask: good.")},
        {"aspect": "length", "score": length_score, "suggestion":
            f"{words} words: aim for 50-125 words in a first email." if length_score < 9 else "A good length for a cold email."},
        {"aspect": "spam_risk", "score": max(0, 10 - spam["score"]), "suggestion":
            ("Remove " + ", ".join(f"“{r['detail']}”" for r in spam["reasons"][:3]) + ".") if spam["reasons"] else
            "No spam triggers found."},
    ]
    assert [i["aspect"] for i in items] == list(ASPECTS)
    return items


def offline_recommendations(data: Mapping[str, Any]) -> list[dict[str, str]]:
    subjects = [s for s in data["subjects"] if s["total"] >= 1]
    out: list[dict[str, str]] = []
    if not subjects and not data["templates"]:
        return [{"title": "Send your first campaign", "detail": "Recommendations come from your own results: "
                 "once messages are sent, the subject lines and templates that work best show here.", "evidence": "No sends yet."}]
    ranked = sorted(subjects, key=lambda s: (s["sent"] - 3 * s["failed"], s["sent"]), reverse=True)
    if ranked:
        best = ranked[0]
        out.append({"title": f"Use “{best['subject'][:80]}” more", "detail": "It has the most delivered messages with the fewest failures.",
                    "evidence": f"{best['sent']} sent, {best['failed']} failed."})
    for s in subjects:
        if s["total"] >= 10 and s["bounced"] / max(1, s["total"]) > 0.05:
            out.append({"title": f"Check the list behind “{s['subject'][:80]}”", "detail": "Its bounce rate is above 5%: verify "
                        "addresses before sending more, it harms the mailboxes' reputation.",
                        "evidence": f"{s['bounced']} of {s['total']} bounced."})
    long_subjects = [s for s in subjects if len(s["subject"]) > 60]
    if long_subjects:
        out.append({"title": "Shorten long subject lines", "detail": "Subjects over 60 characters are cut on phones.",
                    "evidence": f"{len(long_subjects)} subject lines are longer than 60 characters."})
    if len(subjects) == 1:
        out.append({"title": "Test a second subject line", "detail": "With one subject only there is nothing to compare: "
                    "send a variant to part of the list.", "evidence": "One subject line in 90 days."})
    return out[:5]


def ai_not_configured_message() -> str:
    return AiNotConfigured.default_message
