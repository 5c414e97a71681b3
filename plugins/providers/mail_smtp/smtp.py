"""One SMTP transaction on a pooled aiosmtplib connection, and what its outcome means.

The outbox relies on this mapping:

- 250 after the message: `SendResult` (the queue id the reply names, if any).
- 4xx anywhere, a timeout or a lost connection before the whole message was handed to the
  network: `SendFailure(permanent=False)`, to retry with the same Message-ID.
- 5xx at RCPT, to DATA or after the message: `SendFailure(permanent=True)`, a hard bounce.
- 5xx at MAIL FROM, a refused login, a TLS failure: `SendFailure(permanent=False)` whose reason
  starts with `MAILBOX_CONFIGURATION`: the mailbox's settings are wrong, not the recipient.
- The connection lost, or no reply in time, AFTER the message and its terminating "." were
  handed to the network: `DeliveryUncertain`, the server may have accepted it.

aiosmtplib's `data()` writes the whole message into the transport's buffer and then waits for
the reply, so a failure cannot tell "lost mid-message" from "lost after the end". The message is
written here instead, in chunks, waiting until each has left the process's buffer: once the last
chunk (with the terminator) has left, anything that goes wrong is uncertain.
"""

from __future__ import annotations

import asyncio
import re
import time

import aiosmtplib
import idna
from aiosmtplib.email import quote_address

from plugins.providers.mail_smtp.account import SmtpAccount, Transport
from plugins.providers.mail_smtp.connect_errors import describe_connect_error
from salescopilot.plugin_system.interfaces import DeliveryUncertain, SendFailure, SendResult

#: Reasons of failures caused by the mailbox's own settings start with this.
MAILBOX_CONFIGURATION = "Mailbox configuration:"
#: A pooled connection idle longer than this is checked with NOOP before it is used.
IDLE_CHECK_SECONDS = 20.0
_CHUNK = 64 * 1024
_ENHANCED = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})\b")
_QUEUE_ID = (
    re.compile(r"queued as ([A-Za-z0-9][A-Za-z0-9._\-]{2,80})", re.IGNORECASE),
    re.compile(r"\bid=([A-Za-z0-9][A-Za-z0-9._\-]{2,80})"),
    re.compile(r"\bOK\s+\d+\s+([A-Za-z0-9._\-]{3,80})\s+-\s+gsmtp"),
    re.compile(r"\[InternalId=(\d+)"),
)


def mailbox_fault(reason: str, *, smtp_code: int | None = None,
                  enhanced: str | None = None) -> SendFailure:
    """A temporary failure caused by the mailbox's own settings (login, TLS, sender address):
    the reason says so, and `mailbox_fault` marks it for the outbox's mailbox health."""
    return SendFailure(
        f"{MAILBOX_CONFIGURATION} {reason}", permanent=False, smtp_code=smtp_code,
        enhanced_status=enhanced, mailbox_fault=True,
    )


def enhanced_status(text: str) -> str | None:
    match = _ENHANCED.match(text or "")
    return match.group(1) if match else None


def queue_id(reply: str) -> str | None:
    for pattern in _QUEUE_ID:
        match = pattern.search(reply)
        if match:
            return match.group(1)
    return None


def _connect_failure(error: BaseException, account: SmtpAccount, timeout: float) -> SendFailure:
    at_fault, reason = describe_connect_error(
        error, account.smtp_host, account.smtp_port, timeout, service="SMTP"
    )
    code = getattr(error, "code", None)
    if at_fault:
        return mailbox_fault(reason, smtp_code=code)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        reason = f"{account.smtp_host}:{account.smtp_port} refused the connection: {error.code} {error.message}"
    return SendFailure(reason, permanent=False, smtp_code=code)


