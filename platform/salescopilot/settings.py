"""Typed settings, read once from the environment and `.env`.

Every setting has an env var: `SALESCOPILOT_` + the field name, with `__` between nested names
(`SALESCOPILOT_DATABASE__URL`). The README lists them all; `salescopilot settings` prints the
effective values with secrets masked.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Shipped default; acceptable for development, refused in production.
DEFAULT_SECRET_KEY = "dev-insecure-secret-key-change-me"

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class DatabaseSettings(BaseModel):
    #: `sqlite:///path/to/file.db` or `postgresql://user@host:port/db`. Empty: the embedded
    #: default, `<var_dir>/salescopilot.db`. A relative SQLite path is relative to the cwd.
    url: str = ""
    #: Connection used for migrations and table ownership. Defaults to `url`. On PostgreSQL the app
    #: should connect as a role that does not own the tables, so row-level security binds it too.
    owner_url: str | None = None
    #: PostgreSQL role the app connects as; `db migrate` grants it data access (not DDL).
    app_role: str | None = None
    pool_min_size: int = 1
    pool_max_size: int = 10

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith(("postgres://", "postgresql://"))

    @property
    def migration_url(self) -> str:
        return self.owner_url or self.url


class RedisSettings(BaseModel):
    #: Empty: no Redis (embedded mode). Set it for scale-out: task broker, sessions, caches.
    url: str | None = None


class SessionSettings(BaseModel):
    #: `memory` (one process only), `file` (under var/sessions) or `redis` (needs redis.url).
    store: Literal["memory", "file", "redis"] = "file"
    #: Idle lifetime of a web session, seconds.
    max_age: int = 8 * 3600
    cookie_name: str = "sc_session"
    #: Send cookies only over HTTPS. On by default in production.
    secure_cookies: bool | None = None


class LoginThrottleSettings(BaseModel):
    #: Failed sign-ins allowed per (tenant, email) and per IP within `window_seconds`.
    max_failures: int = 5
    window_seconds: int = 15 * 60


class TaskSettings(BaseModel):
    #: `inmemory` runs tasks inside the web process; `redis` uses Redis streams (needs redis.url).
    broker: Literal["inmemory", "redis"] = "inmemory"
    max_retries: int = 5
    #: First retry delay, seconds; doubles on each retry up to `retry_max_delay`.
    retry_base_delay: float = 2.0
    retry_max_delay: float = 600.0
    #: Redis stream key of the task queue (redis broker); delayed tasks, results and the
    #: scheduler lock use keys derived from it. Give each installation sharing a Redis its own.
    queue: str = "salescopilot:tasks"
    #: Seconds an unacknowledged task of a dead worker waits before another worker takes it over
    #: (live workers heartbeat their running tasks, so this does not limit task run time).
    redelivery_timeout: float = 60.0


class MailSettings(BaseModel):
    #: Public base URL of tracking links, the open pixel and unsubscribe pages (e.g.
    #: `https://t.example.com`); empty: the tenant's own host over https.
    tracking_base_url: str = ""
    #: An extra CA bundle (PEM file) trusted for SMTP/IMAP TLS besides the system's, for mail
    #: servers with a private CA. Operator-level only: tenants cannot point at files.
    extra_ca_file: Path | None = None
    #: Seconds a connection attempt, a command or a whole DATA transfer may take.
    smtp_timeout: float = 30.0
    imap_timeout: float = 30.0
    #: Worker processes keep an IMAP IDLE connection per mailbox and sync a mailbox the moment
    #: new mail arrives (`salescopilot.inbound.watcher`); off: the minutely `inbound.sweep` only.
    imap_idle: bool = False


class MailCatcherSettings(BaseModel):
    """The embedded SMTP server of the demo and of development: it keeps every message it
    receives (under `var_dir/mailcatcher`) and shows them at /dev/mail. Never in production."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2525
    #: Messages kept; the oldest are removed beyond this.
    max_messages: int = 2000


class OutboxSettings(BaseModel):
    #: Seconds a claim is valid; a worker that has not finished by then is presumed dead and the
    #: message is reconciled (searched in the mailbox's Sent folder) before any retry.
    lease_seconds: float = 120.0
    #: Messages claimed per batch by one sender pass.
    claim_batch: int = 100
    #: Concurrent sends per worker process.
    concurrency: int = 8
    #: Processes that DKIM-sign outgoing mail beside each sending process's event loop (0: sign
    #: in the event loop itself). Signing is most of the CPU a message costs; in the pool it
    #: runs on another core while the event loop keeps its SMTP connections busy.
    signing_processes: int = Field(default=1, ge=0, le=32)
    max_attempts: int = 6
    #: First retry delay, seconds; doubles each attempt (with jitter) up to `retry_max_delay`.
    retry_base_delay: float = 300.0
    retry_max_delay: float = 6 * 3600.0
    #: Seconds an uncertain hand-off waits before its mailbox's Sent folder is searched for it
    #: (a provider may file its copy a little after accepting the message).
    reconcile_after: float = 120.0


