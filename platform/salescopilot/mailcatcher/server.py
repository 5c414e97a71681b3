"""The catcher's SMTP server: aiosmtpd on its own thread, accepting any message from anyone on
`mail_catcher.host:port` and storing it. Started and stopped by the web app (see web/app.py)."""

from __future__ import annotations

import asyncio

import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session, SMTP

from salescopilot.clock import Clock
from salescopilot.errors import DomainError
from salescopilot.mailcatcher.store import MailStore
from salescopilot.settings import Settings

log = structlog.get_logger("salescopilot.mailcatcher")


class MailCatcherRefused(DomainError):
    code = "MAIL_CATCHER_REFUSED"
    status_code = 500
    default_message = "The mail catcher cannot run here."


def catcher_store(settings: Settings) -> MailStore:
    return MailStore(settings.var_dir / "mailcatcher", settings.mail_catcher.max_messages)


class _StoringHandler:
    def __init__(self, store: MailStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message_id = await asyncio.to_thread(
            self.store.save, envelope.mail_from or "", list(envelope.rcpt_tos), raw, self.clock.now()
        )
        log.info("mail_caught", id=message_id, recipients=len(envelope.rcpt_tos), size=len(raw))
        return f"250 2.0.0 Ok: queued as {message_id}"


class MailCatcher:
    """`start()` / `stop()` the catcher's SMTP server."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        if settings.is_production:
            raise MailCatcherRefused(
                "The mail catcher keeps every message and shows them to any admin: it is for the "
                "demo and development only. Unset SALESCOPILOT_MAIL_CATCHER__ENABLED in production."
            )
        self.settings = settings.mail_catcher
        self.store = catcher_store(settings)
        self._controller = Controller(
            _StoringHandler(self.store, clock),
            hostname=self.settings.host,
            port=self.settings.port,
            enable_SMTPUTF8=True,
            ready_timeout=10.0,
        )

    def start(self) -> None:
        try:
            self._controller.start()
        except (OSError, RuntimeError, TimeoutError) as error:
            raise MailCatcherRefused(
                f"The mail catcher cannot listen on {self.settings.host}:{self.settings.port}: "
                f"{error}. Free the port or set SALESCOPILOT_MAIL_CATCHER__PORT."
            ) from error
        log.info("mail_catcher_started", host=self.settings.host, port=self.settings.port)

    def stop(self) -> None:
        self._controller.stop()
