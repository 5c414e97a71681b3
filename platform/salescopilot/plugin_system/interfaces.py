"""The classes plugins implement. This module is the whole contract a plugin may import, besides
`salescopilot.hookimpl`.

Every plugin class declares three pieces of class metadata:

- `slug`: stable identifier, unique within its kind (`smtp`, `hubspot`, `default`);
- `display_name`: what an admin sees;
- `settings_model`: a pydantic model of the per-tenant settings. Fields typed `SecretStr` (or
  `SecretStr | None`) are secrets: stored encrypted, never returned, never logged. Secret fields
  must be top-level fields of the model.

A tenant's validated settings are passed to the constructor. All I/O lives in async methods.
"""

from __future__ import annotations

import abc
import datetime as dt
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class NoSettings(BaseModel):
    """The settings model of a plugin that has no settings."""

    model_config = ConfigDict(extra="forbid")


class PluginClass(abc.ABC):
    """Base of every plugin class kind."""

    slug: ClassVar[str]
    display_name: ClassVar[str]
    settings_model: ClassVar[type[BaseModel]] = NoSettings

    def __init__(self, settings: BaseModel) -> None:
        self.settings = settings

    @classmethod
    def metadata_problems(cls) -> list[str]:
        """What is wrong with this class's metadata (empty when it may be registered)."""
        problems = []
        slug = getattr(cls, "slug", None)
        if not isinstance(slug, str) or not SLUG_PATTERN.match(slug):
            problems.append(
                f"slug {slug!r} must be 1-63 characters of a-z, 0-9, '_' or '-', "
                "starting with a letter"
            )
        name = getattr(cls, "display_name", None)
        if not isinstance(name, str) or not name.strip():
            problems.append("display_name must be a non-empty string")
        model = getattr(cls, "settings_model", None)
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            problems.append("settings_model must be a pydantic BaseModel subclass")
        abstract = getattr(cls, "__abstractmethods__", None)
        if abstract:
            problems.append(f"abstract methods not implemented: {', '.join(sorted(abstract))}")
        return problems


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """The outcome of `check_connection`: shown to the admin who configures the plugin."""

    ok: bool
    message: str
    #: One line per problem found, worded for an admin ("IMAP login refused for ...").
    problems: tuple[str, ...] = ()


# --- Mail providers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to hand to a provider, already built (MIME, headers, DKIM) by the core."""

    #: The RFC 5322 Message-ID, fixed when the outbox row was created; every retry reuses it.
    message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    #: The complete RFC 5322 message bytes.
    raw: bytes
    #: The provider's thread of an earlier message to the same lead, for follow-ups.
    provider_thread_id: str | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """The provider accepted the message (SMTP 250, API 2xx)."""

    provider_message_id: str | None
    #: The server's reply, kept for support ("250 2.0.0 OK queued as ...").
    response: str = ""
    provider_thread_id: str | None = None
    #: Recipients the server refused while accepting the others.
    rejected_recipients: tuple[str, ...] = ()


class SendFailure(Exception):
    """Raised by `MailProvider.send` when the provider did not accept the message.

    `permanent=True` (SMTP 5xx at RCPT/DATA, API "invalid recipient") means retrying cannot help
    and the address bounces now; `permanent=False` (4xx, timeout, 429, 5xx of an HTTP API) means
    retry later with the same Message-ID. When a provider cannot tell whether the message left
    (connection lost after DATA), it raises `DeliveryUncertain` instead.
    """

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool,
        smtp_code: int | None = None,
        enhanced_status: str | None = None,
        mailbox_fault: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.smtp_code = smtp_code
        #: RFC 3463 enhanced status code, e.g. "5.1.1".
        self.enhanced_status = enhanced_status
        #: The mailbox itself is at fault (login refused, TLS failure, sender address refused),
        #: not the recipient or the moment: counted against the mailbox's health.
        self.mailbox_fault = mailbox_fault


class DeliveryUncertain(Exception):
    """The message may or may not have been accepted; the core reconciles with
    `find_sent_by_message_id` before any retry."""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message found in a mailbox, unparsed: the core classifies it."""

    #: The provider's id of this message (IMAP "FOLDER:UIDVALIDITY:UID", Gmail message id).
    provider_message_id: str
    #: The message's bytes; a provider may give only the start of a huge message.
    raw: bytes
    folder: str = "INBOX"
    received_at: dt.datetime | None = None
    #: The whole message's size in bytes when known (`raw` may be cut short).
    size: int | None = None


@dataclass(frozen=True, slots=True)
class FetchedMessages:
    messages: list[InboundMessage]
    #: Opaque position to pass to the next `fetch_new_messages` call (the provider's format).
    cursor: str
    #: More messages are waiting beyond `limit`.
    has_more: bool = False


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message found in the mailbox's sent items by its Message-ID."""

    provider_message_id: str
    sent_at: dt.datetime | None = None
    provider_thread_id: str | None = None


