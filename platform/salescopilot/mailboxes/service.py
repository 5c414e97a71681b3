"""The rules of mailboxes: connecting (settings validated by the provider, secrets sealed),
limits, pools, health with its circuit breaker, and the connection check."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock, system_clock
from salescopilot.crypto import SecretBox
from salescopilot.errors import Conflict, NotFound, ValidationFailed
from salescopilot.listing import ListQuery, Page
from salescopilot.mailboxes.limits import DAY
from salescopilot.mailboxes.providers import provider_class, provider_instances
from salescopilot.mailboxes.repository import (
    MailboxPoolMemberRepository,
    MailboxPoolRepository,
    MailboxRepository,
    SendAttemptRepository,
)
from salescopilot.mailboxes.schemas import MailboxInput, limits_of
from salescopilot.mailboxes.tables import Mailbox, MailboxPool, MailboxPoolMember
from salescopilot.plugin_system.interfaces import ConnectionCheck
from salescopilot.plugin_system.sealing import open_secrets, seal_settings, validate_settings
from salescopilot.settings import get_settings

#: Attempts needed in the health window before rates are judged (3 bounces of 5 sends is noise).
MIN_SAMPLE = 20
#: Mailbox errors (auth, TLS, sender refused) in a row that quarantine at once.
CONSECUTIVE_ERRORS = 5
HARD_STOP = "hard stop"
#: A complaint rate past this stops the mailbox for good: no probes, a person must look at it
#: (mailbox providers start blocking senders around 0.3 %).
COMPLAINT_HARD_STOP = 0.003
#: Probe sends in a row that must succeed to reopen a quarantined mailbox.
PROBES_TO_REOPEN = 3
MAX_PROBE_BACKOFF = 24 * 3600

#: Outcomes that are a hand-off to the server (the denominator of the rates).
HANDOFFS = ("sent", "bounced", "deferred", "mailbox_error", "uncertain")


class MailboxNotFound(NotFound):
    code = "MAILBOX_NOT_FOUND"
    default_message = "No such mailbox."


class MailboxExists(Conflict):
    code = "MAILBOX_EXISTS"
    default_message = "A mailbox with this address is already connected."


class PoolNotFound(NotFound):
    code = "MAILBOX_POOL_NOT_FOUND"
    default_message = "No such mailbox pool."


@dataclass(frozen=True, slots=True)
class Health:
    attempts: int
    bounce_rate: float
    complaint_rate: float
    error_rate: float
    #: Attempts in the window by outcome (sent, bounced, deferred, mailbox_error, ...).
    counts: dict[str, int] = field(default_factory=dict)


#: What `MailboxService.set_status` accepts from people, by the name of their action.
STATUS_OF_ACTION = {"pause": "paused", "resume": "active", "disable": "disabled"}


def _input_problems(error: ValidationError) -> list[dict[str, str]]:
    # include_input=False: a rejected value may be a password.
    return [
        {"field": ".".join(str(part) for part in e["loc"]) or "(mailbox)", "problem": e["msg"]}
        for e in error.errors(include_input=False, include_url=False)
    ]


def parse_mailbox_input(data: Any) -> MailboxInput:
    """`data` (an API body or a form turned into a dict) as a `MailboxInput`, or
    `ValidationFailed` naming every field and its problem (never echoing the values)."""
    if not isinstance(data, dict):
        raise ValidationFailed("A mailbox must be a JSON object.")
    try:
        return MailboxInput.model_validate(data)
    except ValidationError as error:
        problems = _input_problems(error)
        summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        raise ValidationFailed(f"Invalid mailbox: {summary}", details={"fields": problems}) from None


def _real(value: float | None) -> float | None:
    """A REAL column's value as it was set: PostgreSQL's 4-byte float reads 0.03 back as
    0.029999999329447746."""
    return None if value is None else round(float(value), 6)


def mailbox_view(row: Mailbox) -> dict[str, Any]:
    """A mailbox as the API and pages show it: never its secrets."""
    from salescopilot.db.json_column import json_dict

    return {
        "id": str(row.id),
        "email": row.email,
        "from_name": row.from_name,
        "provider": row.provider,
        "profile": row.profile,
        "account": json_dict(row.account),
        "status": row.status,
        "status_reason": row.status_reason,
        "daily_cap": row.daily_cap,
        "hourly_cap": row.hourly_cap,
        "minute_cap": row.minute_cap,
        "min_gap_seconds": row.min_gap_seconds,
        "jitter_seconds": row.jitter_seconds,
        "domain_daily_cap": row.domain_daily_cap,
        "window": json_dict(row.window) or None,
        "warmup": json_dict(row.warmup) or None,
        "bounce_threshold": _real(row.bounce_threshold),
        "complaint_threshold": _real(row.complaint_threshold),
        "error_threshold": _real(row.error_threshold),
        "health_window_days": row.health_window_days,
        "signature_text": row.signature_text,
        "signature_html": row.signature_html,
        "quarantined_at": row.quarantined_at.isoformat() if row.quarantined_at else None,
        "probe_at": row.probe_at.isoformat() if row.probe_at else None,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }


class MailboxService:
    SORTABLE = MailboxRepository.sortable

    def __init__(self, clock: Clock = system_clock, box: SecretBox | None = None) -> None:
        self.clock = clock
        self.box = box or SecretBox.from_settings(get_settings())
        self.mailboxes = MailboxRepository()
        self.attempts = SendAttemptRepository()
        self.audit = AuditService(clock)

    # -- connecting and changing ----------------------------------------------------------------

    def _validated_account(self, data: MailboxInput, kept_secrets: dict[str, str] | None = None):
        cls = provider_class(data.provider)
        return validate_settings(
            cls.account_model, data.account, subject=f"mailbox {data.email}", kept_secrets=kept_secrets
        )

    async def get(self, mailbox_id: uuid.UUID) -> Mailbox:
        row = await self.mailboxes.get(mailbox_id)
        if row is None:
            raise MailboxNotFound()
        return row

    async def list(self, query: ListQuery) -> Page[Mailbox]:
        """One page of mailboxes (filters: status, provider)."""
        page = await self.mailboxes.list_page(query)
        return Page([Mailbox(**row, _exists_in_db=True) for row in page.items], page.total, query)

    async def all(self) -> list[Mailbox]:
        return await self.mailboxes.all()

    def input_of(self, row: Mailbox) -> dict[str, Any]:
        """The mailbox's current settings in the shape of a `MailboxInput` (secrets left out:
        a submission without them keeps the stored ones)."""
        view = mailbox_view(row)
        return {name: view[name] for name in MailboxInput.model_fields if name in view and view[name] is not None}

    def stored_secret_names(self, row: Mailbox) -> set[str]:
        """Which secret account fields have a stored value (never the values)."""
        return set(open_secrets(row.secrets, self.box)) if row.secrets else set()

    async def patch(self, mailbox_id: uuid.UUID, changes: dict[str, Any]) -> Mailbox:
        """Change only the fields in `changes`; `account`, `window` and `warmup` merge key by key
        (a JSON merge patch), so a secret left out is kept and `null` clears an optional field."""
        if not isinstance(changes, dict):
            raise ValidationFailed("A change must be a JSON object.")
        unknown = sorted(k for k in changes if k not in MailboxInput.model_fields)
        if unknown:
            raise ValidationFailed(
                "Unknown mailbox fields.", details={"fields": [{"field": k, "problem": "unknown field"} for k in unknown]}
            )
        current = self.input_of(await self.get(mailbox_id))
        merged = dict(current)
        for name, value in changes.items():
            if name in ("account", "window", "warmup") and isinstance(value, dict) and isinstance(current.get(name), dict):
                merged[name] = {k: v for k, v in {**current[name], **value}.items() if v is not None}
            elif value is None:
                merged.pop(name, None)
            else:
                merged[name] = value
        if changes.get("provider", current.get("provider")) != current.get("provider") and "account" not in changes:
            raise ValidationFailed("A new provider needs its account settings.", details={"field": "account"})
        return await self.update(mailbox_id, parse_mailbox_input(merged))

    async def set_status_many(self, mailbox_ids: list[uuid.UUID], status: str) -> int:
        """`set_status` for every mailbox, all or nothing: unknown ids refuse the whole request."""
        ids = list(dict.fromkeys(mailbox_ids))
        known = {row.id for row in await self.mailboxes.find(Mailbox.id.is_in(ids))} if ids else set()
        missing = [str(i) for i in ids if i not in known]
        if missing:
            raise MailboxNotFound("Unknown mailboxes.", details={"mailboxes": missing})
        for mailbox_id in ids:
            await self.set_status(mailbox_id, status)
        return len(ids)

    async def create(self, data: MailboxInput) -> Mailbox:
        email = str(data.email).lower()
        if await self.mailboxes.exists(Mailbox.email == email):
            raise MailboxExists(details={"email": email})
        account = self._validated_account(data)
        public, secrets = seal_settings(account, self.box)
        now = self.clock.now()
        row = Mailbox(id=uuid.uuid4(), created_at=now, updated_at=now, secrets=secrets, account=public)
        self._apply(row, data, now)
        row.email = email
        await self.mailboxes.add(row)
        await self.audit.record("mailbox.connected", target_type="mailbox", target_id=str(row.id), after=mailbox_view(row))
        return row

    async def update(self, mailbox_id: uuid.UUID, data: MailboxInput) -> Mailbox:
        row = await self.get(mailbox_id)
        before = mailbox_view(row)
        email = str(data.email).lower()
        if email != row.email and await self.mailboxes.exists(Mailbox.email == email):
            raise MailboxExists(details={"email": email})
        kept = open_secrets(row.secrets, self.box) if data.provider == row.provider else None
        account = self._validated_account(data, kept)
        row.account, row.secrets = seal_settings(account, self.box)
        row.email = email
        self._apply(row, data, self.clock.now())
        row.settings_version = (row.settings_version or 0) + 1
        await self.mailboxes.save(row)
        await provider_instances.forget(row.tenant, row.id)
        await self.audit.record("mailbox.changed", target_type="mailbox", target_id=str(row.id), before=before, after=mailbox_view(row))
        return row

    def _apply(self, row: Mailbox, data: MailboxInput, now: dt.datetime) -> None:
        row.from_name = data.from_name
        row.provider = data.provider
        row.profile = data.profile
        row.signature_text = data.signature_text
        row.signature_html = data.signature_html
        row.daily_cap = data.daily_cap
        row.hourly_cap = data.hourly_cap
        row.minute_cap = data.minute_cap
        row.min_gap_seconds = data.min_gap_seconds
        row.jitter_seconds = data.jitter_seconds
        row.domain_daily_cap = data.domain_daily_cap
        row.window = data.window.model_dump(mode="json") if data.window else {}
        warmup = data.warmup
        if warmup.enabled and warmup.started_on is None:
            warmup = warmup.model_copy(update={"started_on": now.date()})
        row.warmup = warmup.model_dump(mode="json") if warmup.enabled else {}
        row.bounce_threshold = data.bounce_threshold
        row.complaint_threshold = data.complaint_threshold
        row.error_threshold = data.error_threshold
        row.health_window_days = data.health_window_days
        row.updated_at = now

    async def set_status(self, mailbox_id: uuid.UUID, status: str) -> Mailbox:
        """A person pauses, resumes or disables a mailbox (resuming also ends a quarantine)."""
        if status not in ("active", "paused", "disabled"):
            raise ValueError(status)
        row = await self.get(mailbox_id)
        before = row.status
        row.status = status
        row.status_reason = ""
        row.quarantined_at = None
        row.probe_at = None
        row.probe_successes = 0
        row.updated_at = self.clock.now()
        await self.mailboxes.save(row)
        await self.audit.record(f"mailbox.{ {'active': 'resumed', 'paused': 'paused', 'disabled': 'disabled'}[status] }",
                                target_type="mailbox", target_id=str(row.id), before={"status": before}, after={"status": status})
        return row

    async def check_connection(self, mailbox_id: uuid.UUID) -> ConnectionCheck:
        row = await self.get(mailbox_id)
        provider = await provider_instances.for_mailbox(row, self.box)
        return await provider.check_connection()

    # -- limits ---------------------------------------------------------------------------------

    def warmup_curve(self, row: Mailbox, days: int = 30) -> list[tuple[dt.date, int]]:
        limits = limits_of(row)
        if limits.warmup is None:
            return []
        return limits.warmup.curve(days)

    # -- health and the circuit breaker ---------------------------------------------------------

    async def health(self, row: Mailbox) -> Health:
        since = self.clock.now() - DAY * (row.health_window_days or 7)
        counts = await self.attempts.outcomes_since(row.id, since)
        handoffs = sum(counts.get(o, 0) for o in HANDOFFS)
        delivered = counts.get("sent", 0)
        return Health(
            counts=counts,
            attempts=handoffs,
            bounce_rate=counts.get("bounced", 0) / max(1, delivered + counts.get("bounced", 0)),
            complaint_rate=counts.get("complaint", 0) / max(1, delivered),
            error_rate=(counts.get("deferred", 0) + counts.get("mailbox_error", 0)) / max(1, handoffs),
        )

    async def record_outcome(
        self, mailbox_id: uuid.UUID, message: uuid.UUID, outcome: str, *, code: str = "", detail: str = ""
    ) -> None:
        await self.record_outcomes([(mailbox_id, message, outcome, code, detail)])

    async def record_outcomes(self, attempts: list[tuple[uuid.UUID, uuid.UUID, str, str, str]]) -> None:
        """Log hand-off outcomes (mailbox, message, outcome, code, detail) and apply the circuit
        breaker to each mailbox concerned: past a threshold a mailbox is quarantined on its own;
        while quarantined, probes decide when it reopens."""
        if not attempts:
            return
        now = self.clock.now()
        by_mailbox: dict[uuid.UUID, list[str]] = {}
        for mailbox_id, _message, outcome, _code, _detail in attempts:
            by_mailbox.setdefault(mailbox_id, []).append(outcome)
        # Only a quarantined mailbox (probes) or a bad outcome calls for the breaker's rules; the
        # common case, an active mailbox whose messages went out, is only logged.
        statuses = await self.mailboxes.statuses(sorted(by_mailbox))
        judged = sorted(
            m for m, outcomes in by_mailbox.items()
            if statuses.get(m) == "quarantined"
            or (statuses.get(m) == "active" and any(o not in ("sent", "uncertain") for o in outcomes))
        )
        for mailbox_id in judged:  # one order, so two workers never deadlock
            await self.mailboxes.lock(mailbox_id)
        await self.attempts.log(attempts, now)
        for mailbox_id in judged:
            outcomes = by_mailbox[mailbox_id]
            row = await self.mailboxes.get(mailbox_id)
            if row is None or row.status in ("paused", "disabled"):
                continue
            if row.status == "quarantined":
                for outcome in outcomes:
                    await self._probe_result(row, outcome, now)
                    if row.status != "quarantined":
                        break
                continue
            bad = [o for o in outcomes if o not in ("sent", "uncertain")]
            if not bad:
                continue
            reason = await self._breach(row, bad[-1])
            if reason and reason.startswith(HARD_STOP):
                await self.hard_stop(row, reason, now)
            elif reason:
                await self.quarantine(row, reason, now)

    async def _breach(self, row: Mailbox, outcome: str) -> str | None:
        if outcome == "mailbox_error":
            recent = await self.attempts.recent(row.id, CONSECUTIVE_ERRORS)
            if len(recent) == CONSECUTIVE_ERRORS and all(a.outcome == "mailbox_error" for a in recent):
                return f"{CONSECUTIVE_ERRORS} mailbox errors in a row (last: {recent[0].detail[:200]})"
        health = await self.health(row)
        if health.attempts < MIN_SAMPLE:
            return None
        if health.complaint_rate > COMPLAINT_HARD_STOP:
            return (f"{HARD_STOP}: complaint rate {health.complaint_rate:.2%} over {row.health_window_days} days "
                    f"is above {COMPLAINT_HARD_STOP:.1%}; review the list and the content before resuming")
        for rate, threshold, name in (
            (health.bounce_rate, row.bounce_threshold, "bounce"),
            (health.complaint_rate, row.complaint_threshold, "complaint"),
            (health.error_rate, row.error_threshold, "error"),
        ):
            if rate > threshold:
                return (f"{name} rate {rate:.1%} over {row.health_window_days} days "
                        f"is above its threshold of {threshold:.1%}")
        return None

    async def quarantine(self, row: Mailbox, reason: str, now: dt.datetime) -> None:
        row.status = "quarantined"
        row.status_reason = reason
        row.quarantined_at = now
        row.probe_successes = 0
        row.probe_backoff_seconds = 3600
        row.probe_at = now + dt.timedelta(seconds=row.probe_backoff_seconds)
        row.updated_at = now
        await self.mailboxes.save(row)
        await self.audit.record("mailbox.quarantined", target_type="mailbox", target_id=str(row.id),
                                after={"reason": reason, "probe_at": row.probe_at})

    async def hard_stop(self, row: Mailbox, reason: str, now: dt.datetime) -> None:
        """Past the complaint hard stop: disabled until a person resumes it (no probe sends)."""
        row.status, row.status_reason = "disabled", reason
        row.quarantined_at, row.probe_at = now, None
        row.updated_at = now
        await self.mailboxes.save(row)
        await self.audit.record("mailbox.hard_stopped", target_type="mailbox", target_id=str(row.id),
                                after={"reason": reason})

    async def _probe_result(self, row: Mailbox, outcome: str, now: dt.datetime) -> None:
        if outcome == "sent":
            row.probe_successes += 1
            if row.probe_successes >= PROBES_TO_REOPEN:
                row.status, row.status_reason = "active", ""
                row.quarantined_at = row.probe_at = None
                row.probe_successes = 0
                await self.audit.record("mailbox.reopened", target_type="mailbox", target_id=str(row.id),
                                        after={"after_probes": PROBES_TO_REOPEN})
            else:
                row.probe_at = now  # the next probe may follow at the mailbox's own pace
        elif outcome in ("bounced", "deferred", "mailbox_error", "complaint"):
            row.probe_successes = 0
            row.probe_backoff_seconds = min(MAX_PROBE_BACKOFF, (row.probe_backoff_seconds or 3600) * 2)
            row.probe_at = now + dt.timedelta(seconds=row.probe_backoff_seconds)
        row.updated_at = now
        await self.mailboxes.save(row)


class PoolService:
    def __init__(self, clock: Clock = system_clock) -> None:
        self.clock = clock
        self.pools = MailboxPoolRepository()
        self.members = MailboxPoolMemberRepository()
        self.audit = AuditService(clock)

    async def get(self, pool_id: uuid.UUID) -> MailboxPool:
        pool = await self.pools.get(pool_id)
        if pool is None:
            raise PoolNotFound()
        return pool

    async def with_members(self, pools: list[MailboxPool]) -> list[tuple[MailboxPool, list[uuid.UUID]]]:
        """Each pool with its mailboxes' ids (sorted)."""
        by_mailbox = await self.members.pools_by_mailbox()
        return [
            (pool, sorted(m for m, in_pools in by_mailbox.items() if pool.id in in_pools))
            for pool in pools
        ]

    async def all(self) -> list[tuple[MailboxPool, list[uuid.UUID]]]:
        return await self.with_members(await self.pools.all())

    async def create(self, name: str, mailbox_ids: list[uuid.UUID]) -> MailboxPool:
        name = name.strip()
        if not name or len(name) > 200:
            from salescopilot.errors import ValidationFailed

            raise ValidationFailed("A pool needs a name of 1 to 200 characters.")
        if await self.pools.exists(MailboxPool.name == name):
            raise Conflict("A pool with this name exists.", details={"name": name})
        pool = await self.pools.add(MailboxPool(id=uuid.uuid4(), name=name, created_at=self.clock.now()))
        await self.set_members(pool.id, mailbox_ids)
        return pool

    async def set_members(self, pool_id: uuid.UUID, mailbox_ids: list[uuid.UUID]) -> None:
        if await self.pools.get(pool_id) is None:
            raise PoolNotFound()
        known = {m.id for m in await MailboxRepository().all()}
        unknown = [str(m) for m in mailbox_ids if m not in known]
        if unknown:
            raise MailboxNotFound("Unknown mailboxes in the pool.", details={"mailboxes": unknown})
        await self.members.delete_where(MailboxPoolMember.pool == pool_id)
        for mailbox in dict.fromkeys(mailbox_ids):
            await self.members.add(MailboxPoolMember(id=uuid.uuid4(), pool=pool_id, mailbox=mailbox))
        await self.audit.record("mailbox_pool.changed", target_type="mailbox_pool", target_id=str(pool_id),
                                after={"mailboxes": [str(m) for m in mailbox_ids]})

