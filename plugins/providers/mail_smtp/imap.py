"""The IMAP side of an SMTP mailbox (aioimaplib): find the Sent folder, append a sent copy,
search by Message-ID, and read new messages of the INBOX by UIDVALIDITY/UID."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import ssl
from base64 import b64encode
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aioimaplib

from plugins.providers.mail_smtp.account import SmtpAccount, Transport
from plugins.providers.mail_smtp.connect_errors import describe_connect_error

_LIST_LINE = re.compile(rb'^\((?P<flags>[^)]*)\) (?P<delimiter>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.+)$')
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCH_UID = re.compile(rb"\bUID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
#: Message-IDs are searched for verbatim: nothing that could escape an IMAP quoted string.
_SAFE_MESSAGE_ID = re.compile(r"^<[\x21\x23-\x5b\x5d-\x7e]{1,500}>$")


class ImapProblem(Exception):
    """The IMAP server could not be reached or refused something; the message is for an admin."""


@dataclass(frozen=True, slots=True)
class Folder:
    name: str
    flags: frozenset[str]


class ImapSession:
    """One logged-in IMAP connection. Use `open_session(account, transport)`."""

    def __init__(self, client: aioimaplib.IMAP4, timeout: float) -> None:
        self.client = client
        self.timeout = timeout

    async def command(self, coroutine, what: str):  # noqa: ANN001, ANN201
        try:
            response = await asyncio.wait_for(coroutine, self.timeout)
        except (TimeoutError, asyncio.TimeoutError):
            raise ImapProblem(f"IMAP {what}: no answer within {self.timeout:g}s") from None
        except (aioimaplib.AioImapException, OSError) as error:
            raise ImapProblem(f"IMAP {what} failed: {error}") from None
        if response.result != "OK":
            raise ImapProblem(f"IMAP {what} refused: {_text(response.lines)}")
        return response

    async def folders(self) -> list[Folder]:
        response = await self.command(self.client.list('""', '"*"'), "LIST")
        found = []
        for line in response.lines:
            match = _LIST_LINE.match(bytes(line).strip())
            if match:
                name = match.group("name").decode("utf-8", "replace")
                if name.startswith('"') and name.endswith('"'):
                    name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
                flags = frozenset(f.lower() for f in match.group("flags").decode().split())
                found.append(Folder(name, flags))
        return found

    async def sent_folder(self, configured: str) -> str | None:
        """The configured Sent folder, else the one flagged `\\Sent` (RFC 6154), else "Sent"."""
        folders = await self.folders()
        if configured:
            return configured if any(f.name == configured for f in folders) else None
        for folder in folders:
            if "\\sent" in folder.flags:
                return folder.name
        for folder in folders:
            if folder.name.lower() in ("sent", "sent items", "sent messages", "inbox.sent"):
                return folder.name
        return None

    async def all_mail_folder(self) -> str | None:
        for folder in await self.folders():
            if "\\all" in folder.flags:
                return folder.name
        return None

    async def select(self, folder: str) -> int:
        """Select `folder`; returns its UIDVALIDITY. (SELECT, not EXAMINE, which aioimaplib does
        not treat as selecting; nothing here changes flags: fetches use BODY.PEEK.)"""
        response = await self.command(self.client.select(quote(folder)), f"SELECT {folder}")
        for line in response.lines:
            match = _UIDVALIDITY.search(bytes(line))
            if match:
                return int(match.group(1))
        raise ImapProblem(f"IMAP SELECT {folder}: the server sent no UIDVALIDITY")

    async def search_message_id(self, folder: str, message_id: str) -> list[int]:
        if not _SAFE_MESSAGE_ID.match(message_id):
            raise ImapProblem(f"{message_id!r} cannot be searched for")
        await self.select(folder)
        response = await self.command(
            self.client.uid_search("HEADER", "Message-ID", quote(message_id), charset=None),
            f"SEARCH in {folder}",
        )
        return _search_uids(response.lines)

    async def uids_after(self, folder: str, last_uid: int) -> list[int]:
        response = await self.command(
            self.client.uid_search(f"UID {last_uid + 1}:*", charset=None), f"SEARCH in {folder}"
        )
        # "n:*" always matches the last message, even when its UID is below n.
        return sorted(uid for uid in _search_uids(response.lines) if uid > last_uid)

    async def fetch(self, uid: int) -> tuple[bytes, dt.datetime | None] | None:
        response = await self.command(
            self.client.uid("fetch", str(uid), "(UID INTERNALDATE BODY.PEEK[])"), f"FETCH {uid}"
        )
        lines = response.lines
        for index, line in enumerate(lines):
            if isinstance(line, bytearray) and index > 0:
                header = bytes(lines[index - 1])
                date = _INTERNALDATE.search(header)
                received = None
                if date:
                    try:
                        received = dt.datetime.strptime(date.group(1).decode(), "%d-%b-%Y %H:%M:%S %z")
                    except ValueError:
                        received = None
                return bytes(line), received
        return None

    async def append(self, folder: str, raw: bytes, when: dt.datetime) -> None:
        await self.command(
            self.client.append(raw, mailbox=quote(folder), flags="(\\Seen)", date=when),
            f"APPEND to {folder}",
        )

    async def logout(self) -> None:
        try:
            await asyncio.wait_for(self.client.logout(), self.timeout)
        except (aioimaplib.AioImapException, OSError, TimeoutError, asyncio.TimeoutError):
            pass


@asynccontextmanager
async def open_session(account: SmtpAccount, transport: Transport) -> AsyncIterator[ImapSession]:
    """A logged-in session to the mailbox's IMAP server; raises `ImapProblem` with a readable
    reason when it cannot be had."""
    if not account.imap_host:
        raise ImapProblem("no IMAP server is configured for this mailbox")
    host, port, timeout = account.imap_host, account.imap_port, transport.imap_timeout
    context = transport.tls_context() if account.imap_security != "none" else None
    if account.imap_security == "ssl":
        client = aioimaplib.IMAP4_SSL(host=host, port=port, timeout=timeout, ssl_context=context)
    else:
        client = aioimaplib.IMAP4(host=host, port=port, timeout=timeout)
    try:
        try:
            await client.wait_hello_from_server()
        except BaseException as error:  # noqa: BLE001 - described and re-raised as ImapProblem
            raise ImapProblem(describe_connect_error(error, host, port, timeout, service="IMAP")[1]) from None
        if account.imap_security == "starttls":
            await _start_tls(client, context, host, timeout)
        session = ImapSession(client, timeout)
        await _login(session, account)
        yield session
        await session.logout()
    finally:
        transport_ = client.protocol.transport if client.protocol else None
        if transport_ is not None and not transport_.is_closing():
            transport_.close()


async def _start_tls(client: aioimaplib.IMAP4, context: ssl.SSLContext, host: str, timeout: float) -> None:
    """RFC 3501 STARTTLS, which aioimaplib lacks: the command, then TLS on the same socket."""
    protocol = client.protocol
    if "STARTTLS" not in protocol.capabilities:
        raise ImapProblem(f"IMAP server {host} does not offer STARTTLS")
    command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
    try:
        response = await asyncio.wait_for(protocol.execute(command), timeout)
        if response.result != "OK":
            raise ImapProblem(f"IMAP STARTTLS refused by {host}: {_text(response.lines)}")
        protocol.transport = await protocol.loop.start_tls(
            protocol.transport, protocol, context, server_hostname=host,
            ssl_handshake_timeout=timeout,
        )
        await asyncio.wait_for(protocol.capability(), timeout)
    except ImapProblem:
        raise
    except BaseException as error:  # noqa: BLE001
        raise ImapProblem(describe_connect_error(error, host, client.port, timeout, service="IMAP")[1]) from None


async def _login(session: ImapSession, account: SmtpAccount) -> None:
    client, secret = session.client, account.imap_secret
    password = secret.get_secret_value() if secret is not None else ""
    what = f"login as {account.imap_login}"
    if account.imap_auth == "xoauth2":
        await session.command(client.xoauth2(account.imap_login, password), what)
    elif account.imap_auth == "plain":
        sasl = b64encode(f"\0{account.imap_login}\0{password}".encode()).decode("ascii")
        protocol = client.protocol
        command = aioimaplib.Command("AUTHENTICATE", protocol.new_tag(), "PLAIN", sasl, loop=protocol.loop)
        response = await session.command(protocol.execute(command, scrub=sasl), what)
        if response.result == "OK":
            protocol.state = aioimaplib.AUTH
    else:
        await session.command(client.login(account.imap_login, password), what)


def quote(name: str) -> str:
    if any(c in name for c in "\r\n\0"):
        raise ImapProblem(f"{name!r} is not a valid folder name")
    return aioimaplib.quoted(name)


def _search_uids(lines: list) -> list[int]:
    """UIDs of a SEARCH response. aioimaplib gives the untagged "* SEARCH 1 2 3" as b"1 2 3"
    (or b"SEARCH 1 2 3"), then the text of the tagged completion as the last line."""
    uids: list[int] = []
    for line in lines[:-1]:
        tokens = bytes(line).split()
        if tokens and tokens[0].upper() == b"SEARCH":
            tokens = tokens[1:]
        if tokens and all(t.isdigit() for t in tokens):
            uids += [int(t) for t in tokens]
    return uids


def _text(lines: list) -> str:
    return " ".join(bytes(line).decode("utf-8", "replace") for line in lines if line)[:300]
