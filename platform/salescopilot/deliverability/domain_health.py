"""Domain health of a sending domain: MX, SPF, DKIM and DMARC as published in DNS, each with a
status (ok · warn · fail) and, when not ok, what to fix."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from salescopilot.deliverability.dns import DnsFailure, DnsLookup

#: RFC 7208 section 4.6.4: at most 10 mechanisms that need DNS lookups.
SPF_LOOKUP_LIMIT = 10
_SPF_LOOKUPS = re.compile(r"^[+\-~?]?(include:|a\b|a:|a/|mx\b|mx:|mx/|ptr\b|ptr:|exists:|redirect=)", re.I)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok · warn · fail
    found: str
    fix: str = ""


@dataclass
class DomainHealth:
    domain: str
    checks: list[Check] = field(default_factory=list)

    @property
    def status(self) -> str:
        states = {c.status for c in self.checks}
        return "fail" if "fail" in states else "warn" if "warn" in states else "ok"

    def as_json(self) -> dict:
        return {"domain": self.domain, "status": self.status,
                "checks": [{"name": c.name, "status": c.status, "found": c.found, "fix": c.fix or None}
                           for c in self.checks]}


async def check_domain(dns: DnsLookup, domain: str, *, dkim_selector: str | None = None,
                       dkim_record: str | None = None) -> DomainHealth:
    """Check `domain`. `dkim_record` is the TXT value we expect at the selector (our key): a
    published record with another key fails."""
    health = DomainHealth(domain)
    for name, run in (("MX", _mx), ("SPF", _spf), ("DMARC", _dmarc)):
        try:
            health.checks.append(await run(dns, domain))
        except DnsFailure as failure:
            health.checks.append(Check(name, "warn", f"lookup failed: {failure}", "Check again later."))
    try:
        health.checks.append(await _dkim(dns, domain, dkim_selector, dkim_record))
    except DnsFailure as failure:
        health.checks.append(Check("DKIM", "warn", f"lookup failed: {failure}", "Check again later."))
    return health


async def _mx(dns: DnsLookup, domain: str) -> Check:
    answer = await dns.lookup(domain, "MX")
    if not answer.exists:
        return Check("MX", "fail", "the domain does not exist", f"Register {domain} or use a domain you own.")
    if not answer.records:
        return Check("MX", "fail", "no MX record",
                     "Publish MX records so replies and bounces to this domain can be delivered.")
    return Check("MX", "ok", ", ".join(sorted(answer.records)))


async def _spf(dns: DnsLookup, domain: str) -> Check:
    records = [r for r in (await dns.lookup(domain, "TXT")).records if r.lower().startswith("v=spf1")]
    if not records:
        return Check("SPF", "fail", "no SPF record",
                     f'Publish a TXT record at {domain}: "v=spf1 include:<your mail provider> ~all".')
    if len(records) > 1:
        return Check("SPF", "fail", f"{len(records)} SPF records",
                     "Merge them into one TXT record: more than one makes SPF fail (RFC 7208).")
    record = records[0]
    terms = record.split()[1:]
    lookups = sum(1 for t in terms if _SPF_LOOKUPS.match(t))
    if lookups > SPF_LOOKUP_LIMIT:
        return Check("SPF", "fail", record, f"{lookups} DNS lookups; SPF allows {SPF_LOOKUP_LIMIT}. "
                                            "Remove unused includes or flatten them.")
    last = terms[-1].lower() if terms else ""
    if last in ("+all", "all"):
        return Check("SPF", "fail", record, "\"+all\" lets anyone send as you; end the record with ~all or -all.")
    if last == "?all" or not last.endswith("all") and not last.startswith("redirect="):
        return Check("SPF", "warn", record, "End the record with ~all (soft fail) or -all so others' mail fails.")
    return Check("SPF", "ok", record)


async def _dmarc(dns: DnsLookup, domain: str) -> Check:
    records = [r for r in (await dns.lookup(f"_dmarc.{domain}", "TXT")).records if r.lower().startswith("v=dmarc1")]
    if not records:
        return Check("DMARC", "fail", "no DMARC record",
                     f'Publish a TXT record at _dmarc.{domain}: "v=DMARC1; p=none; rua=mailto:dmarc@{domain}", '
                     "then move to p=quarantine once reports look clean. Gmail and Yahoo require DMARC "
                     "from bulk senders.")
    record = records[0]
    tags = dict((k.strip().lower(), v.strip()) for k, _, v in (t.partition("=") for t in record.split(";")) if k.strip())
    policy = tags.get("p", "").lower()
    if policy not in ("none", "quarantine", "reject"):
        return Check("DMARC", "fail", record, "The record has no valid policy (p=none, quarantine or reject).")
    if "rua" not in tags:
        return Check("DMARC", "warn", record, "Add rua=mailto:... to receive aggregate reports.")
    if policy == "none":
        return Check("DMARC", "warn", record, "p=none only monitors; move to p=quarantine once SPF and DKIM pass.")
    return Check("DMARC", "ok", record)


async def _dkim(dns: DnsLookup, domain: str, selector: str | None, expected: str | None) -> Check:
    if not selector:
        return Check("DKIM", "warn", "no DKIM key set up here",
                     "Add the domain under Sending domains to create a key, then publish its record.")
    name = f"{selector}._domainkey.{domain}"
    records = [r for r in (await dns.lookup(name, "TXT")).records if "p=" in r]
    if not records:
        return Check("DKIM", "fail", f"nothing at {name}", f"Publish the TXT record shown for {domain} at {name}.")
    published = _dkim_key(records[0])
    if not published:
        return Check("DKIM", "fail", records[0][:120], "The key is empty (revoked); publish the current record.")
    if expected is not None and published != _dkim_key(expected):
        return Check("DKIM", "fail", records[0][:120],
                     f"The key at {name} is not this installation's key; publish the record shown here.")
    return Check("DKIM", "ok", f"{name}: key published")


def _dkim_key(record: str) -> str:
    for tag in record.split(";"):
        key, _, value = tag.strip().partition("=")
        if key.strip() == "p":
            return "".join(value.split())
    return ""