class SmtpConnection:
    """One pooled, authenticated connection to the mailbox's SMTP server. Not concurrency-safe on
    its own: the provider serialises transactions with a lock."""

    def __init__(self, account: SmtpAccount, transport: Transport) -> None:
        self.account = account
        self.transport = transport
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        #: Connections opened so far (tests check that sends reuse one).
        self.connections_opened = 0

    @property
    def host(self) -> str:
        return self.account.smtp_host

    async def _open(self) -> aiosmtplib.SMTP:
        account, timeout = self.account, self.transport.smtp_timeout
        client = aiosmtplib.SMTP(
            hostname=account.smtp_host,
            port=account.smtp_port,
            use_tls=account.smtp_security == "ssl",
            start_tls=True if account.smtp_security == "starttls" else False,
            tls_context=self.transport.tls_context() if account.smtp_security != "none" else None,
            timeout=timeout,
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise _connect_failure(error, account, timeout) from None
        self.connections_opened += 1
        try:
            await self._authenticate(client)
        except BaseException:
            client.close()
            raise
        return client

    async def _authenticate(self, client: aiosmtplib.SMTP) -> None:
        account = self.account
        if account.auth_method == "none":
            return
        try:
            if client.last_ehlo_response is None:
                await client.ehlo()
            if account.auth_method == "plain":
                await client.auth_plain(account.login, _secret(account.password))
            elif account.auth_method == "login":
                await client.auth_login(account.login, _secret(account.password))
            else:
                await client.auth_xoauth2(account.login, _secret(account.oauth_access_token))
        except aiosmtplib.SMTPResponseException as error:
            raise mailbox_fault(
                f"Authentication failed: {error.code} {error.message}",
                smtp_code=error.code, enhanced=enhanced_status(error.message),
            ) from None
        except aiosmtplib.SMTPException as error:
            raise mailbox_fault(f"Authentication failed: {error}") from None

    async def client(self) -> aiosmtplib.SMTP:
        """The pooled connection, opened (or reopened after the server closed it) as needed."""
        client = self._client
        if client is not None and client.is_connected:
            if time.monotonic() - self._last_used < IDLE_CHECK_SECONDS:
                return client
            try:
                reply = await client.noop()
                if reply.code == 250:
                    return client
            except (aiosmtplib.SMTPException, OSError):
                pass
            client.close()
        self._client = None
        self._client = await self._open()
        return self._client

    def discard(self) -> None:
        """Drop the pooled connection at once. Abort, not close: a graceful close would still
        flush a half-written message, terminator included, to a server that may accept it."""
        client, self._client = self._client, None
        if client is not None:
            transport = client.transport
            if transport is not None:
                transport.abort()
            client.close()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            try:
                await client.quit(timeout=min(5.0, self.transport.smtp_timeout))
            except (aiosmtplib.SMTPException, OSError):
                client.close()

    async def send(self, envelope_from: str, recipients: tuple[str, ...], raw: bytes) -> SendResult:
        """One transaction; reconnects once when a pooled connection turns out to be closed
        before anything of this message was sent."""
        envelope_from = envelope_address(envelope_from)
        recipients = tuple(envelope_address(r) for r in recipients)
        for attempt in (1, 2):
            client = await self.client()
            try:
                await self._mail_from(client, envelope_from, recipients)
            except _StaleConnection:
                self.discard()
                if attempt == 2:
                    raise SendFailure(
                        f"Connection to {self.host} closed before MAIL FROM", permanent=False
                    ) from None
                continue
            except SendFailure:
                raise
            except BaseException:
                self.discard()  # cancelled mid-command: never reuse the session
                raise
            try:
                result = await self._rest_of_transaction(client, recipients, raw)
            except SendFailure:
                self._last_used = time.monotonic()
                raise
            except BaseException:
                # Cancelled (the caller's deadline) or failed mid-transaction: the session is in
                # an unknown state, and a late reply would be read as the next command's answer.
                self.discard()
                raise
            self._last_used = time.monotonic()
            return result
        raise AssertionError("unreachable")

    async def _mail_from(
        self, client: aiosmtplib.SMTP, envelope_from: str, recipients: tuple[str, ...]
    ) -> None:
        # SMTPUTF8 (RFC 6531) only when an address needs it: many servers lack it.
        utf8 = not all(a.isascii() for a in (envelope_from, *recipients))
        try:
            await client.mail(
                envelope_from, options=["SMTPUTF8"] if utf8 else [], encoding="utf-8" if utf8 else "ascii"
            )
        except aiosmtplib.SMTPSenderRefused as error:
            await _reset(client)
            if error.code >= 500:
                raise mailbox_fault(
                    f"Sender {envelope_from} refused: {error.code} {error.message}",
                    smtp_code=error.code, enhanced=enhanced_status(error.message),
                ) from None
            raise SendFailure(
                f"Sender refused for now: {error.code} {error.message}",
                permanent=False, smtp_code=error.code, enhanced_status=enhanced_status(error.message),
            ) from None
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as error:
            raise _StaleConnection() from error
        except aiosmtplib.SMTPTimeoutError:
            self.discard()
            raise SendFailure(f"{self.host} did not answer MAIL FROM in time", permanent=False) from None

    async def _rest_of_transaction(
        self, client: aiosmtplib.SMTP, recipients: tuple[str, ...], raw: bytes
    ) -> SendResult:
        try:
            accepted, rejected, temporary = [], [], []
            for recipient in recipients:
                reply = await client.execute_command(b"RCPT", b"TO:" + quote_address(recipient).encode("utf-8"))
                if reply.code in (250, 251):
                    accepted.append(recipient)
                elif 400 <= reply.code < 500:
                    temporary.append((recipient, reply))
                else:
                    rejected.append((recipient, reply))
            if temporary or not accepted:
                await _reset(client)
                recipient, reply = (temporary or rejected)[0]
                raise SendFailure(
                    f"Recipient {recipient} refused: {reply.code} {reply.message}",
                    permanent=not temporary,
                    smtp_code=reply.code,
                    enhanced_status=enhanced_status(reply.message),
                )
            reply = await client.execute_command(b"DATA")
            if reply.code != 354:
                await _reset(client)
                raise SendFailure(
                    f"DATA refused: {reply.code} {reply.message}",
                    permanent=reply.code >= 500,
                    smtp_code=reply.code,
                    enhanced_status=enhanced_status(reply.message),
                )
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as error:
            self.discard()
            raise SendFailure(f"Connection to {self.host} lost before the message: {error}", permanent=False) from None
        except aiosmtplib.SMTPTimeoutError:
            self.discard()
            raise SendFailure(f"{self.host} did not answer in time (before the message)", permanent=False) from None

        await self._write_message(client, raw)
        try:
            reply = await client.protocol.read_response(timeout=self.transport.smtp_timeout)
        except (aiosmtplib.SMTPException, OSError, AttributeError) as error:
            # Lost, timed out or garbled: whatever it is, the server had the whole message.
            self.discard()
            raise DeliveryUncertain(
                f"{self.host} closed the connection or did not reply after the whole message was "
                f"sent; it may have accepted it ({type(error).__name__}: {error})"
            ) from None
        if reply.code == 250:
            return SendResult(
                provider_message_id=queue_id(reply.message),
                response=f"{reply.code} {reply.message}",
                rejected_recipients=tuple(r for r, _ in rejected),
            )
        raise SendFailure(
            f"Message refused: {reply.code} {reply.message}",
            permanent=reply.code >= 500,
            smtp_code=reply.code,
            enhanced_status=enhanced_status(reply.message),
        )

    async def _write_message(self, client: aiosmtplib.SMTP, raw: bytes) -> None:
        """Write the dot-stuffed message and its terminator, returning only once every byte has
        left this process (a failure before that is a plain, retryable failure)."""
        protocol, transport = client.protocol, client.transport
        data = _dot_stuffed(raw)
        # The reply may arrive the moment the terminator is out: the protocol drops data it is
        # not expecting, so mark the reply as expected first (as aiosmtplib's own data() does).
        protocol._response_pending = True
        try:
            # High-water mark 0: the protocol pauses writing whenever anything is buffered, and
            # resumes only once the buffer is empty, i.e. handed to the kernel.
            transport.set_write_buffer_limits(high=0)
            async with asyncio.timeout(self.transport.smtp_timeout):
                for start in range(0, len(data), _CHUNK):
                    protocol.write(data[start:start + _CHUNK])
                    if transport.get_write_buffer_size():
                        await protocol._drain_helper()
                        if protocol._paused:
                            # Woken by the lost connection, not by an emptied buffer.
                            raise ConnectionResetError("connection lost")
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError, OSError) as error:
            self.discard()
            raise SendFailure(
                f"Connection to {self.host} lost while sending the message (before its end): {error}",
                permanent=False,
            ) from None
        except TimeoutError:
            self.discard()
            raise SendFailure(
                f"Timed out sending the message to {self.host} (before its end)", permanent=False
            ) from None
        finally:
            if not transport.is_closing():
                transport.set_write_buffer_limits()


def envelope_address(address: str) -> str:
    """The address with an IDN domain in its ASCII form, so that only a non-ASCII local part
    needs SMTPUTF8."""
    local, at, domain = address.strip().rpartition("@")
    if not at or domain.isascii():
        return address.strip()
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        raise SendFailure(f"{domain!r} is not a valid domain name", permanent=True) from None


class _StaleConnection(Exception):
    """A pooled connection was already closed by the server: reconnect."""


def _dot_stuffed(raw: bytes) -> bytes:
    """CRLF line endings, leading dots doubled (RFC 5321 4.5.2), and the "." terminator."""
    text = re.sub(rb"\r\n|\r|\n", b"\r\n", raw)
    if not text.endswith(b"\r\n"):
        text += b"\r\n"
    text = re.sub(rb"(?m)^\.", b"..", text)
    return text + b".\r\n"


async def _reset(client: aiosmtplib.SMTP) -> None:
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        client.close()


def _secret(value) -> str:  # noqa: ANN001
    return value.get_secret_value() if value is not None else ""
