"""The IMAP side of an SMTP mailbox (aioimaplib): the one connection helper (`open_session`,
TLS, LOGIN/PLAIN/XOAUTH2, a per-account connection limit), folders by SPECIAL-USE or known name
(names in modified UTF-7, RFC 3501 5.1.3), the Sent copy, search by Message-ID, batched reads of
new messages by UID, and IDLE.

Nothing here deletes or alters a message: reads use BODY.PEEK, and the only STORE is the optional
flag a tenant enables (`SmtpAccount.mark_fetched`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import ssl
import weakref
from base64 import b64decode, b64encode
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aioimaplib

from plugins.providers.mail_smtp.account import FLAG_PATTERN, SmtpAccount, Transport
from plugins.providers.mail_smtp.connect_errors import describe_connect_error

_LIST_LINE = re.compile(rb'^\((?P<flags>[^)]*)\) (?P<delimiter>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.+)$')
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCH_UID = re.compile(rb"\bUID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_STATUS_ITEM = re.compile(rb"\b(UIDNEXT|UIDVALIDITY|MESSAGES) (\d+)")
_LITERAL_END = re.compile(rb"\{(\d+)\}$")
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
        #: The connection failed mid-command: nothing more is sent on it (not even LOGOUT).
        self.broken = False

    async def command(self, coroutine, what: str):  # noqa: ANN001, ANN201
        try:
            response = await asyncio.wait_for(coroutine, self.timeout)
        except (TimeoutError, asyncio.TimeoutError):
            self.broken = True
            raise ImapProblem(f"IMAP {what}: no answer within {self.timeout:g}s") from None
        except (aioimaplib.AioImapException, OSError) as error:
            self.broken = True
            raise ImapProblem(f"IMAP {what} failed: {error}") from None
        if response.result != "OK":
            raise ImapProblem(f"IMAP {what} refused: {_text(response.lines)}")
        return response

    async def folders(self) -> list[Folder]:
        """Every folder, names decoded from modified UTF-7, flags lower-cased."""
        response = await self.command(self.client.list('""', '"*"'), "LIST")
        found = []
        lines = [bytes(line) for line in response.lines]
        for index, line in enumerate(lines):
            match = _LIST_LINE.match(line.strip())
            if not match:
                continue
            raw_name = match.group("name")
            literal = _LITERAL_END.search(raw_name)
            if literal and index + 1 < len(lines):  # a name sent as a literal: the next line
                raw_name = lines[index + 1][: int(literal.group(1))]
            name = raw_name.decode("utf-8", "replace")
            if name.startswith('"') and name.endswith('"'):
                name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            flags = frozenset(f.lower() for f in match.group("flags").decode("ascii", "replace").split())
            if "\\noselect" in flags or "\\nonexistent" in flags:
                continue
            found.append(Folder(decode_folder_name(name), flags))
        return found

    async def spam_folder(self, folders: list[Folder] | None = None) -> str | None:
        """The folder flagged `\\Junk` (RFC 6154), else one with a provider's usual spam name."""
        folders = folders if folders is not None else await self.folders()
        for folder in folders:
            if "\\junk" in folder.flags:
                return folder.name
        by_name = {f.name.casefold(): f.name for f in folders}
        for known in SPAM_FOLDER_NAMES:
            if known.casefold() in by_name:
                return by_name[known.casefold()]
        return None

    async def status(self, folder: str) -> tuple[int, int]:
        """(UIDVALIDITY, UIDNEXT) of a folder without selecting it: one round trip tells an idle
        folder apart from one with new mail."""
        response = await self.command(
            self.client.status(quote(folder), "(UIDVALIDITY UIDNEXT)"), f"STATUS {folder}"
        )
        items: dict[bytes, int] = {}
        for line in response.lines[:-1]:
            for name, value in _STATUS_ITEM.findall(bytes(line)):
                items[name] = int(value)
        if b"UIDVALIDITY" not in items or b"UIDNEXT" not in items:
            raise ImapProblem(f"IMAP STATUS {folder}: the server sent no UIDVALIDITY/UIDNEXT")
        return items[b"UIDVALIDITY"], items[b"UIDNEXT"]

    async def fetch_many(self, uids: list[int], max_bytes: int) -> list[FetchedMail]:
        """The messages with these UIDs (of the selected folder), in UID order, each read up to
        `max_bytes` (a huge message cannot exhaust memory); a UID gone meanwhile is left out."""
        if not uids:
            return []
        response = await self.command(
            self.client.uid(
                "fetch", _uid_set(uids), f"(UID INTERNALDATE RFC822.SIZE BODY.PEEK[]<0.{max_bytes}>)"
            ),
            f"FETCH {len(uids)} messages",
        )
        lines = response.lines
        found: dict[int, FetchedMail] = {}
        for index, line in enumerate(lines):
            if not isinstance(line, bytearray) or index == 0:
                continue
            header = bytes(lines[index - 1])
            trailer = bytes(lines[index + 1]) if index + 1 < len(lines) else b""
            uid_match = _FETCH_UID.search(header) or _FETCH_UID.search(trailer)
            if uid_match is None:
                continue
            size = _SIZE.search(header) or _SIZE.search(trailer)
            date = _INTERNALDATE.search(header) or _INTERNALDATE.search(trailer)
            raw = bytes(line)
            found[int(uid_match.group(1))] = FetchedMail(
                uid=int(uid_match.group(1)), raw=raw, size=int(size.group(1)) if size else len(raw),
                received_at=_internaldate(date.group(1)) if date else None,
            )
        return [found[uid] for uid in sorted(found) if uid in set(uids)]

    async def add_flag(self, uids: list[int], flag: str) -> None:
        """Set `flag` on messages (the one change the sync may make, when the tenant enables it)."""
        if not uids:
            return
        if not FLAG_PATTERN.match(flag):
            raise ImapProblem(f"{flag!r} is not a flag the sync may set")
        await self.command(
            self.client.uid("store", _uid_set(uids), "+FLAGS.SILENT", f"({flag})"), "STORE flag"
        )

    @property
    def offers_idle(self) -> bool:
        return "IDLE" in self.client.protocol.capabilities

    async def wait_for_change(self, folder: str, timeout: float) -> bool:
        """Wait in IDLE (RFC 2177) on `folder` until the server announces a change (True) or
        `timeout` seconds pass (False). Without IDLE, returns False after `timeout`: the caller
        polls."""
        await self.select(folder)
        if not self.offers_idle:
            await asyncio.sleep(timeout)
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout + self.timeout
        changed = False
        try:
            idle = await asyncio.wait_for(self.client.idle_start(timeout=timeout), self.timeout)
            while True:
                pushed = await self.client.wait_server_push(timeout=max(0.0, deadline - loop.time()))
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break  # `timeout` passed (aioimaplib's own stop)
                if any(b"EXISTS" in bytes(line) or b"RECENT" in bytes(line) for line in pushed or []):
                    changed = True
                    break
                # Anything else the server says while idling (a keep-alive "OK Still here", a
                # flag changed by another client) is no new mail: keep waiting.
            self.client.idle_done()
            await asyncio.wait_for(idle, self.timeout)
        except (TimeoutError, asyncio.TimeoutError):
            self.broken = True
            raise ImapProblem(f"IMAP IDLE on {folder}: the server stopped answering") from None
        except (aioimaplib.AioImapException, OSError) as error:
            self.broken = True
            raise ImapProblem(f"IMAP IDLE on {folder} failed: {error}") from None
        return changed

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
                return bytes(line), _internaldate(date.group(1)) if date else None
        return None

    async def append(self, folder: str, raw: bytes, when: dt.datetime) -> None:
        await self.command(
            self.client.append(raw, mailbox=quote(folder), flags="(\\Seen)", date=when),
            f"APPEND to {folder}",
        )

    async def logout(self) -> None:
        if self.broken:
            return
        try:
            await asyncio.wait_for(self.client.logout(), self.timeout)
        except (aioimaplib.AioImapException, OSError, TimeoutError, asyncio.TimeoutError):
            pass


