"""`SmtpSink`: an aiosmtpd server on its own thread that records every transaction, with failure
behaviours selectable per test (greylisting, refusals, dropped connections, slow replies), AUTH
PLAIN/LOGIN/XOAUTH2, STARTTLS or implicit TLS, and optionally a Gmail-like copy in Sent."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.mailservers.certificates import TestCertificates
from tests.mailservers.ports import LOOPBACK, free_port

if TYPE_CHECKING:
    from tests.mailservers.dovecot import Dovecot

@dataclass(frozen=True)
class Transaction:
    """One message the sink accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    #: The message exactly as received in DATA (dot-unstuffed, CRLF line endings).
    data: bytes
    received_at: float
    #: Login of the authenticated client, if any.
    login: str | None = None


@dataclass
class Behaviour:
    """How the sink answers; change it between sends (`sink.behaviour.x = ...`)."""

    #: The first N RCPT commands get 451 (greylisting), later ones are accepted.
    greylist_first: int = 0
    #: Recipient address -> reply to its RCPT ("550 5.1.1 ..."): refused for good.
    refuse_recipients: dict[str, str] = field(default_factory=dict)
    #: Reply to MAIL FROM instead of 250 (e.g. "553 5.7.1 Sender not allowed").
    mail_from_reply: str | None = None
    #: Reply to the DATA command instead of 354 (e.g. "554 5.7.1 Rejected").
    data_command_reply: str | None = None
    #: Reply after the message instead of 250 (e.g. "550 5.7.1 Spam", "451 4.3.0 Try later").
    after_data_reply: str | None = None
    #: Close the connection after reading the first piece of the message (before its end).
    drop_mid_data: bool = False
    #: Read the whole message, then close the connection without replying (the uncertain case).
    #: The message is NOT recorded as accepted... unless `keep_dropped` (it "got through").
    drop_after_data: bool = False
    keep_dropped: bool = False
    #: Seconds to wait before replying to the end of the message (client timeouts).
    delay_after_data: float = 0.0
    #: Text of the 250 reply after the message.
    accept_reply: str = "250 2.0.0 Ok: queued as {queue_id}"


class SmtpSink:
    """An SMTP server that records every accepted transaction.

    tls: "none", "starttls" (offered and required before AUTH/MAIL) or "ssl" (implicit TLS);
    both need `certificates`. credentials: login -> password for AUTH PLAIN/LOGIN (required
    when given); oauth_tokens: login -> token for AUTH XOAUTH2. sent_copy: (dovecot, user):
    every accepted message is also saved in that user's Sent folder, as Gmail does.
    """

    def __init__(
        self,
        *,
        tls: Literal["none", "starttls", "ssl"] = "none",
        certificates: TestCertificates | None = None,
        credentials: dict[str, str] | None = None,
        oauth_tokens: dict[str, str] | None = None,
        sent_copy: tuple[Dovecot, str] | None = None,
        port: int | None = None,
    ) -> None:
        if tls != "none" and certificates is None:
            raise ValueError("TLS needs certificates (make_certificates)")
        self.tls = tls
        self.certificates = certificates
        self.credentials = credentials
        self.oauth_tokens = oauth_tokens
        self.sent_copy = sent_copy
        self.host = LOOPBACK
        self.port = port or free_port()
        self.behaviour = Behaviour()
        self.transactions: list[Transaction] = []
        #: Client connections that said EHLO.
        self.connections = 0
        self.rcpt_attempts = 0
        self._lock = threading.Lock()
        self._open_sessions: set[_SinkSMTP] = set()
        self._queue_ids = 0
        self._controller: Controller | None = None

    # -- lifecycle

    def start(self) -> SmtpSink:
        auth = self.credentials is not None or self.oauth_tokens is not None
        kwargs: dict = dict(
            hostname=self.host,
            port=self.port,
            enable_SMTPUTF8=True,
            data_size_limit=64 * 1024 * 1024,
            auth_required=auth,
            # Implicit TLS counts as encrypted too (aiosmtpd only knows about STARTTLS).
            auth_require_tls=self.tls == "starttls",
            authenticator=self._authenticate if auth else None,
            ready_timeout=10.0,
        )
        if self.tls == "ssl":
            kwargs["ssl_context"] = self.certificates.server_context()
        elif self.tls == "starttls":
            kwargs["tls_context"] = self.certificates.server_context()
            kwargs["require_starttls"] = True
        with warnings.catch_warnings():
            # "AUTH without requiring TLS": on purpose for plain loopback tests, and implicit TLS
            # is encrypted although aiosmtpd only recognises STARTTLS.
            warnings.simplefilter("ignore", UserWarning)
            self._controller = _SinkController(self, _SinkHandler(self), **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def close_connections(self) -> None:
        """Hang up on every connected client now, as a server's idle timeout would."""
        controller = self._controller
        if controller is None:
            return
        done = threading.Event()

        def hang_up() -> None:
            with self._lock:
                sessions = list(self._open_sessions)
            for session in sessions:
                if session.transport is not None:
                    session.transport.close()
            done.set()

        controller.loop.call_soon_threadsafe(hang_up)
        done.wait(5)

    # -- reading what arrived

    def messages(self) -> list[bytes]:
        with self._lock:
            return [t.data for t in self.transactions]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Transaction]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.transactions) >= count:
                    return list(self.transactions)
            time.sleep(0.01)
        raise AssertionError(f"expected {count} messages, the sink has {len(self.transactions)}")

    # -- internals, called on the sink's thread

    def _record(self, envelope: Envelope, session: Session) -> str:
        with self._lock:
            self._queue_ids += 1
            queue_id = f"SINK{self._queue_ids:06d}"
            self.transactions.append(
                Transaction(
                    mail_from=envelope.mail_from,
                    rcpt_tos=tuple(envelope.rcpt_tos),
                    data=envelope.original_content or b"",
                    received_at=time.time(),
                    login=_login_name(session),
                )
            )
        return queue_id

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
        if isinstance(auth_data, LoginPassword) and self.credentials is not None:
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if self.credentials.get(login) == password:
                return AuthResult(success=True, auth_data=auth_data)
        # handled=False: aiosmtpd answers "535 5.7.8 Authentication credentials invalid".
        return AuthResult(success=False, handled=False)


