"""A tiny authoritative DNS server on loopback (UDP) for deliverability tests, answering from a
dict of records, so the real dnspython resolver is exercised end to end."""

from __future__ import annotations

import asyncio

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: LocalDns) -> None:
        self.server = server

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.server.asked.append((name, rdtype))
        if name in self.server.failing:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif not any(key[0] == name for key in self.server.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            values = self.server.records.get((name, rdtype), [])
            if values:
                if rdtype == "TXT":
                    values = ['"' + v.replace('"', '\\"') + '"' for v in values]
                rrset = dns.rrset.from_text_list(name + ".", 300, dns.rdataclass.IN, question.rdtype, values)
                response.answer.append(rrset)
        self.transport.sendto(response.to_wire(), addr)


class LocalDns:
    def __init__(self) -> None:
        #: (name, type) -> values as zone-file text ("10 mx1.example.com.", "v=spf1 -all", "192.0.2.1").
        self.records: dict[tuple[str, str], list[str]] = {}
        self.failing: set[str] = set()
        self.asked: list[tuple[str, str]] = []
        self.transport = None

    def add(self, name: str, rdtype: str, *values: str) -> None:
        self.records.setdefault((name.lower(), rdtype), []).extend(values)

    @property
    def port(self) -> int:
        return self.transport.get_extra_info("sockname")[1]

    async def start(self) -> LocalDns:
        loop = asyncio.get_running_loop()
        self.transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), local_addr=("127.0.0.1", 0))
        return self

    def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()