@dataclass(frozen=True, slots=True)
class FetchedMail:
    uid: int
    raw: bytes
    #: The whole message's size (RFC822.SIZE), also when only its start was read.
    size: int
    received_at: dt.datetime | None


#: Spam folder names of the major providers and clients, for servers without SPECIAL-USE.
SPAM_FOLDER_NAMES = (
    "Junk", "Spam", "Junk E-mail", "Junk Email", "Junk-E-Mail", "Bulk Mail", "[Gmail]/Spam",
    "INBOX/Junk", "INBOX.Junk", "INBOX/Spam", "INBOX.Spam", "Courrier indésirable",
    "Correo no deseado", "Lixo Eletrônico", "Ongewenste e-mail", "Skräppost", "Spamverdacht",
)

#: Concurrent connections allowed per account when the account does not say (Gmail allows 15).
DEFAULT_CONNECTION_LIMITS = {"imap.gmail.com": 15, "outlook.office365.com": 16}
DEFAULT_CONNECTION_LIMIT = 10

#: Per event loop, per (host, port, login): the semaphore that caps connections to one account.
_account_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)


def connection_limit(account: SmtpAccount) -> int:
    if account.imap_max_connections:
        return account.imap_max_connections
    return DEFAULT_CONNECTION_LIMITS.get(account.imap_host.lower().rstrip("."), DEFAULT_CONNECTION_LIMIT)