def _login_name(session: Session) -> str | None:
    data = getattr(session, "auth_data", None)
    if isinstance(data, LoginPassword):
        return data.login.decode()
    if isinstance(data, str):
        return data
    return None


class _SinkSMTP(SMTP):
    def __init__(self, sink: SmtpSink, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.sink = sink

    def connection_made(self, transport) -> None:  # noqa: ANN001
        self._counted = False
        with self.sink._lock:
            self.sink._open_sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, error) -> None:  # noqa: ANN001
        with self.sink._lock:
            self.sink._open_sessions.discard(self)
        super().connection_lost(error)

    async def smtp_EHLO(self, hostname: str) -> None:
        # Counted at the first EHLO: the controller's own start-up probe only connects.
        if not self._counted:
            self._counted = True
            with self.sink._lock:
                self.sink.connections += 1
        await super().smtp_EHLO(hostname)

    async def smtp_DATA(self, arg: str) -> None:
        behaviour = self.sink.behaviour
        if self.envelope is not None and self.envelope.rcpt_tos:
            if behaviour.data_command_reply:
                await self.push(behaviour.data_command_reply)
                return
            if behaviour.drop_mid_data:
                await self.push("354 End data with <CR><LF>.<CR><LF>")
                await self._reader.read(4096)
                self.transport.abort()
                return
        await super().smtp_DATA(arg)


class _SinkController(Controller):
    def __init__(self, sink: SmtpSink, handler, **kwargs) -> None:  # noqa: ANN001, ANN003
        self.sink = sink
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # see SmtpSink.start
            return _SinkSMTP(self.sink, self.handler, **self.SMTP_kwargs)


class _SinkHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options) -> str:  # noqa: ANN001
        reply = self.sink.behaviour.mail_from_reply
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: ANN001
        sink, behaviour = self.sink, self.sink.behaviour
        with sink._lock:
            sink.rcpt_attempts += 1
            attempt = sink.rcpt_attempts
        if attempt <= behaviour.greylist_first:
            return "451 4.7.1 Greylisted, please try again later"
        if address in behaviour.refuse_recipients:
            return behaviour.refuse_recipients[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: ANN001
        sink, behaviour = self.sink, self.sink.behaviour
        if behaviour.drop_after_data:
            if behaviour.keep_dropped:
                sink._record(envelope, session)
            server.transport.abort()
            return "421 4.4.2 dropped"
        if behaviour.delay_after_data:
            await asyncio.sleep(behaviour.delay_after_data)
        if behaviour.after_data_reply:
            return behaviour.after_data_reply
        queue_id = sink._record(envelope, session)
        if sink.sent_copy is not None:
            dovecot, user = sink.sent_copy
            await asyncio.to_thread(dovecot.append, user, "Sent", envelope.original_content)
        return behaviour.accept_reply.format(queue_id=queue_id)

    async def auth_XOAUTH2(self, server, args) -> AuthResult:  # noqa: ANN001
        tokens = self.sink.oauth_tokens or {}
        if len(args) < 2:
            await server.push("501 5.5.2 initial response required")
            return AuthResult(success=False, handled=True)
        try:
            fields = base64.b64decode(args[1], validate=True).decode().split("\x01")
        except (ValueError, UnicodeDecodeError):
            await server.push("501 5.5.2 Can't decode base64")
            return AuthResult(success=False, handled=True)
        values = dict(f.split("=", 1) for f in fields if "=" in f)
        login, token = values.get("user", ""), values.get("auth", "").removeprefix("Bearer ")
        if login in tokens and tokens[login] == token:
            return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False, message="535 5.7.8 Username and token not accepted")
