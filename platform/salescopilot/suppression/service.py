"""The suppression list's rules. `blocked()` and `add()` are the API the sending side calls."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from salescopilot.addresses import (
    address_hash,
    check_address,
    check_domain,
    domain_of,
    normalise_address,
    parent_domains,
)
from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock, system_clock
from salescopilot.errors import NotFound, ValidationFailed
from salescopilot.suppression.repository import SuppressionRepository
from salescopilot.suppression.tables import Suppression

REASONS = ("unsubscribe", "hard_bounce", "soft_bounce", "complaint", "manual", "import", "erasure")


class SuppressionNotFound(NotFound):
    code = "SUPPRESSION_NOT_FOUND"
    default_message = "No such suppression entry."


class InvalidSuppression(ValidationFailed):
    code = "INVALID_SUPPRESSION"
    default_message = "Give an email address or a domain (example.com)."


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    already: int
    invalid: list[str]


def parse_entry(text: str) -> tuple[str, str] | None:
    """("address", a@b.c) or ("domain", b.c) for what a user typed, or None."""
    text = (text or "").strip()
    if "@" in text and not text.startswith("@"):
        address = check_address(text)
        return ("address", address) if address else None
    domain = check_domain(text)
    return ("domain", domain) if domain else None


class SuppressionService:
    """Tenant-wide suppression: by address, by domain (covering subdomains) and by the hash an
    erased lead's address leaves. Runs in the current tenant scope."""

    def __init__(self, clock: Clock = system_clock) -> None:
        self.clock = clock
        self.entries = SuppressionRepository()

    async def blocked(self, addresses: Iterable[str]) -> set[str]:
        """The lower-cased addresses among `addresses` that are suppressed by address, by hash
        or by domain: one query for the whole batch."""
        wanted: dict[str, list[str]] = {}
        for raw in addresses:
            address = normalise_address(raw or "")
            if not address or address in wanted:
                continue
            candidates = [address, address_hash(address)]
            if "@" in address:
                candidates += parent_domains(domain_of(address))
            wanted[address] = candidates
        if not wanted:
            return set()
        every = sorted({value for values in wanted.values() for value in values})
        found = await self.entries.matching(every)
        return {address for address, values in wanted.items() if found.intersection(values)}

    async def add(self, address_or_domain: str, *, reason: str, source: str) -> None:
        """Suppress an address or a domain; adding what is already there changes nothing."""
        entry = parse_entry(address_or_domain)
        if entry is None:
            raise InvalidSuppression(details={"value": str(address_or_domain)[:320]})
        await self._add([entry], reason=reason, source=source)

    async def add_many(self, values: Iterable[str], *, reason: str, source: str) -> ImportResult:
        """Suppress every valid address or domain of `values` (an import); the invalid ones are
        returned, never half-added."""
        entries, invalid = [], []
        for value in values:
            if not (value or "").strip():
                continue
            entry = parse_entry(value)
            if entry is None:
                invalid.append(value[:320])
            else:
                entries.append(entry)
        unique = list(dict.fromkeys(entries))
        added = 0
        for start in range(0, len(unique), 500):
            added += await self._add(unique[start : start + 500], reason=reason, source=source, audit=False)
        if added:
            await AuditService(self.clock).record(
                "suppression.imported", target_type="suppression", target_id="",
                after={"added": added, "reason": reason, "source": source},
            )
        return ImportResult(added=added, already=len(unique) - added, invalid=invalid)

    async def erase_address(self, address: str, *, source: str) -> None:
        """GDPR erasure: every plain entry of the address goes, a hash of it stays, so the
        address is still never mailed but no longer readable."""
        address = normalise_address(address)
        await self.entries.remove_value(address)
        await self.entries.add_missing(
            [("hash", address_hash(address))], reason="erasure", source=source, now=self.clock.now()
        )

    async def remove(self, entry_id: uuid.UUID) -> Suppression:
        entry = await self.entries.remove(entry_id)
        if entry is None:
            raise SuppressionNotFound()
        await AuditService(self.clock).record(
            "suppression.removed", target_type="suppression", target_id=str(entry.id),
            before={"kind": entry.kind, "reason": entry.reason},
        )
        return entry

    async def get(self, entry_id: uuid.UUID) -> Suppression:
        entry = await self.entries.get(entry_id)
        if entry is None:
            raise SuppressionNotFound()
        return entry

    async def search(self, text: str, *, page: int, limit: int) -> tuple[list[Suppression], int]:
        return await self.entries.search(text.strip()[:320], limit, (page - 1) * limit)

    async def _add(
        self, entries: list[tuple[str, str]], *, reason: str, source: str, audit: bool = True
    ) -> int:
        if reason not in REASONS:
            raise ValidationFailed(
                f"Unknown reason. Choose one of: {', '.join(REASONS)}.", details={"field": "reason"}
            )
        added = await self.entries.add_missing(
            entries, reason=reason, source=(source or "")[:200], now=self.clock.now()
        )
        if added and audit:
            # Addresses stay out of the append-only audit log: an erasure could not remove them.
            kind, _ = entries[0]
            await AuditService(self.clock).record(
                "suppression.added", target_type="suppression", target_id="",
                after={"kind": kind, "reason": reason, "source": source},
            )
        return added


def entry_json(entry: Suppression) -> dict:
    return {
        "id": str(entry.id),
        "kind": entry.kind,
        "value": entry.value,
        "reason": entry.reason,
        "source": entry.source,
        "createdAt": entry.created_at.isoformat() if entry.created_at else None,
    }
