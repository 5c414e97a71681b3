"""Email addresses of leads and suppressions: validation with email-validator (syntax only; no
DNS, deliverability is checked elsewhere), the lower-cased form every comparison uses, domains
and the hash an erased address leaves behind."""

from __future__ import annotations

import functools
import re

from email_validator import EmailNotValidError, validate_email
from email_validator.syntax import validate_email_domain_name, validate_email_local_part

from salescopilot.crypto import sha256_hex
from salescopilot.errors import ValidationFailed

MAX_ADDRESS = 320
#: Plain ASCII `local@domain` without quotes, brackets, spaces or a display name: what nearly
#: every imported address looks like, validated part by part (the domain cached, see below).
_PLAIN = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9.-]{1,253}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


class InvalidAddress(ValidationFailed):
    code = "INVALID_EMAIL"
    default_message = "That is not a valid email address."


def normalise_address(address: str) -> str:
    """The form addresses are compared and stored in: trimmed and lower-cased."""
    return address.strip().lower()


def check_address(address: str) -> str | None:
    """The normalised address, or None when email-validator refuses it."""
    address = address.strip()
    if not address or len(address) > MAX_ADDRESS:
        return None
    if _PLAIN.match(address):
        local, _, domain = address.rpartition("@")
        try:
            validate_email_local_part(local, allow_smtputf8=True, allow_empty_local=False)
        except EmailNotValidError:
            return None
        return address.lower() if _domain_ok(domain.lower()) else None
    try:
        validated = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return None
    return validated.normalized.lower()


def require_address(address: str, field: str = "email") -> str:
    normalised = check_address(address if isinstance(address, str) else "")
    if normalised is None:
        raise InvalidAddress(details={"field": field})
    return normalised


@functools.lru_cache(maxsize=65_536)
def _domain_ok(domain: str) -> bool:
    """Domain validation is most of email-validator's cost and imports repeat domains a lot."""
    try:
        validate_email_domain_name(domain, test_environment=False, globally_deliverable=True)
    except EmailNotValidError:
        return False
    return True


def check_domain(domain: str) -> str | None:
    """A lower-cased domain name (`example.com`, also given as `@example.com`), or None."""
    domain = domain.strip().lower().removeprefix("@").rstrip(".")
    if not _DOMAIN.match(domain):
        return None
    return domain if _domain_ok(domain) else None


def domain_of(address: str) -> str:
    return address.rpartition("@")[2]


def parent_domains(domain: str) -> list[str]:
    """`a.b.example.com` -> [a.b.example.com, b.example.com, example.com] (never a bare TLD):
    suppressing a domain covers its subdomains."""
    labels = domain.split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


def address_hash(address: str) -> str:
    """What an erased address leaves in the suppression list: SHA-256 of the normalised address."""
    return sha256_hex(normalise_address(address))
