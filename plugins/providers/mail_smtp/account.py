"""The settings of one SMTP/IMAP mailbox (`SmtpProvider.account_model`) and the operator-level
transport settings (timeouts, extra CA) every connection uses."""

from __future__ import annotations

import ipaddress
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from salescopilot.plugin_system.interfaces import mail_transport_settings

Security = Literal["ssl", "starttls", "none"]

_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
FLAG_PATTERN = re.compile(r"^(?:\\(?:Seen|Flagged)|[A-Za-z0-9_$.-]{1,64})$")
_ADDRESS = re.compile(r"^[^@\s\"<>(),;:\\]{1,64}@[^@\s\"<>(),;:\\]{1,253}$")
#: Hosts of providers that file a copy of every message sent over SMTP in the Sent folder
#: themselves: appending another copy would show the message twice.
_KEEPS_SENT_COPY = ("gmail.com", "googlemail.com", "office365.com", "outlook.com")


def valid_hostname(host: str) -> bool:
    """A DNS name (letters, digits, hyphens per label) or an IP address."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    name = host.rstrip(".")
    if not name or len(name) > 253:
        return False
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return all(_HOST_LABEL.match(label) for label in name.split("."))


def is_loopback(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SmtpAccount(BaseModel):
    """One mailbox. Secrets (`password`, `oauth_access_token`, `imap_password`) are stored
    encrypted and never shown again."""

    model_config = ConfigDict(extra="forbid")

    #: The mailbox's address: the envelope sender and the From address.
    address: str = Field(max_length=320)
    smtp_host: str = Field(max_length=253)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    #: `ssl`: implicit TLS (usually port 465); `starttls`: upgrade after connecting (587);
    #: `none`: no encryption (only for a relay on this machine or a test server).
    smtp_security: Security = "starttls"
    #: Login name; empty: the address.
    username: str = Field(default="", max_length=320)
    password: SecretStr | None = None
    auth_method: Literal["plain", "login", "xoauth2", "none"] = "plain"
    #: OAuth 2 access token for XOAUTH2 (Gmail, Microsoft 365).
    oauth_access_token: SecretStr | None = None
    #: Without IMAP there is no Sent-folder search (uncertain sends stay uncertain) and no inbound.
    imap_host: str = Field(default="", max_length=253)
    imap_port: int = Field(default=993, ge=1, le=65535)
    imap_security: Security = "ssl"
    #: Empty: the SMTP login name.
    imap_username: str = Field(default="", max_length=320)
    #: Empty: the SMTP password.
    imap_password: SecretStr | None = None
    #: `login`: the IMAP LOGIN command; `plain`: AUTHENTICATE PLAIN; `xoauth2`: with the token.
    imap_auth: Literal["login", "plain", "xoauth2"] = "login"
    #: Empty: found by its SPECIAL-USE `\\Sent` flag (or the name "Sent").
    sent_folder: str = Field(default="", max_length=200)
    #: `auto`: append a copy to Sent unless the host is one that keeps one (Gmail, Microsoft 365).
    append_to_sent: Literal["auto", "always", "never"] = "auto"
    #: Most IMAP connections open at once to this account from one process; empty: the
    #: provider's known limit (Gmail 15) or 10.
    imap_max_connections: int | None = Field(default=None, ge=1, le=100)
    #: A flag set on each inbound message once read (`\\Seen`, `\\Flagged` or a keyword such as
    #: `SalesCopilot`); empty: messages are left exactly as they are.
    mark_fetched: str = Field(default="", max_length=64)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        value = value.strip()
        if not _ADDRESS.match(value):
            raise ValueError("must be an email address like name@example.com")
        return value

    @field_validator("smtp_host", "imap_host")
    @classmethod
    def _host(cls, value: str, info) -> str:  # noqa: ANN001
        value = value.strip()
        if value and not valid_hostname(value):
            raise ValueError("must be a host name like smtp.example.com or an IP address")
        if not value and info.field_name == "smtp_host":
            raise ValueError("is required")
        return value

    @field_validator("sent_folder", "username", "imap_username")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(c in value for c in "\r\n\0"):
            raise ValueError("must be one line")
        return value.strip()

    @field_validator("mark_fetched")
    @classmethod
    def _flag(cls, value: str) -> str:
        value = value.strip()
        if value and not FLAG_PATTERN.match(value):
            raise ValueError("must be \\Seen, \\Flagged or a keyword of letters, digits, '_', '$', '.', '-'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SmtpAccount:
        if self.auth_method in ("plain", "login") and self.password is None:
            raise ValueError(f"auth_method {self.auth_method!r} needs a password")
        if self.auth_method == "xoauth2" and self.oauth_access_token is None:
            raise ValueError("auth_method 'xoauth2' needs oauth_access_token")
        for host, security, secret in (
            (self.smtp_host, self.smtp_security, self.password),
            (self.imap_host, self.imap_security, self.imap_password or self.password),
        ):
            if host and security == "none" and secret is not None and not is_loopback(host):
                raise ValueError(
                    f"{host}: a password is never sent unencrypted; use ssl or starttls "
                    "(security 'none' is for a server on this machine only)"
                )
        return self

    @property
    def login(self) -> str:
        return self.username or self.address

    @property
    def imap_login(self) -> str:
        return self.imap_username or self.login

    @property
    def imap_secret(self) -> SecretStr | None:
        if self.imap_auth == "xoauth2":
            return self.oauth_access_token
        return self.imap_password or self.password

    @property
    def appends_to_sent(self) -> bool:
        if self.append_to_sent != "auto":
            return self.append_to_sent == "always"
        host = self.smtp_host.lower().rstrip(".")
        return not any(host == d or host.endswith("." + d) for d in _KEEPS_SENT_COPY)


@dataclass(frozen=True, slots=True)
class Transport:
    """Operator-level settings of every mail connection (from `settings.mail`)."""

    smtp_timeout: float = 30.0
    imap_timeout: float = 30.0
    extra_ca_file: Path | None = None

    @classmethod
    def from_core_settings(cls) -> Transport:
        settings = mail_transport_settings()
        return cls(settings.smtp_timeout, settings.imap_timeout, settings.extra_ca_file)

    def tls_context(self) -> ssl.SSLContext:
        """The system's trusted CAs plus `extra_ca_file`; certificates and host names checked."""
        context = ssl.create_default_context()
        if self.extra_ca_file is not None:
            context.load_verify_locations(cafile=str(self.extra_ca_file))
        return context
