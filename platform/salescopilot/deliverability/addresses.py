"""Address verification before a lead is mailed: syntax, the domain's mail servers (MX, with the
RFC 5321 fallback to A and the RFC 7505 null MX), disposable domains, role addresses, and a
catch-all suspicion (an optional SMTP probe with a random mailbox).

Verdicts: `deliverable`, `risky` (send with care: role, catch-all, no MX but an address) or
`undeliverable` (bad syntax, no such domain, a domain that takes no mail, disposable).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email

from salescopilot.deliverability.dns import DnsFailure, DnsLookup

#: Throw-away mailbox services (a list written here from well-known ones; extend as needed).
DISPOSABLE_DOMAINS = frozenset("""
10minutemail.com 10minutemail.net 20minutemail.com 33mail.com anonaddy.me burnermail.io
discard.email dispostable.com emailondeck.com fakeinbox.com fakemail.net getairmail.com
getnada.com guerrillamail.biz guerrillamail.com guerrillamail.de guerrillamail.net guerrillamail.org
guerrillamailblock.com harakirimail.com inboxkitten.com incognitomail.org jetable.org
mailcatch.com maildrop.cc mailinator.com mailinator.net mailinator.org mailnesia.com mailnull.com
mailpoof.com mintemail.com moakt.com mohmal.com mytemp.email mytrashmail.com nada.email
sharklasers.com spam4.me spambox.us spamgourmet.com spamex.com temp-mail.io temp-mail.org
tempail.com tempmail.com tempmail.net tempmailo.com tempr.email throwawaymail.com trash-mail.com
trashmail.com trashmail.de trashmail.net wegwerfmail.de yopmail.com yopmail.fr yopmail.net
""".split())

#: Local parts that name a function, not a person (mail to them reaches a team or nobody).
ROLE_LOCAL_PARTS = frozenset("""
abuse accounts accounting admin administrator billing careers contact customerservice dev devnull
enquiries feedback finance hello help helpdesk hostmaster hr info inquiries it jobs legal mail
mailer-daemon marketing media no-reply noc noreply office orders postmaster press privacy recruiting
root sales security service spam support team webmaster
""".split())


@dataclass
class AddressVerdict:
    address: str
    verdict: str = "deliverable"
    #: Why, in words a user reads, one per finding.
    reasons: list[str] = field(default_factory=list)
    domain: str = ""
    mx_hosts: list[str] = field(default_factory=list)
    disposable: bool = False
    role: bool = False
    catch_all_suspected: bool | None = None

    def _worse(self, verdict: str, reason: str) -> None:
        order = ("deliverable", "risky", "undeliverable")
        if order.index(verdict) > order.index(self.verdict):
            self.verdict = verdict
        self.reasons.append(reason)

    def as_json(self) -> dict:
        return {
            "address": self.address, "verdict": self.verdict, "reasons": self.reasons, "domain": self.domain,
            "mxHosts": self.mx_hosts, "disposable": self.disposable, "role": self.role,
            "catchAllSuspected": self.catch_all_suspected,
        }


class CatchAllProbe:
    """Asks a domain's mail server whether it would take a mailbox that cannot exist (RCPT TO a
    random local part, then QUIT before any DATA: nothing is sent). Accepting it suggests a
    catch-all. Many networks block outbound port 25, so this is opt-in."""

    def __init__(self, helo: str, port: int = 25, timeout: float = 10.0) -> None:
        self.helo, self.port, self.timeout = helo, port, timeout

    async def accepts_anything(self, domain: str, mx_host: str) -> bool | None:
        import aiosmtplib

        client = aiosmtplib.SMTP(hostname=mx_host, port=self.port, timeout=self.timeout, start_tls=False,
                                 local_hostname=self.helo)
        try:
            await client.connect()
            await client.ehlo()
            await client.mail("")
            code, _ = await client.rcpt(f"no-such-mailbox-{secrets.token_hex(6)}@{domain}")
            return 200 <= code < 300
        except aiosmtplib.SMTPRecipientRefused:
            return False
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            return None
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()


class AddressVerifier:
    def __init__(self, dns: DnsLookup, probe: CatchAllProbe | None = None) -> None:
        self.dns = dns
        self.probe = probe
        self._catch_all: dict[str, bool | None] = {}

    async def verify(self, address: str) -> AddressVerdict:
        result = AddressVerdict(address=(address or "").strip()[:320])
        try:
            checked = validate_email(result.address, check_deliverability=False)
        except EmailNotValidError as error:
            result._worse("undeliverable", f"not a valid address: {error}")
            return result
        result.address = checked.normalized
        domain = checked.ascii_domain.lower()
        local = checked.local_part.lower()
        result.domain = domain
        if domain in DISPOSABLE_DOMAINS or any(domain.endswith("." + d) for d in DISPOSABLE_DOMAINS):
            result.disposable = True
            result._worse("undeliverable", f"{domain} is a disposable (throw-away) mail service")
        if local.split("+", 1)[0] in ROLE_LOCAL_PARTS:
            result.role = True
            result._worse("risky", f"{local}@ is a role address (a team or a system, not a person)")
        await self._check_mail_servers(result, domain)
        return result

    async def _check_mail_servers(self, result: AddressVerdict, domain: str) -> None:
        try:
            mx = await self.dns.lookup(domain, "MX")
            if not mx.exists:
                result._worse("undeliverable", f"the domain {domain} does not exist")
                return
            hosts = [r.split(" ", 1) for r in mx.records]
            if any(pref == "0" and host in ("", ".") for pref, host in hosts) and len(hosts) == 1:
                result._worse("undeliverable", f"{domain} publishes a null MX: it accepts no mail")
                return
            result.mx_hosts = [host for _, host in sorted(hosts, key=lambda h: int(h[0]))]
            if not result.mx_hosts:
                address = await self.dns.lookup(domain, "A")
                if not address.records:
                    result._worse("undeliverable", f"{domain} has no mail server (no MX, no address)")
                    return
                result.mx_hosts = [domain]
                result._worse("risky", f"{domain} has no MX record; mail would go to its web address")
        except DnsFailure as failure:
            result._worse("risky", f"the domain's mail servers could not be looked up ({failure})")
            return
        if self.probe is not None and result.mx_hosts:
            if domain not in self._catch_all:
                self._catch_all[domain] = await self.probe.accepts_anything(domain, result.mx_hosts[0])
            result.catch_all_suspected = self._catch_all[domain]
            if result.catch_all_suspected:
                result._worse("risky", f"{domain} accepts any address (catch-all): this one may not exist")
