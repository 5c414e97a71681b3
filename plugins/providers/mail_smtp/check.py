"""`check connection` for an SMTP/IMAP mailbox: DNS, TCP, TLS, login, relay, IMAP and the Sent
folder, one line per problem. Nothing is sent: the relay check ends with RSET."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import aiosmtplib

from plugins.providers.mail_smtp.account import SmtpAccount, Transport
from plugins.providers.mail_smtp.imap import ImapProblem, open_session
from plugins.providers.mail_smtp.smtp import MAILBOX_CONFIGURATION, SmtpConnection
from salescopilot.plugin_system.interfaces import ConnectionCheck, SendFailure


async def check_mailbox(account: SmtpAccount, transport: Transport) -> ConnectionCheck:
    problems: list[str] = []
    passed: list[str] = []

    if await _resolves(account.smtp_host, account.smtp_port, problems, "SMTP"):
        await _check_smtp(account, transport, problems, passed)
    if account.imap_host:
        if await _resolves(account.imap_host, account.imap_port, problems, "IMAP"):
            await _check_imap(account, transport, problems, passed)
    else:
        passed.append("no IMAP server configured (no Sent-folder search, no replies)")

    if problems:
        return ConnectionCheck(
            ok=False,
            message=f"{len(problems)} problem(s) with {account.address}",
            problems=tuple(problems),
        )
    return ConnectionCheck(ok=True, message=f"{account.address}: " + "; ".join(passed))


async def _resolves(host: str, port: int, problems: list[str], service: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        problems.append(f"DNS: {service} host {host} does not resolve ({getattr(error, 'strerror', error)})")
        return False
    return True


async def _check_smtp(
    account: SmtpAccount, transport: Transport, problems: list[str], passed: list[str]
) -> None:
    connection = SmtpConnection(account, transport)
    try:
        client = await connection.client()
    except SendFailure as failure:
        problems.append("SMTP: " + failure.reason.removeprefix(MAILBOX_CONFIGURATION).strip())
        return
    try:
        security = {"ssl": "TLS", "starttls": "STARTTLS", "none": "no encryption"}[account.smtp_security]
        passed.append(f"SMTP {account.smtp_host}:{account.smtp_port} ({security}) login accepted")
        try:
            reply = await client.mail(account.address)
            if reply.code != 250:
                raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, account.address)
            reply = await client.execute_command(
                b"RCPT", b"TO:" + aiosmtplib.email.quote_address(account.address).encode()
            )
            if reply.code not in (250, 251):
                problems.append(
                    f"Relay: {account.smtp_host} refused {account.address} as a recipient: "
                    f"{reply.code} {reply.message}"
                )
            else:
                passed.append("relay accepted")
            await client.rset()
        except aiosmtplib.SMTPResponseException as error:
            problems.append(
                f"Relay: {account.smtp_host} refused {account.address} as the sender: "
                f"{error.code} {error.message}"
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            problems.append(f"SMTP: the connection to {account.smtp_host} failed: {error}")
    finally:
        await connection.close()


async def _check_imap(
    account: SmtpAccount, transport: Transport, problems: list[str], passed: list[str]
) -> None:
    try:
        async with open_session(account, transport) as session:
            passed.append(f"IMAP {account.imap_host}:{account.imap_port} login accepted")
            folder = await session.sent_folder(account.sent_folder)
            if folder is None:
                wanted = f"'{account.sent_folder}'" if account.sent_folder else "with the \\Sent flag"
                problems.append(f"IMAP: no Sent folder {wanted} found")
            else:
                passed.append(f"Sent folder '{folder}'")
    except ImapProblem as problem:
        problems.append(f"IMAP: {problem}")
