"""The `smtp` mail provider: any mailbox reachable over SMTP (sending) and IMAP (Sent folder,
inbound). Registered through the entry point `mail_smtp = "plugins.providers.mail_smtp"`;
`trylast=True` like every built-in default, so an installed provider's answer comes first."""

from __future__ import annotations

from salescopilot import hookimpl
from salescopilot.plugin_system.interfaces import MailProvider

from plugins.providers.mail_smtp.provider import SmtpProvider


@hookimpl(trylast=True)
def register_mail_providers() -> list[type[MailProvider]]:
    return [SmtpProvider]
