"""Sending domains and their DKIM keys: a key is generated here (never uploaded, so no private key
travels over the API), stored encrypted with the tenant SecretBox, and shown only as the DNS TXT
record to publish. Signing starts when an admin enables it, after publishing the record."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal

from salescopilot.audit.service import AuditService
from salescopilot.clock import Clock, system_clock
from salescopilot.crypto import SecretBox, SecretDecryptionFailed
from salescopilot.errors import Conflict, NotFound, ValidationFailed
from salescopilot.mail.dkim import dkim_txt_record, generate_dkim_key
from salescopilot.mailboxes.repository import SendingDomainRepository
from salescopilot.mailboxes.tables import SendingDomain
from salescopilot.settings import get_settings

Algorithm = Literal["rsa", "ed25519"]
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
#: One DNS label: what `<selector>._domainkey.<domain>` needs.
_SELECTOR = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


class SendingDomainNotFound(NotFound):
    code = "SENDING_DOMAIN_NOT_FOUND"
    default_message = "No such sending domain."


class SendingDomainExists(Conflict):
    code = "SENDING_DOMAIN_EXISTS"
    default_message = "This domain is already set up."


@dataclass(frozen=True, slots=True)
class DnsRecord:
    name: str
    type: str
    value: str


def normalised_domain(domain: str) -> str:
    """`domain` lower-cased in its ASCII (IDNA) form, or `ValidationFailed`."""
    text = (domain or "").strip().rstrip(".").lower()
    try:
        ascii_name = text.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValidationFailed("Not a domain name like example.com.", details={"field": "domain"})
    return ascii_name


class SendingDomainService:
    def __init__(self, clock: Clock = system_clock, box: SecretBox | None = None) -> None:
        self.clock = clock
        self.box = box or SecretBox.from_settings(get_settings())
        self.domains = SendingDomainRepository()
        self.audit = AuditService(clock)

    async def all(self) -> list[SendingDomain]:
        return await self.domains.all()

    async def get(self, domain_id: uuid.UUID) -> SendingDomain:
        row = await self.domains.get(domain_id)
        if row is None:
            raise SendingDomainNotFound()
        return row

    async def add(self, domain: str, selector: str = "sc1", algorithm: Algorithm = "rsa") -> SendingDomain:
        """Set up a domain with a new DKIM key (signing stays off until enabled)."""
        name = normalised_domain(domain)
        if await self.domains.exists(SendingDomain.domain == name):
            raise SendingDomainExists(details={"domain": name})
        row = SendingDomain(id=uuid.uuid4(), domain=name, created_at=self.clock.now())
        self._new_key(row, selector, algorithm)
        await self.domains.add(row)
        await self.audit.record("sending_domain.added", target_type="sending_domain", target_id=str(row.id),
                                after={"domain": name, "selector": row.dkim_selector, "algorithm": algorithm})
        return row

    async def rotate_key(self, domain_id: uuid.UUID, selector: str, algorithm: Algorithm = "rsa") -> SendingDomain:
        """A new key under a new selector; signing is off until the new record is published
        and the domain enabled again (the old key's record can then be removed)."""
        row = await self.get(domain_id)
        if selector.strip().lower() == row.dkim_selector:
            raise ValidationFailed("A new key needs a new selector, so both records can be published meanwhile.",
                                   details={"field": "selector"})
        before = row.dkim_selector
        self._new_key(row, selector, algorithm)
        row.dkim_enabled = False
        await self.domains.save(row)
        await self.audit.record("sending_domain.key_rotated", target_type="sending_domain", target_id=str(row.id),
                                before={"selector": before}, after={"selector": row.dkim_selector})
        return row

    async def set_enabled(self, domain_id: uuid.UUID, enabled: bool) -> SendingDomain:
        row = await self.get(domain_id)
        if row.dkim_enabled != enabled:
            row.dkim_enabled = enabled
            await self.domains.save(row)
            await self.audit.record(f"sending_domain.{'enabled' if enabled else 'disabled'}",
                                    target_type="sending_domain", target_id=str(row.id))
        return row

    def dns_record(self, row: SendingDomain) -> DnsRecord | None:
        """The TXT record to publish; None when the stored key cannot be read (say, after the
        encryption keys changed): rotate the key then."""
        if not row.dkim_private_key or not row.dkim_selector:
            return None
        try:
            value = dkim_txt_record(self.box.decrypt(row.dkim_private_key).encode())
        except (SecretDecryptionFailed, ValueError, TypeError, ValidationFailed):
            return None
        return DnsRecord(name=f"{row.dkim_selector}._domainkey.{row.domain}", type="TXT", value=value)

    def _new_key(self, row: SendingDomain, selector: str, algorithm: Algorithm) -> None:
        selector = (selector or "").strip().lower()
        if not _SELECTOR.match(selector):
            raise ValidationFailed("A selector is one DNS label: letters, digits and hyphens.",
                                   details={"field": "selector"})
        if algorithm not in ("rsa", "ed25519"):
            raise ValidationFailed("The algorithm is rsa or ed25519.", details={"field": "algorithm"})
        pem, _ = generate_dkim_key(algorithm)
        row.dkim_selector = selector
        row.dkim_private_key = self.box.encrypt(pem.decode())
