"""A mail provider for the ledger's tests whose every answer is scripted per mailbox address:
it records what it was handed and keeps a "Sent folder" that reconciliation can search."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from pydantic import BaseModel

from salescopilot import hookimpl
from salescopilot.plugin_system.interfaces import (
    ConnectionCheck,
    DeliveryUncertain,
    FetchedMessages,
    MailProvider,
    OutgoingMessage,
    SendFailure,
    SendResult,
    SentMessage,
)


class ScriptedAccount(BaseModel):
    address: str


@dataclass
class Script:
    #: address -> outcomes still to give, in order: "ok", "4xx", "5xx", "auth", "lost" (accepted
    #: but the answer never came), "drop" (not accepted, connection lost), "crash".
    outcomes: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    #: Every message the "server" accepted: (address, Message-ID, raw).
    accepted: list[tuple[str, str, bytes]] = field(default_factory=list)
    #: Message-IDs searching fails for (the Sent folder cannot be read).
    unsearchable: set[str] = field(default_factory=set)
    attempts: int = 0

    def accepted_ids(self) -> list[str]:
        return [message_id for _, message_id, _ in self.accepted]


SCRIPT = Script()


class ScriptedProvider(MailProvider):
    slug = "scripted"
    display_name = "Scripted (tests)"
    account_model = ScriptedAccount

    async def send(self, message: OutgoingMessage) -> SendResult:
        SCRIPT.attempts += 1
        queue = SCRIPT.outcomes[self.account.address]
        outcome = queue.pop(0) if queue else "ok"
        if outcome == "4xx":
            raise SendFailure("451 4.7.1 Greylisted, try again later", permanent=False,
                              smtp_code=451, enhanced_status="4.7.1")
        if outcome == "5xx":
            raise SendFailure("550 5.1.1 User unknown", permanent=True, smtp_code=550, enhanced_status="5.1.1")
        if outcome == "auth":
            raise SendFailure("Authentication failed: 535 5.7.8", permanent=False, smtp_code=535,
                              enhanced_status="5.7.8", mailbox_fault=True)
        if outcome == "drop":
            raise SendFailure("connection lost before the end of DATA", permanent=False)
        SCRIPT.accepted.append((self.account.address, message.message_id, message.raw))
        if outcome == "lost":
            raise DeliveryUncertain("connection lost after the end of DATA")
        if outcome == "crash":
            raise RuntimeError("provider bug")
        return SendResult(provider_message_id=f"q-{len(SCRIPT.accepted)}", response="250 2.0.0 queued")

    async def fetch_new_messages(self, cursor, *, limit=100) -> FetchedMessages:
        return FetchedMessages(messages=[], cursor=cursor or "")

    async def find_sent_by_message_id(self, message_id: str) -> SentMessage | None:
        if message_id in SCRIPT.unsearchable:
            raise DeliveryUncertain("IMAP login refused")
        for address, found, _ in SCRIPT.accepted:
            if found == message_id and address == self.account.address:
                return SentMessage(provider_message_id="sent-copy", sent_at=dt.datetime.now(dt.UTC))
        return None

    async def check_connection(self) -> ConnectionCheck:
        return ConnectionCheck(ok=True, message="scripted")


@hookimpl
def register_mail_providers():
    return [ScriptedProvider]
