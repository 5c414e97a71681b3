"""`SmtpProvider`: the `MailProvider` for any mailbox reachable over SMTP and (optionally) IMAP."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from pydantic import BaseModel

from plugins.providers.mail_smtp.account import SmtpAccount, Transport
from plugins.providers.mail_smtp.check import check_mailbox
from plugins.providers.mail_smtp.imap import ImapProblem, open_session
from plugins.providers.mail_smtp.inbound import fetch_new
from plugins.providers.mail_smtp.smtp import SmtpConnection
from salescopilot.plugin_system.interfaces import (
    ConnectionCheck,
    DeliveryUncertain,
    FetchedMessages,
    MailProvider,
    OutgoingMessage,
    SendResult,
    SentMessage,
)

log = logging.getLogger("plugins.providers.mail_smtp")


class SmtpProvider(MailProvider):
    """Sends over one pooled SMTP connection per mailbox (transactions serialised by a lock);
    files a copy in the Sent folder over IMAP where the server does not; reconciles uncertain
    sends by searching the Sent folder for the Message-ID."""

    slug = "smtp"
    display_name = "SMTP / IMAP"
    account_model = SmtpAccount

    def __init__(
        self, settings: BaseModel, account: SmtpAccount, *, transport: Transport | None = None
    ) -> None:
        super().__init__(settings, account)
        self.transport = transport or Transport.from_core_settings()
        self.connection = SmtpConnection(account, self.transport)
        self._lock = asyncio.Lock()
        #: Sent-folder appends still running (kept referenced until done).
        self._appends: set[asyncio.Task] = set()

    async def send(self, message: OutgoingMessage) -> SendResult:
        async with self._lock:
            result = await self.connection.send(message.envelope_from, message.recipients, message.raw)
        if self.account.imap_host and self.account.appends_to_sent:
            # In the background: the send is complete at the 250, and a slow IMAP server must not
            # hold up the outbox (a send outliving its time budget would be taken as uncertain).
            task = asyncio.create_task(self._append_to_sent(message))
            self._appends.add(task)
            task.add_done_callback(self._appends.discard)
        return result

    async def _append_to_sent(self, message: OutgoingMessage) -> None:
        """A copy in the Sent folder; a failure here is logged, never a failed send."""
        try:
            async with open_session(self.account, self.transport) as session:
                folder = await session.sent_folder(self.account.sent_folder)
                if folder is None:
                    raise ImapProblem("no Sent folder found")
                await session.append(folder, message.raw, dt.datetime.now(dt.UTC))
        except ImapProblem as problem:
            log.warning(
                "sent copy not appended for %s (%s): %s",
                message.message_id, self.account.address, problem,
            )

    async def find_sent_by_message_id(self, message_id: str) -> SentMessage | None:
        if not self.account.imap_host:
            raise DeliveryUncertain(
                "the Sent folder cannot be searched: no IMAP server is configured for this mailbox"
            )
        try:
            async with open_session(self.account, self.transport) as session:
                folders = [await session.sent_folder(self.account.sent_folder)]
                if folders[0] is None:
                    raise ImapProblem("no Sent folder found")
                all_mail = await session.all_mail_folder()
                if all_mail and all_mail not in folders:
                    folders.append(all_mail)
                for folder in folders:
                    uids = await session.search_message_id(folder, message_id)
                    if uids:
                        validity = await session.select(folder)
                        fetched = await session.fetch(uids[0])
                        return SentMessage(
                            provider_message_id=f"{folder}:{validity}:{uids[0]}",
                            sent_at=fetched[1] if fetched else None,
                        )
        except ImapProblem as problem:
            raise DeliveryUncertain(f"the Sent folder could not be searched: {problem}") from None
        return None

    async def fetch_new_messages(self, cursor: str | None, *, limit: int = 100) -> FetchedMessages:
        if not self.account.imap_host:
            # No IMAP, no inbound mail (check_connection says so): nothing to read, not an error.
            return FetchedMessages(messages=[], cursor=cursor or "", has_more=False)
        async with open_session(self.account, self.transport) as session:
            return await fetch_new(session, self.account, cursor, limit)

    async def wait_for_new_messages(self, timeout: float) -> bool:
        """IDLE on the INBOX where the server offers it; otherwise sleeps `timeout` (polling)
        and returns True. Raises `ImapProblem` when the server cannot be reached."""
        if not self.account.imap_host:
            await asyncio.sleep(timeout)
            return False
        async with open_session(self.account, self.transport) as session:
            if session.offers_idle:
                return await session.wait_for_change("INBOX", timeout)
        await asyncio.sleep(timeout)  # without holding one of the account's connections
        return True

    async def check_connection(self) -> ConnectionCheck:
        return await check_mailbox(self.account, self.transport)

    async def close(self) -> None:
        """Quit the pooled SMTP connection after letting pending Sent-folder appends finish."""
        if self._appends:
            await asyncio.wait(set(self._appends), timeout=self.transport.imap_timeout)
        async with self._lock:
            await self.connection.close()