def _slots(account: SmtpAccount) -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    per_loop = _account_slots.setdefault(loop, {})
    key = (account.imap_host.lower(), account.imap_port, account.imap_login.lower())
    slots = per_loop.get(key)
    if slots is None:
        slots = per_loop[key] = asyncio.Semaphore(connection_limit(account))
    return slots


@asynccontextmanager
async def open_session(account: SmtpAccount, transport: Transport) -> AsyncIterator[ImapSession]:
    """A logged-in session to the mailbox's IMAP server; raises `ImapProblem` with a readable
    reason when it cannot be had. At most `connection_limit(account)` sessions per account are
    open at once in this process; further callers wait for a free one."""
    if not account.imap_host:
        raise ImapProblem("no IMAP server is configured for this mailbox")
    async with _slots(account):
        async with _open_session(account, transport) as session:
            yield session


@asynccontextmanager
async def _open_session(account: SmtpAccount, transport: Transport) -> AsyncIterator[ImapSession]:
    host, port, timeout = account.imap_host, account.imap_port, transport.imap_timeout
    context = transport.tls_context() if account.imap_security != "none" else None
    if account.imap_security == "ssl":
        client = aioimaplib.IMAP4_SSL(host=host, port=port, timeout=timeout, ssl_context=context)
    else:
        client = aioimaplib.IMAP4(host=host, port=port, timeout=timeout)
    try:
        try:
            await client.wait_hello_from_server()
        except asyncio.CancelledError:
            raise
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
    except (ImapProblem, asyncio.CancelledError):
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
    """A folder name as an IMAP quoted string, in modified UTF-7."""
    if any(c in name for c in "\r\n\0"):
        raise ImapProblem(f"{name!r} is not a valid folder name")
    return aioimaplib.quoted(encode_folder_name(name))


def encode_folder_name(name: str) -> str:
    """RFC 3501 5.1.3 modified UTF-7: printable ASCII as is ("&" as "&-"), other characters as
    "&" + modified BASE64 of their UTF-16BE + "-"."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            data = "".join(pending).encode("utf-16-be")
            out.append("&" + b64encode(data).decode("ascii").rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def decode_folder_name(name: str) -> str:
    """The readable name of a modified UTF-7 folder name; a malformed one is returned as is."""
    if "&" not in name:
        return name
    out: list[str] = []
    position = 0
    while position < len(name):
        start = name.find("&", position)
        if start < 0:
            out.append(name[position:])
            break
        out.append(name[position:start])
        end = name.find("-", start)
        if end < 0:
            return name
        chunk = name[start + 1 : end]
        if not chunk:
            out.append("&")
        else:
            try:
                data = b64decode(chunk.replace(",", "/") + "=" * (-len(chunk) % 4), validate=True)
                out.append(data.decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError):
                return name
        position = end + 1
    return "".join(out)


def _uid_set(uids: list[int]) -> str:
    """A compact UID set ("1:5,9,12:13") for a sorted or unsorted list of UIDs."""
    ordered = sorted(set(uids))
    ranges: list[str] = []
    start = previous = ordered[0]
    for uid in ordered[1:]:
        if uid == previous + 1:
            previous = uid
            continue
        ranges.append(f"{start}:{previous}" if previous != start else str(start))
        start = previous = uid
    ranges.append(f"{start}:{previous}" if previous != start else str(start))
    return ",".join(ranges)


def _internaldate(value: bytes) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value.decode().strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


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
