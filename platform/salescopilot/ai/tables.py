"""AI provider settings per tenant, the monthly meter (budget + rate window), usage lines, the
response cache and the provenance of every AI-written draft."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, BigInt, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class AiSettings(TenantOwned, Table, tablename="ai_settings"):
    """One row per tenant that changed anything; no row means the operator's defaults."""

    UNIQUE_TOGETHER = (("tenant",),)

    #: Fernet token of the provider API key ("" = use the operator's default provider).
    api_key_encrypted = Text(default="")
    #: OpenAI-compatible base URL (https://api.openai.com/v1, an Azure or vLLM endpoint, ...).
    base_url = Varchar(length=500, default="")
    model = Varchar(length=200, default="")
    #: Replace email addresses and phone numbers before text leaves for the provider.
    redact_pii = Boolean(default=False)
    #: The tenant's own writing rules, given to every writing feature as context.
    style_guide = Text(default="")
    #: Slug of the industry prompt pack ("" = none).
    industry_pack = Varchar(length=50, default="")
    #: Tokens a month (0 = the operator's default).
    monthly_token_budget = BigInt(default=0)
    #: Model calls a minute (0 = the operator's default).
    requests_per_minute = Integer(default=0)
    updated_at = Timestamptz(default=TimestamptzNow())


class AiMeter(TenantOwned, Table, tablename="ai_meter"):
    """The tenant's tokens this month (used + reserved by calls under way) and its current
    one-minute rate window. Changed only by single conditional UPDATEs, so concurrent calls can
    never together pass the budget or the rate."""

    UNIQUE_TOGETHER = (("tenant", "month"),)

    #: "2026-11"
    month = Varchar(length=7)
    tokens_used = BigInt(default=0)
    tokens_reserved = BigInt(default=0)
    #: Estimated cost in millionths of a US dollar.
    cost_micros = BigInt(default=0)
    #: Minutes since the epoch of the current rate window, and the calls counted in it.
    window_minute = BigInt(default=0)
    window_calls = Integer(default=0)


class AiUsage(TenantOwned, Table, tablename="ai_usage"):
    """One model call (or cache hit): who, which feature, tokens and estimated cost."""

    INDEX_TOGETHER = (("tenant", "created_at"),)

    user = UUID(null=True, default=None)
    feature = Varchar(length=40)
    model = Varchar(length=200, default="")
    prompt_version = Varchar(length=60, default="")
    prompt_tokens = Integer(default=0)
    completion_tokens = Integer(default=0)
    cost_micros = BigInt(default=0)
    cached = Boolean(default=False)
    #: ok · failed · rejected (output refused by the checks)
    outcome = Varchar(length=20, default="ok")
    created_at = Timestamptz(default=TimestamptzNow())


class AiCacheEntry(TenantOwned, Table, tablename="ai_cache_entry"):
    """A validated answer, keyed by SHA-256 of (model, base URL, feature, prompt version, input)."""

    UNIQUE_TOGETHER = (("tenant", "key"),)

    key = Varchar(length=64)
    feature = Varchar(length=40)
    #: The draft that wrote the answer: a hit answers with its provenance and writes nothing.
    draft = UUID(null=True, default=None)
    output = JSON(default="{}")
    prompt_tokens = Integer(default=0)
    completion_tokens = Integer(default=0)
    created_at = Timestamptz(default=TimestamptzNow())


class AiDraft(TenantOwned, Table, tablename="ai_draft"):
    """Provenance of AI-written content: which model and prompt version wrote it, for whom, with
    how many tokens. Composer and template saves may point at it by id."""

    INDEX_TOGETHER = (("tenant", "created_at"),)

    user = UUID(null=True, default=None)
    feature = Varchar(length=40)
    model = Varchar(length=200, default="")
    prompt_version = Varchar(length=60, default="")
    prompt_tokens = Integer(default=0)
    completion_tokens = Integer(default=0)
    cached = Boolean(default=False)
    lead = UUID(null=True, default=None)
    output = JSON(default="{}")
    created_at = Timestamptz(default=TimestamptzNow())
