"""DNS lookups for deliverability checks: dnspython's async resolver behind one small interface,
with a TTL cache, so checks can be pointed at any server (a test's local one) or replaced."""

from __future__ import annotations

import time
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.resolver


class DnsFailure(Exception):
    """The lookup could not be answered (timeout, SERVFAIL): no evidence either way."""


@dataclass(frozen=True, slots=True)
class Answer:
    #: False when the name does not exist at all (NXDOMAIN).
    exists: bool
    #: Records as text: "10 mx1.example.com." for MX, the joined strings for TXT, addresses for A.
    records: tuple[str, ...]


class DnsLookup:
    """`lookup(name, rdtype)`: cached answers (positive and negative) for `ttl` seconds."""

    def __init__(self, nameservers: list[str] | None = None, port: int = 53, timeout: float = 5.0,
                 ttl: float = 3600.0, max_entries: int = 50_000) -> None:
        self._resolver = dns.asyncresolver.Resolver(configure=nameservers is None)
        if nameservers is not None:
            self._resolver.nameservers = nameservers
            self._resolver.port = port
        self._resolver.lifetime = timeout
        self._ttl = ttl
        self._max = max_entries
        self._cache: dict[tuple[str, str], tuple[float, Answer]] = {}
        #: Lookups that went to the network (the rest came from the cache).
        self.queries = 0

    async def lookup(self, name: str, rdtype: str) -> Answer:
        key = (name.lower().rstrip("."), rdtype)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        self.queries += 1
        try:
            result = await self._resolver.resolve(key[0] + ".", rdtype, search=False)
            answer = Answer(True, tuple(_text(r, rdtype) for r in result))
        except dns.resolver.NXDOMAIN:
            answer = Answer(False, ())
        except dns.resolver.NoAnswer:
            answer = Answer(True, ())
        except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout) as error:
            raise DnsFailure(f"{rdtype} lookup of {key[0]} failed: {type(error).__name__}") from error
        if len(self._cache) >= self._max:
            self._cache.clear()
        self._cache[key] = (now + self._ttl, answer)
        return answer


def _text(record, rdtype: str) -> str:
    if rdtype == "TXT":
        return b"".join(record.strings).decode("utf-8", "replace")
    if rdtype == "MX":
        return f"{record.preference} {record.exchange.to_text().rstrip('.').lower()}"
    return record.to_text()
