"""Sender mailboxes, their pools, DKIM keys of sending domains, and the tenant's quota."""

from __future__ import annotations

from piccolo.columns import JSON, UUID, Boolean, Integer, Real, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from salescopilot.tenancy.tables import TenantOwned


class Mailbox(TenantOwned, Table):
    """One sending account. Caps left NULL mean "no limit of my own" (the provider profile's
    limits still apply, see `mailboxes.limits.PROVIDER_PROFILES`)."""

    UNIQUE_TOGETHER = (("tenant", "email"),)
    INDEX_TOGETHER = (("tenant", "created_at"),)

    #: Lower-cased sender address.
    email = Varchar(length=320)
    from_name = Varchar(length=200, default="")
    #: Slug of the `MailProvider` plugin (`smtp`, `gmail`, ...).
    provider = Varchar(length=63)
    #: `gmail`, `microsoft365` or `custom`: whose sending limits apply on top of the caps below.
    profile = Varchar(length=20, default="custom")
    #: The provider's `account_model` without its secrets; the secrets are sealed in `secrets`.
    account = JSON(default="{}")
    secrets = Text(default="")
    signature_text = Text(default="")
    signature_html = Text(default="")
    #: active · paused (by a person) · quarantined (by its health, probes decide) · disabled
    status = Varchar(length=20, default="active")
    daily_cap = Integer(null=True, default=None)
    hourly_cap = Integer(null=True, default=None)
    minute_cap = Integer(null=True, default=None)
    min_gap_seconds = Integer(default=120)
    jitter_seconds = Integer(default=60)
    domain_daily_cap = Integer(null=True, default=None)
    #: {"days": [0..6], "start": "HH:MM", "end": "HH:MM", "timezone": null|"Zone", "holidays": null|"US"|"lead"}
    window = JSON(default="{}")
    #: {"enabled": bool, "started_on": "YYYY-MM-DD", "start_per_day", "daily_increase", "target"}
    warmup = JSON(default="{}")
    #: Health thresholds (rates over `health_window_days`) that quarantine the mailbox.
    bounce_threshold = Real(default=0.03)
    complaint_threshold = Real(default=0.001)
    error_threshold = Real(default=0.2)
    health_window_days = Integer(default=7)
    #: The earliest next send (last send + gap + jitter); read and written under the claim lock.
    next_send_at = Timestamptz(null=True, default=None)
    #: Why the mailbox waits or was quarantined, for people.
    status_reason = Text(default="")
    quarantined_at = Timestamptz(null=True, default=None)
    #: Quarantine: when the next probe send may go; `probe_successes` in a row reopen it.
    probe_at = Timestamptz(null=True, default=None)
    probe_successes = Integer(default=0)
    probe_backoff_seconds = Integer(default=3600)
    #: Bumped on every change of the account settings, so cached provider instances are renewed.
    settings_version = Integer(default=1)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class MailboxPool(TenantOwned, Table):
    """A named set of mailboxes a campaign sends from."""

    UNIQUE_TOGETHER = (("tenant", "name"),)
    INDEX_TOGETHER = (("tenant", "created_at"),)

    name = Varchar(length=200)
    created_at = Timestamptz(default=TimestamptzNow())


class MailboxPoolMember(TenantOwned, Table):
    UNIQUE_TOGETHER = (("tenant", "pool", "mailbox"),)

    pool = UUID(index=True)
    mailbox = UUID(index=True)


class SendingDomain(TenantOwned, Table):
    """A domain the tenant sends from, with its DKIM key (the private key sealed)."""

    UNIQUE_TOGETHER = (("tenant", "domain"),)

    domain = Varchar(length=253)
    dkim_selector = Varchar(length=63, default="")
    #: The private key (PEM), encrypted with the tenant SecretBox.
    dkim_private_key = Text(default="")
    dkim_enabled = Boolean(default=False)
    created_at = Timestamptz(default=TimestamptzNow())


class SendingPolicy(TenantOwned, Table):
    """Tenant-wide sending rules, one row per tenant (made on first use)."""

    UNIQUE_TOGETHER = (("tenant",),)

    #: Most messages the tenant may send in 24 hours over all mailboxes; NULL: no quota.
    daily_quota = Integer(null=True, default=None)
    #: When the sender should next look for work; lets a pass schedule exactly one wake-up.
    wake_at = Timestamptz(null=True, default=None)


class SendAttempt(TenantOwned, Table):
    """Every hand-off attempt and its outcome: the mailbox's health is computed from these."""

    APPEND_ONLY = True
    INDEX_TOGETHER = (("tenant", "mailbox", "at"),)

    mailbox = UUID()
    message = UUID()
    at = Timestamptz(default=TimestamptzNow())
    #: sent · bounced · deferred (4xx, timeout) · mailbox_error (auth, TLS, sender refused) ·
    #: uncertain · complaint
    outcome = Varchar(length=20)
    code = Varchar(length=20, default="")
    detail = Text(default="")