class MailProvider(PluginClass):
    """Sends and receives mail for one sending mailbox.

    `settings_model` holds the tenant-wide settings (an OAuth client, an API endpoint);
    `account_model` the settings of one mailbox (address, host, login, password or token), with
    secrets marked `SecretStr` the same way.
    """

    account_model: ClassVar[type[BaseModel]] = NoSettings

    def __init__(self, settings: BaseModel, account: BaseModel) -> None:
        super().__init__(settings)
        self.account = account

    @abc.abstractmethod
    async def send(self, message: OutgoingMessage) -> SendResult:
        """Hand the message over; raise `SendFailure` or `DeliveryUncertain` when it was not."""

    @abc.abstractmethod
    async def fetch_new_messages(self, cursor: str | None, *, limit: int = 100) -> FetchedMessages:
        """Messages that arrived after `cursor` (all recent ones when None), oldest first, from
        the inbox and the spam folder. Never deletes or changes a message (beyond a flag the
        tenant enabled). The same message may come again (after a UIDVALIDITY change): the core
        recognises it by its Message-ID."""

    async def wait_for_new_messages(self, timeout: float) -> bool:
        """Wait until the provider announces new mail (True) or `timeout` seconds pass (False).
        This default cannot be told and polls: it sleeps `timeout` and returns True, so the
        caller fetches. Raises like `fetch_new_messages` when the mailbox cannot be reached."""
        import asyncio

        await asyncio.sleep(timeout)
        return True

    @abc.abstractmethod
    async def find_sent_by_message_id(self, message_id: str) -> SentMessage | None:
        """The sent message with this Message-ID, or None if the mailbox has no such message."""

    @abc.abstractmethod
    async def check_connection(self) -> ConnectionCheck:
        """Log in (send and receive side) without sending anything."""

    async def close(self) -> None:
        """Close pooled connections. The core keeps one provider instance per mailbox and reuses
        it across sends; it calls this when the mailbox's settings change or the process stops."""


# --- CRM connectors -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CrmContact:
    email: str
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    title: str = ""
    #: The contact's id in the CRM when known (from an earlier upsert or import).
    crm_id: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CrmActivity:
    """Something that happened with a contact, logged on the CRM's timeline."""

    contact_email: str
    kind: Literal["email_sent", "reply_received", "status_changed", "meeting_booked"]
    occurred_at: dt.datetime
    subject: str = ""
    body: str = ""
    contact_crm_id: str | None = None


@dataclass(frozen=True, slots=True)
class CrmContactPage:
    contacts: list[CrmContact]
    #: Pass to the next `fetch_contacts` call; None when there are no more.
    next_cursor: str | None


class CrmConnector(PluginClass):
    """Keeps leads and activity in step with a CRM."""

    @abc.abstractmethod
    async def upsert_contact(self, contact: CrmContact) -> str:
        """Create or update the contact (matched by email or crm_id); return its CRM id."""

    @abc.abstractmethod
    async def log_activity(self, activity: CrmActivity) -> str:
        """Record the activity on the contact's timeline; return the CRM's id of the record."""

    @abc.abstractmethod
    async def fetch_contacts(self, cursor: str | None, *, limit: int = 100) -> CrmContactPage:
        """One page of contacts, for importing leads."""

    @abc.abstractmethod
    async def check_connection(self) -> ConnectionCheck:
        """Authenticate and read one record without changing anything."""


# --- Enrichment sources -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnrichmentQuery:
    email: str = ""
    domain: str = ""
    full_name: str = ""
    company: str = ""


@dataclass(frozen=True, slots=True)
class EnrichmentResult:
    #: Field name -> value (e.g. "title", "company_size", "linkedin_url", "timezone").
    fields: Mapping[str, Any]
    #: 0.0-1.0, the source's own confidence in the match.
    confidence: float = 1.0
    source_url: str | None = None


class EnrichmentSource(PluginClass):
    """Adds facts about a lead or company from an outside data source."""

    @abc.abstractmethod
    async def enrich(self, query: EnrichmentQuery) -> EnrichmentResult | None:
        """What the source knows about the person or company; None when it knows nothing."""

    @abc.abstractmethod
    async def check_connection(self) -> ConnectionCheck:
        """Authenticate without spending lookup credits where the source allows it."""


# --- Tasks -------------------------------------------------------------------------------------

TASK_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")


@dataclass(frozen=True, slots=True)
class TaskDefinition:
    """A background task a plugin contributes through `register_tasks`."""

    #: Dotted and stable, prefixed with the plugin's name: "crm_hubspot.sync_contacts".
    name: str
    #: An async function. A per-tenant task takes `tenant_id` as its first argument and runs
    #: inside that tenant's scope.
    function: Callable[..., Awaitable[Any]]
    #: A cron expression (UTC) for `salescopilot scheduler`; None for tasks only enqueued on demand.
    schedule: str | None = None
    #: True: a tenant task; on a schedule it is enqueued once per active tenant, so it should
    #: return early where `tenant_has_enabled(...)` is False. False: one run per installation.
    per_tenant: bool = True

    def __post_init__(self) -> None:
        if not TASK_NAME_PATTERN.match(self.name):
            raise ValueError(f"task name {self.name!r} must be dotted lowercase, e.g. 'crm_x.sync'")
        if not inspect.iscoroutinefunction(self.function):
            raise ValueError(f"task {self.name!r}: function must be an async function")


