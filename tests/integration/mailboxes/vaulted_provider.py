"""A mail provider for the mailbox pages' and API's tests whose account has secrets (a password
and an API token) and whose connection check judges the settings it was built with, so a test
sees whether a stored secret was kept, replaced or lost."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from salescopilot import hookimpl
from salescopilot.plugin_system.interfaces import (
    ConnectionCheck,
    FetchedMessages,
    MailProvider,
    OutgoingMessage,
    SendResult,
)

#: The password the test "server" accepts.
RIGHT_PASSWORD = "s3cret-right-horse"
UNREACHABLE = "unreachable.invalid"


class VaultedAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(max_length=320)
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["ssl", "starttls"] = "starttls"
    password: SecretStr
    api_token: SecretStr | None = None
    keep_copy: bool = False


class VaultedProvider(MailProvider):
    slug = "vaulted"
    display_name = "Vaulted (tests)"
    account_model = VaultedAccount

    async def send(self, message: OutgoingMessage) -> SendResult:
        return SendResult(provider_message_id="v-1", response="250 ok")

    async def fetch_new_messages(self, cursor, *, limit=100) -> FetchedMessages:
        return FetchedMessages(messages=[], cursor=cursor or "")

    async def find_sent_by_message_id(self, message_id: str):
        return None

    async def check_connection(self) -> ConnectionCheck:
        account = self.account
        if account.host == UNREACHABLE:
            return ConnectionCheck(
                ok=False, message=f"Cannot reach {account.host}.",
                problems=(f"DNS: {account.host} has no address", "SMTP: not tried"),
            )
        if account.password.get_secret_value() != RIGHT_PASSWORD:
            return ConnectionCheck(ok=False, message="Login refused.",
                                   problems=(f"SMTP: 535 5.7.8 authentication failed for {account.address}",))
        return ConnectionCheck(ok=True, message=f"Logged in to {account.host}:{account.port} as {account.address}.")


@hookimpl
def register_mail_providers():
    return [VaultedProvider]
