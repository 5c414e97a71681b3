"""The `smtp` provider's mailbox settings: validation of hostile or inconsistent input, the
append-to-Sent rule, the catalogue entry, and the operator-level transport settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from plugins.providers.mail_smtp.account import SmtpAccount, Transport
from plugins.providers.mail_smtp.provider import SmtpProvider
from plugins.providers.mail_smtp.smtp import enhanced_status, queue_id
from salescopilot.plugin_system.manager import create_plugin_manager
from salescopilot.plugin_system.registry import catalogue_for

BASE = {"address": "anna@example.com", "smtp_host": "smtp.example.com", "password": "pw"}


def account(**changes) -> SmtpAccount:
    return SmtpAccount.model_validate({**BASE, **changes})


@pytest.mark.parametrize(
    "changes",
    [
        {"address": "not-an-address"},
        {"address": "a@b\r\nRCPT TO:<x@y>"},
        {"smtp_host": ""},
        {"smtp_host": "smtp example.com"},
        {"smtp_host": "-bad.example.com"},
        {"smtp_host": "a" * 64 + ".example.com"},
        {"smtp_host": "smtp.example.com:25"},
        {"smtp_port": 0},
        {"smtp_port": 70000},
        {"imap_host": "imap/example"},
        {"smtp_security": "tls"},
        {"auth_method": "cram-md5"},
        {"password": None},
        {"auth_method": "xoauth2", "oauth_access_token": None},
        {"smtp_security": "none"},  # a password in clear text to a remote host
        {"imap_host": "imap.example.com", "imap_security": "none"},
        {"sent_folder": "Sent\r\nA1 DELETE INBOX"},
        {"unknown_field": "x"},
    ],
)
def test_bad_settings_are_refused(changes):
    with pytest.raises(ValidationError):
        account(**changes)


def test_good_settings_and_their_defaults():
    plain = account()
    assert (plain.smtp_port, plain.smtp_security, plain.auth_method) == (587, "starttls", "plain")
    assert plain.login == "anna@example.com" and plain.imap_login == "anna@example.com"
    assert account(smtp_host="127.0.0.1", smtp_security="none").smtp_security == "none"
    assert account(smtp_host="localhost", smtp_security="none").smtp_security == "none"
    assert account(smtp_host="bücher.example").smtp_host == "bücher.example"
    assert account(smtp_host="::1", smtp_security="none").smtp_host == "::1"
    assert account(auth_method="none", password=None, smtp_security="none",
                   smtp_host="mx.example.com").auth_method == "none"
    assert account(imap_password="other").imap_secret.get_secret_value() == "other"
    assert account().imap_secret.get_secret_value() == "pw"


@pytest.mark.parametrize(
    ("host", "setting", "appends"),
    [
        ("smtp.gmail.com", "auto", False),
        ("smtp.googlemail.com", "auto", False),
        ("smtp.office365.com", "auto", False),
        ("smtp-mail.outlook.com", "auto", False),
        ("mail.example.com", "auto", True),
        ("notgmail.com", "auto", True),
        ("smtp.gmail.com", "always", True),
        ("mail.example.com", "never", False),
    ],
)
def test_append_to_sent_unless_the_server_keeps_a_copy(host, setting, appends):
    assert account(smtp_host=host, append_to_sent=setting).appends_to_sent is appends


def test_secrets_are_top_level_secret_fields():
    secret = {n for n, f in SmtpAccount.model_fields.items() if "SecretStr" in str(f.annotation)}
    assert secret == {"password", "oauth_access_token", "imap_password"}
    assert "pw" not in repr(account()) and "pw" not in str(account().model_dump())


def test_the_provider_is_in_the_catalogue_through_its_entry_point():
    entry = catalogue_for(create_plugin_manager()).get("mail_provider", "smtp")
    assert entry.plugin_class is SmtpProvider
    assert SmtpProvider.account_model is SmtpAccount


def test_transport_settings_come_from_the_core_settings(settings, monkeypatch, tmp_path):
    from salescopilot.settings import get_settings

    ca = tmp_path / "ca.pem"
    monkeypatch.setenv("SALESCOPILOT_MAIL__EXTRA_CA_FILE", str(ca))
    monkeypatch.setenv("SALESCOPILOT_MAIL__SMTP_TIMEOUT", "7.5")
    get_settings.cache_clear()
    assert Transport.from_core_settings() == Transport(smtp_timeout=7.5, imap_timeout=30.0,
                                                       extra_ca_file=ca)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("2.0.0 Ok: queued as 4Z3kLm1xYz", "4Z3kLm1xYz"),
        ("OK id=1vNXYz-000Abc-2Q", "1vNXYz-000Abc-2Q"),
        ("2.0.0 OK  1732440000 d75a77b69052e-4604dd1a6f5si123456ed.12 - gsmtp",
         "d75a77b69052e-4604dd1a6f5si123456ed.12"),
        ("2.0.0 OK <abc@x> [Hostname=AM0PR01MB1234.eurprd01.prod.exchangelabs.com] [InternalId=123456789]",
         "123456789"),
        ("Message accepted for delivery", None),
    ],
)
def test_queue_ids_of_common_servers(reply, expected):
    assert queue_id(reply) == expected


def test_enhanced_status_codes():
    assert enhanced_status("5.1.1 <x@y>: Recipient address rejected") == "5.1.1"
    assert enhanced_status("Greylisted") is None