# --- Themes ------------------------------------------------------------------------------------

_HEX_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_FONT_FAMILY = re.compile(r"^[A-Za-z0-9 ,'\"-]{1,200}$")
_LOGO_URL = re.compile(r"^(?:https://[^\s\"'()<>\\]+|/(?!/)[^\s\"'()<>\\]*)?$")


class DesignTokens(BaseModel):
    """The white-label design tokens. Values end up in CSS custom properties and HTML attributes,
    so each is validated to a shape that cannot break out of them."""

    model_config = ConfigDict(extra="forbid", frozen=True, regex_engine="python-re")

    product_name: str = Field(min_length=1, max_length=80)
    #: An https URL or a site path ("/static/..."); empty shows the product name instead.
    logo_url: str = Field(default="", max_length=2000, pattern=_LOGO_URL.pattern)
    colour_primary: str = Field(pattern=_HEX_COLOUR.pattern)
    colour_primary_contrast: str = Field(pattern=_HEX_COLOUR.pattern)
    colour_background: str = Field(pattern=_HEX_COLOUR.pattern)
    colour_text: str = Field(pattern=_HEX_COLOUR.pattern)
    font_family: str = Field(pattern=_FONT_FAMILY.pattern)
    #: Plain text appended to outgoing emails (escaped when rendered).
    email_footer: str = Field(default="", max_length=2000)

    @field_validator("product_name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("must not contain control characters")
        return value

    def with_overrides(self, overrides: Mapping[str, Any]) -> DesignTokens:
        """These tokens with a tenant's overrides applied; raises pydantic's ValidationError."""
        return DesignTokens.model_validate({**self.model_dump(), **dict(overrides)})


DESIGN_TOKEN_NAMES: tuple[str, ...] = tuple(DesignTokens.model_fields)


class Theme(PluginClass):
    """A white-label base theme: Jinja templates, static files and default design tokens.

    A tenant's overrides (tokens, and templates under `tenants/<slug>/theme/`) are layered on top.
    """

    #: Folder of Jinja templates; a template missing here falls back to the core's.
    templates_dir: ClassVar[Path]
    #: Folder served as the theme's static files (must hold `theme.css`).
    static_dir: ClassVar[Path]
    #: Every name of DESIGN_TOKEN_NAMES, validated by `DesignTokens`.
    default_tokens: ClassVar[Mapping[str, str]]

    @classmethod
    def tokens(cls) -> DesignTokens:
        return DesignTokens.model_validate(dict(cls.default_tokens))

    @classmethod
    def metadata_problems(cls) -> list[str]:
        problems = super().metadata_problems()
        for attribute in ("templates_dir", "static_dir"):
            folder = getattr(cls, attribute, None)
            if not isinstance(folder, Path) or not folder.is_dir():
                problems.append(
                    f"{attribute} must be an existing folder (a pathlib.Path), got {folder!r}"
                )
        tokens = getattr(cls, "default_tokens", None)
        if not isinstance(tokens, Mapping):
            problems.append("default_tokens must be a mapping of design token names to values")
        else:
            try:
                DesignTokens.model_validate(dict(tokens))
            except ValidationError as error:
                fields = ", ".join(".".join(map(str, e["loc"])) or "tokens" for e in error.errors())
                problems.append(f"default_tokens are not valid design tokens: {fields}")
        return problems


async def tenant_settings(plugin_class: type[PluginClass]) -> BaseModel:
    """The current tenant's settings for `plugin_class`, secrets decrypted. For the plugin's own
    use inside a tenant scope (an event hook, a task); never display or log the result."""
    from salescopilot.plugin_system.service import settings_for_plugin

    return await settings_for_plugin(plugin_class)


async def tenant_has_enabled(plugin_class: type[PluginClass]) -> bool:
    """Whether the current tenant has enabled `plugin_class` (inside a tenant scope)."""
    from salescopilot.plugin_system.service import plugin_enabled

    return await plugin_enabled(plugin_class)


@dataclass(frozen=True, slots=True)
class MailTransportSettings:
    """The operator's settings for every mail connection (`SALESCOPILOT_MAIL__*`)."""

    smtp_timeout: float
    imap_timeout: float
    #: A PEM bundle to trust besides the system CAs, or None.
    extra_ca_file: Path | None


def mail_transport_settings() -> MailTransportSettings:
    """Timeouts and extra CA of mail connections, for mail provider plugins."""
    from salescopilot.settings import get_settings

    mail = get_settings().mail
    return MailTransportSettings(mail.smtp_timeout, mail.imap_timeout, mail.extra_ca_file)