class WebhookSettings(BaseModel):
    """Outbound webhooks (`salescopilot.webhooks`)."""

    #: Deliver to private, loopback and link-local addresses too. Off: a tenant could otherwise
    #: make this server call its own internal network (SSRF). Turn on only for a closed
    #: installation whose receivers live on the private network.
    allow_private: bool = False
    #: Seconds one delivery may take, connecting included.
    timeout: float = 10.0
    #: Tries before a delivery goes to the dead-letter list.
    max_attempts: int = 8
    #: First retry delay, seconds; multiplied by 4 after each failure (30 s, 2 min, 8 min, ...).
    retry_base_delay: float = 30.0
    retry_max_delay: float = 6 * 3600.0


class TrackingSettings(BaseModel):
    """Open and click events (`salescopilot.tracking`)."""

    #: Events kept in memory before a batch is written, and the longest wait before writing.
    buffer_batch: int = 500
    buffer_interval: float = 0.5
    #: Events held while the database cannot be written; beyond it the oldest are dropped
    #: (and counted in the log).
    buffer_limit: int = 100_000


class AiSettings(BaseModel):
    """The operator's default model provider (any OpenAI-compatible server) and the limits every
    tenant gets unless its own settings say otherwise."""

    #: Empty: tenants without a key of their own have no AI (offline checks still work).
    api_key: SecretStr | None = None
    base_url: str = "https://api.openai.com/v1"
    model: str = "gpt-4o-mini"
    #: Seconds one model call may take (connect, each read, the whole answer).
    timeout: float = 30.0
    #: Tries after the first on 429, 5xx, timeouts and dropped connections (backoff, Retry-After).
    max_retries: int = 2
    #: Longest Retry-After honoured, seconds; a longer one fails the call at once (429 to the user).
    max_retry_after: float = 20.0
    #: Consecutive failures that open a provider's circuit, and seconds it stays open.
    breaker_failures: int = 5
    breaker_open_seconds: float = 30.0
    #: Tokens a tenant may use per calendar month (UTC) and model calls per minute.
    monthly_token_budget: int = 2_000_000
    requests_per_minute: int = 60
    #: Estimated prices, US dollars per million prompt / completion tokens (for usage reports).
    input_price_per_million: float = 0.15
    output_price_per_million: float = 0.60
    #: Largest completion asked for, tokens (also what a call reserves from the budget).
    max_output_tokens: int = 800
    #: Seconds a cached answer is served again for the same input.
    cache_ttl: int = 7 * 24 * 3600


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SALESCOPILOT_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    environment: Environment = Environment.DEVELOPMENT
    #: Signs sessions, CSRF tokens and invite links; derives the at-rest encryption key when
    #: `encryption_keys` is empty. Must be changed in production.
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    #: Fernet keys (urlsafe base64, 32 bytes) for tenant secrets at rest, newest first; older keys
    #: still decrypt, so keys can be rotated.
    encryption_keys: list[SecretStr] = Field(default_factory=list)
    #: Tenants are served at `<slug>.<base_domain>` besides their custom domains.
    base_domain: str = "localhost"
    #: Where the embedded database, sessions and uploads live.
    var_dir: Path = PROJECT_ROOT / "var"
    #: Tenant manifests applied by `salescopilot tenants apply`.
    tenants_dir: Path = PROJECT_ROOT / "tenants"
    #: Proxies whose X-Forwarded-For / X-Forwarded-Host are believed (IPs or CIDRs).
    trusted_proxies: list[str] = Field(default_factory=list)
    #: Largest request body accepted, bytes.
    max_request_body: int = 1_048_576
    #: Plugin names (entry-point names or module names) never loaded.
    blocked_plugins: list[str] = Field(default_factory=list)
    log_level: str = "INFO"
    #: JSON log lines (default) or human-readable console lines.
    log_json: bool = True
    host: str = "127.0.0.1"
    port: int = 8000

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    login_throttle: LoginThrottleSettings = Field(default_factory=LoginThrottleSettings)
    tasks: TaskSettings = Field(default_factory=TaskSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    mail_catcher: MailCatcherSettings = Field(default_factory=MailCatcherSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    ai: AiSettings = Field(default_factory=AiSettings)

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            if self.secret_key.get_secret_value() in ("", DEFAULT_SECRET_KEY):
                raise ValueError(
                    "SALESCOPILOT_SECRET_KEY must be set to a strong random value in production"
                )
            if len(self.secret_key.get_secret_value()) < 32:
                raise ValueError("SALESCOPILOT_SECRET_KEY must be at least 32 characters")
        if self.sessions.store == "redis" and not self.redis.url:
            raise ValueError("sessions.store=redis needs SALESCOPILOT_REDIS__URL")
        if self.tasks.broker == "redis" and not self.redis.url:
            raise ValueError("tasks.broker=redis needs SALESCOPILOT_REDIS__URL")
        if not self.var_dir.is_absolute():
            self.var_dir = (Path.cwd() / self.var_dir).resolve()
        if not self.database.url:
            self.database.url = f"sqlite:///{self.var_dir / 'salescopilot.db'}"
        elif self.database.url.startswith("sqlite:///"):
            path = Path(self.database.url.removeprefix("sqlite:///"))
            if not path.is_absolute():
                self.database.url = "sqlite:///" + str(Path.cwd() / path)
        return self

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

    @property
    def secure_cookies(self) -> bool:
        if self.sessions.secure_cookies is not None:
            return self.sessions.secure_cookies
        return self.is_production

    def masked(self) -> dict:
        """The effective settings as a dict, every secret replaced by `**********`."""
        return self.model_dump(mode="json")


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings. Tests call `get_settings.cache_clear()` after changing env."""
    return Settings()
